"""EMPO trajectory clustering, Alg. 1 (method §7; the EMPO paper Sec. 3.1).

K behavior policies `beta(a|s; theta_z)` (`gem_jax.empo.model`, parameters with a
leading K axis) are fitted by EM over whole trajectories:

* E-step (Eq. 3): `Q(z|tau) = softmax_z sum_{t in tau} log beta(a_t|s_t; theta_z)`; the
  per-transition log-likelihoods are summed per trajectory with a segment sum, in log space.
* M-step (Eq. 6): one epoch of minibatch Adam steps on
  `-sum_z Q^(k)(z|tau(s,a)) log beta(a|s; theta_z)`.
* Heuristic I (Eq. 5): momentum `Q^(k+1) = mu Q^(k) + (1 - mu) Q_Theta_k`, `Q^(0) = 1/K`.
* Heuristic II (Eq. 7): N_p M-step epochs with `Q = 1/K` before EM.
* Heuristic III (Eq. 8): before that, N_b M-step epochs on a random hard assignment.
* Output (Eq. 9): per transition `argmax_z Q_Theta*(z|tau(s,a))`.

With `train_classifier`, each M-step also fits the state classifier `q(z|s)` to
`Q^(k)` (cross-entropy = EMPO's KL loss up to a constant, Sec. 3.3). Each epoch and each
E-step is one jitted call; the host loop runs over epochs only (never trajectories).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from tqdm.auto import tqdm

from gem_jax.empo.model import (
    EMPOModel,
    classifier_log_probs,
    cluster_log_probs,
    init_model,
    transition_log_likelihoods,
)


@dataclasses.dataclass(frozen=True)
class EMPOConfig:
    """EMPO clustering hyperparameters; defaults from the EMPO paper Table 4 (didactic column)."""

    num_clusters: int = 2  # K
    hidden_dims: tuple[int, ...] = (64, 64, 64)  # App. B: "4-layer MLP, hidden 64"
    momentum: float = 0.9  # mu of heuristic I; 0 = plain EM
    pretrain_epochs: int = 20  # N_p of heuristic II; 0 = off
    bias_epochs: int = 3  # N_b of heuristic III; 0 = off
    em_epochs: int = 60  # N_E (D4RL column: 100)
    batch_size: int = 256
    learning_rate: float = 3e-4
    log_std_min: float = -5.0  # soft clamp of log sigma in normalised action units (ours)
    log_std_max: float = 1.0  # (ours)
    train_classifier: bool = True  # fit q(z|s) to Q^(k) alongside (needed for the support)
    estep_chunk: int = 65536  # transitions per vmapped E-step chunk; memory only (ours)

    def replace(self, **changes: Any) -> EMPOConfig:
        return dataclasses.replace(self, **changes)

    def validate(self) -> EMPOConfig:
        """Raise `ValueError` naming the field and the fix for an invalid value."""
        epochs = (self.pretrain_epochs, self.bias_epochs, self.em_epochs)
        checks = [
            (self.num_clusters >= 1, "num_clusters must be >= 1"),
            (0.0 <= self.momentum < 1.0, "momentum (mu) must lie in [0, 1)"),
            (min(epochs) >= 0, "pretrain_epochs, bias_epochs and em_epochs must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.estep_chunk >= 1, "estep_chunk must be >= 1"),
            (self.log_std_min < self.log_std_max, "log_std_min must be < log_std_max"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Invalid EMPOConfig: {message}.")
        return self


def heuristic_ablation(config: EMPOConfig | None = None) -> dict[str, EMPOConfig]:
    """The four columns of the EMPO paper Table 3: none, I, I+II, I+II+III (= EMPO)."""
    config = config or EMPOConfig()
    mu, n_p, n_b = config.momentum, config.pretrain_epochs, config.bias_epochs
    return {
        "none": config.replace(momentum=0.0, pretrain_epochs=0, bias_epochs=0),
        "I": config.replace(momentum=mu, pretrain_epochs=0, bias_epochs=0),
        "I+II": config.replace(momentum=mu, pretrain_epochs=n_p, bias_epochs=0),
        "I+II+III": config.replace(momentum=mu, pretrain_epochs=n_p, bias_epochs=n_b),
    }


def e_step(transition_ll: jax.Array, episode_ids: jax.Array, num_episodes: int) -> jax.Array:
    """Eq. 3 in log space: `softmax_z sum_{t in tau} ll[t, z]`. [M, K], ids [M] -> [E, K].

    `episode_ids` must lie in `[0, num_episodes)`; trajectories need not be contiguous.
    """
    trajectory_ll = jax.ops.segment_sum(transition_ll, episode_ids, num_segments=num_episodes)
    return jax.nn.softmax(trajectory_ll, axis=-1)  # [E, K]


def momentum_update(previous: jax.Array, posterior: jax.Array, momentum: float) -> jax.Array:
    """Heuristic I, Eq. 5: `Q^(k+1) = mu Q^(k) + (1 - mu) Q_Theta_k`. [E, K]."""
    return momentum * previous + (1.0 - momentum) * posterior


def m_step_loss(policies, model: EMPOModel, observations, actions, weights) -> jax.Array:
    """Eq. 6 averaged over the minibatch: `-mean_b sum_z w[b, z] log beta_z(a_b|s_b)`.

    weights: `Q^(k)(z|tau(s_b, a_b))` [B, K].
    """
    log_probs = cluster_log_probs(model, observations, actions, policies)  # [B, K]
    return -jnp.mean(jnp.sum(weights * log_probs, axis=-1))


def classifier_loss(classifier, model: EMPOModel, observations, weights) -> jax.Array:
    """Cross-entropy `-mean_b sum_z w[b, z] log q(z|s_b)` (= KL(Q || q) + const, Sec. 3.3)."""
    log_q = classifier_log_probs(model, observations, classifier)  # [B, K]
    return -jnp.mean(jnp.sum(weights * log_q, axis=-1))


def uniform_responsibilities(num_episodes: int, num_clusters: int) -> jax.Array:
    """Eq. 7 (and `Q^(0)` of Eq. 5): `1/K` for every trajectory. [E, K]."""
    return jnp.full((num_episodes, num_clusters), 1.0 / num_clusters, jnp.float32)


def random_hard_responsibilities(key: jax.Array, num_episodes: int, num_clusters: int):
    """Heuristic III, Eq. 8: one-hot of a uniformly drawn cluster per trajectory. [E, K]."""
    z = jax.random.randint(key, (num_episodes,), 0, num_clusters)
    return jax.nn.one_hot(z, num_clusters, dtype=jnp.float32)


def check_episode_ids(episode_ids, num_transitions: int) -> tuple[np.ndarray, int]:
    """Map arbitrary integer trajectory ids `[M]` to `0..E-1`; returns (ids [M], E)."""
    ids = np.asarray(episode_ids)
    if ids.shape != (num_transitions,):
        raise ValueError(
            f"episode_ids must have shape [M] = ({num_transitions},), one trajectory id per "
            f"transition; got {ids.shape}."
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"episode_ids must be integers, got dtype {ids.dtype}.")
    unique, inverse = np.unique(ids, return_inverse=True)
    return inverse.reshape(-1).astype(np.int32), int(unique.size)


@struct.dataclass
class ClusterState:
    """What the M-step carries: the model, both Adam states and the PRNG key."""

    model: EMPOModel
    policy_opt_state: Any
    classifier_opt_state: Any
    key: jax.Array


def make_epoch(config: EMPOConfig, num_transitions: int):
    """Jitted M-step epoch `(state, obs [M,O], actions [M,A], ids [M], targets [E,K])`
    `-> (state, metrics)`: `M // B` Adam steps on Eq. 6 over a fresh permutation (lax.scan).
    """
    batch_size = min(config.batch_size, num_transitions)
    num_steps = num_transitions // batch_size
    tx = optax.adam(config.learning_rate)

    def epoch(state: ClusterState, observations, actions, episode_ids, targets):
        key, perm_key = jax.random.split(state.key)
        order = jax.random.permutation(perm_key, num_transitions)[: num_steps * batch_size]

        def step(carry, idx):  # idx [B]
            model, policy_opt, classifier_opt = carry
            obs, act = observations[idx], actions[idx]  # [B, O], [B, A]
            weights = targets[episode_ids[idx]]  # [B, K] = Q^(k)(z | tau(s, a))
            nll, grads = jax.value_and_grad(m_step_loss)(model.policies, model, obs, act, weights)
            updates, policy_opt = tx.update(grads, policy_opt, model.policies)
            model = model.replace(policies=optax.apply_updates(model.policies, updates))
            metrics = {"empo/m_step_nll": nll}
            if config.train_classifier:
                ce_grad = jax.value_and_grad(classifier_loss)
                ce, grads = ce_grad(model.classifier, model, obs, weights)
                updates, classifier_opt = tx.update(grads, classifier_opt, model.classifier)
                model = model.replace(classifier=optax.apply_updates(model.classifier, updates))
                metrics["empo/classifier_ce"] = ce
            return (model, policy_opt, classifier_opt), metrics

        carry = (state.model, state.policy_opt_state, state.classifier_opt_state)
        carry, metrics = jax.lax.scan(step, carry, order.reshape(num_steps, batch_size))
        return ClusterState(*carry, key), jax.tree.map(jnp.mean, metrics)

    return jax.jit(epoch, donate_argnums=0)


def make_posterior(config: EMPOConfig, num_episodes: int):
    """Jitted E-step `(model, obs [M,O], actions [M,A], ids [M]) -> Q_Theta(z|tau) [E, K]`."""

    def posterior(model: EMPOModel, observations, actions, episode_ids):
        ll = transition_log_likelihoods(model, observations, actions, config.estep_chunk)
        return e_step(ll, episode_ids, num_episodes)

    return jax.jit(posterior)


@dataclasses.dataclass(frozen=True)
class EMPOResult:
    """Fitted model, final posterior `Q_Theta*` [E, K] (Eq. 3; trajectories in sorted-id
    order), per-transition assignment [M] (Eq. 9) and per-epoch metrics."""

    model: EMPOModel
    posterior: np.ndarray
    assignments: np.ndarray
    history: list[dict[str, Any]]


def fit_empo(
    observations,
    actions,
    episode_ids,
    config: EMPOConfig,
    key: jax.Array,
    progress: bool = True,
) -> EMPOResult:
    """Alg. 1: heuristic III (N_b), heuristic II (N_p), N_E EM rounds with momentum, Eq. 9.

    observations [M, O], actions [M, A], episode_ids [M] (any integer trajectory ids).
    """
    config.validate()
    obs, act = np.asarray(observations, np.float32), np.asarray(actions, np.float32)
    if obs.ndim != 2 or act.ndim != 2 or obs.shape[0] != act.shape[0]:
        raise ValueError(
            f"observations [M, O] and actions [M, A] must be 2-D with equal M; got {obs.shape} "
            f"and {act.shape}."
        )
    ids, num_episodes = check_episode_ids(episode_ids, obs.shape[0])
    k = config.num_clusters
    init_key, bias_key, state_key = jax.random.split(key, 3)
    model = init_model(
        init_key, obs, act, k, config.hidden_dims, config.log_std_min, config.log_std_max
    )
    tx = optax.adam(config.learning_rate)
    state = ClusterState(model, tx.init(model.policies), tx.init(model.classifier), state_key)
    data = (jnp.asarray(obs), jnp.asarray(act), jnp.asarray(ids))
    epoch = make_epoch(config, obs.shape[0])
    posterior = make_posterior(config, num_episodes)

    uniform = uniform_responsibilities(num_episodes, k)  # Eq. 7; also Q^(0) of Eq. 5
    hard = random_hard_responsibilities(bias_key, num_episodes, k)  # Eq. 8
    phases = [("bias", config.bias_epochs), ("pretrain", config.pretrain_epochs)]
    phases.append(("em", config.em_epochs))
    q, history = uniform, []
    with tqdm(total=sum(n for _, n in phases), desc="EMPO", disable=not progress) as bar:
        for phase, num_epochs in phases:
            for _ in range(num_epochs):
                if phase == "em":
                    q = momentum_update(q, posterior(state.model, *data), config.momentum)
                targets = {"bias": hard, "pretrain": uniform, "em": q}[phase]
                state, metrics = epoch(state, *data, targets)
                history.append({"phase": phase, **jax.device_get(metrics)})
                bar.set_postfix(phase=phase, nll=f"{float(metrics['empo/m_step_nll']):.3f}")
                bar.update()

    final = np.asarray(posterior(state.model, *data))  # [E, K], Eq. 3 at Theta*
    return EMPOResult(state.model, final, np.argmax(final, axis=-1)[ids], history)
