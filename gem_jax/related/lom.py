"""LOM's pieces as pure functions (method §8): one mode of the behavior GMM per state.

LOM ("Learning on One Mode", Wang, Jin and Montana) fits a GMM to the behavior policy, learns
a hyper Q-function `Q_H(s, u)` over the mixture's modes `u`, picks the best mode per state,
and trains a deterministic policy by weighted imitation of actions drawn from that mode. GEM
keeps every mode and chooses among candidates at deployment; LOM commits to one at training.

Here: the hyper Q-network, its regression targets, the mode choice, the mode's actions and
the clipped imitation weight and loss. The behavior GMM is `method.networks.GMMPolicy` (a
`gmm.GMM`), and any critic `q_fn(actions [..., A]) -> [...]` of one batch of states serves.
Not wired into training yet (`--algo=lom` is the next step of the LOM issue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gem_jax.method import gmm as gmm_lib
from gem_jax.method.networks import MLP, default_init


class HyperQNetwork(nn.Module):
    """`Q_H(s, onehot(u))` for every mode u at once: `[..., obs] -> [..., K]`."""

    hidden_dims: Sequence[int]
    num_modes: int

    @nn.compact
    def __call__(self, observations: jax.Array) -> jax.Array:
        k = self.num_modes
        onehots = jnp.eye(k, dtype=observations.dtype)  # [K, K]
        batch = observations.shape[:-1]
        obs = jnp.broadcast_to(observations[..., None, :],
                               (*batch, k, observations.shape[-1]))  # [..., K, obs]
        inputs = jnp.concatenate([obs, jnp.broadcast_to(onehots, (*obs.shape[:-1], k))], -1)
        h = MLP(self.hidden_dims, activate_final=True)(inputs)  # [..., K, H]
        return nn.Dense(1, kernel_init=default_init)(h)[..., 0]  # [..., K]


def mode_samples(behavior: gmm_lib.GMM, key: jax.Array, num_samples: int,
                 noise_std: float = 0.0) -> jax.Array:
    """`num_samples` actions from each component u, plus Gaussian exploration noise of
    `noise_std`, clipped to the box: `[S, ..., K, A]` for a mixture of batch shape `[...]`."""
    key_a, key_b = jax.random.split(key)
    log_stds = jnp.broadcast_to(behavior.log_stds, behavior.means.shape)  # [..., K, A]
    shape = (num_samples, *behavior.means.shape)
    eps = jax.random.normal(key_a, shape, behavior.means.dtype)  # [S, ..., K, A]
    actions = behavior.means + jnp.exp(log_stds) * eps
    actions = actions + noise_std * jax.random.normal(key_b, shape, behavior.means.dtype)
    return jnp.clip(actions, -1.0, 1.0)


def hyper_q_targets(q_fn: Callable[[jax.Array], jax.Array], behavior: gmm_lib.GMM,
                    key: jax.Array, num_samples: int) -> jax.Array:
    """`y_u(s) = mean_j Q(s, a_j)`, `a_j ~ N(m_u(s), σ_u²)` clipped to the box: the value of
    committing to mode u (method §8). `q_fn` maps actions `[..., B, K, A]` (the states' batch
    leading the mode axis) to `[..., B, K]`. Returns `[B, K]`, without gradient."""
    actions = mode_samples(behavior, key, num_samples)  # [S, B, K, A]
    return jax.lax.stop_gradient(q_fn(actions).mean(axis=0))  # [B, K]


def hyper_q_loss(q_h: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean squared error of `Q_H(s, u)` `[B, K]` against the targets `[B, K]`."""
    return jnp.mean((q_h - targets) ** 2)


def choose_mode(q_h: jax.Array) -> jax.Array:
    """The greedy hyper-policy: `u*(s) = argmax_u Q_H(s, u)`, `[B, K] -> [B]`."""
    return jnp.argmax(q_h, axis=-1)


def chosen_mode_actions(behavior: gmm_lib.GMM, modes: jax.Array, key: jax.Array,
                        noise_std: float = 0.0) -> jax.Array:
    """One action per state from its chosen component, `modes [B] -> [B, A]`."""
    actions = mode_samples(behavior, key, 1, noise_std)[0]  # [B, K, A]
    return jnp.take_along_axis(actions, modes[:, None, None], axis=-2)[:, 0, :]


def imitation_weight(q_mode: jax.Array, q_policy: jax.Array, beta: float,
                     clip: float) -> jax.Array:
    """`w = clip(exp(β (Q(s, a_mode) - Q(s, π(s)))), 0, C)`, without gradient. `[B]`."""
    return jax.lax.stop_gradient(jnp.clip(jnp.exp(beta * (q_mode - q_policy)), 0.0, clip))


def imitation_loss(policy_actions: jax.Array, mode_actions: jax.Array,
                   weights: jax.Array) -> jax.Array:
    """`mean_B w · ‖π(s) - a_mode‖²`; actions `[B, A]`, weights `[B]`."""
    return jnp.mean(weights * jnp.sum((policy_actions - mode_actions) ** 2, axis=-1))
