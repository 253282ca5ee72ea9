"""Where LOM loses return: five policies from one LOM run, each undoing one of its steps.

    python experiments/probes/lom_modes.py --workdir=runs/lom/maze2d-umaze --seed=700000

LOM (method §8) acts with a policy π that imitates one behavior mode, `u*(s) = argmax_u
Q_H(s, u)`. From the run's own networks, per seed and on the same episodes (`--seed` keys and
env seeds as `experiments/evaluate.py --seed`: 700000 is lom.sh's validation split), this
rolls out
* `policy`: π(s), LOM as trained and scored (it reproduces `evaluate.py`'s N = 0 score);
* `hyper`: the mean of the component u*(s) (LOM without its imitation step);
* `best_mode`: the mean of `argmax_u Q(s, m_u(s))` (the critic picks among the K mode means:
  LOM without its hyper-Q's fit);
* `samples`: the argmax of the critic (the ensemble mean, λ = 0) over π(s) and
  `--num_candidates` behavior samples (GEM's select step with β = 0 on `source=behavior`: no
  single mode);
* `behavior_mode`: the mean of the behavior GMM's heaviest component, no critic at all (the
  mixture LOM pretrains, as a behavior-cloning policy).
Each of the first four steps down the list removes one of LOM's restrictions; where the score
jumps is where LOM loses it. On `--num_states` dataset states it also reports the critic's
value (the min over the target ensemble, as LOM trains) of each policy's action and of the
dataset's action, the hyper-Q's agreement with the critic over mode means, and the mixture's
shape.
Writes `lom_modes.json` and `lom_modes.md` to `--out` (default `<workdir>/lom_modes`).
"""

from __future__ import annotations

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A LOM run directory written by experiments/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_integer("seed", 0, "Evaluation seed, as evaluate.py's --seed.")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per seed and policy.")
flags.DEFINE_integer("num_candidates", 64, "Behavior samples of the `samples` policy.")
flags.DEFINE_integer("num_states", 256, "Dataset states for the value statistics.")
flags.DEFINE_string("out", None, "Output directory (default: <workdir>/lom_modes).")
flags.DEFINE_bool("progress", True, "Show progress bars.")


def body() -> int:
    import pathlib
    import sys

    import jax
    import numpy as np

    from gem_jax.analysis.lom_modes import POLICIES, markdown, mode_policy, state_stats
    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.harness.evaluation import evaluate
    from gem_jax.harness.runlog import write_report
    from gem_jax.harness.runner import open_dataset
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import SelectKnobs, make_policy, policy_params, seed_params
    from gem_jax.presets import from_config_dict
    from gem_jax.related import lom

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: a LOM run directory (train.py --algo=lom).")
    state, meta = ckpt.restore(FLAGS.workdir, FLAGS.step)
    config = from_config_dict(meta["config"])
    if config.actor_objective != "lom" or state.hyper_q is None:
        raise ValueError(f"{FLAGS.workdir} is not a LOM run (its actor objective is "
                         f"{config.actor_objective!r}); train one with --algo=lom.")
    dataset = open_dataset(meta["env"], normalize_observations=config.normalize_observations,
                           progress=FLAGS.progress)
    nets = make_networks(config, dataset.action_dim)
    hyper_q = lom.hyper_q_network(config)
    params = policy_params(state)
    scale = np.asarray(meta.get("action_scale", 1.0), np.float32)
    rng = np.random.default_rng(0)
    idx = rng.choice(dataset.batch.rewards.shape[0], FLAGS.num_states, replace=False)
    obs = jax.numpy.asarray(dataset.batch.observations[idx])  # [B, obs], as trained on
    data_actions = np.clip(np.asarray(dataset.batch.actions[idx]) / scale, -1.0, 1.0)

    zero_knobs = SelectKnobs.from_config(config, lcb_lambda=0.0, beta_start=0.0, beta_end=0.0)
    select = {"policy": make_policy(config, num_candidates=0),
              "samples": make_policy(config, num_candidates=FLAGS.num_candidates,
                                     source="behavior", top_k=1)}
    chosen = {name: mode_policy(nets, hyper_q, name) for name in ("hyper", "best_mode",
                                                                "behavior_mode")}
    scores = {name: [] for name in POLICIES}
    stats = []
    for i, seed in enumerate(meta["seeds"]):  # a handful of seeds, at the edge
        p = seed_params(params, i)
        h = jax.tree.map(lambda x, i=i: x[i], state.hyper_q.params)
        critic = jax.tree.map(lambda x, i=i: x[i], state.target_critic_params)
        key = jax.random.fold_in(jax.random.PRNGKey(FLAGS.seed), i)
        env_seed = 10_000 + FLAGS.seed + i  # as gem_jax.analysis.sweep.evaluate_setting
        for name in POLICIES:
            policy, pp = (select[name], p) if name in select else (chosen[name], (p, h))
            knobs = SelectKnobs.from_config(config) if name == "policy" else zero_knobs
            r = evaluate(dataset, policy, pp, knobs, key, FLAGS.eval_episodes, seed=env_seed,
                         progress=FLAGS.progress)
            scores[name].append(r["normalized_score"])
        stats.append(state_stats(nets, hyper_q, p, h, critic, obs, data_actions,
                                 jax.random.PRNGKey(i), FLAGS.num_candidates, config))
        print(f"seed {seed}: " + ", ".join(f"{n} {scores[n][-1]:.1f}" for n in POLICIES),
              flush=True)
    mean_stats = jax.tree.map(lambda *v: float(np.mean(v)), *stats)
    report = {
        "workdir": str(FLAGS.workdir), "env": meta["env"], "step": int(np.asarray(state.step)[0]),
        "command": "python experiments/probes/lom_modes.py " + " ".join(sys.argv[1:]),
        "eval_seed": FLAGS.seed, "eval_episodes": FLAGS.eval_episodes,
        "num_candidates": FLAGS.num_candidates, "num_states": FLAGS.num_states,
        "rollouts": {n: {"mean": float(np.mean(v)), "std": float(np.std(v)),
                         "seed_scores": v} for n, v in scores.items()},
        "stats_mean": mean_stats, "stats_per_seed": stats,
    }
    out = pathlib.Path(FLAGS.out or pathlib.Path(FLAGS.workdir) / "lom_modes")
    out.mkdir(parents=True, exist_ok=True)
    print(write_report(out / "lom_modes", report, markdown(report).splitlines()))
    return 0


if __name__ == "__main__":
    app.run(absl_main(body))
