"""A suite table as a resumable queue of commands (behind `experiments/suite.py`).

For each dataset (in order) and each algorithm label the queue holds up to six stages, each a
command line of the project's own scripts, run one at a time:

    data       experiments/make_dataset.py      (skipped when the dataset is on disk)
    train      experiments/train.py             (--resume when the run has a checkpoint)
    tune       experiments/tune.py              (GEM labels: knobs on validation episodes)
    n_sweep    experiments/evaluate.py          (test episodes; baselines: N = 0 only)
    ablations  experiments/evaluate.py          (GEM, on the `ablation_datasets`)
    mass       experiments/evaluate.py          (each plain algorithm, on the `ablation_datasets`)

and then `experiments/fidelity_table.py` gathers the finished runs into one table, plus
`<out>_mass.{json,md,png}` for the mass-scale rows. A stage is *done* when the file its
command writes last exists and names the training run's final step: every JSON is written
atomically (temp file + rename), so a killed command leaves a stage undone, never half done,
and a run pushed to more steps later redoes its tune and sweeps. Rerunning the queue thus
continues where it stopped; within a stage, `tune.py` and `evaluate.py` go on from their
journal of finished settings. Run directories are `<root>/<dataset>/<label>/`.

A plan with a `keep` folder (in the work tree, committed) copies each finished stage's small
outputs (`KEPT_FILES`: summaries, tunes, sweeps; never checkpoints) to `<keep>/<dataset>/
<label>/`, in the run directory's own layout. A pair whose kept copy holds every table output
for the plan's step budget is done even where its run directory is gone (another machine, a
wiped disk): the queue skips it, dataset build included, and the table reads its kept copy.
A pair cut short keeps its finished files but is redone from training where its checkpoints
are gone.

For the labels named in `seed_shards`, each seed of a pair is its own one-seed run, a *shard*
(`<root>/<dataset>/<label>/seed<i>/`, `train.py --seed=i --num_seeds=1`: seed index i's key),
with its own stages, kept copy (`<keep>/<dataset>/<label>/seed<i>/`) and checkpoints; then a
`pool` stage (`experiments/pool_seeds.py`) writes the pair's files over all seeds into the
pair's folder, where the table reads them. A 3-seed pair that trains 3 h or more is then three
runs a sitting each can finish, kept as each ends. A GEM shard is tuned with `tune.py
--test_rows=all`, so the knobs are chosen on the pooled validation scores and their test scores
are there; the shard tuned last chooses them itself, with the others' tune.json
(`--choose_with`), and scores on test only that choice's N curves (~40% of its tune time
saved). Its N sweep is N = 0 (the pooled curves are the tune grid's budgets). GEM's ablations
and mass scales take the pooled knobs: a `pool_tune` stage pools the tunes first, then each
shard evaluates at those knobs (`evaluate.py --tuned_knobs`, on the shard's checkpoint: a shard
whose checkpoints are gone retrains, and reruns only the evaluations its kept copy lacks), and
`pool` pools the rest from the shards' kept copies. A pair already finished as one vmapped run
stays one.

A label is an algorithm (`gem`, `iql`, `bc`, `lom`) or `NAME=ALGO[:FLAGS]`, e.g.
`gem-e2=gem:--config.num_critics=2`: a second GEM run with its own flags, for comparisons on
validation episodes: its tune scores validation episodes alone (`tune.py --test_rows=none`,
about half a tune's time; the table shows its chosen setting's validation score, marked so),
its N sweep is N = 0 on test, and ablations and mass scales do not run. A label's kind (GEM or
baseline) is its algorithm's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shlex
import shutil
import sys
import time
from collections.abc import Sequence

from gem_jax.presets import ALGORITHMS, TUNED_FILE

# The paper's first suite in the order the locomotion issue builds it, one tier at a time.
SUITES = {
    "locomotion": (
        ("hopper-medium", "walker2d-medium", "halfcheetah-medium"),
        ("hopper-medium-replay", "walker2d-medium-replay", "halfcheetah-medium-replay"),
        ("hopper-medium-expert", "walker2d-medium-expert", "hopper-expert", "walker2d-expert"),
    ),
    "maze2d": (("maze2d-umaze", "maze2d-medium", "maze2d-large"),),
    # our local builds (gem/antmaze/*-v0, the shipped ant), the AntMaze issue's two tables
    "antmaze": (("antmaze-umaze", "antmaze-umaze-diverse"),),
}
ALGOS = tuple(ALGORITHMS)  # gem, iql, bc, lom, idql, sfbc
VARIANTS = ("gem", "no_pw", "no_lcb", "no_anchor", "anchor_bary", "behavior_only_cands",
            "unimodal_actor_cands", "raw")
MASS_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5)
N_SWEEP = (0, 1, 16, 64, 256, 1024)
STAGE_DIRS = {"n_sweep": "sweep_test_n", "ablations": "sweep_test_ablations",
              "mass": "sweep_test_mass"}
SCRIPTS = pathlib.Path(__file__).resolve().parents[2] / "experiments"
# What `keep_outputs` copies of a run (a few hundred kB a run): what the table, the status line
# and a reader of the results need, in the run directory's layout.
KEPT_FILES = ("config.json", "summary.json", "eval.csv", "tune.json", "tuned_knobs.json",
              "pool.json",
              *(f"{folder}/sweep.json" for folder in STAGE_DIRS.values()))


@dataclasses.dataclass(frozen=True)
class Label:
    """One row of the table: a name, the algorithm it trains, and its extra flags."""

    name: str
    algo: str
    flags: tuple[str, ...] = ()

    @property
    def is_gem(self) -> bool:
        return self.algo == "gem"


def parse_label(spec: str) -> Label:
    """`gem` or `NAME=ALGO[:FLAGS]` (FLAGS split like a shell line) -> `Label`."""
    name, _, rest = spec.partition("=")
    algo, _, flags = (rest or name).partition(":")
    if algo not in ALGOS:
        raise ValueError(f"--algos entry {spec!r}: the algorithm must be one of {ALGOS} "
                         "(write NAME=ALGO[:FLAGS] for a variant, e.g. gem-e2=gem:--config."
                         "num_critics=2).")
    if not name or "/" in name or ":" in name:
        raise ValueError(f"--algos entry {spec!r}: a label needs a plain name (no '/' or ':').")
    return Label(name, algo, tuple(shlex.split(flags)))


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything the queue needs; two plans with equal fields run the same commands."""

    root: pathlib.Path
    datasets: tuple[str, ...]
    labels: tuple[Label, ...]
    num_seeds: int = 3
    steps: int = 300_000
    eval_episodes: int = 10  # per seed and setting, validation and test alike
    val_seed: int = 0
    test_seed: int = 500_000
    checkpoint_every: int = 20_000
    eval_every: int = 100_000  # the training curve's evaluations (5 episodes a seed)
    tune_args: tuple[str, ...] = ()  # extra flags of tune.py (its grid)
    train_args: tuple[str, ...] = ()  # extra flags of train.py for every run
    n_sweep: tuple[int, ...] = N_SWEEP
    ablation_datasets: tuple[str, ...] = ()
    variants: tuple[str, ...] = VARIANTS
    mass_scales: tuple[float, ...] = MASS_SCALES
    python: str = sys.executable
    progress: bool = True  # progress bars in the commands
    keep: pathlib.Path | None = None  # where finished outputs are copied (module docstring)
    seed_shards: tuple[str, ...] = ()  # labels whose seeds run apart, pooled (module docstring)

    def workdir(self, dataset: str, label: Label) -> pathlib.Path:
        return self.root / dataset / label.name

    def kept(self, dataset: str, label: Label) -> pathlib.Path | None:
        return None if self.keep is None else self.keep / dataset / label.name


