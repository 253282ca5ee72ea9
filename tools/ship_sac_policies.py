"""Pick the medium stopping point of a SAC run and ship its policies and training curve.

    python tools/ship_sac_policies.py --env=hopper --workdir=runs/sac/hopper

Evaluates the actor snapshots of `<workdir>/snapshots` (stochastic policy, the one D4RL's
medium data came from) every `--eval_every` env steps, stops at the first one whose mean
normalised score reaches `--medium_target` (or takes `--medium_step`), re-evaluates it on
`--final_episodes` episodes and writes into `gem_jax/data/policies/`:
  <env>-medium.msgpack         that actor (float32),
  <env>-medium-replay.msgpack  snapshots every `--replay_snapshot_every` steps to it (float16),
  <env>-expert.msgpack         with `--expert_step`, that actor (float32),
  curves/<env>.csv, curves/<env>.png, and the `<env>` entry of manifest.json.
"""

from __future__ import annotations

import json
import os

import matplotlib
import numpy as np
from absl import app, flags
from flax import serialization

from gem_jax.data import locomotion as loco
from gem_jax.data.behavior import sac

matplotlib.use("Agg")
import matplotlib.pyplot as plt

FLAGS = flags.FLAGS
flags.DEFINE_enum("env", "hopper", list(loco.ENV_IDS), "Which locomotion env.")
flags.DEFINE_string("workdir", None, "The train_sac.py workdir.")
flags.DEFINE_integer("eval_every", 20_000, "Env steps between evaluated snapshots.")
flags.DEFINE_integer("eval_episodes", 5, "Episodes per evaluated snapshot.")
flags.DEFINE_integer("final_episodes", 20, "Episodes to evaluate the chosen medium policy.")
flags.DEFINE_float("medium_target", 40.0, "Normalised score at which training counts as medium.")
flags.DEFINE_integer("medium_step", None, "Force the medium snapshot step (skips the search).")
flags.DEFINE_integer("expert_step", None, "Also ship this snapshot as the expert policy.")
flags.DEFINE_integer("replay_snapshot_every", 20_000, "Snapshot spacing for medium-replay.")
flags.DEFINE_string("hardware", "", "Free text recorded in the manifest (CPU model, cores).")
flags.mark_flag_as_required("workdir")


def _snapshot(workdir: str, step: int, template) -> dict:
    path = os.path.join(workdir, "snapshots", f"actor_{step:08d}.msgpack")
    with open(path, "rb") as f:
        return serialization.from_bytes(template, f.read())


