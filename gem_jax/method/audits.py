"""Audits (method §4): evaluator-side statistics, never losses.

`support_z` and `collapse_dist` arrays come from the select step's `info`, one entry per
decision; these functions reduce them. The NLL gap audits a fitted GMM on dataset pairs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gem_jax.method import gmm as gmm_lib


def support_z(chosen_z: jax.Array) -> jax.Array:
    """SupportZ: the top-1 candidate's candidate-set z-score, averaged over decisions."""
    return jnp.mean(chosen_z)


def violation(chosen_z: jax.Array, z_thresh: float = -2.0) -> jax.Array:
    """Violation: fraction of decisions with `z(a*) < z_thresh` (default -2, ours)."""
    return jnp.mean((chosen_z < z_thresh).astype(jnp.float32))


def collapse_dist(distances: jax.Array) -> jax.Array:
    """CollapseDist: mean of `min_k ||a* - m_k^mu(s)||_2` over decisions."""
    return jnp.mean(distances)


def summarize(info: dict, z_thresh: float = -2.0) -> dict[str, float]:
    """The three selection audits from a select step's (possibly stacked) `info`, and, where
    `info` has `behavior_z`, BehaviorZ and BehaviorViolation (ours: the same two on the
    behavior's own scale, `select.behavior_z`)."""
    z = jnp.ravel(info["support_z"])
    out = {
        "support_z": float(support_z(z)),
        "violation": float(violation(z, z_thresh)),
        "collapse_dist": float(collapse_dist(jnp.ravel(info["collapse_dist"]))),
    }
    if "behavior_z" in info:
        ref = jnp.ravel(info["behavior_z"])
        out.update(behavior_z=float(jnp.mean(ref)),
                   behavior_violation=float(violation(ref, z_thresh)))
    return out


def nll_gap(gmm: gmm_lib.GMM, actions: jax.Array) -> dict[str, jax.Array]:
    """NLL-gap diagnostic (method §4; paper App. F): `gap = NLL_top1 - NLL_mix`.

    gmm: batch of mixtures [B, K, A]; actions: [B, A]. `NLL_top1` uses the most probable
    component's Gaussian WITHOUT its gating weight; gap > 0 means the mixture explains the
    data better than its top component.
    """
    nll_mix = -jnp.mean(gmm_lib.log_prob(gmm, actions))
    nll_top1 = -jnp.mean(gmm_lib.top1_log_prob(gmm, actions))
    return {"nll_mix": nll_mix, "nll_top1": nll_top1, "gap": nll_top1 - nll_mix}
