"""Is a maze run limited by its proposals or by its scoring? Add the data's own controller.

For pointmaze runs only. The dataset was collected by a waypoint PD controller plus noise
(`gem_jax/data/maze_controller.py`); its noiseless action toward the evaluation goal is the
policy that defines the reference score 100. This probe rolls GEM's selection out with that
action added to each state's candidate set (the "oracle candidate") and reports:

* the score of plain GEM selection, of GEM with the oracle candidate, of the critic alone
  (beta = 0) with the oracle candidate, and of the controller itself;
* how often the oracle candidate wins the score, and where it ranks among the candidates
  by score and by LCB alone (percentile, 1 = best), overall and inside the goal disc.

If adding the oracle lifts the score, the scoring recognises good actions and the
proposals lack them; if the oracle rarely wins, the score (critic + support) cannot tell
good actions from the rest. Writes `<workdir>/oracle_probe.{json,md}`.

    python experiments/probes/oracle_probe.py --workdir=runs/pointmaze_gem --eval_episodes=10
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags

from gem_jax import presets
from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory of a pointmaze run (experiments/train.py).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_integer("num_candidates", 1024, "N sampled candidates besides anchor and oracle.")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per seed and policy.")
flags.DEFINE_integer("seed", 0, "Evaluation seed: env resets use 10000 + seed + i.")
flags.DEFINE_float("lcb_lambda", None, "Override the run's (tuned) LCB lambda.")
flags.DEFINE_bool("progress", True, "Show progress bars.")

MODES = ("gem", "gem_oracle", "critic_oracle", "controller")


def rollout(dataset, scorer, params, knobs, mode: str, episodes: int, seed: int, goal_xy):
    """One seed's episodes under `mode`; returns (normalised scores [E], per-step records)."""
    import jax
    import jax.numpy as jnp
    import minari
    import numpy as np

    from gem_jax.data.envs import register_robotics
    from gem_jax.data.maze_controller import WaypointController
    from gem_jax.data.storage import flat_observation

    register_robotics()
    source = minari.load_dataset(dataset.dataset_id)
    envs = [source.recover_environment(eval_env=True) for _ in range(episodes)]
    ctrls = [
        WaypointController(e.unwrapped.maze, np.random.default_rng([seed, i]))
        for i, e in enumerate(envs)
    ]
    obs = [e.reset(seed=10_000 + seed + i)[0] for i, e in enumerate(envs)]
    ret = np.zeros(episodes)
    key = jax.random.PRNGKey(seed)
    records = []
    use_oracle = mode != "gem"
    if mode == "critic_oracle":  # beta = 0: the critic alone decides
        knobs = knobs.replace(beta_start=0.0 * knobs.beta_start, beta_end=0.0 * knobs.beta_end)
    for t in range(dataset.max_episode_steps):
        flat = np.stack([flat_observation("maze2d", o) for o in obs])  # [E, O]
        oracle = np.stack([np.clip(c(o), -1, 1) for c, o in zip(ctrls, obs)]).astype(np.float32)
        if mode == "controller":
            actions = oracle
        else:
            key, sub = jax.random.split(key)
            actions, info = scorer(
                params,
                jnp.asarray(flat),
                jnp.asarray(oracle),
                jax.random.split(sub, episodes),
                t,
                knobs,
                use_oracle,
            )
            actions = np.asarray(actions)
            in_goal = np.linalg.norm(flat[:, :2] - goal_xy, axis=1) <= 0.45
            records.append({k: np.asarray(v) for k, v in info.items()} | {"in_goal": in_goal})
        for i, env in enumerate(envs):
            obs[i], r, _, _, _ = env.step(actions[i])
            ret[i] += r
    for env in envs:
        env.close()
    return dataset.normalized_score(ret), records


def summarise(records: list[dict]) -> dict:
    import numpy as np

    if not records:
        return {}
    cat = {k: np.concatenate([r[k] for r in records]).astype(np.float64) for k in records[0]}
    out = {}
    for where, mask in (("all", np.ones_like(cat["in_goal"], bool)), ("goal", cat["in_goal"] > 0)):
        if mask.any():
            for k in ("extra_won", "extra_score_rank", "extra_lcb_rank", "extra_z", "lcb_gap"):
                out[f"{where}/{k}"] = float(cat[k][mask].mean())
            out[f"{where}/steps"] = int(mask.sum())
    return out