@dataclasses.dataclass(frozen=True)
class Stage:
    dataset: str
    label: Label
    name: str  # data | train | tune | n_sweep | ablations | mass
    command: tuple[str, ...]
    workdir: pathlib.Path
    shard: int | None = None  # the seed of a one-seed run (`Plan.seed_shards`)

    @property
    def title(self) -> str:
        return self.name if self.shard is None else f"{self.name} s{self.shard}"


def read_json(path: pathlib.Path) -> dict | None:
    """The JSON at `path`, or None when it is absent or unreadable (never half read: every
    JSON of a run is written by rename)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def trained_step(plan: Plan, workdir: pathlib.Path) -> int | None:
    """The run's final step once training reached `plan.steps`, else None."""
    summary = read_json(workdir / "summary.json")
    if summary is None or int(summary.get("steps", -1)) < plan.steps:
        return None
    return int(summary["steps"])


def _script(plan: Plan, name: str, *args: str) -> tuple[str, ...]:
    return (plan.python, str(SCRIPTS / f"{name}.py"), *args,
            *([] if plan.progress else ["--progress=false"]))


def _csv(values) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def stages(plan: Plan, dataset: str, label: Label) -> list[Stage]:
    """The stages of one (dataset, label) pair, in order."""
    wd = plan.workdir(dataset, label)
    data = Stage(dataset, label, "data", _script(plan, "make_dataset", f"--dataset={dataset}"),
                 wd)
    if label.name not in plan.seed_shards or finished_whole(plan, dataset, label):
        return [data, *_run_stages(plan, dataset, label, wd)]
    shards = [shard_dir(plan, dataset, label, i) for i in range(plan.num_seeds)]
    pool = lambda name: Stage(dataset, label, name, (
        plan.python, str(SCRIPTS / "pool_seeds.py"), f"--runs={','.join(map(str, shards))}",
        f"--out={wd}"), wd)
    runs = [_run_stages(plan, dataset, label, sd, i) for i, sd in enumerate(shards)]
    first = [st for run in runs for st in run if st.name not in ("ablations", "mass")
             or not label.is_gem]
    then = [st for run in runs for st in run if st not in first]  # GEM's, at pooled knobs
    return [data, *first, *([pool("pool_tune")] if then else []), *then, pool("pool")]


