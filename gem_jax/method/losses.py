"""Phase I losses as pure functions (method §2).

Each loss takes the parameters it differentiates first, then every other input
explicitly, and returns `(loss, metrics)`. Targets computed from other models are
passed in already stopped, so a loss reads like its equation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gem_jax.method import gmm as gmm_lib
from gem_jax.method.networks import Networks
from gem_jax.method.types import Batch


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    """`|tau - 1(u < 0)| * u^2`, elementwise (method §2, L_V). [...] -> [...]."""
    weight = jnp.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff**2


def advantage_weight(advantages: jax.Array, temperature: float, exp_adv_max: float) -> jax.Array:
    """`omega = min(exp(beta_adv * A), EXP_ADV_MAX)` (method §2), on a stopped advantage."""
    return jnp.minimum(jnp.exp(temperature * jax.lax.stop_gradient(advantages)), exp_adv_max)


def value_loss(
    value_params, nets: Networks, observations: jax.Array, target_q: jax.Array, expectile: float
):
    """`L_V = E[|tau - 1(u<0)| u^2]`, `u = min_e Qbar_e(s,a) - V(s)` (method §2).

    target_q: [B], the stopped `min_e Qbar_e(s, a)`.
    """
    v = nets.value_apply(value_params, observations)  # [B]
    loss = expectile_loss(target_q - v, expectile).mean()
    return loss, {"value/loss": loss, "value/v_mean": v.mean()}


def critic_loss(critic_params, nets: Networks, batch: Batch, next_v: jax.Array, discount: float):
    """`L_Q = mean_e E[(Q_e(s,a) - y)^2]`, `y = r + gamma (1 - d) V(s')` (method §2).

    next_v: [B], the stopped `V(s')`.
    """
    y = batch.rewards + discount * (1.0 - batch.dones) * next_v  # [B]
    q = nets.critic_apply(critic_params, batch.observations, batch.actions)  # [E, B]
    loss = jnp.mean((q - y[None]) ** 2)
    return loss, {
        "critic/loss": loss,
        "critic/q_mean": q.mean(),
        "critic/q_ensemble_std": q.std(axis=0).mean(),
        "critic/target_mean": y.mean(),
    }


def actor_loss(
    actor_params,
    nets: Networks,
    observations: jax.Array,
    actions: jax.Array,
    advantages: jax.Array,
    temperature: float,
    exp_adv_max: float,
    entropy_coef: float,
    detach_responsibilities: bool = True,
):
    """Guided EM actor loss `L_pi = -E[omega S_EM] - alpha_ent E[H]` (method §2; paper Eq. 42, 44).

    `S_EM = sum_k stop_grad(gamma_k) l_k(s, a)` is the EM Q-function with responsibilities
    fixed (paper Eq. 36-37); advantages: [B], `min_e Qbar_e(s,a) - V(s)`.
    """
    dist = nets.actor_apply(actor_params, observations)  # GMM [B, K, A]
    log_joint = gmm_lib.component_log_joint(dist, actions)  # [B, K]
    resp = jax.nn.softmax(log_joint, axis=-1)  # [B, K]
    if detach_responsibilities:
        resp = jax.lax.stop_gradient(resp)
    s_em = jnp.sum(resp * log_joint, axis=-1)  # [B]
    weights = advantage_weight(advantages, temperature, exp_adv_max)  # [B]
    entropy = gmm_lib.gating_entropy(dist)  # [B]
    loss = -(weights * s_em).mean() - entropy_coef * entropy.mean()
    return loss, {
        "actor/loss": loss,
        "actor/weight_mean": weights.mean(),
        "actor/weight_max": weights.max(),
        "actor/advantage_mean": advantages.mean(),
        "actor/gating_entropy": entropy.mean(),
        "actor/log_prob": jax.nn.logsumexp(log_joint, axis=-1).mean(),
    }


def behavior_loss(behavior_params, nets: Networks, observations: jax.Array, actions: jax.Array):
    """Behavior maximum likelihood `L_mu = -E[log mu_phi(a|s)]` (method §2; paper Eq. 54)."""
    dist = nets.behavior_apply(behavior_params, observations)  # GMM [B, K, A]
    nll = -gmm_lib.log_prob(dist, actions).mean()
    return nll, {
        "behavior/nll": nll,
        "behavior/gating_entropy": gmm_lib.gating_entropy(dist).mean(),
    }
