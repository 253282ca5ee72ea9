"""Ship the goal-reaching ant policy of a SAC run (the AntMaze behavior policy), check it, and
record the AntMaze builds beside Minari's figures.

    python tools/ship_ant_policy.py --workdir=runs/ant_sac --hardware="..."
    python tools/ship_ant_policy.py --check              # acceptance of the shipped file
    python tools/ship_ant_policy.py --record_builds      # after make_dataset.py builds

Shipping (`--workdir`): evaluates the actor snapshots of `<workdir>/snapshots` every
`--eval_every` env steps, each on `--eval_episodes` episodes of `gem_jax/AntDirection-v0` (return,
goals reached) and on `--eval_umaze_episodes` 700-step umaze episodes of the AntMaze recipe
(planner + stochastic policy + N(0, 0.2^2) noise: the share that reach the goal); takes the
snapshot with the best umaze share (ties: the later one), or `--step`; re-checks it on
`--final_episodes` episodes of umaze (700 steps, target >= 90% reach the goal) and of
medium-play (1000 steps, >= 80%), and writes into `gem_jax/data/policies/`:
  ant-goal.msgpack                 that actor (float32, `locomotion.save_policy` format),
  curves/ant-goal.csv, .png        the evaluated snapshots,
  curves/ant-goal_train_episodes.csv   every training episode (env step, return, length),
  manifest.json "ant-goal"         env steps, wall time, hardware, the pick, its acceptance.
The acceptance target is a umaze share >= 0.9 (`antmaze_sac_build.UMAZE_SUCCESS_TARGET`);
the report says PASS or FAIL and ships either way (FAIL is recorded as such).

A run trained in stages (a fine-tune with other env options) ships from a workdir whose
`config.json` lists them (`{"stages": [{"env_steps": [a, b], "command": ...}, ...]}`); the
curve marks where each began (the training return changes with the reward).
`--check` re-runs the acceptance on the shipped file; `--record_builds` stores, for every
`gem/antmaze/<task>-v0` on disk, its episodes, steps and goal-reaching share beside
`antmaze_sac_build.MINARI_FIGURES` in manifest.json "ant-goal" -> "datasets".
"""

from __future__ import annotations

import json
import os

import matplotlib
import numpy as np
from absl import app, flags

from gem_jax.data import antmaze_sac_build as ant
from gem_jax.data import locomotion as loco
from gem_jax.harness.cli import absl_main

matplotlib.use("Agg")
import matplotlib.pyplot as plt

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None,
                    "The train_sac.py --env=gem_jax/AntDirection-v0 workdir.")
flags.DEFINE_integer("eval_every", 50_000, "Env steps between evaluated snapshots.")
flags.DEFINE_integer("eval_episodes", 5, "AntDirection episodes per evaluated snapshot.")
flags.DEFINE_integer("eval_umaze_episodes", 10, "Umaze episodes per evaluated snapshot.")
flags.DEFINE_integer("final_episodes", 50,
                     "Episodes of each acceptance check (umaze and medium-play).")
flags.DEFINE_string("train_command", "", "Recorded in the manifest where the run has no "
                    "config.json (runs started before sac_loop wrote one).")
flags.DEFINE_integer("step", None, "Ship this snapshot (skips the search).")
flags.DEFINE_string("hardware", "", "Free text recorded in the manifest (CPU model, cores).")
flags.DEFINE_bool("check", False, "Only run the acceptance check on the shipped policy.")
flags.DEFINE_bool("record_builds", False, "Only record the built antmaze datasets' figures.")
flags.DEFINE_integer("seed", 0, "Seed of the evaluations.")
flags.DEFINE_string(
    "policy_dir", None, "Ship into this folder instead of gem_jax/data/policies (dry runs, tests)."
)

NAME = "ant-goal"
CURVES = os.path.join(loco.POLICY_DIR, "curves")
MANIFEST = os.path.join(loco.POLICY_DIR, "manifest.json")


