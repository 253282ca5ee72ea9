"""Soft Actor-Critic (Haarnoja et al., 2018) for training the locomotion behavior policies.

Used only to build datasets by the D4RL recipe (Fu et al., 2020): D4RL's hopper, halfcheetah
and walker2d behavior policies were SAC agents, so ours are too. Networks reuse
`gem_jax.method.networks.MLP` and `QNetwork`; the twin critics are one `QNetwork` vmapped over a
leading `E` parameter axis, as in `Networks.critic_apply`.

Per gradient step, in this order (Haarnoja et al., 2018b, Alg. 1):
  critic:  y = r + gamma (1 - d) (min_e Qbar_e(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s')
           L_Q = sum_e mean_B (Q_e(s, a) - y)^2 / 2
  actor:   L_pi = mean_B (alpha log pi(a|s) - min_e Q_e(s, a)),  a ~ pi(.|s) (reparameterised)
  alpha:   L_alpha = -mean_B log_alpha (log pi(a|s) + H_target),  H_target = -c |A|
           (c = target_entropy_scale: 1 rlkit / D4RL, 1/2 OGBench's ant expert)
  target:  Qbar <- tau Q + (1 - tau) Qbar
`make_sac_update_many` fuses K such steps in one `lax.scan` so a jitted call does K updates.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gem_jax.method.learner import ModelState
from gem_jax.method.networks import MLP, QNetwork, default_init
from gem_jax.method.types import Batch


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """SAC hyper-parameters (rlkit / D4RL defaults: 256x256 nets, batch 256, UTD 1)."""

    hidden_dims: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    discount: float = 0.99
    tau: float = 0.005  # Polyak rate of the target critics
    num_critics: int = 2
    init_alpha: float = 1.0
    batch_size: int = 256
    start_steps: int = 5000  # uniform random actions before the first update
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    target_entropy_scale: float = 1.0  # H_target = -scale * |A| (OGBench's ant: 0.5)


class TanhGaussianActor(nn.Module):
    """`s -> (mean [.., A], log_std [.., A])` of a Gaussian squashed by tanh."""

    hidden_dims: Sequence[int]
    action_dim: int
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = MLP(tuple(self.hidden_dims), activate_final=True)(observations)  # [..., H]
        out = nn.Dense(2 * self.action_dim, kernel_init=default_init)(h)  # [..., 2A]
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


def tanh_gaussian_sample(
    mean: jax.Array, log_std: jax.Array, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Reparameterised `a = tanh(mean + std * eps)` and `log pi(a|s)` with the tanh Jacobian.

    log pi(a) = sum_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2)], with the stable
    form log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) (SAC paper, Appendix C).
    """
    eps = jax.random.normal(key, mean.shape)  # [..., A]
    u = mean + jnp.exp(log_std) * eps
    log_normal = -0.5 * eps**2 - log_std - 0.5 * jnp.log(2 * jnp.pi)
    log_jac = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return jnp.tanh(u), jnp.sum(log_normal - log_jac, axis=-1)  # [..., A], [...]


@struct.dataclass
class SACState:
    actor: ModelState
    critic: ModelState  # params with leading E axis
    log_alpha: ModelState  # scalar parameter
    target_critic_params: Any
    key: jax.Array
    step: jax.Array  # int32 scalar: gradient steps taken


@dataclasses.dataclass(frozen=True)
class SACNetworks:
    actor: TanhGaussianActor
    critic: QNetwork
    num_critics: int

    def critic_apply(self, params, observations: jax.Array, actions: jax.Array) -> jax.Array:
        """All critics: params with leading E axis -> [E, ...]."""
        return jax.vmap(self.critic.apply, in_axes=(0, None, None))(params, observations, actions)


def make_sac_networks(config: SACConfig, action_dim: int) -> SACNetworks:
    hidden = tuple(config.hidden_dims)
    actor = TanhGaussianActor(hidden, action_dim, config.log_std_min, config.log_std_max)
    return SACNetworks(actor=actor, critic=QNetwork(hidden), num_critics=config.num_critics)


def _optimizers(config: SACConfig) -> dict[str, optax.GradientTransformation]:
    return {
        "actor": optax.adam(config.actor_lr),
        "critic": optax.adam(config.critic_lr),
        "log_alpha": optax.adam(config.alpha_lr),
    }


def init_sac_state(key: jax.Array, config: SACConfig, obs_dim: int, action_dim: int) -> SACState:
    """Fresh state for observations `[obs_dim]` and actions in `[-1, 1]^action_dim`."""
    nets = make_sac_networks(config, action_dim)
    actor_key, critic_key, state_key = jax.random.split(key, 3)
    obs = jnp.zeros((1, obs_dim), jnp.float32)
    act = jnp.zeros((1, action_dim), jnp.float32)
    critic_keys = jax.random.split(critic_key, config.num_critics)
    params = {
        "actor": nets.actor.init(actor_key, obs),
        "critic": jax.vmap(nets.critic.init, in_axes=(0, None, None))(critic_keys, obs, act),
        "log_alpha": jnp.asarray(jnp.log(config.init_alpha), jnp.float32),
    }
    txs = _optimizers(config)
    models = {name: ModelState(p, txs[name].init(p)) for name, p in params.items()}
    return SACState(
        actor=models["actor"],
        critic=models["critic"],
        log_alpha=models["log_alpha"],
        target_critic_params=jax.tree.map(jnp.copy, params["critic"]),  # own buffers (donation)
        key=state_key,
        step=jnp.zeros((), jnp.int32),
    )


