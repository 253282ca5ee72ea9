"""Diagonal conditional Gaussian mixtures as pure functions (SPEC section 1).

A `GMM` holds `logits [..., K]`, `means [..., K, A]` and `log_stds` broadcastable to
`[..., K, A]`. Leading batch dimensions `...` are free; actions `[..., A]` broadcast
against them, so one state's mixture scores `N` candidates `[N, A]` directly.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@struct.dataclass
class GMM:
    logits: jax.Array  # [..., K] gating logits, w = softmax(logits)
    means: jax.Array  # [..., K, A]
    log_stds: jax.Array  # broadcastable to [..., K, A]

    @property
    def num_components(self) -> int:
        return self.logits.shape[-1]

    @property
    def action_dim(self) -> int:
        return self.means.shape[-1]


def log_weights(gmm: GMM) -> jax.Array:
    """`log w_k(s)` = log_softmax(logits). Shape [..., K]."""
    return jax.nn.log_softmax(gmm.logits, axis=-1)


def gaussian_log_prob(means: jax.Array, log_stds: jax.Array, actions: jax.Array) -> jax.Array:
    """Diagonal Gaussian log-density summed over the action axis (SPEC 1, bracket term).

    means, log_stds: [..., A]; actions: [..., A] -> [...].
    """
    z = (actions - means) * jnp.exp(-log_stds)
    return jnp.sum(-0.5 * z**2 - log_stds - _HALF_LOG_2PI, axis=-1)


def component_log_joint(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`l_k(s, a) = log w_k(s) + log N(a; m_k, diag sigma_k^2)` (SPEC 1).

    actions: [..., A] -> [..., K].
    """
    log_stds = jnp.broadcast_to(gmm.log_stds, gmm.means.shape)  # [..., K, A]
    comp = gaussian_log_prob(gmm.means, log_stds, actions[..., None, :])  # [..., K]
    return log_weights(gmm) + comp


def log_prob(gmm: GMM, actions: jax.Array) -> jax.Array:
    """Exact mixture log-likelihood `logsumexp_k l_k(s, a)` (SPEC 1). [..., A] -> [...]."""
    return jax.nn.logsumexp(component_log_joint(gmm, actions), axis=-1)


def responsibilities(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`gamma_k(s, a) = softmax_k l_k(s, a)` (SPEC 1). [..., A] -> [..., K]."""
    return jax.nn.softmax(component_log_joint(gmm, actions), axis=-1)


def sample(gmm: GMM, key: jax.Array, n: int) -> jax.Array:
    """Draw `n` actions per mixture, all at once (SPEC App. G.1). -> [n, ..., A].

    Component index `k ~ Cat(w)`, then `a = m_k + sigma_k * eps` with `eps ~ N(0, I)`.
    """
    comp_key, noise_key = jax.random.split(key)
    batch_shape = gmm.logits.shape[:-1]
    idx = jax.random.categorical(comp_key, gmm.logits, axis=-1, shape=(n, *batch_shape))  # [n, ...]
    log_stds = jnp.broadcast_to(gmm.log_stds, gmm.means.shape)  # [..., K, A]
    take = lambda x: jnp.take_along_axis(x[None], idx[..., None, None], axis=-2)[..., 0, :]
    means = take(gmm.means)  # [n, ..., A]
    stds = jnp.exp(take(log_stds))  # [n, ..., A]
    eps = jax.random.normal(noise_key, means.shape, means.dtype)
    return means + stds * eps


def top_component(gmm: GMM) -> jax.Array:
    """Index `k* = argmax_k w_k(s)`. Shape [...]."""
    return jnp.argmax(gmm.logits, axis=-1)


def top_component_mean(gmm: GMM) -> jax.Array:
    """The anchor `a_0(s) = m_{k*}(s)` (SPEC 3). -> [..., A]."""
    k = top_component(gmm)
    return jnp.take_along_axis(gmm.means, k[..., None, None], axis=-2)[..., 0, :]


def barycentre(gmm: GMM) -> jax.Array:
    """`sum_k w_k m_k` (the `anchor_bary` ablation, SPEC 3). -> [..., A]."""
    w = jax.nn.softmax(gmm.logits, axis=-1)
    return jnp.sum(w[..., None] * gmm.means, axis=-2)


def moment_matched(gmm: GMM) -> GMM:
    """The single Gaussian with the mixture's mean and per-dimension variance (K = 1).

    The closest unimodal fit in KL(p || q); used by the `unimodal_actor_cands` ablation.
    """
    w = jax.nn.softmax(gmm.logits, axis=-1)[..., None]  # [..., K, 1]
    stds = jnp.exp(jnp.broadcast_to(gmm.log_stds, gmm.means.shape))  # [..., K, A]
    mean = jnp.sum(w * gmm.means, axis=-2)  # [..., A]
    second = jnp.sum(w * (stds**2 + gmm.means**2), axis=-2)  # [..., A]
    var = jnp.maximum(second - mean**2, 1e-12)
    return GMM(
        logits=jnp.zeros(gmm.logits.shape[:-1] + (1,), gmm.logits.dtype),
        means=mean[..., None, :],
        log_stds=0.5 * jnp.log(var)[..., None, :],
    )


def gating_entropy(gmm: GMM) -> jax.Array:
    """`H = -sum_k w_k log w_k` (SPEC 2). Shape [...]."""
    logw = log_weights(gmm)
    return -jnp.sum(jnp.exp(logw) * logw, axis=-1)


def top1_log_prob(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`log N(a; m_k†, sigma_k†^2)` with `k† = argmax_k w_k`, gating weight NOT included
    (SPEC 4, NLL gap). [..., A] -> [...]."""
    k = top_component(gmm)[..., None, None]
    log_stds = jnp.broadcast_to(gmm.log_stds, gmm.means.shape)
    mean = jnp.take_along_axis(gmm.means, k, axis=-2)[..., 0, :]
    log_std = jnp.take_along_axis(log_stds, k, axis=-2)[..., 0, :]
    return gaussian_log_prob(mean, log_std, actions)


def nearest_mean_distance(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`min_k ||a - m_k||_2` (CollapseDist, SPEC 4). [..., A] -> [...]."""
    d = jnp.linalg.norm(actions[..., None, :] - gmm.means, axis=-1)  # [..., K]
    return jnp.min(d, axis=-1)
