"""Diagnostics of a trained run's mixtures, weights and candidate sets (issue: GEM vs IQL).

Pure functions of parameters and a sample of dataset states; `experiments/diagnose.py`
is the command-line face (files, rollouts). Every number is per seed:

* `gmm_report`: sigma of every component per action dim, how many sit at the
  `log_std_min` floor (a hard clip has zero gradient there, method §1), how close the
  component means sit to the box edge, gating entropy and max gating weight.
* `edge_fraction`: share of dataset action coordinates on the box edge (|a| = 1).
* `weight_report`: the advantage weights omega (method §2), the share at `exp_adv_max`, the
  share of the weight those carry and the effective sample size.
* `candidate_report`: per state, how many of the N + 1 candidates are distinct, and the
  spread over the candidate set of the LCB term against that of beta_t * z (method §3), with
  how often the score's top-1 is the LCB's top-1 (the critic decides) or the anchor, and
  where the top-1 and the LCB's argmax sit (box edge, distance from the anchor).
* `anchor_vs_mean`: one run's anchor against another run's anchor (e.g. IQL's mean) on the
  same states, both scored by the first run's critic: do they differ, and does the critic
  see it?
* `landscape`, `behavior_summary`, `probe_states`: the critic's LCB over an action grid and
  the behavior model at hand-picked maze states (`experiments/probes/q_landscape.py`).
* `extra_candidate_scorer`: selection with one outside action (e.g. the data's own
  controller, `experiments/probes/oracle_probe.py`) appended to the candidate set, and where that
  action ranks: is a run limited by what it proposes or by how it scores?
* `heldout_gain`: the optimizer's curse check (the double estimator of double Q-learning):
  select among nested candidate sets with some critics, then ask the held-out critics
  whether the chosen action beats the anchor (`experiments/probes/heldout_gain.py`).
* `deviation_report`: the critic's predicted gain of one action over another at the same
  states against the Monte-Carlo truth of the same one-step deviation
  (`experiments/probes/critic_truth.py`).
* `value_audit`: along rollouts, the critic's LCB of each chosen action against the
  discounted return that followed it (`experiments/probes/value_audit.py`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gem_jax.method import gmm as gmm_lib
from gem_jax.method.config import GEMConfig
from gem_jax.method.gmm import BOUNDARY_TOL
from gem_jax.method.losses import advantage_weight
from gem_jax.method.networks import make_networks
from gem_jax.method.select import (
    PolicyParams,
    SelectKnobs,
    candidates_with_anchors,
    lcb,
    score_candidates,
)

EDGE_MARGIN = 0.02  # a component mean within this of +-1 "sits on the edge"
CLAMP_TOL = 1e-3  # a log-std within this of log_std_min "sits at the floor"
DISTINCT_TOL = 1e-2  # candidates closer than this count as one
STATE_CHUNK = 64  # states per vmapped chunk: [B, N + 1, E, hidden] at once would not fit memory


def per_state(one, *args):
    """`one` mapped over the states of `args` (each [B, ...]) in chunks of `STATE_CHUNK`,
    jitted: the candidate reports hold [N + 1, E] critic activations per state, which for
    thousands of states and N = 1024 outgrow memory when vmapped at once."""
    return jax.jit(lambda xs: jax.lax.map(lambda x: one(*x), xs, batch_size=STATE_CHUNK))(args)


def edge_fraction(actions: np.ndarray) -> float:
    """Share of action coordinates on the box edge, `|a| >= 1 - tol`. actions [M, A]."""
    return float(np.mean(np.abs(actions) >= 1.0 - BOUNDARY_TOL))


def gmm_report(dist: gmm_lib.GMM, log_std_min: float) -> dict:
    """Per-mixture statistics on a batch of states. dist: GMM [B, K, A]."""
    log_stds = np.asarray(jnp.broadcast_to(dist.log_stds, dist.means.shape))  # [B, K, A]
    sigma = np.exp(log_stds[0])  # [K, A] (state-independent)
    at_floor = log_stds[0] <= log_std_min + CLAMP_TOL  # [K, A]
    means = np.asarray(dist.means)  # [B, K, A]
    weights = np.asarray(jax.nn.softmax(dist.logits, axis=-1))  # [B, K]
    edge = np.abs(means) >= 1.0 - EDGE_MARGIN  # [B, K, A]
    top = np.argmax(weights, axis=-1)  # [B]
    top_means = np.take_along_axis(means, top[:, None, None], axis=1)[:, 0]  # [B, A]
    return {
        "sigma": sigma.round(5).tolist(),
        "sigma_at_floor": int(at_floor.sum()),
        "sigma_at_floor_frac": float(at_floor.mean()),
        "means_on_edge_frac": float(edge.mean()),
        "weighted_means_on_edge_frac": float((weights[..., None] * edge).sum(1).mean()),
        "anchor_on_edge_frac": float(np.mean(np.abs(top_means) >= 1.0 - EDGE_MARGIN)),
        "gating_entropy": float(np.asarray(gmm_lib.gating_entropy(dist)).mean()),
        "gating_entropy_max": float(np.log(dist.num_components)),
        "max_gating_weight": float(weights.max(-1).mean()),
    }


def weight_report(config: GEMConfig, state_params: dict, observations, actions) -> dict:
    """omega = min(exp(beta_adv A), cap) on dataset pairs, A = min_e Qbar - V (method §2).

    state_params: one seed's `{"target_critic", "value"}` parameters; observations
    normalised as in training. [B, obs], [B, A].
    """
    nets = make_networks(config, actions.shape[-1])
    q = nets.critic_apply(state_params["target_critic"], observations, actions).min(0)  # [B]
    adv = q - nets.value_apply(state_params["value"], observations)  # [B]
    w = advantage_weight(adv, config.adv_temperature, config.exp_adv_max)  # [B]
    return {
        "advantage_mean": float(np.mean(adv)),
        "advantage_std": float(np.std(adv)),
        "q_mean": float(np.mean(q)),
        **weight_stats(np.asarray(w), config.exp_adv_max),
    }


def weight_stats(w: np.ndarray, cap: float) -> dict:
    """How the weights omega [B] spread the actor's loss over the pairs: their mean, the
    shares of pairs at the cap and below 1e-3, the share of the total weight the capped pairs
    carry, and Kish's effective sample size (sum w)^2 / (B sum w^2) as a share of B (1: all
    pairs count alike; 1/B: one pair carries the loss)."""
    at_cap = w >= cap * (1 - 1e-6)  # [B]
    return {
        "weight_mean": float(w.mean()),
        "weight_at_cap_frac": float(np.mean(at_cap)),
        "weight_below_1e-3_frac": float(np.mean(w < 1e-3)),
        "weight_mass_at_cap_frac": float(w[at_cap].sum() / w.sum()),
        "effective_sample_frac": float(w.sum() ** 2 / (w.size * np.sum(w**2))),
    }


def distinct_count(candidates: jax.Array, tol: float = DISTINCT_TOL) -> jax.Array:
    """Candidates farther than `tol` from every earlier one. [C, A] -> []."""
    d = jnp.linalg.norm(candidates[:, None] - candidates[None], axis=-1)  # [C, C]
    earlier = jnp.tril(jnp.ones_like(d, bool), k=-1)
    return jnp.sum(~jnp.any(earlier & (d <= tol), axis=1))


def candidate_report(
    config: GEMConfig,
    params: PolicyParams,
    observations: jax.Array,
    key: jax.Array,
    num_candidates: int,
    knobs: SelectKnobs,
    t: float = 0.0,
) -> dict:
    """Anchor (+ the other component means with `config.candidate_means`) + N actor
    candidates per state, scored as in selection (method §3).

    observations: raw [B, obs]. Reports means over states of: distinct candidates, the
    candidate-set range (max - min) of the LCB term and of beta_t * z, and how often the
    top-1 by score equals the top-1 by LCB alone and the anchor, and where the top-1 and the
    LCB's argmax sit: the share of their coordinates on the box edge and their distance
    from the anchor (a critic whose argmax runs to the box corners extrapolates).
    """
    nets = make_networks(config, params.actor["params"]["log_stds"].shape[-1])

    def one(obs, key):
        obs = (obs - params.obs_norm.mean) / params.obs_norm.std
        actor = nets.actor_apply(params.actor, obs)
        behavior = nets.behavior_apply(params.behavior, obs)
        candidates, anchors = candidates_with_anchors(
            actor, behavior, key, num_candidates, candidate_means=config.candidate_means)
        scores, parts = score_candidates(nets, params, obs, candidates, behavior, t, knobs,
                                         anchors=anchors)
        support = parts["beta"] * parts["support_z"]  # [C]
        best, greedy = jnp.argmax(scores), jnp.argmax(parts["lcb"])
        on_edge = lambda a: jnp.mean(jnp.abs(a) >= 1.0 - BOUNDARY_TOL)
        return {
            "distinct": distinct_count(candidates),
            "lcb_range": parts["lcb"].max() - parts["lcb"].min(),
            "support_range": support.max() - support.min(),
            "top1_is_lcb_top1": (best == greedy).astype(jnp.float32),
            "top1_is_anchor": (best == 0).astype(jnp.float32),
            "candidates_on_edge_frac": on_edge(candidates),
            "top1_on_edge_frac": on_edge(candidates[best]),
            "lcb_top1_on_edge_frac": on_edge(candidates[greedy]),
            "top1_dist_to_anchor": jnp.linalg.norm(candidates[best] - candidates[0]),
            "lcb_top1_dist_to_anchor": jnp.linalg.norm(candidates[greedy] - candidates[0]),
        }

    keys = jax.random.split(key, observations.shape[0])
    out = per_state(one, observations, keys)
    report = {k: float(np.mean(v)) for k, v in out.items()}
    report["num_candidates"] = num_candidates
    return report


def anchor_vs_mean(
    config: GEMConfig,
    params: PolicyParams,
    other_config: GEMConfig,
    other_params: PolicyParams,
    observations: jax.Array,
    lcb_lambda: float,
    far: float = 0.5,
) -> dict:
    """This run's anchor `a_0` against another run's anchor `b_0` (method §3; for IQL, K = 1,
    its mean) on the same raw states [B, obs], both clipped to the box and scored by this
    run's online critic, `LCB_lambda`. Means over states of: `dist` = |a_0 - b_0|, the
    norms of both, `lcb_gain` = LCB(a_0) - LCB(b_0), `lcb_prefers_anchor` (share with
    LCB(a_0) > LCB(b_0)), `far_frac` (share with dist > `far`) and, there, `far_top_weight`
    (the anchor's gating weight) and `far_near_mode` (share where some other component mean
    of this actor lies within `far` / 2 of b_0: the other run's action is one of our modes,
    not between them). Each run uses its own observation normalisation.
    """
    nets = make_networks(config, params.actor["params"]["log_stds"].shape[-1])
    other_nets = make_networks(other_config, other_params.actor["params"]["log_stds"].shape[-1])

    def one(raw):
        obs = (raw - params.obs_norm.mean) / params.obs_norm.std  # [O]
        actor = nets.actor_apply(params.actor, obs)  # GMM [K, A]
        other = other_nets.actor_apply(
            other_params.actor, (raw - other_params.obs_norm.mean) / other_params.obs_norm.std)
        a0 = jnp.clip(gmm_lib.top_component_mean(actor), -1.0, 1.0)  # [A]
        b0 = jnp.clip(gmm_lib.top_component_mean(other), -1.0, 1.0)  # [A]
        q = jax.vmap(lambda a: nets.critic_apply(params.critic, obs, a))(jnp.stack([a0, b0]))
        value = lcb(q, lcb_lambda, axis=-1)  # [2]
        dist = jnp.linalg.norm(a0 - b0)
        modes = jnp.linalg.norm(jnp.clip(actor.means, -1.0, 1.0) - b0, axis=-1)  # [K]
        return {
            "dist": dist,
            "anchor_norm": jnp.linalg.norm(a0),
            "other_norm": jnp.linalg.norm(b0),
            "lcb_gain": value[0] - value[1],
            "lcb_prefers_anchor": (value[0] > value[1]).astype(jnp.float32),
            "far": (dist > far).astype(jnp.float32),
            "top_weight": jnp.max(jax.nn.softmax(actor.logits)),
            "near_mode": (jnp.min(modes) < far / 2).astype(jnp.float32),
        }

    out = {k: np.asarray(v) for k, v in jax.jit(jax.vmap(one))(observations).items()}
    is_far = out.pop("far") > 0
    top_weight, near_mode = out.pop("top_weight"), out.pop("near_mode")
    report = {k: float(np.mean(v)) for k, v in out.items()}
    report["far_frac"] = float(np.mean(is_far))
    report["far_top_weight"] = float(np.mean(top_weight[is_far])) if is_far.any() else 0.0
    report["far_near_mode"] = float(np.mean(near_mode[is_far])) if is_far.any() else 0.0
    return report


def extra_candidate_scorer(config: GEMConfig, num_candidates: int):
    """Jitted `(params, obs [B, O], extra [B, A], keys [B], t, knobs, use_extra) -> (a, info)`.

    Per state: the anchor + N actor candidates of `candidate_set` and then `extra` (clipped
    to the box) as the last candidate, all scored by `score_candidates` (method §3). With
    `use_extra=False` the extra action is scored but cannot be chosen, so the action is
    plain GEM selection. `info` [B]: `extra_won`, `extra_score_rank` / `extra_lcb_rank`
    (share of the other candidates scoring strictly above the extra one, by score and by
    LCB alone: 0 = it is the best), `extra_z` (its candidate-set z-score) and `lcb_gap`
    (LCB of the extra action minus LCB of the chosen one).
    """
    def one(params, obs, extra, key, t, knobs, use_extra):
        nets = make_networks(config, params.actor["params"]["log_stds"].shape[-1])
        obs = (obs - params.obs_norm.mean) / params.obs_norm.std  # [O]
        actor = nets.actor_apply(params.actor, obs)  # GMM [K, A]
        behavior = nets.behavior_apply(params.behavior, obs)  # GMM [Kb, A]
        cands, anchors = candidates_with_anchors(
            actor, behavior, key, num_candidates, candidate_means=config.candidate_means)
        cands = jnp.concatenate([cands, jnp.clip(extra, -1.0, 1.0)[None]], axis=0)  # [C+1, A]
        scores, parts = score_candidates(nets, params, obs, cands, behavior, t, knobs,
                                         anchors=anchors)
        last = scores.shape[0] - 1
        best = jnp.argmax(jnp.where(use_extra | (jnp.arange(last + 1) < last), scores, -jnp.inf))
        above = lambda v: jnp.mean(v[:-1] > v[-1])  # share of the others above the extra one
        return cands[best], {
            "extra_won": best == last,
            "extra_score_rank": above(scores),
            "extra_lcb_rank": above(parts["lcb"]),
            "extra_z": parts["support_z"][-1],
            "lcb_gap": parts["lcb"][-1] - parts["lcb"][best],
        }

    return jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0, None, None, None)))


def heldout_gain(
    config: GEMConfig,
    params: PolicyParams,
    observations: jax.Array,
    key: jax.Array,
    budgets: tuple[int, ...],
    knobs: SelectKnobs,
    num_select: int | None = None,
    heldout_critics=None,
    t: float = 0.0,
) -> dict:
    """Selection's predicted gain over the anchor, by the critics that chose and by others.

    Per state: the anchor (+ the other component means with `config.candidate_means`) +
    max(budgets) actor candidates; budget N uses the first N samples (nested sets, common
    random numbers). The top-1 `a*` of selection's `score_candidates` (method §3)
    is computed with critics `[0, num_select)` only; then
    `gain_select = mean_{e < num_select} (Q_e(a*) - Q_e(a_0))` (what selection believes) and
    `gain_heldout = mean_{e >= num_select} (Q_e(a*) - Q_e(a_0))` (what the other critics say).
    A gain that grows with N for the choosing critics but not for the held-out ones is the
    maximum over noisy estimates (van Hasselt 2010's double-estimator argument). The critics
    share data and targets, so their errors correlate and the held-out gain is, if anything,
    too optimistic. With `heldout_critics` (critic parameters of other, independently trained
    seeds, stacked [S', E, ...]) all of `params`' critics choose and those judge instead.
    observations: raw [B, obs]. Returns per budget the means over states of both gains, of
    `heldout_positive` (share of states where the held-out gain > 0) and of `chose_anchor`.
    """
    nets = make_networks(config, params.actor["params"]["log_stds"].shape[-1])
    num_critics = int(jax.tree.leaves(params.critic)[0].shape[0])
    if heldout_critics is not None:
        num_select = num_critics
    elif num_select is None or not 1 <= num_select < num_critics:
        raise ValueError(
            f"num_select={num_select} must lie in [1, {num_critics - 1}]: some of the "
            f"{num_critics} critics must choose and at least one must be held out."
        )
    if not budgets or min(budgets) < 1:
        raise ValueError(f"budgets must be candidate counts >= 1, got {budgets}.")
    n_max = max(budgets)
    choosers = params.replace(critic=jax.tree.map(lambda x: x[:num_select], params.critic))

    def one(obs, key):
        obs = (obs - params.obs_norm.mean) / params.obs_norm.std  # [O]
        actor = nets.actor_apply(params.actor, obs)  # GMM [K, A]
        behavior = nets.behavior_apply(params.behavior, obs)  # GMM [Kb, A]
        cands, anchors = candidates_with_anchors(  # the anchors (modes) before the samples
            actor, behavior, key, n_max, candidate_means=config.candidate_means)
        q = jax.vmap(lambda a: nets.critic_apply(params.critic, obs, a))(cands)  # [C, E]
        q_sel, q_held = q[:, :num_select], q[:, num_select:]  # [C, Es], [C, Eh]
        if heldout_critics is not None:  # other seeds' ensembles: [S', C, E] -> [C, S' E]
            other = jax.vmap(lambda c: jax.vmap(lambda a: nets.critic_apply(c, obs, a))(cands))
            q_held = jnp.moveaxis(other(heldout_critics), 0, 1).reshape(cands.shape[0], -1)
        out = {}
        for n in budgets:
            # selection's own score (method §3, anchor bonus included) by the choosing critics
            score, _ = score_candidates(nets, choosers, obs, cands[: anchors + n], behavior, t,
                                        knobs, anchors=anchors)
            best = jnp.argmax(score)  # [n + 1] -> []
            held = jnp.mean(q_held[best] - q_held[0])
            out[n] = {
                "gain_select": jnp.mean(q_sel[best] - q_sel[0]),
                "gain_heldout": held,
                "heldout_positive": (held > 0).astype(jnp.float32),
                "chose_anchor": (best == 0).astype(jnp.float32),
            }
        return out

    keys = jax.random.split(key, observations.shape[0])
    out = per_state(one, observations, keys)
    return {n: {k: float(np.mean(v)) for k, v in row.items()} for n, row in out.items()}


GRID = 9  # q_landscape: actions per axis of the probe grid


def probe_states(goal, start) -> dict:
    """Maze probe states of `experiments/probes/q_landscape.py`: name -> raw obs [x, y, vx, vy]."""
    goal, start = np.asarray(goal, np.float32), np.asarray(start, np.float32)
    return {
        "at goal, at rest": np.r_[goal, 0.0, 0.0],
        "at goal, moving right (v = 1)": np.r_[goal, 1.0, 0.0],
        "0.3 right of goal, at rest": np.r_[goal + np.array([0.3, 0.0]), 0.0, 0.0],
        "evaluation start, at rest": np.r_[start, 0.0, 0.0],
    }


def landscape(nets, params, obs, lcb_lambda: float, goal):
    """(grid [G*G, A], LCB [G*G], controller action [A], its LCB) for one raw obs."""
    from gem_jax.data.maze_controller import D_GAIN, P_GAIN

    axis = np.linspace(-1.0, 1.0, GRID)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)  # [G*G, 2]
    ctrl = np.clip(P_GAIN * (goal - obs[:2]) + D_GAIN * obs[2:], -1.0, 1.0)  # [2]
    actions = jnp.asarray(np.concatenate([grid, ctrl[None]]), jnp.float32)  # [G*G+1, 2]
    norm = (jnp.asarray(obs) - params.obs_norm.mean) / params.obs_norm.std
    q = jax.vmap(lambda a: nets.critic_apply(params.critic, norm, a))(actions)  # [G*G+1, E]
    values = np.asarray(lcb(q, lcb_lambda, axis=-1))
    return grid, values[:-1], ctrl, float(values[-1])


def actor_modes(nets, params, obs, lcb_lambda: float):
    """The actor's K modes at one raw obs: (gating weights [K], means clipped to the box
    [K, A], LCB of each mean [K]) -- what `candidate_means` lets the score rank (method §3)."""
    norm = (jnp.asarray(obs) - params.obs_norm.mean) / params.obs_norm.std
    actor = nets.actor_apply(params.actor, norm)  # GMM [K, A]
    means = jnp.clip(actor.means, -1.0, 1.0)  # [K, A]
    q = jax.vmap(lambda a: nets.critic_apply(params.critic, norm, a))(means)  # [K, E]
    weights = jax.nn.softmax(actor.logits, axis=-1)  # [K]
    return np.asarray(weights), np.asarray(means), np.asarray(lcb(q, lcb_lambda, axis=-1))


def behavior_summary(nets, params, obs, ctrl):
    """(top weight, top component mean clipped [A], log mu(0|s), log mu(ctrl|s))."""
    norm = (jnp.asarray(obs) - params.obs_norm.mean) / params.obs_norm.std
    mu = nets.behavior_apply(params.behavior, norm)  # GMM [Kb, A]
    weights = np.asarray(jax.nn.softmax(mu.logits))  # [Kb]
    top = int(np.argmax(weights))
    log_mu = lambda a: float(gmm_lib.log_prob(mu, jnp.asarray(a, jnp.float32)))
    mean = np.clip(np.asarray(mu.means[top]), -1.0, 1.0)
    return float(weights[top]), mean, log_mu(np.zeros(2)), log_mu(ctrl)


def goal_report(step_rewards: np.ndarray, lengths: np.ndarray) -> dict:
    """Sparse-goal timing from per-step rewards [E, T] (reward > 0 = inside the goal disc).

    First entry step (episodes that never enter count as the horizon), the share of
    episodes that enter, and the share of steps inside the disc after the first entry.
    """
    inside = step_rewards > 0  # [E, T]
    entered = inside.any(axis=1)  # [E]
    first = np.where(entered, inside.argmax(axis=1), step_rewards.shape[1])  # [E]
    after = [inside[e, first[e]:lengths[e]].mean() for e in np.flatnonzero(entered)]
    return {
        "entered_frac": float(entered.mean()),
        "first_entry_step": float(first.mean()),
        "inside_after_entry_frac": float(np.mean(after)) if after else 0.0,
    }


def value_audit(rewards: np.ndarray, predicted: np.ndarray, alive: np.ndarray, discount: float,
                first_steps: int) -> dict:
    """Predicted value of the chosen actions against the return that followed them.

    rewards, predicted (the critic's LCB of the executed top-1 action), alive: [E, T] per
    episode and step. The realised value is `G_t = sum_{j >= t} discount^(j-t) r_j` (rewards
    after an episode ends are 0). Only steps `t < first_steps` of live episodes count, so that
    `G_t` sees at least `T - first_steps` steps of the future (truncation error at most
    `discount^(T - first_steps) max|V|`). Returns the means over those steps of `predicted`,
    `realized` and `gap = predicted - realized`, and per step t the means `[first_steps]`.
    """
    rewards = np.where(alive, rewards, 0.0)  # [E, T]
    realized = np.zeros_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + discount * running
        realized[:, t] = running
    mask = alive[:, :first_steps]  # [E, F]
    pred, real = predicted[:, :first_steps], realized[:, :first_steps]
    per_step = lambda x: np.where(mask, x, 0.0).sum(0) / np.maximum(mask.sum(0), 1)  # [F]
    return {
        "predicted": float(pred[mask].mean()),
        "realized": float(real[mask].mean()),
        "gap": float((pred - real)[mask].mean()),
        "predicted_by_step": per_step(pred).tolist(),
        "realized_by_step": per_step(real).tolist(),
    }


def deviation_report(critic_gain: np.ndarray, true_gain: np.ndarray, tol: float = 1e-9) -> dict:
    """Predicted against true gains of a one-step deviation, over states [M] each.

    `critic_gain = LCB(s, a) - LCB(s, a_0)`, `true_gain = G(s, a) - G(s, a_0)` with `G` the
    discounted return of the deviation followed by the same policy. Returns the means of
    both, the share of states where the truth says better (> tol) and worse (< -tol), the
    share where the critic's sign is right (ties in truth excluded) and the Pearson
    correlation of the two gains (0 when either is constant).
    """
    critic_gain, true_gain = np.asarray(critic_gain, float), np.asarray(true_gain, float)
    decided = np.abs(true_gain) > tol
    sign_right = np.sign(critic_gain[decided]) == np.sign(true_gain[decided])
    spread = critic_gain.std() * true_gain.std()
    corr = float(np.mean((critic_gain - critic_gain.mean()) * (true_gain - true_gain.mean()))
                 / spread) if spread > 0 else 0.0
    return {
        "critic_gain": float(critic_gain.mean()),
        "true_gain": float(true_gain.mean()),
        "true_better": float(np.mean(true_gain > tol)),
        "true_worse": float(np.mean(true_gain < -tol)),
        "sign_right": float(sign_right.mean()) if decided.any() else 0.0,
        "corr": corr,
    }