def goal_env_returns(actor_params, num_episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns [E] and directions held [E] (unused: 0) of the stochastic policy in
    gem_jax/AntDirection-v0, the task it trained on."""
    import gymnasium as gym

    from gem_jax.envs import ANT_DIRECTION_ID

    env = gym.make(ANT_DIRECTION_ID)
    policy = ant.SACPolicy(actor_params, seed=[seed, 5])
    returns, goals = np.zeros(num_episodes), np.zeros(num_episodes)
    for k in range(num_episodes):
        obs, _ = env.reset(seed=seed + k)
        done, info = False, {"goals_reached": 0}
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            returns[k] += reward
            done = terminated or truncated
        goals[k] = info["goals_reached"]
    env.close()
    return returns, goals


def report(summary: dict) -> str:
    verdict = "PASS" if summary["passed"] else "FAIL"
    return (
        f"{summary['task']} acceptance: {summary['success']:.1%} of {summary['episodes']} "
        f"{ant.horizon(summary['task'])}-step episodes reach the goal (target >= "
        f"{summary['target']:.0%}, action noise {summary['action_noise']}): {verdict}; median "
        f"steps to the goal {summary['median_steps_to_goal']}"
    )


def acceptance(params, episodes: int, seed: int) -> dict:
    """The issue's two checks: umaze (700 steps, >= 90%) and medium-play (1000, >= 80%)."""
    out = {}
    for task in ant.ACCEPTANCE:
        out[task] = ant.goal_success(params, episodes, seed, task=task)
        print(report(out[task]), flush=True)
    return out


def _read_manifest() -> dict:
    if os.path.exists(MANIFEST):
        with open(MANIFEST) as f:
            return json.load(f)
    return {}


def _write_manifest(manifest: dict) -> None:
    tmp = MANIFEST + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    os.replace(tmp, MANIFEST)


def record_builds() -> dict:
    """Per built task: our episodes / steps / goal-reaching share beside Minari's figures."""
    from gem_jax.data import storage

    records = {}
    for task in ant.TASKS:
        ds_id = ant.dataset_id(task)
        if not storage.is_on_disk(ds_id):
            continue
        flat = storage.load_flat(ds_id, "antmaze", progress=False)
        ids = flat["episode_ids"]
        reached = np.bincount(ids, weights=(flat["rewards"] > 0).astype(np.float64)) > 0  # [E]
        meta = json.loads((storage.dataset_dir(ds_id) / "data" / "metadata.json").read_text())
        records[task] = {
            "dataset_id": ds_id,
            "ours": {
                "episodes": int(reached.size),
                "steps": int(ids.size),
                "success": round(float(reached.mean()), 4),
                "ref_min_score": meta.get("ref_min_score"),
                "ref_max_score": meta.get("ref_max_score"),
            },
            "minari": ant.MINARI_FIGURES[task],
        }
        print(f"antmaze-{task}: {records[task]['ours']} (Minari: {ant.MINARI_FIGURES[task]})")
    if not records:
        raise FileNotFoundError(
            "no gem/antmaze/<task>-v0 dataset on disk; build them with "
            "`python experiments/make_dataset.py --dataset=antmaze-umaze` (etc.) first."
        )
    manifest = _read_manifest()
    manifest.setdefault(NAME, {}).setdefault("datasets", {}).update(records)
    _write_manifest(manifest)
    return records


def _train_config(workdir: str):
    """What the run trained with: its `config.json` (sac_loop.train writes it), else the
    `--train_command` given here."""
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return FLAGS.train_command or None


def _snapshot(workdir: str, step: int, template):
    from flax import serialization

    path = os.path.join(workdir, "snapshots", f"actor_{step:08d}.msgpack")
    with open(path, "rb") as f:
        return serialization.from_bytes(template, f.read())


def ship(workdir: str) -> dict:
    import jax

    from gem_jax.data.behavior import sac
    from gem_jax.envs.ant_goal import ACTION_DIM, OBS_DIM

    meta_path = os.path.join(workdir, "checkpoint", "meta.json")
    if not os.path.exists(meta_path):
        raise FileNotFoundError(f"{meta_path} not found: is {workdir} a train_sac.py workdir?")
    with open(meta_path) as f:
        meta = json.load(f)
    if meta["env"] != "gem_jax/AntDirection-v0":
        raise ValueError(f"{workdir} trained {meta['env']}, not gem_jax/AntDirection-v0.")
    steps = sorted(int(n[6:14]) for n in os.listdir(os.path.join(workdir, "snapshots")))
    template = sac.init_sac_state(
        jax.random.PRNGKey(0), sac.SACConfig(), OBS_DIM, ACTION_DIM
    ).actor.params
    curve_path = os.path.join(CURVES, f"{NAME}.csv")
    evals: dict[int, list[float]] = {}
    if os.path.exists(curve_path):  # earlier evaluations are kept (same seeds)
        for row in np.loadtxt(curve_path, delimiter=",", skiprows=1, ndmin=2):
            evals[int(row[0])] = list(row[1:])
    candidates = [s for s in steps if s % FLAGS.eval_every == 0 and s > 0]
    if FLAGS.step is not None:
        if FLAGS.step not in steps:
            raise ValueError(f"no snapshot at step {FLAGS.step}; have {steps[0]}..{steps[-1]}.")
        candidates = sorted(set(candidates) | {FLAGS.step})
    for step in candidates:
        if step in evals:
            continue
        params = _snapshot(workdir, step, template)
        returns, goals = goal_env_returns(params, FLAGS.eval_episodes, FLAGS.seed)
        umaze = ant.goal_success(params, FLAGS.eval_umaze_episodes, FLAGS.seed + 1)
        evals[step] = [returns.mean(), returns.std(), goals.mean(), umaze["success"]]
        print(
            f"step {step}: AntDirection return {returns.mean():.0f} +- {returns.std():.0f}, "
            f"{goals.mean():.1f} goals/episode, umaze success {umaze['success']:.0%}",
            flush=True,
        )
    if not evals:
        raise ValueError(f"no snapshot at a multiple of --eval_every={FLAGS.eval_every}.")
    os.makedirs(CURVES, exist_ok=True)
    with open(curve_path, "w") as f:
        f.write("env_step,return_mean,return_std,goals_per_episode,umaze_success\n")
        for s in sorted(evals):
            r_mean, r_std, g, u = evals[s]
            f.write(f"{s},{r_mean:.2f},{r_std:.2f},{g:.2f},{u:.4f}\n")
    pick = FLAGS.step
    if pick is None:
        pick = max(evals, key=lambda s: (evals[s][3], s))
    params = _snapshot(workdir, pick, template)
    final = acceptance(params, FLAGS.final_episodes, FLAGS.seed + 2)
    loco.save_policy(
        ant.POLICY_PATH, [params], [pick], sac.SACConfig().start_steps, meta["env_steps"]
    )
    train = np.loadtxt(
        os.path.join(workdir, "episodes.csv"), delimiter=",", skiprows=1, ndmin=2
    )  # [N, (env_step, return, length)]
    np.savetxt(
        os.path.join(CURVES, f"{NAME}_train_episodes.csv"),
        train,
        delimiter=",",
        fmt=["%d", "%.2f", "%d"],
        header="env_step,return,length",
        comments="",
    )
    manifest = _read_manifest()
    entry = manifest.get(NAME, {})
    entry.update({
        "env_id": "gem_jax/AntDirection-v0", "train_env_steps": meta["env_steps"],
        "train_wall_hours": round(meta["wall_s"] / 3600, 3), "seed": meta["seed"],
        "hardware": FLAGS.hardware, "train_config": _train_config(workdir),
        "shipped_step": pick,
        "goal_env_return": round(float(evals[pick][0]), 1) if pick in evals else None,
        "acceptance": final,
    })  # fmt: skip
    manifest[NAME] = entry
    _write_manifest(manifest)

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    window = 20
    if len(train) >= window:
        smooth = np.convolve(train[:, 1], np.ones(window) / window, mode="valid")
        ax[0].plot(train[window - 1 :, 0], smooth, lw=1, label=f"train ({window}-ep mean)")
    xs = sorted(evals)
    ax[0].errorbar(
        xs,
        [evals[s][0] for s in xs],
        [evals[s][1] for s in xs],
        fmt="o",
        ms=3,
        label="eval (stochastic)",
    )
    config = _train_config(workdir)
    stages = config.get("stages", []) if isinstance(config, dict) else []
    for k, stage in enumerate(stages[1:]):  # a run fine-tuned in stages: where each began
        ax[0].axvline(stage["env_steps"][0], color="gray", ls=":", lw=1,
                      label="new stage (config.json)" if k == 0 else None)
    ax[0].set(xlabel="env steps", ylabel="return", title="SAC on gem_jax/AntDirection-v0")
    ax[0].legend(fontsize=7)
    ax[1].plot(xs, [evals[s][3] for s in xs], "o-", ms=3)
    ax[1].axhline(ant.UMAZE_SUCCESS_TARGET, color="g", ls=":", label="target 0.9")
    ax[1].axvline(pick, color="k", ls="--", lw=1, label="shipped")
    ax[1].set(
        xlabel="env steps",
        ylabel="share reaching the goal",
        ylim=(-0.02, 1.02),
        title="umaze, planner + policy + noise",
    )
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(CURVES, f"{NAME}.png"), dpi=100)
    return entry


def _use_policy_dir(policy_dir: str) -> None:
    """Point the shipped file, curves and manifest at `policy_dir` (CLI edge only)."""
    global CURVES, MANIFEST
    CURVES = os.path.join(policy_dir, "curves")
    MANIFEST = os.path.join(policy_dir, "manifest.json")
    ant.POLICY_PATH = ant.Path(policy_dir) / ant.POLICY_PATH.name


def body() -> None:
    if FLAGS.policy_dir:
        _use_policy_dir(FLAGS.policy_dir)
    if FLAGS.record_builds:
        record_builds()
        return
    if FLAGS.check:
        acceptance(ant.load_policy(), FLAGS.final_episodes, FLAGS.seed + 2)
        return
    if not FLAGS.workdir:
        raise ValueError("--workdir is required to ship (or pass --check / --record_builds).")
    ship(FLAGS.workdir)


main = absl_main(body)

if __name__ == "__main__":
    app.run(main)