def markdown(report: dict) -> str:
    import numpy as np

    lines = [
        f"# Oracle probe of {report['workdir']} at step {report['step']} "
        f"(N = {report['num_candidates']}, knobs {report['knobs']})",
        "",
        "Ranks: share of the other candidates above the oracle action (0 = it is the best).",
        "",
        "| mode | score | oracle wins | oracle wins in goal | oracle LCB rank (all / goal) "
        "| oracle z (goal) | LCB(oracle) - LCB(chosen), goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, result in report["modes"].items():
        sc = np.array(result["seed_scores"])
        stats = [x for x in result["seed_stats"] if x]

        def get(k, stats=stats):
            return np.mean([x.get(k, np.nan) for x in stats]) if stats else np.nan

        per_seed = ", ".join(f"{v:.1f}" for v in sc)
        lines.append(
            f"| {mode} | {sc.mean():.1f} ± {sc.std():.1f} ({per_seed}) "
            f"| {get('all/extra_won'):.3f} | {get('goal/extra_won'):.3f} "
            f"| {get('all/extra_lcb_rank'):.3f} / {get('goal/extra_lcb_rank'):.3f} "
            f"| {get('goal/extra_z'):.2f} | {get('goal/lcb_gap'):.3f} |"
        )
    return "\n".join(lines) + "\n"


def body() -> int:
    import jax
    import numpy as np
    from tqdm.auto import tqdm

    from gem_jax.analysis.diagnostics import extra_candidate_scorer
    from gem_jax.data import load_dataset
    from gem_jax.data.envs import maze2d_goal
    from gem_jax.harness import checkpoint
    from gem_jax.method.select import SelectKnobs, policy_params, seed_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required (a pointmaze run directory written by train.py).")
    workdir = pathlib.Path(FLAGS.workdir)
    state, meta = checkpoint.restore(workdir, FLAGS.step)
    config = presets.with_tuned_knobs(from_config_dict(meta["config"]), workdir)
    env_name = json.loads((workdir / "config.json").read_text())["env"]
    dataset = load_dataset(env_name)
    if dataset.suite != "maze2d":
        raise ValueError(f"oracle_probe needs a pointmaze run; {workdir} trained on {env_name}.")
    goal_xy, _ = maze2d_goal(dataset.dataset_id)
    knobs = SelectKnobs.from_config(config, lcb_lambda=FLAGS.lcb_lambda)
    scorer = extra_candidate_scorer(config, FLAGS.num_candidates)
    params = policy_params(state)
    num_seeds = int(jax.tree.leaves(params.critic)[0].shape[0])
    results = {m: {"seed_scores": [], "seed_stats": []} for m in MODES}
    jobs = [(m, s) for s in range(num_seeds) for m in MODES]
    for mode, s in tqdm(jobs, desc="oracle probe", disable=not FLAGS.progress):
        scores, records = rollout(
            dataset,
            scorer,
            seed_params(params, s),
            knobs,
            mode,
            FLAGS.eval_episodes,
            FLAGS.seed,
            goal_xy,
        )
        results[mode]["seed_scores"].append(float(np.mean(scores)))
        results[mode]["seed_stats"].append(summarise(records))
    report = {
        "workdir": str(workdir),
        "step": int(np.asarray(state.step).reshape(-1)[0]),
        "num_candidates": FLAGS.num_candidates,
        "eval_episodes": FLAGS.eval_episodes,
        "knobs": {
            k: float(getattr(knobs, k)) for k in ("lcb_lambda", "beta_start", "beta_end", "horizon")
        },
        "modes": results,
    }
    lam = "" if FLAGS.lcb_lambda is None else f"_lambda{FLAGS.lcb_lambda:g}"
    (workdir / f"oracle_probe{lam}.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (workdir / f"oracle_probe{lam}.md").write_text(text)
    print(text)
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