def make_sac_update(config: SACConfig, action_dim: int):
    """Pure `(state, batch [B]) -> (state, metrics)`: one SAC gradient step (module docstring)."""
    nets = make_sac_networks(config, action_dim)
    txs = _optimizers(config)
    target_entropy = -config.target_entropy_scale * float(action_dim)

    def update(state: SACState, batch: Batch) -> tuple[SACState, dict]:
        key, next_key, pi_key = jax.random.split(state.key, 3)
        alpha = jnp.exp(state.log_alpha.params)

        # Critic.
        next_mean, next_log_std = nets.actor.apply(state.actor.params, batch.next_observations)
        next_actions, next_log_prob = tanh_gaussian_sample(next_mean, next_log_std, next_key)
        next_q = nets.critic_apply(  # [E, B]
            state.target_critic_params, batch.next_observations, next_actions
        )
        next_v = jnp.min(next_q, axis=0) - alpha * next_log_prob  # [B]
        target = batch.rewards + config.discount * (1.0 - batch.dones) * next_v  # [B]

        def critic_loss_fn(params):
            q = nets.critic_apply(params, batch.observations, batch.actions)  # [E, B]
            return 0.5 * jnp.sum(jnp.mean((q - target[None]) ** 2, axis=-1)), q

        (critic_loss, q), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic.params
        )
        updates, critic_opt = txs["critic"].update(grads, state.critic.opt_state)
        critic = ModelState(optax.apply_updates(state.critic.params, updates), critic_opt)

        # Actor (against the freshly updated critics).
        def actor_loss_fn(params):
            mean, log_std = nets.actor.apply(params, batch.observations)
            actions, log_prob = tanh_gaussian_sample(mean, log_std, pi_key)  # [B, A], [B]
            q_pi = jnp.min(nets.critic_apply(critic.params, batch.observations, actions), axis=0)
            return jnp.mean(alpha * log_prob - q_pi), log_prob

        (actor_loss, log_prob), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(
            state.actor.params
        )
        updates, actor_opt = txs["actor"].update(grads, state.actor.opt_state)
        actor = ModelState(optax.apply_updates(state.actor.params, updates), actor_opt)

        # Temperature.
        entropy_gap = jax.lax.stop_gradient(log_prob + target_entropy)  # [B]
        alpha_loss_fn = lambda log_alpha: -jnp.mean(log_alpha * entropy_gap)
        alpha_loss, grads = jax.value_and_grad(alpha_loss_fn)(state.log_alpha.params)
        updates, alpha_opt = txs["log_alpha"].update(grads, state.log_alpha.opt_state)
        log_alpha = ModelState(optax.apply_updates(state.log_alpha.params, updates), alpha_opt)

        target_critic = optax.incremental_update(
            critic.params, state.target_critic_params, config.tau
        )
        new_state = SACState(actor, critic, log_alpha, target_critic, key, state.step + 1)
        metrics = {
            "critic/loss": critic_loss,
            "critic/q_mean": jnp.mean(q),
            "actor/loss": actor_loss,
            "actor/entropy": -jnp.mean(log_prob),
            "alpha/value": alpha,
            "alpha/loss": alpha_loss,
        }
        return new_state, metrics

    return update


def make_sac_update_many(config: SACConfig, action_dim: int):
    """Jitted `(state, batches [K, B]) -> (state, metrics [K])`: K fused updates (donated)."""
    update = make_sac_update(config, action_dim)

    @functools.partial(jax.jit, donate_argnums=0)
    def update_many(state: SACState, batches: Batch) -> tuple[SACState, dict]:
        return jax.lax.scan(update, state, batches)

    return update_many


def make_act(config: SACConfig, action_dim: int):
    """Jitted `(actor_params, observations [B, obs], key, deterministic) -> actions [B, A]`.

    `deterministic=True` returns `tanh(mean)`; otherwise a sample of the tanh-Gaussian.
    Works on stacked parameters too when vmapped by the caller.
    """
    actor = make_sac_networks(config, action_dim).actor

    @functools.partial(jax.jit, static_argnames="deterministic")
    def act(actor_params, observations: jax.Array, key: jax.Array, deterministic: bool = False):
        mean, log_std = actor.apply(actor_params, observations)  # [B, A]
        if deterministic:
            return jnp.tanh(mean)
        return tanh_gaussian_sample(mean, log_std, key)[0]

    return act
