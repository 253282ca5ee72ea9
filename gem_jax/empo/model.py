"""EMPO's models (method §7; the EMPO paper Sec. 3.1, 3.3): K cluster policies and q(z|s).

`beta(a|s; theta_z)`: K diagonal-Gaussian MLP policies sharing one architecture, their
parameters stacked on a leading K axis (`jax.vmap(init)` / `jax.vmap(apply)`, the rejax
ensemble pattern). `q(z|s)`: a softmax state classifier. Both read normalised
observations; the policies are fitted on normalised actions and reported as Gaussians
in raw action units, so the `Normalizer` travels with the model. Everything here is a
pure function of an `EMPOModel` pytree.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gem_jax.method.gmm import GMM, gaussian_log_prob
from gem_jax.method.networks import MLP, default_init


@struct.dataclass
class Normalizer:
    """`(s - obs_mean) / obs_std`, `(a - act_mean) / act_std`, fitted on the dataset."""

    obs_mean: jax.Array  # [O]
    obs_std: jax.Array  # [O]
    act_mean: jax.Array  # [A]
    act_std: jax.Array  # [A]

    @classmethod
    def from_data(cls, observations, actions, floor: float = 1e-6) -> Normalizer:
        obs, act = np.asarray(observations, np.float64), np.asarray(actions, np.float64)
        f = lambda x: jnp.asarray(x, jnp.float32)
        return cls(
            f(obs.mean(0)), f(np.maximum(obs.std(0), floor)),
            f(act.mean(0)), f(np.maximum(act.std(0), floor)),
        )  # fmt: skip


class GaussianPolicy(nn.Module):
    """`s -> (mean [.., A], log_std [.., A])` in normalised action units (Gaussian beta_z)."""

    hidden_dims: tuple[int, ...]
    action_dim: int
    log_std_min: float
    log_std_max: float

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = MLP(self.hidden_dims, activate_final=True)(observations)  # [..., H]
        mean = nn.Dense(self.action_dim, kernel_init=default_init)(h)  # [..., A]
        raw = nn.Dense(self.action_dim, kernel_init=default_init)(h)  # [..., A]
        # Soft clamp to [log_std_min, log_std_max] (PETS-style): smooth, ~identity inside.
        log_std = self.log_std_max - nn.softplus(self.log_std_max - raw)
        return mean, self.log_std_min + nn.softplus(log_std - self.log_std_min)


class StateClassifier(nn.Module):
    """`s -> logits of q(z|s) [.., K]` (EMPO Sec. 3.3)."""

    hidden_dims: tuple[int, ...]
    num_clusters: int

    @nn.compact
    def __call__(self, observations: jax.Array) -> jax.Array:
        return MLP((*self.hidden_dims, self.num_clusters))(observations)


@struct.dataclass
class EMPOModel:
    """K cluster policies (params with leading K axis), the classifier and the normaliser.

    The architecture is static metadata, so pure functions rebuild the modules from the
    model alone; this pytree is also the EMPO behavior support model (`EMPOSupport`).
    """

    policies: Any  # leading K axis
    classifier: Any
    norm: Normalizer
    hidden_dims: tuple[int, ...] = struct.field(pytree_node=False)
    log_std_min: float = struct.field(pytree_node=False)
    log_std_max: float = struct.field(pytree_node=False)

    @property
    def num_clusters(self) -> int:
        return jax.tree.leaves(self.policies)[0].shape[0]

    def policy_module(self) -> GaussianPolicy:
        a = self.norm.act_mean.shape[-1]
        return GaussianPolicy(self.hidden_dims, a, self.log_std_min, self.log_std_max)

    def classifier_module(self) -> StateClassifier:
        return StateClassifier(self.hidden_dims, self.num_clusters)

    def behavior_gmm(self, observations: jax.Array) -> GMM:
        """The cluster mixture `sum_z q(z|s) beta_z(a|s)` at raw observations `[.., O]` as
        a `GMM` ([.., K] logits, [.., K, A] means and log_stds): the interface
        `gem_jax.method.select` asks of a behavior support model (`PolicyParams.support`)."""
        means, log_stds = cluster_gaussians(self, observations)  # [.., K, A] each
        return GMM(logits=classifier_log_probs(self, observations), means=means,
                   log_stds=log_stds)


def init_model(
    key: jax.Array,
    observations,
    actions,
    num_clusters: int,
    hidden_dims: tuple[int, ...] = (64, 64, 64),
    log_std_min: float = -5.0,
    log_std_max: float = 1.0,
) -> EMPOModel:
    """Fresh model for data `[M, O]`, `[M, A]`: K independently initialised policies
    (`jax.vmap(init)`), a classifier, and a normaliser fitted on the data."""
    norm = Normalizer.from_data(observations, actions)
    hidden_dims = tuple(int(h) for h in hidden_dims)
    obs = jnp.zeros((1, norm.obs_mean.shape[-1]), jnp.float32)
    policy = GaussianPolicy(hidden_dims, norm.act_mean.shape[-1], log_std_min, log_std_max)
    policy_key, classifier_key = jax.random.split(key)
    keys = jax.random.split(policy_key, num_clusters)  # [K]
    return EMPOModel(
        policies=jax.vmap(policy.init, in_axes=(0, None))(keys, obs),
        classifier=StateClassifier(hidden_dims, num_clusters).init(classifier_key, obs),
        norm=norm,
        hidden_dims=hidden_dims,
        log_std_min=log_std_min,
        log_std_max=log_std_max,
    )


def cluster_gaussians(
    model: EMPOModel, observations: jax.Array, policies: Any = None
) -> tuple[jax.Array, jax.Array]:
    """Each cluster policy's Gaussian in raw action units: means, log_stds [.., K, A].

    `policies` overrides `model.policies` (the M-step differentiates through it).
    """
    policies = model.policies if policies is None else policies
    norm = model.norm
    obs = (observations - norm.obs_mean) / norm.obs_std  # [.., O]
    apply = jax.vmap(model.policy_module().apply, in_axes=(0, None))
    mean, log_std = apply(policies, obs)  # [K, .., A] each, normalised units
    mean = norm.act_mean + norm.act_std * jnp.moveaxis(mean, 0, -2)  # [.., K, A]
    log_std = jnp.log(norm.act_std) + jnp.moveaxis(log_std, 0, -2)  # [.., K, A]
    return mean, log_std


def cluster_log_probs(
    model: EMPOModel, observations: jax.Array, actions: jax.Array, policies: Any = None
) -> jax.Array:
    """`log beta_z(a|s)` for every cluster, raw action units. [.., O], [.., A] -> [.., K].

    Actions broadcast against the observations' batch dims, as in `gem_jax.method.gmm`: one
    state `[O]` scores `N` candidates `[N, A]` -> `[N, K]`.
    """
    mean, log_std = cluster_gaussians(model, observations, policies)  # [.., K, A]
    return gaussian_log_prob(mean, log_std, actions[..., None, :])  # [.., K]


def classifier_log_probs(model: EMPOModel, observations: jax.Array, classifier=None) -> jax.Array:
    """`log q(z|s)`. [.., O] -> [.., K]."""
    classifier = model.classifier if classifier is None else classifier
    obs = (observations - model.norm.obs_mean) / model.norm.obs_std
    return jax.nn.log_softmax(model.classifier_module().apply(classifier, obs), axis=-1)


def transition_log_likelihoods(
    model: EMPOModel, observations: jax.Array, actions: jax.Array, chunk: int = 65536
) -> jax.Array:
    """`log beta_z(a_t|s_t)` for the whole dataset in vmapped chunks. [M, O], [M, A] -> [M, K]."""
    one = lambda x: cluster_log_probs(model, x[0], x[1])  # [K]
    return jax.lax.map(one, (observations, actions), batch_size=chunk)
