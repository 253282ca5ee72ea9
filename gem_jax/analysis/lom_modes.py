"""The five policies and the statistics of `experiments/probes/lom_modes.py` (pure): a LOM
run's policy against the mean of the mode its hyper-Q picks, the mean of the mode its critic
prefers, the critic's pick among behavior samples (method §8) and, with no critic at all, the
mean of the behavior GMM's heaviest component, on the same episodes."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gem_jax.related import lom

POLICIES = ("policy", "hyper", "best_mode", "samples", "behavior_mode")


def min_q(nets, critic_params, obs, actions):
    """`min_e Q_e(s, a)` for actions `[B, ..., A]` of states `[B, obs]` -> `[B, ...]`
    (`related.lom.min_q`, which takes the state axis second to last)."""
    q = lom.min_q(nets, critic_params, obs, jnp.moveaxis(actions, 0, -2))  # [..., B]
    return jnp.moveaxis(q, -1, 0)


def mode_policy(nets, hyper_q, chooser: str):
    """`policy(params, raw obs [B, obs], key, t, knobs)` acting with one component's mean:
    u*(s) by the hyper-Q (`"hyper"`), by the critic over the K means (`"best_mode"`) or by
    the mixture's own weights (`"behavior_mode"`: the behavior model alone, no critic).
    `params = (PolicyParams, hyper-Q params)`; audits are zeros (no candidate set)."""

    def policy(params, observations, key, t, knobs):
        del key, t, knobs
        p, h = params
        obs = (observations - p.obs_norm.mean) / p.obs_norm.std  # [B, obs]
        behavior = nets.behavior_apply(p.behavior, obs)
        means = jnp.clip(behavior.means, -1.0, 1.0)  # [B, K, A], in the action box
        if chooser == "hyper":
            scores = hyper_q.apply(h, obs)  # [B, K]
        elif chooser == "behavior_mode":
            scores = behavior.logits  # [B, K]
        else:
            scores = min_q(nets, p.critic, obs, means)  # [B, K]
        u = jnp.argmax(scores, axis=-1)  # [B]
        actions = jnp.take_along_axis(means, u[:, None, None], axis=1)[:, 0]  # [B, A]
        zeros = jnp.zeros(observations.shape[0])
        return actions, {"support_z": zeros, "collapse_dist": zeros}

    return jax.jit(policy)


def imitation_target(q_fn, mode_actions: jax.Array, q_policy: jax.Array, beta: float,
                     clip: float) -> jax.Array:
    """Where LOM's weighted regression pulls π(s) at the current policy: the minimiser of
    `mean_j w_j |π(s) - a_j|²` over draws `a_j` of the chosen mode, `Σ_j w_j a_j / Σ_j w_j`
    with `w_j = clip(exp(β (Q(s, a_j) - Q(s, π(s)))), 0, C)` (method §8). `mode_actions`
    `[B, S, A]`, `q_fn` maps them to `[B, S]`, `q_policy [B]`; returns `[B, A]`."""
    w = lom.imitation_weight(q_fn(mode_actions), q_policy[:, None], beta, clip)  # [B, S]
    return jnp.einsum("bs,bsa->ba", w, mode_actions) / jnp.maximum(w.sum(-1), 1e-12)[:, None]


def state_stats(nets, hyper_q, p, h, target_critic, obs, data_actions, key, n, config):
    """Values and mixture shape on dataset states `obs [B, obs]` (normalised, as trained);
    `n` behavior samples per state (and 4n draws of the chosen mode for the imitation target);
    `config` the run's (LOM's β, C and action noise)."""
    behavior = nets.behavior_apply(p.behavior, obs)
    means = jnp.clip(behavior.means, -1.0, 1.0)  # [B, K, A]
    q_modes = min_q(nets, target_critic, obs, means)  # [B, K]
    u_hyper = jnp.argmax(hyper_q.apply(h, obs), -1)  # [B]
    pick = lambda u: jnp.take_along_axis(means, u[:, None, None], axis=1)[:, 0]  # [B, A]
    pi = jnp.clip(nets.actor_apply(p.actor, obs).means[:, 0], -1.0, 1.0)  # [B, A]
    key_x, key_u, key_m = jax.random.split(key, 3)
    samples = jnp.moveaxis(lom.mode_samples(behavior, key_x, n), 0, 1)  # [B, n, K, A]
    comps = jax.random.categorical(key_u, behavior.logits, shape=(n, obs.shape[0])).T  # [B, n]
    samples = jnp.take_along_axis(  # one component per sample, by the mixture weights
        samples, comps[:, :, None, None], axis=2)[:, :, 0]  # [B, n, A]
    pool = jnp.concatenate([pi[:, None], samples], axis=1)  # [B, 1 + n, A]
    weights = jax.nn.softmax(behavior.logits, -1)  # [B, K]
    q = {
        "policy": min_q(nets, target_critic, obs, pi),
        "hyper": jnp.take_along_axis(q_modes, u_hyper[:, None], 1)[:, 0],
        "best_mode": q_modes.max(-1),
        "samples": min_q(nets, target_critic, obs, pool).max(-1),
        "behavior_mode": jnp.take_along_axis(
            q_modes, behavior.logits.argmax(-1)[:, None], 1)[:, 0],
        "dataset_action": min_q(nets, target_critic, obs, data_actions),
    }
    draws = lom.mode_samples(behavior, key_m, 4 * n, config.lom_action_noise)  # [4n, B, K, A]
    draws = jnp.take_along_axis(draws, u_hyper[None, :, None, None], axis=2)[:, :, 0]
    draws = jnp.moveaxis(draws, 0, 1)  # [B, 4n, A]
    target = imitation_target(lambda a: min_q(nets, target_critic, obs, a), draws,
                              q["policy"], config.lom_beta, config.lom_clip)  # [B, A]
    unweighted = draws.mean(axis=1)  # [B, A]: β = 0, only the box clip moves it
    k = means.shape[1]
    gaps = jnp.linalg.norm(means[:, :, None] - means[:, None], axis=-1)  # [B, K, K]
    return {
        "q": {name: float(v.mean()) for name, v in q.items()},
        "hyper_agrees_with_critic": float(jnp.mean(u_hyper == q_modes.argmax(-1))),
        "hyper_top_mode_share": float(jnp.bincount(u_hyper, length=k).max() / obs.shape[0]),
        "policy_to_hyper_mode": float(jnp.linalg.norm(pi - pick(u_hyper), axis=-1).mean()),
        "imitation_target_to_hyper_mode": float(
            jnp.linalg.norm(target - pick(u_hyper), axis=-1).mean()),
        "draw_mean_to_hyper_mode": float(
            jnp.linalg.norm(unweighted - pick(u_hyper), axis=-1).mean()),
        "policy_to_imitation_target": float(jnp.linalg.norm(pi - target, axis=-1).mean()),
        "policy_to_nearest_mode": float(jnp.linalg.norm(pi[:, None] - means, axis=-1)
                                        .min(-1).mean()),
        "policy_to_mixture_mean": float(jnp.linalg.norm(
            pi - jnp.einsum("bk,bka->ba", weights, means), axis=-1).mean()),
        "mode_weight_max": float(weights.max(-1).mean()),
        "mode_sigma": float(jnp.exp(jnp.broadcast_to(behavior.log_stds, means.shape)).mean()),
        "mode_mean_gap": float(gaps.sum((1, 2)).mean() / (k * (k - 1))),
    }


def markdown(report: dict) -> str:
    lines = [f"# LOM's steps undone one by one: {report['env']}, step {report['step']}", "",
             f"`{report['command']}`", "",
             "| policy | score (per seed) | Q on dataset states |", "|---|---|---|"]
    for name in POLICIES:
        r = report["rollouts"][name]
        seeds = ", ".join(f"{s:.1f}" for s in r["seed_scores"])
        lines.append(f"| {name} | {r['mean']:.1f} ± {r['std']:.1f} ({seeds}) | "
                     f"{report['stats_mean']['q'][name]:.2f} |")
    s = report["stats_mean"]
    lines += ["", f"Q of the dataset's own action: {s['q']['dataset_action']:.2f}. "
              f"Hyper-Q's argmax equals the critic's over the mode means on "
              f"{100 * s['hyper_agrees_with_critic']:.0f}% of states; its most-chosen mode "
              f"{100 * s['hyper_top_mode_share']:.0f}%. |π(s) − m_u*(s)| = "
              f"{s['policy_to_hyper_mode']:.3f} (to the nearest mean "
              f"{s['policy_to_nearest_mode']:.3f}, to the mixture's mean "
              f"{s['policy_to_mixture_mean']:.3f}). LOM's weighted regression at the current "
              f"π pulls toward a point {s['imitation_target_to_hyper_mode']:.3f} from that mean "
              f"(the unweighted mean of the box-clipped draws: {s['draw_mean_to_hyper_mode']:.3f}) "
              f"and {s['policy_to_imitation_target']:.3f} from π; mixture: max weight "
              f"{s['mode_weight_max']:.2f}, "
              f"σ {s['mode_sigma']:.3f}, mean gap between component means "
              f"{s['mode_mean_gap']:.3f} (action units, box [-1, 1])."]
    return "\n".join(lines) + "\n"
