"""Diagnose a trained run: mixtures, advantage weights, candidate sets, goal timing.

    python experiments/diagnose.py --workdir=runs/pointmaze_gem
    python experiments/diagnose.py --workdir=runs/pointmaze_gem --iql_workdir=runs/pointmaze_iql

For every seed of the newest (or `--step`) checkpoint, on `--num_states` dataset states
(`gem_jax.analysis.diagnostics`): sigma of each actor / behavior component per action dim and how
many sit at the `log_std_min` floor, component means on the box edge, the share of dataset
action coordinates on the edge, gating entropy and max weight, the share of advantage
weights at `exp_adv_max`, distinct candidates among the N + 1 and the spread of the LCB
term against beta_t * z, and where the score's top-1 and the LCB's argmax sit (box edge,
distance from the anchor). With `--iql_workdir` it compares GEM's anchor with IQL's mean
on the same states under GEM's critic (`anchor_vs_mean`); on gymnasium maze tasks it
also rolls out the anchor (N = 0),
the N-candidate policy and, with `--iql_workdir`, IQL's mean, and reports when each first
enters the goal disc and how long it stays. Writes `<workdir>/diagnose.json` and
`<workdir>/diagnose.md`.
"""

from __future__ import annotations

import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory written by experiments/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_string("iql_workdir", None, "An IQL run on the same data, for the rollout "
                    "comparison (optional).")
flags.DEFINE_integer("num_states", 256, "Dataset states sampled for the statistics.")
flags.DEFINE_integer("num_candidates", None, "N for the candidate statistics and the rollout "
                     "(default: the run's config).")
flags.DEFINE_integer("eval_episodes", 10, "Rollout episodes per seed and policy (0: none).")
flags.DEFINE_integer("seed", 0, "Seed of the state sample and the candidate draws.")
flags.DEFINE_bool("progress", True, "Show progress bars.")


def load_run(workdir: str, step: int | None):
    from gem_jax.harness import checkpoint
    from gem_jax.presets import from_config_dict

    state, meta = checkpoint.restore(workdir, step)
    return state, meta, from_config_dict(meta["config"])


def rollout_goal(dataset, config, params, num_candidates, episodes, seed, progress):
    """Episodes of one seed's policy with per-step rewards -> return + goal timing."""
    import jax
    import numpy as np

    from gem_jax.analysis.diagnostics import goal_report
    from gem_jax.harness.evaluation import action_scale, rollout_gym
    from gem_jax.method.select import SelectKnobs, make_policy

    env = dataset.make_env()
    scale = action_scale(env)
    env.close()
    policy = make_policy(config, num_candidates=num_candidates)
    rewards: list = []
    ret, length, _ = rollout_gym(
        dataset.make_env, policy, params, SelectKnobs.from_config(config),
        jax.random.PRNGKey(seed), episodes, scale, 10_000 + seed, dataset.max_episode_steps,
        progress, step_rewards=rewards,
    )
    report = goal_report(np.stack(rewards, axis=1), length)
    report["normalized_score"] = float(np.mean(dataset.normalized_score(ret)))
    return report


def diagnose(workdir: str) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from gem_jax.analysis import diagnostics as diag
    from gem_jax.harness.runner import open_dataset
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import SelectKnobs, policy_params, seed_params

    state, meta, config = load_run(workdir, FLAGS.step)
    dataset = open_dataset(meta["env"], normalize_observations=config.normalize_observations,
                           progress=FLAGS.progress)
    scale = np.asarray(meta.get("action_scale", 1.0), np.float32)
    rng = np.random.default_rng(FLAGS.seed)
    idx = rng.choice(dataset.batch.rewards.shape[0], FLAGS.num_states, replace=False)
    obs = jnp.asarray(dataset.batch.observations[idx])  # [B, obs] as trained on
    raw_obs = obs * dataset.obs_std + dataset.obs_mean  # env units, for selection
    actions = np.clip(np.asarray(dataset.batch.actions) / scale, -1.0, 1.0)  # [M, A]
    n = config.num_candidates if FLAGS.num_candidates is None else FLAGS.num_candidates
    nets = make_networks(config, dataset.action_dim)
    params = policy_params(state)
    iql = load_run(FLAGS.iql_workdir, None) if FLAGS.iql_workdir else None
    goal_task = dataset.suite == "maze2d" and FLAGS.eval_episodes > 0
    seeds = []
    for i, seed in enumerate(meta["seeds"]):
        p = seed_params(params, i)
        s = jax.tree.map(lambda x, i=i: x[i], state)
        row = {
            "seed": seed,
            "actor": diag.gmm_report(nets.actor_apply(p.actor, obs), config.log_std_min),
            "behavior": diag.gmm_report(nets.behavior_apply(p.behavior, obs),
                                        config.log_std_min),
            "weights": diag.weight_report(
                config, {"target_critic": s.target_critic_params, "value": s.value.params},
                obs, jnp.asarray(actions[idx])),
            "candidates": diag.candidate_report(
                config, p, raw_obs, jax.random.PRNGKey(FLAGS.seed + i), n,
                SelectKnobs.from_config(config)),
        }
        iql_p = None
        if iql is not None and i < len(iql[1]["seeds"]):
            iql_p = seed_params(policy_params(iql[0]), i)
            row["vs_iql"] = diag.anchor_vs_mean(config, p, iql[2], iql_p, raw_obs,
                                                config.lcb_lambda)
        if goal_task:
            row["rollout"] = {
                f"gem_N{m}": rollout_goal(dataset, config, p, m, FLAGS.eval_episodes,
                                          seed, FLAGS.progress) for m in (0, n)}
            if iql_p is not None:
                row["rollout"]["iql_mean"] = rollout_goal(
                    dataset, iql[2], iql_p, 0, FLAGS.eval_episodes, seed, FLAGS.progress)
        seeds.append(row)
    return {
        "workdir": str(workdir),
        "step": int(np.asarray(state.step)[0]),
        "env": meta["env"],
        "dataset_edge_frac": diag.edge_fraction(actions),
        "num_states": FLAGS.num_states,
        "config": {k: getattr(config, k) for k in (
            "num_components", "num_critics", "action_boundary", "log_std_clamp", "log_std_min",
            "adv_temperature", "exp_adv_max", "num_candidates", "lcb_lambda", "beta_start",
            "beta_end")},
        "seeds": seeds,
    }


