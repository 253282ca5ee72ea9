"""Does selection over more candidates pick critic noise? The held-out critic check.

On `--num_states` dataset states of every seed of a run, the anchor + N actor candidates
(nested sets over `--budgets`) are scored as in selection (method §3) by the first
`--num_select` critics of the ensemble only; the chosen action's Q gain over the anchor is
then read off both the choosing critics and the held-out ones
(`gem_jax.analysis.diagnostics.heldout_gain`). If the choosing critics' gain grows with N while the
held-out critics' stays flat or falls, the large-N argmax is a maximum over noise.
Writes `<workdir>/heldout_gain.json` and `.md` (or `--out` without the suffix).

    python experiments/probes/heldout_gain.py --workdir=runs/maze2d_gem --step=100000
"""

from __future__ import annotations

import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory written by experiments/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_string("out", None, "Output path without suffix (default: <workdir>/heldout_gain).")
flags.DEFINE_list("budgets", ["1", "4", "16", "64", "256", "1024"], "Candidate budgets N.")
flags.DEFINE_integer("num_select", 3, "Critics that choose; the rest are held out.")
flags.DEFINE_enum("heldout", "critics", ["critics", "seeds"], "Who judges: the run's own "
                  "held-out critics, or the other seeds' whole ensembles (errors less shared).")
flags.DEFINE_integer("num_states", 512, "Dataset states sampled.")
flags.DEFINE_float("lcb_lambda", None, "lambda (default: the run's config).")
flags.DEFINE_float("beta", None, "beta_t (default: the run's beta_0, i.e. t = 0).")
flags.DEFINE_integer("seed", 0, "Seed of the state sample and the candidate draws.")


def body() -> int:
    import jax
    import numpy as np

    from gem_jax.analysis.diagnostics import heldout_gain
    from gem_jax.harness import checkpoint
    from gem_jax.harness.runlog import write_report
    from gem_jax.harness.runner import open_dataset
    from gem_jax.method.select import SelectKnobs, policy_params, seed_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: the run directory to check.")
    budgets = tuple(sorted({int(b) for b in FLAGS.budgets}))
    state, meta = checkpoint.restore(FLAGS.workdir, FLAGS.step)
    config = from_config_dict(meta["config"])
    lam = config.lcb_lambda if FLAGS.lcb_lambda is None else FLAGS.lcb_lambda
    beta = config.beta_start if FLAGS.beta is None else FLAGS.beta
    knobs = SelectKnobs.create(lcb_lambda=lam, beta_start=beta, beta_end=beta, horizon=1)
    dataset = open_dataset(meta["env"], normalize_observations=config.normalize_observations,
                           progress=False)
    rng = np.random.default_rng(FLAGS.seed)
    idx = rng.choice(dataset.batch.rewards.shape[0], FLAGS.num_states, replace=False)
    raw_obs = dataset.batch.observations[idx] * dataset.obs_std + dataset.obs_mean  # [B, O]
    params = policy_params(state)
    step = int(np.asarray(state.step).reshape(-1)[0])
    num_seeds = len(meta["seeds"])
    if FLAGS.heldout == "seeds" and num_seeds < 2:
        raise ValueError("--heldout=seeds needs a run with >= 2 seeds (train.py --num_seeds).")

    def others(i):  # critic parameters of every other seed, stacked [S - 1, E, ...]
        keep = np.array([j for j in range(num_seeds) if j != i])
        return jax.tree.map(lambda x: x[keep], params.critic)

    per_seed = [
        heldout_gain(config, seed_params(params, i), raw_obs, jax.random.PRNGKey(FLAGS.seed + i),
                     budgets, knobs, FLAGS.num_select,
                     others(i) if FLAGS.heldout == "seeds" else None)
        for i in range(num_seeds)
    ]
    report = {"workdir": str(FLAGS.workdir), "env": meta["env"], "step": step,
              "heldout": FLAGS.heldout,
              "num_select": FLAGS.num_select, "lcb_lambda": lam, "beta": beta,
              "num_states": FLAGS.num_states, "seeds": meta["seeds"],
              "per_seed": [{str(n): row for n, row in s.items()} for s in per_seed]}
    fmt = lambda vals: f"{np.mean(vals):+.3f} ± {np.std(vals):.3f} (" + ", ".join(
        f"{v:+.3f}" for v in vals) + ")"
    who = (f"Critics 0..{FLAGS.num_select - 1} choose; the rest are held out"
           if FLAGS.heldout == "critics" else
           "A seed's whole ensemble chooses; the other seeds' ensembles are held out")
    lines = [f"# Held-out critic check: {FLAGS.workdir} at step {step} ({meta['env']})", "",
             f"{who} (lambda = {lam:g}, beta = {beta:g}). "
             "Gains of the chosen action over the anchor, mean over "
             f"{FLAGS.num_states} dataset states; mean ± std over seeds (per seed).", "",
             "| N | gain (choosing critics) | gain (held-out critics) | held-out gain > 0 "
             "| chose the anchor |", "|---|---|---|---|---|"]
    for n in budgets:
        col = lambda key, n=n: [s[n][key] for s in per_seed]
        lines.append(f"| {n} | {fmt(col('gain_select'))} | {fmt(col('gain_heldout'))} | "
                     f"{fmt(col('heldout_positive'))} | {fmt(col('chose_anchor'))} |")
    out = pathlib.Path(FLAGS.out) if FLAGS.out else pathlib.Path(FLAGS.workdir) / "heldout_gain"
    print(write_report(out, report, lines))
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
