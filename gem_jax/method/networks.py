"""Networks (method §1): MLP trunk, GMM head, critic ensemble, value net.

The critic ensemble follows the rejax pattern: one `QNetwork` whose parameters carry a
leading `E` axis, created with `jax.vmap(init)` and applied with `jax.vmap(apply)`.
`Networks` bundles the pure apply functions a config implies; it holds no parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gem_jax.method.config import GEMConfig
from gem_jax.method.gmm import GMM

default_init = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")


class MLP(nn.Module):
    hidden_dims: Sequence[int]
    activate_final: bool = False
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, size in enumerate(self.hidden_dims):
            x = nn.Dense(size, kernel_init=default_init)(x)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
                x = nn.relu(x)
        return x


def clamp_log_std(x: jax.Array, low: float, high: float, mode: str) -> jax.Array:
    """Bound a raw log-std to [low, high] (method §1).

    `hard`: `clip` (the paper's form; zero gradient once saturated, so a component that
    reaches the bound never moves again). `soft` (*ours*): `high - softplus(high - x)`, then
    `low + softplus(. - low)` (the PETS / MBPO bounds): smooth, inside the bounds, and its
    gradient never vanishes, so a component pushed to the floor can recover.
    """
    if mode == "hard":
        return jnp.clip(x, low, high)
    if mode == "soft":
        x = high - jax.nn.softplus(high - x)
        return low + jax.nn.softplus(x - low)
    raise ValueError(f"Unknown log_std clamp {mode!r}; expected 'hard' or 'soft'.")


class GMMPolicy(nn.Module):
    """`s -> GMM(logits [.., K], bounded means [.., K, A], clamped log_stds [K, A])`.

    `log sigma_k` is a learned parameter per component and action dim, not a function of
    `s`, bounded to [log_std_min, log_std_max] by `clamp_log_std` (method §1). Means are
    `mean_bound * tanh(.)`: inside the box (bound 1) for the plain density; with the
    censored edge likelihood (`gem_jax.method.gmm`) they are latent means and may sit a little
    beyond the edge (*ours*), so a state whose data are all clipped to +1 is explained by a
    component centred past +1 instead of a spike on it.
    """

    hidden_dims: Sequence[int]
    num_components: int
    action_dim: int
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    log_std_init: float = -1.0  # sigma ~ 0.37 at init (ours)
    log_std_clamp: str = "hard"
    censored: bool = False
    mean_bound: float = 1.0

    @nn.compact
    def __call__(self, observations: jax.Array) -> GMM:
        k, a = self.num_components, self.action_dim
        h = MLP(self.hidden_dims, activate_final=True)(observations)  # [..., H]
        logits = nn.Dense(k, kernel_init=default_init)(h)  # [..., K]
        # Spread the initial means over the box and start the components narrow, so they
        # claim different data instead of collapsing onto one broad Gaussian (ours).
        spread = lambda key, shape, dtype=jnp.float32: jax.random.uniform(
            key, shape, dtype, -1.5, 1.5
        )
        means = nn.Dense(k * a, kernel_init=default_init, bias_init=spread)(h)
        means = self.mean_bound * jnp.tanh(means)
        means = means.reshape(*observations.shape[:-1], k, a)  # [..., K, A]
        log_stds = self.param("log_stds", nn.initializers.constant(self.log_std_init), (k, a))
        log_stds = clamp_log_std(log_stds, self.log_std_min, self.log_std_max, self.log_std_clamp)
        return GMM(logits=logits, means=means, log_stds=log_stds, censored=self.censored)


class QNetwork(nn.Module):
    """One critic `Q(s, a)`; the ensemble is this module vmapped over parameters."""

    hidden_dims: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, observations: jax.Array, actions: jax.Array) -> jax.Array:
        x = jnp.concatenate([observations, actions], axis=-1)
        x = MLP((*self.hidden_dims, 1), layer_norm=self.layer_norm)(x)
        return x[..., 0]  # [...]


class ValueNetwork(nn.Module):
    hidden_dims: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, observations: jax.Array) -> jax.Array:
        return MLP((*self.hidden_dims, 1), layer_norm=self.layer_norm)(observations)[..., 0]


@dataclasses.dataclass(frozen=True)
class Networks:
    """The four models a `GEMConfig` implies, as modules plus pure apply functions."""

    actor: GMMPolicy
    behavior: GMMPolicy
    critic: QNetwork
    value: ValueNetwork
    num_critics: int

    def actor_apply(self, params, observations: jax.Array) -> GMM:
        return self.actor.apply(params, observations)

    def behavior_apply(self, params, observations: jax.Array) -> GMM:
        return self.behavior.apply(params, observations)

    def critic_apply(self, params, observations: jax.Array, actions: jax.Array) -> jax.Array:
        """All critics at once: params with leading E axis -> [E, ...]."""
        return jax.vmap(self.critic.apply, in_axes=(0, None, None))(params, observations, actions)

    def value_apply(self, params, observations: jax.Array) -> jax.Array:
        return self.value.apply(params, observations)

    def init(self, key: jax.Array, obs_dim: int, action_dim: int) -> dict:
        """Fresh parameters for all four models (critic params: leading E axis)."""
        actor_key, behavior_key, critic_key, value_key = jax.random.split(key, 4)
        obs = jnp.zeros((1, obs_dim), jnp.float32)
        act = jnp.zeros((1, action_dim), jnp.float32)
        critic_keys = jax.random.split(critic_key, self.num_critics)
        return {
            "actor": self.actor.init(actor_key, obs),
            "behavior": self.behavior.init(behavior_key, obs),
            "critic": jax.vmap(self.critic.init, in_axes=(0, None, None))(critic_keys, obs, act),
            "value": self.value.init(value_key, obs),
        }


def make_networks(config: GEMConfig, action_dim: int) -> Networks:
    hidden = tuple(config.hidden_dims)
    censored = config.action_boundary == "censored"
    gmm = lambda k: GMMPolicy(
        hidden,
        k,
        action_dim,
        config.log_std_min,
        config.log_std_max,
        log_std_clamp=config.log_std_clamp,
        censored=censored,
        mean_bound=config.latent_mean_bound if censored else 1.0,
    )
    return Networks(
        actor=gmm(config.num_components),
        behavior=gmm(config.behavior_num_components),
        critic=QNetwork(hidden, config.layer_norm),
        value=ValueNetwork(hidden, config.layer_norm),
        num_critics=config.num_critics,
    )
