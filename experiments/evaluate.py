"""Sweep the retrain-free selection knobs of a trained run (method §3-5).

    python experiments/evaluate.py --workdir=runs/antmaze --num_candidates=0,1,64,1024,2048
    python experiments/evaluate.py --workdir=runs/nav2d --variants=gem,no_pw,no_lcb,no_anchor
    python experiments/evaluate.py --workdir=runs/nav2d --beta_start=0,0.5,1,2,4 --lcb_lambda=0,1
    python experiments/evaluate.py --workdir=runs/hopper --mass_scale=0.5,1.0,1.5
    python experiments/evaluate.py --workdir=runs/nav2d --support_model=gmm,empo
    python experiments/evaluate.py --workdir=runs/maze2d --num_candidates=0,16 \
        --candidate_means=false,true

Loads the newest checkpoint of `--workdir` (every seed it holds) and scores the Cartesian
grid of the given knobs; an unset knob keeps the run's config value. Every list flag is
comma-separated. Writes to `--out` (default `<workdir>/sweep`): `sweep.csv`, `sweep.md`
(score mean ± std over seeds, SupportZ, Violation, CollapseDist per setting; an IQL or BC
run's rows are named after it, with only the columns that apply), `sweep.json`, and the
plots of what the grid varies: `score_vs_n.png` (N), `frontier_beta.png` (the β
schedule; the run's own setting starred) and `ablation.png` (the variants).
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np
from absl import app, flags

from gem_jax import presets
from gem_jax.harness.cli import absl_main, bool_list

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory written by experiments/train.py.")
flags.DEFINE_string("out", None, "Output directory (default: <workdir>/sweep).")
flags.DEFINE_string("env", None, "Evaluate on this dataset's env (default: the run's own).")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the newest).")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per seed and setting.")
flags.DEFINE_integer("seed", 0, "Evaluation seed (the same keys for every setting).")
flags.DEFINE_list("num_candidates", None, "Candidate budgets N (0 = anchor only).")
flags.DEFINE_list("top_k", None, "Top-k smoothing sizes (1 = argmax).")
flags.DEFINE_list("lcb_lambda", None, "LCB pessimism lambda values.")
flags.DEFINE_list("beta_start", None, "beta_0 values of the support schedule.")
flags.DEFINE_list("beta_end", None, "beta_end values of the support schedule.")
flags.DEFINE_list("anchor_bonus", None, "Anchor bonus delta values (>= 0; 0 = the paper).")
flags.DEFINE_list("candidate_means", None, "true and/or false: the candidate set holds all K "
                  "actor component means (ours, off by default) or only the top one (the "
                  "paper, the default).")
flags.DEFINE_list("top_k_pick", None, "mean and/or sample: a_out = mean of the top-k (the "
                  "paper, the default) or one of them drawn uniformly (ours).")
flags.DEFINE_list("top_k_frac", None, "Shares of the candidate set as k (ours; > 0: k = "
                  "round(share * (N + 1)) at every N, top_k ignored; 0 = the fixed top_k).")
flags.DEFINE_list("horizon", None, "Schedule horizons T (> 0).")
flags.DEFINE_list("mode", None, "Candidate-set normalisation: zscore and/or raw.")
flags.DEFINE_list("source", None, "Candidate source: actor and/or behavior.")
flags.DEFINE_list("variants", None, "Ablation variants (method §3), default gem.")
flags.DEFINE_list("mass_scale", None, "Body-mass scales at test time (MuJoCo envs only).")
flags.DEFINE_list("support_model", None, "Behavior support in the score: gmm and/or empo "
                  "(empo: the EMPO cluster mixture, fitted once and kept in the workdir).")
flags.DEFINE_string("tuned_knobs", None, "A tuned_knobs.json to take the default knobs from "
                    "instead of the run's own (e.g. those pool_seeds.py chose over seeds).")
flags.DEFINE_bool("download", False, "Allow downloading a missing Minari dataset.")
flags.DEFINE_bool("progress", True, "Show progress bars.")


def parse_list(name: str, cast):
    """The comma-separated flag `name` cast to numbers, or None when not given."""
    values = getattr(FLAGS, name)
    if values is None:
        return None
    try:
        return [cast(v) for v in values]
    except ValueError:
        kind = "integers" if cast is int else "numbers"
        raise ValueError(f"--{name}={','.join(values)}: expected comma-separated {kind}.") from None


def grid_flags() -> dict:
    ints = ("num_candidates", "top_k")
    floats = ("lcb_lambda", "beta_start", "beta_end", "horizon", "mass_scale", "anchor_bonus",
              "top_k_frac")
    out = {name: parse_list(name, int) for name in ints}
    out.update({name: parse_list(name, float) for name in floats})
    out.update({name: FLAGS[name].value
                for name in ("mode", "source", "variants", "support_model", "top_k_pick")})
    out["candidate_means"] = bool_list("candidate_means", FLAGS.candidate_means)
    return out


def body() -> int:
    from gem_jax.analysis import sweep, sweep_report
    from gem_jax.data import resolve_name
    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.harness.runlog import write_json
    from gem_jax.harness.runner import check_workdir, empo_support, open_dataset
    from gem_jax.method.select import policy_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: the run directory to evaluate.")
    if FLAGS.eval_episodes < 1:
        raise ValueError(f"--eval_episodes must be >= 1, got {FLAGS.eval_episodes}.")
    knobs = grid_flags()
    step, meta = ckpt.read_meta(FLAGS.workdir, FLAGS.step)
    config = presets.with_tuned_knobs(from_config_dict(meta["config"]), FLAGS.workdir,
                                      FLAGS.tuned_knobs)
    env = FLAGS.env or meta["env"]
    settings, skipped = sweep.make_grid(config, **knobs)
    sweep.check_mass_scale(resolve_name(env).suite, [s.mass_scale for s in settings])
    out = check_workdir(FLAGS.out or pathlib.Path(FLAGS.workdir) / "sweep")
    for note in skipped:
        print(f"skipped: {note}", file=sys.stderr)

    dataset = open_dataset(env, download=FLAGS.download,
                           normalize_observations=config.normalize_observations,
                           progress=FLAGS.progress)
    ckpt.check_dims(meta, dataset.obs_dim, dataset.action_dim, FLAGS.workdir, env)
    state, meta = ckpt.restore(FLAGS.workdir, step)
    support = ckpt.load_support(FLAGS.workdir, meta)
    if support is None and any(s.support_model == "empo" for s in settings):
        # The run trained with the GMM support: fit EMPO's on its training data (method §7).
        fitted = (pathlib.Path(FLAGS.workdir) / ckpt.SUPPORT_FILE).is_file()
        if env != meta["env"] and not fitted:
            raise ValueError(
                f"--support_model=empo fits the support on the run's own data ({meta['env']}),"
                f" not on --env={env}; evaluate once without --env first (it keeps the "
                "fitted support in the workdir)."
            )
        support = empo_support(dataset, np.asarray(meta["action_scale"], np.float32),
                               pathlib.Path(FLAGS.workdir), config.seed, FLAGS.progress)
    params = policy_params(state, support)
    journal = out / "sweep.journal.jsonl"  # finished rows; a rerun after a kill goes on from them
    context = {"workdir": str(pathlib.Path(FLAGS.workdir).resolve()), "step": step, "env": env,
               "z_thresh": config.z_thresh}
    rows = sweep.run_sweep(dataset, config, params, settings, FLAGS.eval_episodes, FLAGS.seed,
                           FLAGS.progress, journal, context)

    algo = meta.get("algo", "gem")
    title = f"{algo} on {env}, step {step}"
    sweep_report.write_csv(rows, out / "sweep.csv")
    table = sweep_report.to_markdown(rows, algo)
    (out / "sweep.md").write_text(f"# {title}\n\n{table}")
    write_json(out / "sweep.json", {"workdir": str(FLAGS.workdir), "env": env, "step": step,
                                    "algo": algo, "skipped": skipped, "rows": rows})
    written = ["sweep.md", "sweep.csv", "sweep.json"]
    journal.unlink(missing_ok=True)

    def varies(*keys: str) -> bool:
        return len({tuple(r[k] for k in keys) for r in rows}) > 1

    if varies("num_candidates"):
        sweep_report.plot_budget(rows, out / "score_vs_n.png", title)
        written.append("score_vs_n.png")
    if varies("beta_start", "beta_end"):
        chosen = {"variant": "gem", **{k: getattr(config, k) for k in (
            "num_candidates", "lcb_lambda", "beta_start", "beta_end", "horizon")}}
        sweep_report.plot_frontier(rows, out / "frontier_beta.png", title, chosen)
        written.append("frontier_beta.png")
    if varies("variant"):
        sweep_report.plot_ablation(rows, out / "ablation.png", title, algo)
        written.append("ablation.png")
    print(table)
    print(f"-> {out}: {', '.join(written)}")
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
