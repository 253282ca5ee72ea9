"""Where a trained maze policy goes: its paths over the maze, one panel per variant.

    python experiments/probes/maze_trace.py --workdir=runs/antmaze --variants=gem,no_pw
    python experiments/probes/maze_trace.py --workdir=runs/umaze --seed=500000 --episodes=5

For maze2d, pointmaze and antmaze runs. Rolls out `--episodes` episodes per seed of the run
for each variant (method §3; the run's tuned knobs, `tuned_knobs.json`), with the same starts
and selection keys in every panel (env seeds as `evaluate.py --seed` uses them: 500000 are
the test episodes), and draws the xy paths over the maze's walls and the goal's success
radius: a path starts at a small square and ends in a dot where it reached the goal, a cross
where it did not. Writes
`trace.png` and `trace.json` (per variant and seed: success, length, path) to `--out`
(default `<workdir>/trace`).
"""

from __future__ import annotations

import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A maze run directory written by experiments/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_list("variants", ["gem"], "Selection variants, one panel each (gem, no_pw, ...).")
flags.DEFINE_integer("num_candidates", None, "N (default: the run's tuned or configured one).")
flags.DEFINE_integer("episodes", 2, "Episodes per seed and variant.")
flags.DEFINE_integer("seed", 0, "Evaluation seed (evaluate.py's --seed: 500000 = test).")
flags.DEFINE_integer("max_steps", None, "Steps per episode (default: the dataset's).")
flags.DEFINE_string("out", None, "Output directory (default: <workdir>/trace).")

def body() -> int:
    import jax

    from gem_jax import presets
    from gem_jax.analysis import sweep
    from gem_jax.analysis.maze_paths import maze_walls, plot, reached_goal, split_paths
    from gem_jax.data.envs import goal_cell_centre
    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.harness.evaluation import action_scale, rollout_gym
    from gem_jax.harness.runlog import write_json
    from gem_jax.harness.runner import check_workdir, open_dataset
    from gem_jax.method.select import policy_params, seed_params

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: a maze run directory written by train.py.")
    if FLAGS.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {FLAGS.episodes}.")
    workdir = pathlib.Path(FLAGS.workdir)
    step, meta = ckpt.read_meta(workdir, FLAGS.step)
    num_seeds = len(meta["seeds"])
    config = presets.with_tuned_knobs(presets.from_config_dict(meta["config"]), workdir)
    if FLAGS.num_candidates is not None:
        config = config.replace(num_candidates=FLAGS.num_candidates)
    dataset = open_dataset(meta["env"], normalize_observations=config.normalize_observations,
                           progress=False)
    if dataset.suite not in ("maze2d", "antmaze"):
        raise ValueError(f"maze_trace draws maze runs; {workdir} trained on {meta['env']} "
                         f"({dataset.suite}). For nav2d: experiments/probes/nav2d_trace.py.")
    settings, _ = sweep.make_grid(config, variants=FLAGS.variants)
    out = check_workdir(FLAGS.out or workdir / "trace")
    state, meta = ckpt.restore(workdir, step)
    params = policy_params(state, ckpt.load_support(workdir, meta))
    env = dataset.make_env()
    scale, walls, goal = action_scale(env), maze_walls(env), goal_cell_centre(env)
    env.close()

    limit = FLAGS.max_steps or dataset.max_episode_steps
    panels = {}
    for setting in settings:
        policy = sweep.policy_for(config, setting)
        seeds = []
        for i in range(num_seeds):  # the same keys and env seeds as sweep.evaluate_setting
            info, obs = [], []
            ret, length, _ = rollout_gym(
                dataset.make_env, policy, seed_params(params, i), setting.knobs(),
                jax.random.fold_in(jax.random.PRNGKey(FLAGS.seed), i), FLAGS.episodes, scale,
                10_000 + FLAGS.seed + i, limit, step_info=info, step_obs=obs)
            paths = split_paths(info, obs, FLAGS.episodes)
            seeds.append([{"success": reached_goal(p, int(n), limit, goal), "return": float(r),
                           "length": int(n), "path": p.round(3).tolist()}
                          for r, n, p in zip(ret, length, paths, strict=True)])
        algo = meta.get("algo", "gem")  # a baseline's panel is named after it
        name = setting.variant if algo == "gem" or setting.variant != "gem" else algo
        panels[name] = seeds
        print(f"{name}: {sum(e['success'] for s in seeds for e in s)}/"
              f"{num_seeds * FLAGS.episodes} reach the goal")
    title = f"{meta.get('algo', 'gem')} on {meta['env']}, step {step}, N = {config.num_candidates}"
    plot(panels, walls, goal, out / "trace.png", title)
    write_json(out / "trace.json", {"workdir": str(workdir), "env": meta["env"], "step": step,
                                    "seed": FLAGS.seed, "goal": goal, "variants": panels})
    print(f"-> {out}: trace.png, trace.json")
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
