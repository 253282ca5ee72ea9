"""Diagonal conditional Gaussian mixtures as pure functions (method §1).

A `GMM` holds `logits [..., K]`, `means [..., K, A]` and `log_stds` broadcastable to
`[..., K, A]`. Leading batch dimensions `...` are free; actions `[..., A]` broadcast
against them, so one state's mixture scores `N` candidates `[N, A]` directly.

`censored` (static) selects the likelihood of an action coordinate on the box edge ±1
(method §1, the boundary clause; *ours*): the datasets clip controller + noise to the box, so
many coordinates sit exactly at ±1. A plain Gaussian density rewards a component without
bound for shrinking onto such a point mass (its log-density grows as -log sigma), and the
components then die at the `log_std_min` clamp. The censored (Tobit) likelihood treats an
edge coordinate as "the latent action was at or beyond the edge": `log P(x >= 1) =
log Phi((m - 1) / sigma)` (and `log Phi((-1 - m) / sigma)` at -1), which is at most 0, so
no component gains by collapsing; interior coordinates keep the Gaussian density. With
`censored=False` this is the paper's plain density.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
BOUNDARY_TOL = 1e-6  # a coordinate with |a| >= 1 - BOUNDARY_TOL is on the box edge


@struct.dataclass
class GMM:
    logits: jax.Array  # [..., K] gating logits, w = softmax(logits)
    means: jax.Array  # [..., K, A]
    log_stds: jax.Array  # broadcastable to [..., K, A]
    censored: bool = struct.field(pytree_node=False, default=False)  # edge likelihood (above)

    @property
    def num_components(self) -> int:
        return self.logits.shape[-1]

    @property
    def action_dim(self) -> int:
        return self.means.shape[-1]


def log_weights(gmm: GMM) -> jax.Array:
    """`log w_k(s)` = log_softmax(logits). Shape [..., K]."""
    return jax.nn.log_softmax(gmm.logits, axis=-1)


def gaussian_log_prob(
    means: jax.Array, log_stds: jax.Array, actions: jax.Array, censored: bool = False
) -> jax.Array:
    """Diagonal Gaussian log-likelihood summed over the action axis (method §1, bracket term).

    means, log_stds: [..., A]; actions: [..., A] -> [...]. With `censored`, a coordinate on
    the box edge contributes the latent Gaussian's tail mass beyond that edge instead of
    its density (module docstring).
    """
    z = (actions - means) * jnp.exp(-log_stds)  # [..., A]
    per_dim = -0.5 * z**2 - log_stds - _HALF_LOG_2PI  # [..., A]
    if censored:
        inv_std = jnp.exp(-log_stds)
        upper = jax.scipy.special.log_ndtr((means - 1.0) * inv_std)  # log P(x >= 1)
        lower = jax.scipy.special.log_ndtr((-1.0 - means) * inv_std)  # log P(x <= -1)
        per_dim = jnp.where(actions >= 1.0 - BOUNDARY_TOL, upper, per_dim)
        per_dim = jnp.where(actions <= -1.0 + BOUNDARY_TOL, lower, per_dim)
    return jnp.sum(per_dim, axis=-1)


def component_log_joint(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`l_k(s, a) = log w_k(s) + log N(a; m_k, diag sigma_k^2)` (method §1).

    actions: [..., A] -> [..., K].
    """
    log_stds = jnp.broadcast_to(gmm.log_stds, gmm.means.shape)  # [..., K, A]
    comp = gaussian_log_prob(gmm.means, log_stds, actions[..., None, :], gmm.censored)  # [..., K]
    return log_weights(gmm) + comp


def log_prob(gmm: GMM, actions: jax.Array) -> jax.Array:
    """Exact mixture log-likelihood `logsumexp_k l_k(s, a)` (method §1). [..., A] -> [...]."""
    return jax.nn.logsumexp(component_log_joint(gmm, actions), axis=-1)


def responsibilities(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`gamma_k(s, a) = softmax_k l_k(s, a)` (method §1). [..., A] -> [..., K]."""
    return jax.nn.softmax(component_log_joint(gmm, actions), axis=-1)


def sample(gmm: GMM, key: jax.Array, n: int) -> jax.Array:
    """Draw `n` actions per mixture, all at once (the GEM paper, App. G.1). -> [n, ..., A].

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
    """The anchor `a_0(s) = m_{k*}(s)` (method §3). -> [..., A]."""
    k = top_component(gmm)
    return jnp.take_along_axis(gmm.means, k[..., None, None], axis=-2)[..., 0, :]


def barycentre(gmm: GMM) -> jax.Array:
    """`sum_k w_k m_k` (the `anchor_bary` ablation, method §3). -> [..., A]."""
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
        censored=gmm.censored,
    )


def gating_entropy(gmm: GMM) -> jax.Array:
    """`H = -sum_k w_k log w_k` (method §2). Shape [...]."""
    logw = log_weights(gmm)
    return -jnp.sum(jnp.exp(logw) * logw, axis=-1)


def top1_log_prob(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`log N(a; m_k†, sigma_k†^2)` with `k† = argmax_k w_k`, gating weight NOT included
    (method §4, NLL gap). [..., A] -> [...]."""
    k = top_component(gmm)[..., None, None]
    log_stds = jnp.broadcast_to(gmm.log_stds, gmm.means.shape)
    mean = jnp.take_along_axis(gmm.means, k, axis=-2)[..., 0, :]
    log_std = jnp.take_along_axis(log_stds, k, axis=-2)[..., 0, :]
    return gaussian_log_prob(mean, log_std, actions, gmm.censored)


def nearest_mean_distance(gmm: GMM, actions: jax.Array) -> jax.Array:
    """`min_k ||a - m_k||_2` (CollapseDist, method §4). [..., A] -> [...].

    A censored component's mean is a latent one and may lie past the edge; the action it
    stands for is its mean clipped to the box, so that is what the distance is taken to.
    """
    means = jnp.clip(gmm.means, -1.0, 1.0) if gmm.censored else gmm.means  # [..., K, A]
    d = jnp.linalg.norm(actions[..., None, :] - means, axis=-1)  # [..., K]
    return jnp.min(d, axis=-1)
