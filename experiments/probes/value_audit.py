"""Does the critic overrate the actions selection picks? Predicted against realised value.

Rolls out every seed of a run at each candidate budget N (the run's knobs unless
overridden) and, at each step, sets the critic's LCB of the executed top-1 action (method §3)
against the discounted return that actually followed (`gem_jax.analysis.diagnostics.value_audit`).
A policy whose chosen actions are rated far above what they return is steered by critic
error; the anchor (N = 0) is the reference. Writes `<workdir>/value_audit.json`, `.md`
and `.png` (or `--out` without the suffix).

    python experiments/probes/value_audit.py --workdir=runs/maze2d_gem --num_candidates=0,1024
"""

from __future__ import annotations

import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory written by experiments/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_string("out", None, "Output path without suffix (default: <workdir>/value_audit).")
flags.DEFINE_list("num_candidates", ["0", "1024"], "Candidate budgets N (0 = anchor only).")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per seed and budget.")
flags.DEFINE_integer("first_steps", 100, "Audit steps t < first_steps (G_t sees the rest).")
flags.DEFINE_float("lcb_lambda", None, "lambda (default: the run's config).")
flags.DEFINE_float("beta_start", None, "beta_0 (default: the run's config).")
flags.DEFINE_float("beta_end", None, "beta_end (default: the run's config).")
flags.DEFINE_integer("seed", 0, "Evaluation seed (env seeds start at 10_000 + seed).")
flags.DEFINE_bool("progress", True, "Show progress bars.")


def body() -> int:
    import jax
    import numpy as np

    from gem_jax.analysis.diagnostics import value_audit
    from gem_jax.harness import checkpoint
    from gem_jax.harness.evaluation import action_scale, rollout_gym
    from gem_jax.harness.runlog import write_report
    from gem_jax.harness.runner import open_dataset
    from gem_jax.method.select import SelectKnobs, make_policy, policy_params, seed_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: the run directory to audit.")
    state, meta = checkpoint.restore(FLAGS.workdir, FLAGS.step)
    config = from_config_dict(meta["config"])
    dataset = open_dataset(meta["env"], normalize_observations=config.normalize_observations,
                           progress=False)
    limit = dataset.max_episode_steps
    if not 1 <= FLAGS.first_steps < limit:
        raise ValueError(f"--first_steps must lie in [1, {limit - 1}] (episodes last {limit}).")
    overrides = {k: getattr(FLAGS, k) for k in ("lcb_lambda", "beta_start", "beta_end")
                 if getattr(FLAGS, k) is not None}
    knobs = SelectKnobs.from_config(config, **overrides)
    env = dataset.make_env()
    scale = action_scale(env)
    env.close()
    params = policy_params(state)
    step = int(np.asarray(state.step).reshape(-1)[0])
    rows = []
    for n in [int(v) for v in FLAGS.num_candidates]:
        policy = make_policy(config, num_candidates=n)
        per_seed, scores = [], []
        for i in range(len(meta["seeds"])):
            rewards, info = [], []
            ret, _, _ = rollout_gym(
                dataset.make_env, policy, seed_params(params, i), knobs,
                jax.random.PRNGKey(FLAGS.seed + i), FLAGS.eval_episodes, scale,
                10_000 + FLAGS.seed + 1000 * i, limit, FLAGS.progress, step_rewards=rewards,
                step_info=info)
            stack = lambda key, info=info: np.stack([d[key] for d in info], axis=1)  # [E, T]
            per_seed.append(value_audit(np.stack(rewards, axis=1), stack("lcb"),
                                        stack("alive"), config.discount, FLAGS.first_steps))
            scores.append(float(np.mean(dataset.normalized_score(ret))))
        rows.append({"num_candidates": n, "seed_scores": scores, "per_seed": per_seed})
    knob_text = ", ".join(f"{k} = {float(getattr(knobs, k)):g}"
                          for k in ("lcb_lambda", "beta_start", "beta_end", "horizon"))
    fmt = lambda vals: f"{np.mean(vals):.2f} ± {np.std(vals):.2f} (" + ", ".join(
        f"{v:.2f}" for v in vals) + ")"
    lines = [f"# Value audit: {FLAGS.workdir} at step {step} ({meta['env']})", "",
             f"Knobs: {knob_text}. Steps t < {FLAGS.first_steps} of {FLAGS.eval_episodes} "
             "episodes per seed; mean ± std over seeds (per seed).", "",
             "| N | normalised score | predicted (LCB of the chosen action) | realised "
             "discounted return | gap |", "|---|---|---|---|---|"]
    for row in rows:
        col = lambda key, row=row: [s[key] for s in row["per_seed"]]
        lines.append(f"| {row['num_candidates']} | {fmt(row['seed_scores'])} | "
                     f"{fmt(col('predicted'))} | {fmt(col('realized'))} | {fmt(col('gap'))} |")
    out = pathlib.Path(FLAGS.out) if FLAGS.out else pathlib.Path(FLAGS.workdir) / "value_audit"
    text = write_report(out, {"workdir": str(FLAGS.workdir), "env": meta["env"], "step": step,
                              "knobs": overrides, "rows": rows}, lines)
    plot(rows, out.with_suffix(".png"), f"{meta['env']}, step {step}")
    print(text)
    return 0


def plot(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, row in enumerate(rows):
        mean = lambda key, row=row: np.mean([s[key] for s in row["per_seed"]], axis=0)
        color = f"C{i}"
        ax.plot(mean("predicted_by_step"), color=color, label=f"N={row['num_candidates']} LCB")
        ax.plot(mean("realized_by_step"), color=color, ls="--",
                label=f"N={row['num_candidates']} realised")
    ax.set_xlabel("episode step t")
    ax.set_ylabel("value")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