def finished_whole(plan: Plan, dataset: str, label: Label) -> bool:
    """Whether the pair is finished as one vmapped run (in its run directory or kept copy):
    shard mode leaves such a pair as it is."""
    whole = dataclasses.replace(plan, seed_shards=())
    own = [s for s in stages(whole, dataset, label) if s.name != "data"]
    return all(done_in(whole, s, s.workdir) for s in own) or kept_complete(whole, dataset, label)


def shard_dir(plan: Plan, dataset: str, label: Label, shard: int) -> pathlib.Path:
    return plan.workdir(dataset, label) / f"seed{shard}"


def _run_stages(plan: Plan, dataset: str, label: Label, wd: pathlib.Path,
                shard: int | None = None) -> list[Stage]:
    """Train and evaluate one run: the pair's (all seeds vmapped) or one shard's. A GEM
    shard's ablations and mass scales take the knobs chosen over the pooled seeds."""
    stage = lambda name, *cmd: Stage(dataset, label, name, cmd, wd, shard)
    pooled = () if shard is None else (
        f"--tuned_knobs={plan.workdir(dataset, label) / TUNED_FILE}",)
    evaluate = lambda name, *args: stage(name, *_script(
        plan, "evaluate", f"--workdir={wd}", f"--out={wd / STAGE_DIRS[name]}",
        f"--seed={plan.test_seed}", f"--eval_episodes={plan.eval_episodes}", *args))
    seeds = [f"--num_seeds={plan.num_seeds}"] if shard is None else [
        "--num_seeds=1", f"--seed={shard}"]
    train_args = [f"--env={dataset}", f"--algo={label.algo}", *seeds,
                  f"--steps={plan.steps}", f"--workdir={wd}",
                  f"--checkpoint_every={plan.checkpoint_every}",
                  f"--eval_every={plan.eval_every}", "--eval_episodes=5", *plan.train_args,
                  *label.flags]
    out = [stage("train", *_script(plan, "train", *train_args))]
    variant = label.name != label.algo  # compared with its algorithm on validation episodes
    if label.is_gem:
        # a variant: no test rows (half the tune); a shard: all (the pooled choice needs them)
        every = ("--test_rows=none",) if variant else () if shard is None else (
            "--test_rows=all",)
        out.append(stage("tune", *_script(
            plan, "tune", f"--workdir={wd}", f"--eval_episodes={plan.eval_episodes}",
            f"--val_seed={plan.val_seed}", f"--test_seed={plan.test_seed}", *plan.tune_args,
            *every)))
        if shard is None and not variant:
            out.append(evaluate("n_sweep", f"--num_candidates={_csv(plan.n_sweep)}"))
        else:  # N = 0 (a shard: the pooled curves are tune's budgets), at the run's own knobs
            out.append(evaluate("n_sweep", "--num_candidates=0",
                                f"--tuned_knobs={wd / TUNED_FILE}"))
    else:
        out.append(evaluate("n_sweep", "--num_candidates=0"))
    if dataset in plan.ablation_datasets and not variant:
        if label.is_gem:
            out.append(evaluate("ablations", f"--variants={_csv(plan.variants)}", *pooled))
        if plan.mass_scales:  # none: the suite has no mass-scale figure (e.g. AntMaze)
            out.append(evaluate("mass", f"--mass_scale={_csv(plan.mass_scales)}",
                                *(pooled if label.is_gem else ["--num_candidates=0"])))
    return out


