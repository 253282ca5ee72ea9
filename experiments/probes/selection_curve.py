"""Selection scores against training: one run's sweeps at several checkpoints, side by side.

    python experiments/probes/selection_curve.py \
        --sweeps=RUN/curve_test_20000,RUN/curve_test_40000 --out=RUN/selection_curve

Each entry is an `evaluate.py` output (its folder or its sweep.json, which records the
checkpoint step). Writes `curve.json` (per setting, its rows by step), `curve.md` (setting x
step: mean ± std over seeds and the per-seed scores) and `curve.png` (score and Violation
against the step, one line per setting).
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags

from gem_jax.analysis import sweep_report

FLAGS = flags.FLAGS
flags.DEFINE_list("sweeps", None, "evaluate.py outputs (folders or sweep.json), one per step.")
flags.DEFINE_string("out", None, "Output folder for curve.{json,md,png}.")
flags.DEFINE_string("title", "", "Figure title (default: the env of the sweeps).")
flags.mark_flags_as_required(["sweeps", "out"])


def load_sweep(path: str) -> dict:
    """A sweep.json, given as a file or as the folder that holds it."""
    p = pathlib.Path(path)
    p = p / "sweep.json" if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"{p} not found: pass evaluate.py output folders or their "
                                "sweep.json files.")
    sweep = json.loads(p.read_text())
    if "step" not in sweep or "rows" not in sweep:
        raise ValueError(f"{p} is not an evaluate.py sweep (needs 'step' and 'rows').")
    return sweep


def main(argv):
    del argv
    sweeps = [load_sweep(p) for p in FLAGS.sweeps]
    groups = sweep_report.over_steps(sweeps)
    out = pathlib.Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    envs = sorted({s.get("env", "?") for s in sweeps})
    title = FLAGS.title or ", ".join(envs)
    record = {"envs": envs, "sources": list(FLAGS.sweeps),
              "settings": [{"label": k, "rows": v} for k, v in groups.items()]}
    table = sweep_report.over_steps_markdown(groups)
    (out / "curve.json").write_text(json.dumps(record, indent=1))
    (out / "curve.md").write_text(f"# {title}: selection against training\n\n" + table)
    sweep_report.plot_steps(groups, out / "curve.png", title)
    print(table)
    print(f"-> {out}")


if __name__ == "__main__":
    app.run(main)
