"""Several systems side by side from their committed result files (the LOM and diffusion
issues' tables: BC, IQL, GEM, LOM, IDQL, SfBC on one page).

    python experiments/side_by_side.py --out=experiments/results/generative/side_by_side \
        --row=maze2d-umaze:gem:experiments/results/fidelity_mazes.json \
        --row=maze2d-umaze:bc:experiments/results/maze2d/maze2d-umaze_bc_test.json \
        --row=maze2d-umaze:idql:experiments/results/generative/maze2d-umaze_idql_tune.json \
        --published=experiments/results/generative/published.json

Each `--row=ENV:ALGO:FILE` names a tune.json (the validation-chosen setting on test), a table
with env/algo rows (fidelity_table.py, suite.py) or an evaluate.py sweep.json (its N = 0
row): `gem_jax.analysis.result_table`. A FILE not written yet is listed as not measured, so
a queue can rebuild the page after each stage. Writes `<out>.json`, `<out>.md` and
`<out>.png` (score per dataset, one bar per system, the published D4RL score beside it).
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("row", [], "ENV:ALGO:FILE, repeatable, in table order.")
flags.DEFINE_string("published", None, "JSON of published scores: system -> {dataset: score}.")
flags.DEFINE_string("out", None, "Output path prefix (<out>.json, .md, .png).")


def parse_row(spec: str) -> tuple[str, str, pathlib.Path]:
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"--row={spec!r}: expected ENV:ALGO:FILE.")
    return parts[0], parts[1], pathlib.Path(parts[2])


def body() -> int:
    from gem_jax.analysis import result_table
    from gem_jax.harness.runlog import write_json

    if not FLAGS.row or not FLAGS.out:
        raise ValueError("Give --out and at least one --row=ENV:ALGO:FILE.")
    specs = [parse_row(s) for s in FLAGS.row]
    published = {}
    if FLAGS.published:
        path = pathlib.Path(FLAGS.published)
        if not path.is_file():
            raise ValueError(f"--published={path} does not exist.")
        published = json.loads(path.read_text())
    rows, missing = result_table.gather(specs, published)
    out = pathlib.Path(FLAGS.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), {"rows": rows, "missing": missing})
    text = result_table.markdown(rows, missing)
    out.with_suffix(".md").write_text(text)
    if rows:
        result_table.plot(rows, out.with_suffix(".png"))
    print(text)
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
