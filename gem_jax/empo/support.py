"""The EMPO cluster mixture as GEM's behavior support model (`support_model="empo"`).

The support term of selection (method §3) scores candidates by a behavior density.
Instead of the GMM `mu_phi(a|s)`, the `empo` ablation uses the recovered behavior
clusters (method §7; the EMPO paper Sec. 3.1, 3.3):

    mu(a|s) = sum_z q(z|s) beta_z(a|s),
    log mu(a|s) = logsumexp_z [log q(z|s) + log beta_z(a|s)],

with `beta_z` the K cluster policies and `q(z|s)` the state classifier fitted to the
EM responsibilities. Because every `beta_z` is a diagonal Gaussian, the mixture is a
`gem_jax.method.gmm.GMM` with gating logits `log q(z|s)` and state-dependent `log_stds`, so all
GMM functions (log_prob, sample, nearest_mean_distance, ...) apply to it unchanged.
Observations go in raw (the support carries its own normaliser); actions are in the
dataset's action units.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
from flax import serialization

from gem_jax.empo.clustering import EMPOConfig, fit_empo
from gem_jax.empo.model import EMPOModel, init_model
from gem_jax.method import gmm as gmm_lib
from gem_jax.method.types import Batch

EMPOSupport = EMPOModel  # K cluster policies [K, ...], the classifier, the normaliser


def empo_gmm(support: EMPOSupport, observations: jax.Array) -> gmm_lib.GMM:
    """The cluster mixture at raw observations `[.., O]` as a `GMM` ([.., K] logits,
    [.., K, A] means and log_stds)."""
    return support.behavior_gmm(observations)


def empo_log_prob(support: EMPOSupport, observations: jax.Array, actions: jax.Array) -> jax.Array:
    """`log sum_z q(z|s) beta_z(a|s)` with logsumexp. [.., O], [.., A] -> [..].

    Actions broadcast against the observations' batch dims: one state `[O]` scores `N`
    candidates `[N, A]` -> `[N]`.
    """
    return gmm_lib.log_prob(empo_gmm(support, observations), actions)


def fit_empo_support(
    dataset_batch: Batch,
    episode_ids,
    config: EMPOConfig | None = None,
    key: jax.Array | None = None,
    progress: bool = True,
) -> EMPOSupport:
    """Cluster the dataset (Alg. 1) and return the mixture support; q(z|s) is always fitted.

    dataset_batch: the flat training `Batch` (observations [M, O], actions [M, A]);
    episode_ids [M]: trajectory id of every transition. `key` defaults to PRNGKey(0).
    """
    config = (config or EMPOConfig()).replace(train_classifier=True)
    key = jax.random.PRNGKey(0) if key is None else key
    result = fit_empo(
        np.asarray(dataset_batch.observations),
        np.asarray(dataset_batch.actions),
        episode_ids,
        config,
        key,
        progress=progress,
    )
    return result.model


def save_support(path: str | pathlib.Path, support: EMPOSupport) -> None:
    """Write the support (arrays and architecture) to one msgpack file."""
    norm = support.norm
    meta = {
        "num_clusters": support.num_clusters,
        "obs_dim": int(norm.obs_mean.shape[-1]),
        "action_dim": int(norm.act_mean.shape[-1]),
        "hidden_dims": list(support.hidden_dims),
        "log_std_min": support.log_std_min,
        "log_std_max": support.log_std_max,
    }
    state = serialization.to_state_dict(jax.device_get(support))
    pathlib.Path(path).write_bytes(serialization.msgpack_serialize({"meta": meta, "state": state}))


def load_support(path: str | pathlib.Path) -> EMPOSupport:
    """Read a support written by `save_support`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No EMPO support file at {path}; write one with save_support.")
    payload = serialization.msgpack_restore(path.read_bytes())
    meta = payload["meta"]
    template = init_model(
        jax.random.PRNGKey(0),
        np.zeros((2, meta["obs_dim"]), np.float32),
        np.zeros((2, meta["action_dim"]), np.float32),
        int(meta["num_clusters"]),
        tuple(int(h) for h in meta["hidden_dims"]),
        float(meta["log_std_min"]),
        float(meta["log_std_max"]),
    )
    return serialization.from_state_dict(template, payload["state"])