def main(_):
    env, workdir = FLAGS.env, FLAGS.workdir
    env_id = loco.ENV_IDS[env]
    with open(os.path.join(workdir, "checkpoint", "meta.json")) as f:
        meta = json.load(f)
    steps = sorted(int(n[6:14]) for n in os.listdir(os.path.join(workdir, "snapshots")))
    import gymnasium as gym
    import jax

    probe = gym.make(env_id)
    obs_dim, action_dim = probe.observation_space.shape[0], probe.action_space.shape[0]
    template = sac.init_sac_state(jax.random.PRNGKey(0), sac.SACConfig(), obs_dim,
                                  action_dim).actor.params
    curve_path = os.path.join(loco.POLICY_DIR, "curves", f"{env}.csv")
    evals = {}
    if os.path.exists(curve_path):
        for row in np.loadtxt(curve_path, delimiter=",", skiprows=1, ndmin=2):
            evals[int(row[0])] = (row[1], row[2])
    medium_step = FLAGS.medium_step
    for step in [s for s in steps if s % FLAGS.eval_every == 0 and s > 0]:
        if step not in evals:
            r = loco.evaluate(env, _snapshot(workdir, step, template), FLAGS.eval_episodes, 1)
            evals[step] = (r.mean(), r.std())
            print(f"{env} step {step}: return {r.mean():.1f} +- {r.std():.1f}", flush=True)
        if medium_step is None and loco.normalized_score(env, evals[step][0]) >= \
                FLAGS.medium_target:
            medium_step = step
    os.makedirs(os.path.dirname(curve_path), exist_ok=True)
    with open(curve_path, "w") as f:
        f.write("env_step,eval_return_mean,eval_return_std\n")
        for s in sorted(evals):
            f.write(f"{s},{evals[s][0]:.2f},{evals[s][1]:.2f}\n")

    train = np.loadtxt(os.path.join(workdir, "episodes.csv"), delimiter=",", skiprows=1,
                       ndmin=2)  # [N, (env_step, return, length)]
    np.savetxt(os.path.join(loco.POLICY_DIR, "curves", f"{env}_train_episodes.csv"), train,
               delimiter=",", fmt=["%d", "%.2f", "%d"], header="env_step,return,length",
               comments="")
    entry = {"env_id": env_id, "train_env_steps": meta["env_steps"],
             "train_wall_hours": round(meta["wall_s"] / 3600, 3), "seed": meta["seed"],
             "hardware": FLAGS.hardware,
             "sac_config": "gem_jax.data.behavior.sac.SACConfig() defaults"}
    if medium_step is not None:
        medium = _snapshot(workdir, medium_step, template)
        r = loco.evaluate(env, medium, FLAGS.final_episodes, 2)
        loco.save_policy(loco.policy_path(env, "medium"), [medium], [medium_step], 0,
                         medium_step)
        replay_steps = [s for s in steps if s <= medium_step and
                        s % FLAGS.replay_snapshot_every == 0]
        loco.save_policy(loco.policy_path(env, "medium-replay"),
                         [_snapshot(workdir, s, template) for s in replay_steps], replay_steps,
                         sac.SACConfig().start_steps, medium_step, dtype=np.float16)
        buffer_returns = train[train[:, 0] <= medium_step, 1]
        entry["medium"] = {
            "env_step": medium_step,
            "return_mean": round(float(r.mean()), 1), "return_std": round(float(r.std()), 1),
            "normalized_score": round(float(loco.normalized_score(env, r.mean())), 1),
            "eval_episodes": FLAGS.final_episodes,
            # Wall time to the stop, pro rata of the whole run's wall time (approximate).
            "train_wall_hours_to_here": round(meta["wall_s"] * medium_step
                                              / meta["env_steps"] / 3600, 3),
            "replay_buffer_episodes": int(len(buffer_returns)),
            "replay_buffer_mean_return": round(float(buffer_returns.mean()), 1),
        }
        print(f"{env} medium at {medium_step}: {r.mean():.1f} +- {r.std():.1f}")
    if FLAGS.expert_step is not None:
        expert = _snapshot(workdir, FLAGS.expert_step, template)
        r = loco.evaluate(env, expert, FLAGS.final_episodes, 2)
        loco.save_policy(loco.policy_path(env, "expert"), [expert], [FLAGS.expert_step], 0,
                         FLAGS.expert_step)
        entry["expert"] = {"env_step": FLAGS.expert_step,
                           "return_mean": round(float(r.mean()), 1),
                           "return_std": round(float(r.std()), 1)}
    manifest_path = os.path.join(loco.POLICY_DIR, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    previous = manifest.get(env, {}).get("medium", {})
    if "medium" in entry and previous.get("env_step") == entry["medium"]["env_step"]:
        # Same stop as before: keep the wall time measured when training had just passed it.
        entry["medium"]["train_wall_hours_to_here"] = previous["train_wall_hours_to_here"]
    manifest[env] = entry
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    window = 20
    if len(train) >= window:
        smooth = np.convolve(train[:, 1], np.ones(window) / window, mode="valid")
        ax.plot(train[window - 1:, 0], smooth, lw=1, label=f"train episodes ({window}-ep mean)")
    xs = sorted(evals)
    ax.errorbar(xs, [evals[s][0] for s in xs], [evals[s][1] for s in xs], fmt="o", ms=3,
                label="eval (stochastic policy)")
    low, high = loco.REF_SCORES[env]
    ax.axhspan(low + 0.3 * (high - low), low + 0.6 * (high - low), color="g", alpha=0.1,
               label="medium band (30-60 normalised)")
    if medium_step is not None:
        ax.axvline(medium_step, color="k", ls="--", lw=1, label="medium stop")
    ax.set(xlabel="env steps", ylabel="return", title=f"SAC on {env_id}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(loco.POLICY_DIR, "curves", f"{env}.png"), dpi=100)


if __name__ == "__main__":
    app.run(main)