def markdown(report: dict) -> str:
    import numpy as np

    def stat(path):
        values = []
        for row in report["seeds"]:
            v = row
            for key in path:
                v = v.get(key, {}) if isinstance(v, dict) else {}
            if isinstance(v, float | int):
                values.append(float(v))
        if not values:
            return "-"
        per_seed = ", ".join(f"{x:.3g}" for x in values)
        return f"{np.mean(values):.3f} ± {np.std(values):.3f} ({per_seed})"

    lines = [f"# Diagnose {report['workdir']} at step {report['step']} ({report['env']})", "",
             f"Dataset action coordinates on the box edge: {report['dataset_edge_frac']:.3f}. "
             f"Config: {report['config']}.", "",
             "Mean ± std over seeds (per-seed values in brackets).", "",
             "| quantity | actor | behavior |", "|---|---|---|"]
    for key, label in [("sigma_at_floor_frac", "share of sigmas at the log_std_min floor"),
                       ("means_on_edge_frac", "component mean coords within 0.02 of the edge "
                        "or past it"),
                       ("anchor_on_edge_frac", "anchor (top-component mean) coords on or past "
                        "the edge"),
                       ("gating_entropy", "gating entropy (nats)"),
                       ("max_gating_weight", "max gating weight")]:
        lines.append(f"| {label} | {stat(('actor', key))} | {stat(('behavior', key))} |")
    lines += ["", "| quantity | value |", "|---|---|"]
    for group, key in [("weights", "weight_at_cap_frac"), ("weights", "weight_mass_at_cap_frac"),
                       ("weights", "effective_sample_frac"), ("weights", "weight_mean"),
                       ("weights", "advantage_std"), ("weights", "q_mean"),
                       ("candidates", "distinct"), ("candidates", "candidates_on_edge_frac"),
                       ("candidates", "lcb_range"), ("candidates", "support_range"),
                       ("candidates", "top1_is_lcb_top1"), ("candidates", "top1_is_anchor"),
                       ("candidates", "top1_on_edge_frac"), ("candidates", "lcb_top1_on_edge_frac"),
                       ("candidates", "top1_dist_to_anchor"),
                       ("candidates", "lcb_top1_dist_to_anchor")]:
        lines.append(f"| {group}/{key} | {stat((group, key))} |")
    if "vs_iql" in report["seeds"][0]:
        lines += ["", "GEM's anchor against the `--iql_workdir` run's mean on the same states, "
                  "both scored by GEM's critic (LCB):", "", "| quantity | value |", "|---|---|"]
        for key in ("dist", "anchor_norm", "other_norm", "lcb_gain", "lcb_prefers_anchor",
                    "far_frac", "far_top_weight", "far_near_mode"):
            lines.append(f"| vs_iql/{key} | {stat(('vs_iql', key))} |")
    rollouts = report["seeds"][0].get("rollout", {})
    if rollouts:
        lines += ["", "| policy | normalised score | entered goal | first entry step | "
                  "inside after entry |", "|---|---|---|---|---|"]
        for name in rollouts:
            cells = [stat(("rollout", name, k)) for k in (
                "normalized_score", "entered_frac", "first_entry_step", "inside_after_entry_frac")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def body() -> int:
    from gem_jax.harness.runlog import portable, write_json

    if not FLAGS.workdir:
        raise ValueError("--workdir is required (a run directory written by train.py).")
    report = diagnose(FLAGS.workdir)
    out = pathlib.Path(FLAGS.workdir)
    write_json(out / "diagnose.json", report)
    (out / "diagnose.md").write_text(portable(markdown(report)))
    print(f"wrote {out / 'diagnose.json'} and {out / 'diagnose.md'}")
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
