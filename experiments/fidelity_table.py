"""Collect tuned, test-episode results of several runs into one fidelity table.

    python experiments/fidelity_table.py \
        --run=pointmaze-umaze:gem:runs/umaze_gem --run=pointmaze-umaze:iql:runs/umaze_iql \
        --out=experiments/results/fidelity_mazes

Every number comes from test episodes; knobs come from validation episodes:
* a GEM run's main row is `<workdir>/tune.json`'s chosen setting on test (experiments/
  tune.py); its N sweep and ablations are `<workdir>/<--n_sweep>/sweep.json` and
  `<workdir>/<--ablations>/sweep.json`, written by `experiments/evaluate.py --seed=<the
  tune test seed>` (which uses the tuned knobs for everything it does not sweep);
* a baseline (IQL, BC) acts with its mean: its row is the N = 0 row of its
  `<workdir>/<--n_sweep>/sweep.json`.
Writes `<out>.json` (`{"rows": [...], "n_sweep": [...], "ablations": [...]}`, one row per
(env, algo)), `<out>.md` and `<out>_vs_n.png` (score, Violation, CollapseDist against N).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from gem_jax.cli import absl_main  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("run", [], "ENV:ALGO:WORKDIR, repeatable.")
flags.DEFINE_string("n_sweep", "sweep_test_n", "Subdirectory holding the N sweep.")
flags.DEFINE_string("ablations", "sweep_test_ablations", "Subdirectory holding the ablations.")
flags.DEFINE_string("out", "experiments/results/fidelity_mazes", "Output path prefix.")

AUDITS = ("support_z", "violation", "collapse_dist")


def read_json(path: pathlib.Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the step that writes it first "
                                "(see this script's docstring).")
    return json.loads(path.read_text())


def row_of(result: dict) -> dict:
    import numpy as np

    scores = [float(s) for s in result["seed_scores"]]
    return {"seed_scores": scores, "normalized_score": float(np.mean(scores)),
            "normalized_score_std": float(np.std(scores)),
            **{k: float(result[k]) for k in AUDITS}}


def collect(spec: str) -> tuple[dict, list, list]:
    from gem_jax import checkpoint as ckpt

    try:
        env, algo, workdir = spec.split(":", 2)
    except ValueError:
        raise ValueError(f"--run={spec!r}: expected ENV:ALGO:WORKDIR.") from None
    workdir = pathlib.Path(workdir)
    step, _ = ckpt.read_meta(workdir)
    n_rows = read_json(workdir / FLAGS.n_sweep / "sweep.json")["rows"]
    base = {"env": env, "algo": algo, "steps": step}
    if algo != "gem":
        mean_row = [r for r in n_rows if r["num_candidates"] == 0]
        if not mean_row:
            raise ValueError(f"{workdir / FLAGS.n_sweep} has no N = 0 row for {algo}.")
        return {**base, **row_of(mean_row[0]), "knobs": {"num_candidates": 0}}, [], []
    tune = read_json(workdir / "tune.json")
    main = {**base, **row_of(tune["chosen_test"]), "knobs": tune["chosen"],
            "test_env_seeds": tune["test_env_seeds"]}
    sweep = [{**base, "num_candidates": r["num_candidates"], **row_of(r)}
             for r in n_rows if r["variant"] == "gem"]
    ab_rows = read_json(workdir / FLAGS.ablations / "sweep.json")["rows"]
    ref = [r for r in ab_rows if r["variant"] == "gem"]
    if not ref:
        raise ValueError(f"{workdir / FLAGS.ablations} needs a 'gem' row to take deltas from.")
    ref = row_of(ref[0])
    ablations = []
    for r in ab_rows:
        if r["variant"] == "gem":
            continue
        row = row_of(r)
        ablations.append({**base, "variant": r["variant"], **row,
                          "delta_score": row["normalized_score"] - ref["normalized_score"],
                          "violation_ratio_vs_gem": row["violation"] / max(ref["violation"],
                                                                          1e-9)})
    return main, sweep, ablations


def markdown(rows, sweep, ablations) -> str:
    fmt = lambda r: (f"{r['normalized_score']:.1f} ± {r['normalized_score_std']:.1f} "
                     f"({', '.join(f'{s:.1f}' for s in r['seed_scores'])})")
    lines = ["| env | algo | steps | normalised score (per seed) | SupportZ | Violation | "
             "CollapseDist | knobs |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['env']} | {r['algo']} | {r['steps']} | {fmt(r)} | {r['support_z']:.2f} | "
              f"{r['violation']:.3f} | {r['collapse_dist']:.3f} | {r['knobs']} |" for r in rows]
    if sweep:
        lines += ["", "| env | N | score (per seed) | Violation | CollapseDist |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['env']} | {r['num_candidates']} | {fmt(r)} | {r['violation']:.3f} | "
                  f"{r['collapse_dist']:.3f} |" for r in sweep]
    if ablations:
        lines += ["", "| env | variant | score (per seed) | Δ vs gem | Violation |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['env']} | {r['variant']} | {fmt(r)} | {r['delta_score']:+.1f} | "
                  f"{r['violation']:.3f} |" for r in ablations]
    return "\n".join(lines) + "\n"


def plot(sweep, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({r["env"] for r in sweep})
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for env in envs:
        rows = sorted((r for r in sweep if r["env"] == env), key=lambda r: r["num_candidates"])
        x = [max(r["num_candidates"], 0.5) for r in rows]  # N = 0 drawn at 0.5 on a log axis
        for ax, key in zip(axes, ("normalized_score", "violation", "collapse_dist")):
            y = [r[key] for r in rows]
            if key == "normalized_score":
                ax.errorbar(x, y, yerr=[r["normalized_score_std"] for r in rows], marker="o",
                            capsize=3, label=env)
            else:
                ax.plot(x, y, marker="o", label=env)
    for ax, label in zip(axes, ("normalised score (test episodes)", "Violation (share)",
                                "CollapseDist (action units)")):
        ax.set_xscale("log")
        ax.set_xlabel("candidates N (N = 0 drawn at 0.5)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def body() -> int:
    from gem_jax.runlog import write_json

    if not FLAGS.run:
        raise ValueError("Give at least one --run=ENV:ALGO:WORKDIR.")
    rows, sweep, ablations = [], [], []
    for spec in FLAGS.run:
        main, s, a = collect(spec)
        rows.append(main)
        sweep += s
        ablations += a
    out = pathlib.Path(FLAGS.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), {"rows": rows, "n_sweep": sweep, "ablations": ablations})
    out.with_suffix(".md").write_text(markdown(rows, sweep, ablations))
    if sweep:
        plot(sweep, out.parent / f"{out.name}_vs_n.png")
    print(markdown(rows, sweep, ablations))
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