def dataset_on_disk(dataset: str) -> bool:
    from gem_jax.data import resolve_name
    from gem_jax.data.storage import is_on_disk

    return all(is_on_disk(i) for i in resolve_name(dataset).dataset_ids)


def done_in(plan: Plan, stage: Stage, folder: pathlib.Path) -> bool:
    """Whether `stage`'s last output exists in `folder` (a run directory or its kept copy)
    and belongs to the run's final step."""
    step = trained_step(plan, folder)
    if stage.name == "train" or step is None:
        return step is not None
    if stage.name == "pool":  # pool.json is written last; then every pooled sweep is there
        pooled = read_json(folder / "pool.json")
        sweeps = {STAGE_DIRS[s.name] for s in stages(plan, stage.dataset, stage.label)
                  if s.shard is not None and s.name in STAGE_DIRS}
        return pooled is not None and pooled.get("step") == step and all(
            (read_json(folder / d / "sweep.json") or {}).get("step") == step for d in sweeps)
    if stage.name in ("tune", "pool_tune"):
        tune = read_json(folder / "tune.json")
        knobs = read_json(folder / "tuned_knobs.json")  # written after tune.json
        return (tune is not None and knobs is not None and tune.get("step") == step
                and knobs.get("step") == step)
    sweep = read_json(folder / STAGE_DIRS[stage.name] / "sweep.json")
    return sweep is not None and sweep.get("step") == step


def kept_folder(plan: Plan, stage: Stage) -> pathlib.Path | None:
    """Where `stage`'s outputs are kept: the pair's kept folder, or its shard's."""
    kept = plan.kept(stage.dataset, stage.label)
    return kept if kept is None or stage.shard is None else kept / f"seed{stage.shard}"


def kept_complete(plan: Plan, dataset: str, label: Label, shard: int | None = None) -> bool:
    """Whether the pair's kept copy holds the final output of every stage after the data
    (with `shard`: every stage of that shard)."""
    if plan.keep is None:
        return False
    own = [s for s in stages(plan, dataset, label) if s.name != "data" and (
        shard is None or s.shard == shard)]
    return all(done_in(plan, s, kept_folder(plan, s)) for s in own)


def _kept_counts(plan: Plan, stage: Stage) -> bool:
    """Whether `stage`'s kept output stands for it on its own: a shard's evaluations and the
    pools (their inputs are kept files or pooled knobs named on the command line). A vmapped
    pair counts only whole (`kept_complete`): its evaluations read the run's own knobs."""
    return plan.keep is not None and stage.name != "train" and (
        stage.shard is not None or stage.name in ("pool_tune", "pool"))


def is_done(plan: Plan, stage: Stage) -> bool:
    """Whether `stage`'s last output exists and belongs to the run's final step (in the run
    directory, or anywhere in a complete kept copy of the pair; a shard's evaluations and the
    pools also in their own kept copy, and a shard's training once nothing after it needs its
    checkpoint). The data are done when on disk, or when every stage that reads them is."""
    if kept_complete(plan, stage.dataset, stage.label):
        return True
    if stage.name == "data":
        readers = [s for s in stages(plan, stage.dataset, stage.label)
                   if s.name not in ("data", "pool")]
        return dataset_on_disk(stage.dataset) or all(is_done(plan, s) for s in readers)
    if done_in(plan, stage, stage.workdir):
        return True
    if stage.shard is not None and stage.name == "train":
        return all(is_done(plan, s) for s in stages(plan, stage.dataset, stage.label)
                   if s.shard == stage.shard and s.name != "train")
    return _kept_counts(plan, stage) and done_in(plan, stage, kept_folder(plan, stage))


