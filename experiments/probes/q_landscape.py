"""The critic's LCB over a grid of actions at a few hand-picked maze states.

For pointmaze / maze2d runs. At each probe state (at the evaluation goal at rest, at the
goal moving right at speed 1, 0.3 right of the goal at rest, and at the evaluation start at
rest) the online critic ensemble scores a 9 x 9 grid of actions over [-1, 1]^2:
`LCB = mean_e Q_e - lambda std_e Q_e` (method §3). The table gives, per seed, the argmax
action, the LCB range over the grid, and the LCB of the data's own controller action
(`gem_jax/data/maze_controller.py`, PD toward the goal). A critic whose grid range is tiny
next to the candidate-set z-score's cannot steer selection; one whose argmax points away
from the goal steers it wrong. A second table lists the actor's K modes at each state
(gating weight, clipped mean, LCB of the mean): `*` marks the most probable one (the paper's
anchor a_0), `+` the one with the best LCB. Writes `<workdir>/q_landscape.md`.

    python experiments/probes/q_landscape.py --workdir=runs/maze2d_gem
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory of a pointmaze / maze2d run.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_float("lcb_lambda", 1.0, "lambda of the LCB.")
flags.DEFINE_integer("start_seed", 10_000, "Env reset seed whose start position is probed.")

def body() -> int:
    import jax
    import numpy as np

    from gem_jax.analysis.diagnostics import (
        GRID,
        actor_modes,
        behavior_summary,
        landscape,
        probe_states,
    )
    from gem_jax.data import load_dataset
    from gem_jax.data.envs import maze2d_goal
    from gem_jax.harness import checkpoint
    from gem_jax.harness.runlog import portable
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import policy_params, seed_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required (a pointmaze / maze2d run written by train.py).")
    workdir = pathlib.Path(FLAGS.workdir)
    state, meta = checkpoint.restore(workdir, FLAGS.step)
    config = from_config_dict(meta["config"])
    env_name = json.loads((workdir / "config.json").read_text())["env"]
    dataset = load_dataset(env_name)
    if dataset.suite != "maze2d":
        raise ValueError(f"q_landscape needs a maze run; {workdir} trained on {env_name}.")
    goal, _ = maze2d_goal(dataset.dataset_id)
    env = dataset.make_env()
    start = env.reset(seed=FLAGS.start_seed)[0][:2]
    env.close()
    params = policy_params(state)
    nets = make_networks(config, 2)
    num_seeds = int(jax.tree.leaves(params.critic)[0].shape[0])  # leaves are [S, E, ...]
    lines = [
        f"# Critic LCB over a {GRID} x {GRID} action grid: {workdir} at step "
        f"{int(np.asarray(state.step).reshape(-1)[0])} ({env_name}, lambda = {FLAGS.lcb_lambda:g})",
        "",
        f"Goal {np.round(goal, 2).tolist()}, evaluation start {np.round(start, 2).tolist()}.",
        "",
        "Behavior model mu at the state: weight and (clipped) mean of its top component, "
        "log mu of the zero action and of the controller's action.",
        "",
        "| seed | state | LCB argmax action | LCB max | LCB min | controller action | its LCB "
        "| mu top weight | mu top mean | log mu(0) | log mu(controller) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in range(num_seeds):
        seed = seed_params(params, s)
        for name, obs in probe_states(goal, start).items():
            grid, values, ctrl, ctrl_value = landscape(nets, seed, obs, FLAGS.lcb_lambda, goal)
            best = grid[int(np.argmax(values))]
            weight, mean, log_zero, log_ctrl = behavior_summary(nets, seed, obs, ctrl)
            lines.append(
                f"| {s} | {name} | ({best[0]:+.2f}, {best[1]:+.2f}) | {values.max():.2f} | "
                f"{values.min():.2f} | ({ctrl[0]:+.2f}, {ctrl[1]:+.2f}) | {ctrl_value:.2f} "
                f"| {weight:.2f} | ({mean[0]:+.2f}, {mean[1]:+.2f}) | {log_zero:.2f} "
                f"| {log_ctrl:.2f} |"
            )
    lines += [
        "",
        "Actor modes at the state: gating weight, mean clipped to the box, LCB of the mean; "
        "`*` the most probable (the paper's anchor), `+` the best LCB.",
        "",
        "| seed | state | modes |",
        "|---|---|---|",
    ]
    for s in range(num_seeds):
        seed = seed_params(params, s)
        for name, obs in probe_states(goal, start).items():
            weights, means, values = actor_modes(nets, seed, obs, FLAGS.lcb_lambda)
            top, best = int(np.argmax(weights)), int(np.argmax(values))
            modes = "; ".join(
                f"{'*' if k == top else ''}{'+' if k == best else ''}{weights[k]:.2f} "
                f"({means[k, 0]:+.2f}, {means[k, 1]:+.2f}) {values[k]:.2f}"
                for k in np.argsort(-weights))
            lines.append(f"| {s} | {name} | {modes} |")
    text = "\n".join(lines) + "\n"
    (workdir / "q_landscape.md").write_text(portable(text))
    print(text)
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
