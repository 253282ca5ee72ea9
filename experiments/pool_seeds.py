"""Pool one-seed runs (shards) into the files of one run over all their seeds.

    python experiments/train.py --env=hopper-medium --seed=1 --num_seeds=1 --workdir=RUN/seed1
    python experiments/tune.py --workdir=RUN/seed0 --test_rows=all ...   # seed 1 alike
    python experiments/tune.py --workdir=RUN/seed2 ... \
        --choose_with=RUN/seed0/tune.json,RUN/seed1/tune.json   # the last: the pooled choice,
                                                                # its curves alone on test
    python experiments/pool_seeds.py --runs=RUN/seed0,RUN/seed1,RUN/seed2 --out=RUN

A run of 3 seeds at the locomotion sizes trains longer than a sitting; each seed alone takes a
third of it (`experiments/suite.py --seed_shards` queues them so). This writes into `--out`
what a vmapped run of all the seeds writes, for the tables to read unchanged
(`gem_jax/analysis/seed_pool.py`): `summary.json`, `config.json`, every sweep folder all shards
have (`sweep_test_n/sweep.json`, ...), and where the shards were tuned (`--test_rows=all`, or
`--choose_with` for the last), `tune.json` and `tuned_knobs.json` with the knobs chosen on the
pooled validation scores. `pool.json`, written last, lists the shards.
"""

from __future__ import annotations

import json
import pathlib
import shutil

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "The shards' folders (each a one-seed run's outputs), in "
                  "seed order.")
flags.DEFINE_string("out", None, "Folder for the pooled files.")

SWEEP_FOLDERS = ("sweep_test_n", "sweep_test_ablations", "sweep_test_mass")


def read(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: finish that shard's run first.") from None


def pool(runs: list[pathlib.Path], out: pathlib.Path) -> dict:
    from gem_jax import presets
    from gem_jax.analysis import seed_pool
    from gem_jax.harness.runlog import write_json

    summaries = [read(r / "summary.json") for r in runs]
    bad = [str(r) for r, s in zip(runs, summaries) if s.get("num_seeds") != 1]
    if bad:
        raise ValueError(f"{bad[0]} is not a one-seed run (train.py --num_seeds=1); pool shards "
                         "only.")
    seeds = [s["seeds"][0] for s in summaries]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"The shards repeat a seed ({seeds}); train each with its own --seed.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    summary = seed_pool.pool_summaries(summaries)
    if (runs[0] / "config.json").is_file():
        shutil.copyfile(runs[0] / "config.json", out / "config.json")
    tunes = [r / "tune.json" for r in runs]
    if all(t.is_file() for t in tunes):
        tune = seed_pool.pool_tunes([read(t) for t in tunes], presets.TUNED_KEYS)
        write_json(out / "tune.json", {**tune, "workdir": str(out)})
        write_json(out / presets.TUNED_FILE, {**tune["chosen"], "step": tune["step"],
                                              "chosen_by": "experiments/pool_seeds.py (best "
                                              "mean validation score over the pooled seeds)"})
        written += ["tune.json", presets.TUNED_FILE]
    for folder in SWEEP_FOLDERS:
        files = [r / folder / "sweep.json" for r in runs]
        if not all(f.is_file() for f in files):
            continue
        sweep = seed_pool.pool_sweeps([read(f) for f in files])
        (out / folder).mkdir(exist_ok=True)
        write_json(out / folder / "sweep.json", {**sweep, "workdir": str(out)})
        written.append(f"{folder}/sweep.json")
    write_json(out / "summary.json", summary)  # after the sweeps: the pooled run's final step
    manifest = {"step": summary["steps"], "seeds": seeds, "shards": [str(r) for r in runs],
                "files": ["summary.json", *written]}
    write_json(out / "pool.json", manifest)  # last: the pool is complete
    return manifest


def body() -> int:
    if not FLAGS.runs or len(FLAGS.runs) < 2:
        raise ValueError("--runs needs two or more shard folders, comma-separated.")
    if not FLAGS.out:
        raise ValueError("--out is required: the folder for the pooled files.")
    runs = [pathlib.Path(r).expanduser() for r in FLAGS.runs]
    manifest = pool(runs, pathlib.Path(FLAGS.out).expanduser())
    print(f"pooled seeds {manifest['seeds']}: {', '.join(manifest['files'])} -> {FLAGS.out}")
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