def results_dir(plan: Plan, stage: Stage) -> pathlib.Path | None:
    """Where `stage`'s finished output is read from: the run directory, else the kept copy
    where it counts (`is_done`), else None (not finished)."""
    if done_in(plan, stage, stage.workdir):
        return stage.workdir
    kept = kept_folder(plan, stage)
    if kept_complete(plan, stage.dataset, stage.label) or (
            _kept_counts(plan, stage) and done_in(plan, stage, kept)) or (
            stage.shard is not None and kept_complete(plan, stage.dataset, stage.label,
                                                      stage.shard)):
        return kept
    return None


def keep_outputs(plan: Plan, stage: Stage) -> list[pathlib.Path]:
    """Copy the run's `KEPT_FILES` that exist to its kept folder (JSON rewritten through
    `write_json`: atomic, machine paths made portable; other files by temp file + rename).
    Returns the files written; nothing without `plan.keep`."""
    from gem_jax.harness.runlog import write_json

    kept = kept_folder(plan, stage)
    if kept is None or stage.name == "data":
        return []
    written = []
    for name in KEPT_FILES:
        src, dst = stage.workdir / name, kept / name
        if not src.is_file():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".json":
            payload = read_json(src)
            if payload is None:
                continue
            write_json(dst, payload)
        else:
            tmp = dst.with_suffix(dst.suffix + ".tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        written.append(dst)
    return written


def has_checkpoint(workdir: pathlib.Path) -> bool:
    """Whether the run holds a finished checkpoint (orbax names one by its step; a write cut
    short leaves only a temporary folder)."""
    folder = workdir / "checkpoints"
    return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


def command_for(stage: Stage, plan: Plan | None = None) -> tuple[str, ...]:
    """The stage's command, with `--resume` for a training run that has a checkpoint; a GEM
    shard tuned when the pair's other shards are (the last) chooses with their tune.json and
    scores on test only that choice's N curves (`tune.py --choose_with`); a pool reads each
    shard's kept copy (every output it finished; its run directory without `keep`), and
    `--tuned_knobs` names the file where its stage finished it."""
    if stage.name == "train" and has_checkpoint(stage.workdir):
        return (*stage.command, "--resume")
    if stage.name == "tune" and stage.shard is not None and plan is not None and (
            "--test_rows=all" in stage.command):
        others = [s for s in stages(plan, stage.dataset, stage.label)
                  if s.name == "tune" and s.shard not in (None, stage.shard)]
        if all(is_done(plan, s) for s in others):  # tuned last: the pooled choice is known
            files = [str(results_dir(plan, s) / "tune.json") for s in others]
            return (*(a for a in stage.command if a != "--test_rows=all"),
                    "--test_rows=curves", f"--choose_with={','.join(files)}")
    if stage.name in ("pool_tune", "pool") and plan is not None:
        own = stages(plan, stage.dataset, stage.label)
        shards = [next(s for s in own if s.shard == i) for i in range(plan.num_seeds)]
        folders = [kept_folder(plan, s) or s.workdir for s in shards]  # kept: every output
        return tuple(f"--runs={','.join(map(str, folders))}" if a.startswith("--runs=") else a
                     for a in stage.command)
    if plan is not None and any(a.startswith("--tuned_knobs=") for a in stage.command):
        own = stages(plan, stage.dataset, stage.label)
        chooser = next(s for s in own if (s.name, s.shard) == (
            ("tune", stage.shard) if stage.name == "n_sweep" else ("pool_tune", None)))
        folder = results_dir(plan, chooser) or chooser.workdir
        return tuple(f"--tuned_knobs={folder / TUNED_FILE}" if a.startswith("--tuned_knobs=")
                     else a for a in stage.command)
    return stage.command


def train_progress(workdir: pathlib.Path) -> tuple[int, float] | None:
    """(last logged step, its steps/s) from a run's metrics.csv, or None."""
    path = workdir / "metrics.csv"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 2:
        return None
    header, last = lines[0].split(","), lines[-1].split(",")
    try:
        row = dict(zip(header, last))
        return int(float(row["step"])), float(row["steps_per_s"])
    except (KeyError, ValueError):
        return None


def journal_path(stage: Stage) -> pathlib.Path:
    """Where an evaluation stage's command keeps its finished settings while it runs."""
    if stage.name == "tune":
        return stage.workdir / "tune.journal.jsonl"
    return stage.workdir / STAGE_DIRS[stage.name] / "sweep.journal.jsonl"


def settings_done(plan: Plan, stage: Stage) -> int:
    """Settings an unfinished evaluation stage has finished for the run's final step (its
    journal's rows; tune.py's count its validation and test rows apart)."""
    from gem_jax.harness.runlog import read_jsonl

    step = trained_step(plan, stage.workdir)
    rows = read_jsonl(journal_path(stage)) if step is not None else []
    return sum(json.loads(row["key"]).get("step") == step for row in rows)


def status_lines(plan: Plan, all_stages: Sequence[Stage], current: Stage | None = None) -> list:
    """One line per (dataset, label): done / running (stage, steps, ETA) / queued (what is
    left)."""
    lines = []
    pairs = list(dict.fromkeys((s.dataset, s.label) for s in all_stages))
    for dataset, label in pairs:
        own = [s for s in all_stages if (s.dataset, s.label) == (dataset, label)]
        left = [s.title for s in own if not is_done(plan, s)]
        head = f"{dataset:28s} {label.name:12s}"
        if not left:
            kept = not all(done_in(plan, s, s.workdir) for s in own if s.name != "data")
            lines.append(f"{head} done" + (" (its kept copy: the run directory is gone)"
                                           if kept else ""))
            continue
        state = "running" if current is not None and (current.dataset, current.label) == (
            dataset, label) else "queued"
        detail = f"{state}: {', '.join(left)}"
        training = next((s for s in own if s.name == "train" and s.title in left), None)
        progress = training and train_progress(training.workdir)
        if progress:
            step, rate = progress
            eta = (plan.steps - step) / max(rate, 1e-9)
            detail += f" (train at {step}/{plan.steps}, {rate:.0f} steps/s, ETA {eta / 60:.0f} min)"
        elif (first := next((s for s in own if s.title in left and s.name in (
                "tune", *STAGE_DIRS)), None)) and (done := settings_done(plan, first)):
            detail += f" ({first.name}: {done} settings done)"
        lines.append(f"{head} {detail}")
    costs = stage_costs(plan)
    if costs:
        lines.append("stage cost so far (median wall time): " + ", ".join(
            f"{name} {sec / 60:.0f} min" for name, sec in costs.items()))
    return lines


STAGE_LOG = "stages.jsonl"  # in plan.root: one line per stage run (what each stage costs)


def log_stage(plan: Plan, stage: Stage, code: int, seconds: float) -> None:
    """Append one stage run (pair, stage, exit status, wall seconds, date) to
    `<root>/stages.jsonl`, so a later session can size its queue from what stages cost."""
    plan.root.mkdir(parents=True, exist_ok=True)
    row = {"dataset": stage.dataset, "label": stage.label.name, "stage": stage.name,
           "exit": code, "seconds": round(seconds, 1), "done": is_done(plan, stage),
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(plan.root / STAGE_LOG, "a") as f:
        f.write(json.dumps(row) + "\n")


def stage_costs(plan: Plan) -> dict[str, float]:
    """Median wall seconds of each finished stage kind in `<root>/stages.jsonl`."""
    try:
        rows = [json.loads(line) for line in (plan.root / STAGE_LOG).read_text().splitlines()]
    except (OSError, ValueError):
        return {}
    out = {}
    for name in dict.fromkeys(r["stage"] for r in rows):
        times = sorted(r["seconds"] for r in rows if r["stage"] == name and r["done"])
        if times:
            out[name] = times[len(times) // 2]
    return out


def run_queue(plan: Plan, runner=None, out=print, after_stage=None) -> list[Stage]:
    """Run every undone stage in order; returns the stages that failed (a failed pair's later
    stages are skipped, the other pairs go on). `after_stage(stage)` runs after each stage
    that finished (e.g. rewriting the table, so it grows while the queue runs)."""
    import subprocess

    runner = runner or (lambda cmd: subprocess.run(cmd).returncode)
    pairs = [(d, lab) for d in plan.datasets for lab in plan.labels]
    all_stages = [s for d, lab in pairs for s in stages(plan, d, lab)]
    failed, broken = [], set()
    for stage in all_stages:  # runs finished before (or by a queue without keep) are kept too
        if stage.name != "data" and done_in(plan, stage, stage.workdir):
            keep_outputs(plan, stage)
    for stage in all_stages:
        if (stage.dataset, stage.label) in broken or is_done(plan, stage):
            continue
        if stage.name == "data" and any(f.name == "data" and f.dataset == stage.dataset
                                        for f in failed):
            broken.add((stage.dataset, stage.label))
            continue
        out("\n".join(["", f"== {time.strftime('%H:%M:%S')} {stage.dataset} {stage.label.name}:"
                           f" {stage.name}", *status_lines(plan, all_stages, stage)]))
        command = command_for(stage, plan)
        start = time.time()
        code = runner(list(command))
        log_stage(plan, stage, code, time.time() - start)
        if code != 0 or not is_done(plan, stage):
            out(f"!! {stage.dataset} {stage.label.name}: {stage.name} failed (exit {code}); its "
                f"later stages are skipped. Command: {shlex.join(command)}")
            failed.append(stage)
            broken.add((stage.dataset, stage.label))
            continue
        keep_outputs(plan, stage)
        if after_stage is not None:
            after_stage(stage)
    out("\n".join(["", "== queue", *status_lines(plan, all_stages)]))
    return failed


def table_runs(plan: Plan) -> list[str]:
    """`ENV:LABEL=ALGO:FOLDER` of every pair whose table inputs are done (fidelity_table.py):
    its run directory, or its complete kept copy where the run directory lacks them."""
    runs = []
    for dataset in plan.datasets:
        for label in plan.labels:
            needed = [s for s in stages(plan, dataset, label) if s.name == "pool" or (
                s.shard is None and s.name in ("tune", "n_sweep", "ablations"))]
            if all(done_in(plan, s, s.workdir) for s in needed):
                folder = plan.workdir(dataset, label)
            elif kept_complete(plan, dataset, label):
                folder = plan.kept(dataset, label)
            else:
                continue
            runs.append(f"{dataset}:{label.name}={label.algo}:{folder}")
    return runs


def mass_rows(plan: Plan) -> list[dict]:
    """The mass-scale rows of every finished pair: score (per seed), Violation."""
    rows = []
    for dataset in plan.ablation_datasets:
        for label in plan.labels:
            own = stages(plan, dataset, label)
            if not any(s.name == "mass" for s in own):
                continue
            stage = next(s for s in own if s.name in ("mass", "pool") and s.shard is None)
            folder = results_dir(plan, stage)
            sweep = folder and read_json(folder / STAGE_DIRS["mass"] / "sweep.json")
            if sweep is None:
                continue
            for r in sweep["rows"]:
                rows.append({"env": dataset, "algo": label.name, "steps": sweep["step"],
                             "mass_scale": float(r["mass_scale"]),
                             "num_candidates": int(r["num_candidates"]),
                             "seed_scores": [float(s) for s in r["seed_scores"]],
                             "normalized_score": float(r["normalized_score"]),
                             "normalized_score_std": float(r["normalized_score_seed_std"]),
                             "violation": float(r["violation"])})
    return rows


def mass_markdown(rows: list[dict]) -> str:
    lines = ["| env | algo | mass scale | N | score ± seed std (per seed) | Violation |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        seeds = ", ".join(f"{s:.1f}" for s in r["seed_scores"])
        lines.append(f"| {r['env']} | {r['algo']} | {r['mass_scale']:g} | {r['num_candidates']} "
                     f"| {r['normalized_score']:.1f} ± {r['normalized_score_std']:.1f} ({seeds}) "
                     f"| {r['violation']:.3f} |")
    return "\n".join(lines) + "\n"


def plot_mass(rows: list[dict], path: pathlib.Path) -> None:
    """Score against the body-mass scale, one panel per env, one line per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({r["env"] for r in rows})
    fig, axes = plt.subplots(1, len(envs), figsize=(4.2 * len(envs), 3.4), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for j, algo in enumerate(sorted({r["algo"] for r in rows if r["env"] == env})):
            own = sorted((r for r in rows if r["env"] == env and r["algo"] == algo),
                         key=lambda r: r["mass_scale"])
            ax.errorbar([r["mass_scale"] for r in own], [r["normalized_score"] for r in own],
                        yerr=[r["normalized_score_std"] for r in own], capsize=3,
                        marker="os^D"[j % 4], label=algo)
        ax.set_title(env)
        ax.set_xlabel("body-mass scale (test time)")
        ax.set_ylabel("normalised score (test episodes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
