"""Build a whole suite table with one resumable command.

    python experiments/suite.py --suite=locomotion --tiers=1 --root=~/gem-runs/locomotion
    python experiments/suite.py --datasets=hopper-medium \
        --algos=bc,iql,gem,gem-e2=gem:--config.num_critics=2
    python experiments/suite.py --suite=locomotion --status      # where it stands, runs nothing

For each dataset, in order, and each algorithm label: build the dataset if it is not on
disk, train (seeds vmapped; `--resume` where a checkpoint exists), tune GEM's knobs on
validation episodes (`tune.py`), then on test episodes the N sweep, and on the ablation
datasets (default: the `-medium` ones) the ablations and the mass-scale robustness
(`evaluate.py`). Finally `fidelity_table.py` gathers every finished run into
`<out>.{json,md}` and `<out>_vs_n.png`, and the mass-scale rows go to `<out>_mass.{json,md,png}`.

Rerunning continues: a stage is skipped when its output exists and names the run's final
step (gem_jax/harness/suite.py), so an interrupted queue loses at most the stage it was in (and a
training run only the steps since its last checkpoint). Keep `--root` outside the work tree.
Raising `--steps` later trains the runs on and redoes their tune and sweeps. With
`--seed_shards=gem` each seed of GEM trains as its own run and the pair's files are pooled from them
(`experiments/pool_seeds.py`): a 3-seed pair of 3 h is three runs of 1 h, each kept as it
ends, so sittings on different machines finish it.

Each finished stage's small outputs (summaries, tunes, sweeps; no checkpoints) are also copied
to `--keep` (default `<out>`'s folder `/runs`), which is committed with the table: on a machine
where `--root` is gone, the pairs complete there are skipped (their datasets are not rebuilt)
and the table reads them from it, so only what is missing is retrained.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("suite", None,
                    "A suite's datasets, tier by tier: locomotion | maze2d | antmaze.")
flags.DEFINE_list("tiers", None, "Which tiers of --suite (1-based; default: all).")
flags.DEFINE_list("datasets", None, "Datasets instead of (or after) --suite's, in order.")
flags.DEFINE_list("algos", ["bc", "iql", "gem"], "Labels: gem | iql | bc | lom | idql | sfbc, or "
                  "NAME=ALGO[:FLAGS] "
                  "for a variant run (FLAGS are train.py's, space-separated).")
flags.DEFINE_string("root", None, "Folder of the run directories <root>/<dataset>/<label> "
                    "(keep it outside the work tree; default ~/gem-runs/<suite>).")
flags.DEFINE_string("out", None, "Table path prefix (default experiments/results/<suite>/"
                    "fidelity_<suite>).")
flags.DEFINE_string("keep", None, "Folder (committed) that keeps each finished stage's small "
                    "outputs, <keep>/<dataset>/<label>/; a pair complete there is done even "
                    "where its run directory is gone (default: <--out's folder>/runs; '' for "
                    "none).")
flags.DEFINE_string("train_args", "", "train.py flags for every run (space-separated), e.g. "
                    "--config.hidden_dims=(128,128).")
flags.DEFINE_integer("num_seeds", 3, "Seeds per run (vmapped in one program).")
flags.DEFINE_list("seed_shards", [], "Labels whose seeds train as one-seed runs each "
                  "(seed<i>/ in the pair's folder, kept as each finishes), then pooled "
                  "(experiments/pool_seeds.py): a pair longer than a sitting in pieces that "
                  "are not. GEM shards are tuned with --test_rows=all (the last with the others' "
                  "tune.json: tune.py --choose_with) and the knobs chosen on the pooled "
                  "validation scores.")
flags.DEFINE_integer("steps", 300_000, "Gradient steps per run.")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per seed and setting (validation and test).")
flags.DEFINE_integer("test_seed", 500_000, "First test evaluation seed (tune.py's).")
flags.DEFINE_integer("checkpoint_every", 20_000, "Checkpoint every this many steps.")
flags.DEFINE_integer("eval_every", 100_000, "Training-curve evaluations every this many steps.")
flags.DEFINE_string("tune_args", "--num_candidates=1,16,64,1024 --lcb_lambda=1,2 "
                    "--beta_start=0,1 --beta_end=0.1,3 --top_k=1 --top_k_frac=0,0.25 "
                    "--top_k_pick=sample", "tune.py's grid (its flags, space-separated); the "
                    "default crosses N with the argmax and the top-quarter draw.")
flags.DEFINE_list("n_sweep", ["0", "1", "16", "64", "256", "1024"], "Budgets of the N sweep.")
flags.DEFINE_list("ablation_datasets", None, "Datasets that get ablations and mass scales "
                  "(default: the -medium ones).")
flags.DEFINE_list("mass_scales", ["0.5", "0.75", "1", "1.25", "1.5"], "Body-mass scales "
                  "(locomotion ablation datasets only; empty: no mass stage).")
flags.DEFINE_bool("progress", True, "Progress bars in the commands it runs.")
flags.DEFINE_bool("status", False, "Print where the queue stands and exit.")
flags.DEFINE_bool("table", False, "Write the table of the runs finished so far and exit (the "
                  "queue also rewrites it after each table stage).")


def make_plan():
    import shlex

    from gem_jax.harness import suite

    names = []
    if FLAGS.suite:
        if FLAGS.suite not in suite.SUITES:
            raise ValueError(f"--suite={FLAGS.suite!r}: choose one of {sorted(suite.SUITES)}.")
        tiers = suite.SUITES[FLAGS.suite]
        wanted = FLAGS.tiers or [str(i + 1) for i in range(len(tiers))]
        for t in wanted:
            if not t.isdigit() or not 1 <= int(t) <= len(tiers):
                raise ValueError(f"--tiers={','.join(wanted)}: {FLAGS.suite} has tiers 1-"
                                 f"{len(tiers)}.")
            names += tiers[int(t) - 1]
    names += FLAGS.datasets or []
    if not names:
        raise ValueError("Name a --suite or some --datasets.")
    from gem_jax.data import resolve_name

    for name in names:
        resolve_name(name)  # a one-line error for an unknown name, before anything runs
    name = FLAGS.suite or "custom"
    root = pathlib.Path(os.path.expanduser(FLAGS.root or f"~/gem-runs/{name}"))
    mass = [float(v) for v in FLAGS.mass_scales]
    ablation = (FLAGS.ablation_datasets if FLAGS.ablation_datasets is not None
                else [n for n in names if n.endswith("-medium")])
    if any(resolve_name(n).suite != "locomotion" for n in ablation):
        mass = []  # the mass-scale figure is the locomotion suite's (the paper's MassScale)
    labels = tuple(suite.parse_label(s) for s in FLAGS.algos)
    unknown = set(FLAGS.seed_shards) - {lab.name for lab in labels}
    if unknown:
        raise ValueError(f"--seed_shards names {', '.join(sorted(unknown))}, not a label of "
                         f"--algos ({', '.join(lab.name for lab in labels)}).")
    if FLAGS.seed_shards and FLAGS.num_seeds < 2:
        raise ValueError(f"--seed_shards pools two or more seeds; --num_seeds is "
                         f"{FLAGS.num_seeds}.")
    plan = suite.Plan(
        root=root, datasets=tuple(dict.fromkeys(names)),
        labels=labels, num_seeds=FLAGS.num_seeds,
        steps=FLAGS.steps, eval_episodes=FLAGS.eval_episodes, test_seed=FLAGS.test_seed,
        checkpoint_every=FLAGS.checkpoint_every, eval_every=FLAGS.eval_every,
        tune_args=tuple(shlex.split(FLAGS.tune_args)),
        train_args=tuple(shlex.split(FLAGS.train_args)),
        n_sweep=tuple(int(v) for v in FLAGS.n_sweep), ablation_datasets=tuple(ablation),
        mass_scales=tuple(mass), progress=FLAGS.progress,
        seed_shards=tuple(FLAGS.seed_shards))
    out = pathlib.Path(FLAGS.out or f"experiments/results/{name}/fidelity_{name}")
    keep = out.parent / "runs" if FLAGS.keep is None else FLAGS.keep
    return dataclasses.replace(plan, keep=pathlib.Path(keep) if keep else None), out


def gather(plan, out: pathlib.Path) -> None:
    """The table of every finished run, and the mass-scale rows."""
    import subprocess

    from gem_jax.harness import suite
    from gem_jax.harness.runlog import write_json

    runs = suite.table_runs(plan)
    if not runs:
        print("no run has finished its table stages yet; no table written.")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [plan.python, str(suite.SCRIPTS / "fidelity_table.py"), f"--out={out}",
               *(f"--run={r}" for r in runs)]
    if subprocess.run(command).returncode != 0:
        raise RuntimeError(f"fidelity_table.py failed on {len(runs)} finished runs.")
    rows = suite.mass_rows(plan)
    if rows:
        mass = out.parent / f"{out.name}_mass"
        write_json(mass.with_suffix(".json"), {"rows": rows})
        mass.with_suffix(".md").write_text(suite.mass_markdown(rows))
        suite.plot_mass(rows, mass.with_suffix(".png"))
    print(f"-> {out}.md")


def body() -> int:
    from gem_jax.harness import suite

    plan, out = make_plan()
    if FLAGS.status:
        every = [s for d in plan.datasets for lab in plan.labels
                 for s in suite.stages(plan, d, lab)]
        print("\n".join(suite.status_lines(plan, every)))
        return 0
    if FLAGS.table:
        gather(plan, out)
        return 0
    def after_stage(stage) -> None:  # a finished table stage: the table grows by its rows
        if stage.name in ("tune", "n_sweep", "ablations", "mass", "pool"):
            gather(plan, out)

    failed = suite.run_queue(plan, after_stage=after_stage)
    gather(plan, out)
    return 1 if failed else 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)
