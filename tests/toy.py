"""A two-mode bandit: the smallest problem where unimodal extraction fails (paper T1).

Every state sees dataset actions from two separated modes `+-mode` with equal reward, so
the best policy is "either mode" and a single Gaussian's mean falls in the unsupported
gap between them. One-step episodes (`dones = 1`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gem_jax.method.types import Batch


def two_mode_bandit(
    key: jax.Array, size: int, obs_dim: int = 2, mode: float = 0.6, noise: float = 0.05,
    minus_reward: float = 1.0,
) -> Batch:
    """`size` transitions: s ~ U[-1,1]^obs_dim, a = +-mode + N(0, noise^2) (1-D), r = 1 for
    the + mode and `minus_reward` for the - mode (default 1: equal modes)."""
    obs_key, sign_key, noise_key = jax.random.split(key, 3)
    obs = jax.random.uniform(obs_key, (size, obs_dim), minval=-1.0, maxval=1.0)  # [M, obs]
    sign = jnp.where(jax.random.bernoulli(sign_key, 0.5, (size, 1)), 1.0, -1.0)  # [M, 1]
    actions = jnp.clip(sign * mode + noise * jax.random.normal(noise_key, (size, 1)), -1, 1)
    return Batch(
        observations=obs,
        actions=actions,  # [M, 1]
        rewards=jnp.where(sign[:, 0] > 0, 1.0, minus_reward),
        next_observations=obs,
        dones=jnp.ones((size,)),
    )
