"""The suite queue (gem_jax/harness/suite.py, experiments/suite.py): which stages run, when a stage
counts as done, resuming after a kill, and the gathered table."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from gem_jax.harness import suite

ROOT = pathlib.Path(__file__).resolve().parent.parent


def plan_for(tmp_path, **kw):
    labels = (suite.parse_label("gem"), suite.parse_label("bc"))
    defaults = dict(root=tmp_path, datasets=("hopper-medium", "walker2d-medium"),
                    labels=labels, steps=300, ablation_datasets=("hopper-medium",))
    return suite.Plan(**{**defaults, **kw})


def write(path: pathlib.Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def test_parse_label_reads_variants_and_rejects_unknown_algorithms():
    assert suite.parse_label("iql") == suite.Label("iql", "iql", ())
    label = suite.parse_label("gem-e2=gem:--config.num_critics=2 --config.layer_norm=false")
    assert label == suite.Label("gem-e2", "gem",
                                ("--config.num_critics=2", "--config.layer_norm=false"))
    assert label.is_gem and not suite.parse_label("bc").is_gem
    with pytest.raises(ValueError, match="must be one of"):
        suite.parse_label("x=sac")
    with pytest.raises(ValueError, match="plain name"):
        suite.parse_label("a/b=gem")


def test_stages_per_label_and_dataset(tmp_path, monkeypatch):
    plan = plan_for(tmp_path, test_seed=77, n_sweep=(0, 4))
    gem, bc = plan.labels
    names = lambda d, lab: [s.name for s in suite.stages(plan, d, lab)]
    assert names("hopper-medium", gem) == ["data", "train", "tune", "n_sweep", "ablations",
                                           "mass"]
    assert names("hopper-medium", bc) == ["data", "train", "n_sweep", "mass"]
    assert names("walker2d-medium", gem) == ["data", "train", "tune", "n_sweep"]
    variant = suite.parse_label("gem-e2=gem:--config.num_critics=2")
    assert names("hopper-medium", variant) == ["data", "train", "tune", "n_sweep"]
    _, train_v, tune_v, sweep_v = suite.stages(plan, "hopper-medium", variant)
    assert "--config.num_critics=2" in train_v.command
    # compared on validation episodes: a tune without test episodes, the N sweep at N = 0
    assert tune_v.command[-1] == "--test_rows=none" and "--num_candidates=0" in sweep_v.command
    sharded = dataclasses.replace(plan, seed_shards=("gem-e2",))
    tunes = [s for s in suite.stages(sharded, "hopper-medium", variant) if s.name == "tune"]
    assert [t.command[-1] for t in tunes] == ["--test_rows=none"] * 3
    # the shard tuned last (the others done) keeps it: the pool chooses on validation alone
    monkeypatch.setattr(suite, "is_done", lambda plan_, stage: stage.shard != 2)
    assert suite.command_for(tunes[2], sharded) == tunes[2].command
    by_name = {s.name: s.command for s in suite.stages(plan, "hopper-medium", bc)}
    assert "--algo=bc" in by_name["train"] and "--num_seeds=3" in by_name["train"]
    assert f"--workdir={tmp_path / 'hopper-medium' / 'bc'}" in by_name["train"]
    assert "--num_candidates=0" in by_name["n_sweep"] and "--seed=77" in by_name["n_sweep"]
    assert "--mass_scale=0.5,0.75,1,1.25,1.5" in by_name["mass"]
    gem_sweep = {s.name: s.command for s in suite.stages(plan, "hopper-medium", gem)}
    assert "--num_candidates=0,4" in gem_sweep["n_sweep"]
    assert "--test_seed=77" in gem_sweep["tune"]
    no_mass = plan_for(tmp_path, mass_scales=())  # an empty list is no stage, not a default run
    assert [s.name for s in suite.stages(no_mass, "hopper-medium", gem)][-1] == "ablations"
    assert [s.name for s in suite.stages(no_mass, "hopper-medium", bc)][-1] == "n_sweep"


def test_a_stage_is_done_only_when_its_last_output_names_the_final_step(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "dataset_on_disk", lambda name: True)
    plan = plan_for(tmp_path)
    gem = plan.labels[0]
    st = {s.name: s for s in suite.stages(plan, "hopper-medium", gem)}
    wd = plan.workdir("hopper-medium", gem)
    assert suite.is_done(plan, st["data"]) and not suite.is_done(plan, st["train"])
    write(wd / "summary.json", {"steps": 200})  # stopped short of plan.steps
    assert not suite.is_done(plan, st["train"])
    write(wd / "summary.json", {"steps": 300})
    assert suite.is_done(plan, st["train"]) and not suite.is_done(plan, st["tune"])
    write(wd / "tune.json", {"step": 300})
    assert not suite.is_done(plan, st["tune"])  # tuned_knobs.json is written after tune.json
    write(wd / "tuned_knobs.json", {"step": 300})
    assert suite.is_done(plan, st["tune"])
    (wd / "sweep_test_n").mkdir()
    (wd / "sweep_test_n" / "sweep.json").write_text('{"step": 30')  # a torn write
    assert not suite.is_done(plan, st["n_sweep"])
    write(wd / "sweep_test_n" / "sweep.json", {"step": 300, "rows": []})
    assert suite.is_done(plan, st["n_sweep"])
    longer = plan_for(tmp_path, steps=600)  # pushed on: everything after data is undone
    assert [s.name for s in suite.stages(longer, "hopper-medium", gem)
            if suite.is_done(longer, s)] == ["data"]


def fake_runner(plan, calls, fail=()):
    """Writes what each command would write (its final outputs only)."""

    def run(cmd):
        script = pathlib.Path(cmd[1]).stem
        args = dict(a[2:].split("=", 1) for a in cmd[2:] if a.startswith("--") and "=" in a)
        calls.append((script, args.get("workdir") or args.get("dataset"), "--resume" in cmd))
        if (script, args.get("workdir")) in fail:
            return 1
        wd = pathlib.Path(args.get("workdir", "."))
        if script == "train":
            write(wd / "summary.json", {"steps": int(args["steps"])})
        elif script == "tune":
            write(wd / "tune.json", {"step": plan.steps})
            write(wd / "tuned_knobs.json", {"step": plan.steps})
        elif script == "evaluate":
            write(pathlib.Path(args["out"]) / "sweep.json", {"step": plan.steps, "rows": []})
        elif script == "pool_seeds":  # what the shards have, pooled
            calls[-1] = ("pool_seeds", args["runs"], False)
            out, runs = pathlib.Path(args["out"]), args["runs"].split(",")
            write(out / "summary.json", {"steps": plan.steps})
            for name in ("tune.json", "tuned_knobs.json", *(f"{d}/sweep.json" for d in
                                                            suite.STAGE_DIRS.values())):
                if all((pathlib.Path(r) / name).is_file() for r in runs):
                    write(out / name, {"step": plan.steps, "rows": []})
            write(out / "pool.json", {"step": plan.steps})
        return 0

    return run


def test_queue_skips_done_stages_resumes_training_and_isolates_a_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "dataset_on_disk", lambda name: True)
    plan = plan_for(tmp_path)
    gem, bc = plan.labels
    hop_gem, hop_bc = plan.workdir("hopper-medium", gem), plan.workdir("hopper-medium", bc)
    (hop_gem / "checkpoints" / "100").mkdir(parents=True)  # a run killed at step 100
    walker_bc = plan.workdir("walker2d-medium", bc)
    (walker_bc / "checkpoints" / "100.orbax-checkpoint-tmp-1").mkdir(parents=True)  # torn save
    write(hop_bc / "summary.json", {"steps": 300})  # bc on hopper already trained
    calls, lines = [], []
    failed = suite.run_queue(plan, fake_runner(plan, calls, fail={("tune", str(hop_gem))}),
                             out=lines.append)
    assert [(f.dataset, f.label.name, f.name) for f in failed] == [("hopper-medium", "gem",
                                                                     "tune")]
    assert calls[0] == ("train", str(hop_gem), True)  # continued with --resume
    assert ("train", str(hop_bc), False) not in calls  # done: skipped
    assert [c[0] for c in calls if c[1] == str(hop_gem)] == ["train", "tune"]  # then skipped
    walker = [c[0] for c in calls if "walker2d" in str(c[1])]
    assert walker == ["train", "tune", "evaluate", "train", "evaluate"]
    assert ("train", str(walker_bc), False) in calls  # a torn first save is no checkpoint
    assert "failed (exit 1)" in "\n".join(lines)
    logged = [json.loads(x) for x in (tmp_path / "stages.jsonl").read_text().splitlines()]
    assert [(r["label"], r["stage"], r["exit"], r["done"]) for r in logged[:2]] == [
        ("gem", "train", 0, True), ("gem", "tune", 1, False)]
    assert len(logged) == len(calls) and set(suite.stage_costs(plan)) == {
        "train", "tune", "n_sweep", "mass"}  # the failed tune alone counts for nothing
    status = "\n".join(suite.status_lines(plan, [s for d in plan.datasets for lab in plan.labels
                                                 for s in suite.stages(plan, d, lab)]))
    assert "hopper-medium                gem          queued: tune, n_sweep, ablations" in status
    assert "walker2d-medium              bc           done" in status
    assert status.splitlines()[-1].startswith("stage cost so far (median wall time): train 0 min")
    calls.clear()
    after = []  # the hook sees each finished stage, never the failed ones
    assert suite.run_queue(plan, fake_runner(plan, calls), out=lines.append,
                           after_stage=lambda st: after.append(st.name)) == []
    assert [c[0] for c in calls] == ["tune", "evaluate", "evaluate", "evaluate"]  # only those
    assert after == ["tune", "n_sweep", "ablations", "mass"]
    assert suite.table_runs(plan) == [
        f"{d}:{lab.name}={lab.algo}:{plan.workdir(d, lab)}" for d in plan.datasets
        for lab in plan.labels]


def test_kept_copy_stands_in_for_a_run_directory_that_is_gone(tmp_path, monkeypatch):
    built = []  # the datasets on disk: none (a fresh machine) until data stages run
    monkeypatch.setattr(suite, "dataset_on_disk", lambda name: name in built)
    keep = tmp_path / "results" / "runs"
    plan = plan_for(tmp_path / "runs", keep=keep, datasets=("hopper-medium",))
    gem, bc = plan.labels
    calls = []

    def runner(cmd):  # fake_runner, plus the files a real run has besides its outputs
        if pathlib.Path(cmd[1]).stem == "make_dataset":
            built.append("hopper-medium")
        code = fake_runner(plan, calls)(cmd)
        args = dict(a[2:].split("=", 1) for a in cmd[2:] if a.startswith("--") and "=" in a)
        if pathlib.Path(cmd[1]).stem == "train":
            wd = pathlib.Path(args["workdir"])
            (wd / "checkpoints" / "300").mkdir(parents=True)
            (wd / "eval.csv").write_text("step,normalized_score\n300,42.0\n")
            write(wd / "config.json", {"workdir": str(pathlib.Path.home() / "gem-runs" / "x")})
        return code

    assert suite.run_queue(plan, runner, out=lambda line: None) == []
    kept = keep / "hopper-medium" / "gem"
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()) == [
        "config.json", "eval.csv", "summary.json", "sweep_test_ablations/sweep.json",
        "sweep_test_mass/sweep.json", "sweep_test_n/sweep.json", "tune.json",
        "tuned_knobs.json"]  # never a checkpoint
    assert json.loads((kept / "config.json").read_text())["workdir"] == "~/gem-runs/x"
    assert (keep / "hopper-medium" / "bc" / "eval.csv").read_text().endswith("300,42.0\n")

    # A pair finished before the queue kept anything is kept by the next queue run.
    import shutil

    shutil.rmtree(keep / "hopper-medium" / "bc")
    assert not suite.kept_complete(plan, "hopper-medium", bc)
    before = len(calls)
    assert suite.run_queue(plan, runner, out=lambda line: None) == [] and len(calls) == before
    assert suite.kept_complete(plan, "hopper-medium", bc)

    # Another machine: the runs and the dataset are gone, the kept copy came with the repo.
    shutil.rmtree(tmp_path / "runs")
    built.clear()
    calls.clear()
    assert suite.run_queue(plan, runner, out=lambda line: None) == [] and calls == []
    assert suite.table_runs(plan) == [f"hopper-medium:gem=gem:{kept}",
                                      f"hopper-medium:bc=bc:{keep / 'hopper-medium' / 'bc'}"]
    every = [s for lab in plan.labels for s in suite.stages(plan, "hopper-medium", lab)]
    assert suite.status_lines(plan, every)[0].endswith(
        "done (its kept copy: the run directory is gone)")
    write(kept / "sweep_test_mass" / "sweep.json", {"step": 300, "rows": [
        {"mass_scale": 0.5, "num_candidates": 16, "seed_scores": [7.0], "normalized_score": 7.0,
         "normalized_score_seed_std": 0.0, "violation": 0.0}]})
    assert [(r["algo"], r["normalized_score"]) for r in suite.mass_rows(plan)] == [("gem", 7.0)]

    # A kept copy that misses a stage (cut short) does not count: everything is redone.
    (kept / "sweep_test_mass" / "sweep.json").unlink()
    assert [c[0] for c in (suite.run_queue(plan, runner, out=lambda line: None), calls)[1]] == [
        "make_dataset", "train", "tune", "evaluate", "evaluate", "evaluate"]
    longer = dataclasses.replace(plan, steps=600)  # and a longer budget redoes the kept pairs
    assert not suite.kept_complete(longer, "hopper-medium", bc)


def test_seed_shards_train_each_seed_alone_then_pool_them(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "dataset_on_disk", lambda name: True)
    keep = tmp_path / "kept"
    plan = plan_for(tmp_path / "runs", datasets=("hopper-medium",), num_seeds=2,
                    seed_shards=("gem", "bc"), keep=keep)
    gem, bc = plan.labels
    gem_stages = suite.stages(plan, "hopper-medium", gem)
    assert [s.title for s in gem_stages] == [
        "data", "train s0", "tune s0", "n_sweep s0", "train s1", "tune s1", "n_sweep s1",
        "pool_tune", "ablations s0", "mass s0", "ablations s1", "mass s1", "pool"]
    assert [s.title for s in suite.stages(plan, "hopper-medium", bc)] == [
        "data", "train s0", "n_sweep s0", "mass s0", "train s1", "n_sweep s1", "mass s1",
        "pool"]  # a baseline's mass scales need no knobs: before the one pool
    assert [s.title for s in suite.stages(dataclasses.replace(plan, seed_shards=("gem",)),
                                          "hopper-medium", bc)] == [
        "data", "train", "n_sweep", "mass"]  # a label not named stays one vmapped run
    train1, tune1, sweep1 = gem_stages[4:7]
    pooled_knobs = f"--tuned_knobs={plan.workdir('hopper-medium', gem) / 'tuned_knobs.json'}"
    assert pooled_knobs in gem_stages[10].command and pooled_knobs in gem_stages[9].command
    shard1 = plan.workdir("hopper-medium", gem) / "seed1"
    assert train1.workdir == shard1 and "--seed=1" in train1.command
    assert "--num_seeds=2" not in train1.command
    assert tune1.command[-1] == "--test_rows=all" and "--num_candidates=0" in sweep1.command
    assert f"--tuned_knobs={shard1 / 'tuned_knobs.json'}" in sweep1.command  # its own knobs
    calls, commands = [], []
    runner = fake_runner(plan, calls)
    assert suite.run_queue(plan, lambda cmd: commands.append(cmd) or runner(cmd),
                           out=lambda line: None) == []
    tunes = [c for c in commands if pathlib.Path(c[1]).stem == "tune"]
    assert "--test_rows=all" in tunes[0] and not any("--choose_with" in a for a in tunes[0])
    # the shard tuned last knows the others': it chooses with them, tests only that choice's
    # curves (the first shard's tune.json: in its run directory, else its kept copy)
    assert "--test_rows=all" not in tunes[1] and "--test_rows=curves" in tunes[1]
    seed0 = plan.workdir("hopper-medium", gem) / "seed0"
    assert f"--choose_with={seed0 / 'tune.json'}" in tunes[1]
    pools = [c for c in calls if c[0] == "pool_seeds"]
    assert [p[1] for p in pools] == [f"{keep}/hopper-medium/{lab}/seed0,{keep}/hopper-medium/"
                                     f"{lab}/seed1" for lab in ("gem", "gem", "bc")]
    # GEM: its tunes, then all; each shard's kept copy holds every output it finished
    assert (keep / "hopper-medium" / "gem" / "seed1" / "tune.json").is_file()  # kept per shard
    assert (keep / "hopper-medium" / "gem" / "pool.json").is_file()
    assert suite.table_runs(plan) == [f"hopper-medium:{lab.name}={lab.algo}:"
                                      f"{plan.workdir('hopper-medium', lab)}" for lab in (gem, bc)]
    # Another machine: seed 0 kept whole, seed 1 kept up to its tune and N = 0 row (its
    # ablations and mass scales were cut short), no pool, no run directories. Seed 1 retrains
    # (the evaluations at the pooled knobs need its checkpoint) but is not tuned again.
    import shutil

    shutil.rmtree(plan.root)
    for path in (keep / "hopper-medium" / "gem").iterdir():  # the pooled files
        if not path.name.startswith("seed"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for folder in ("sweep_test_ablations", "sweep_test_mass"):
        shutil.rmtree(keep / "hopper-medium" / "gem" / "seed1" / folder)
    calls.clear()
    commands = []
    runner = fake_runner(plan, calls)
    lines = []
    failed = suite.run_queue(plan, lambda cmd: commands.append(cmd) or runner(cmd),
                             out=lines.append)
    assert failed == [], (calls, lines)
    kept_runs = f"{keep}/hopper-medium/gem/seed0,{keep}/hopper-medium/gem/seed1"
    assert [c[:2] for c in calls] == [
        ("train", str(shard1)), ("pool_seeds", kept_runs), ("evaluate", str(shard1)),
        ("evaluate", str(shard1)), ("pool_seeds", kept_runs)]  # bc: complete in its kept copy
    assert "--resume" not in commands[0] and pooled_knobs in commands[2]

    # A pair finished as one vmapped run (kept) stays one: shard mode neither retrains it nor
    # pools it, and the table reads it.
    whole = plan_for(tmp_path / "runs", datasets=("walker2d-medium",), num_seeds=2, keep=keep)
    assert suite.run_queue(whole, fake_runner(whole, calls), out=lambda line: None) == []
    shutil.rmtree(whole.root / "walker2d-medium")
    calls.clear()
    assert suite.run_queue(plan_for(tmp_path / "runs", datasets=("walker2d-medium",),
                                    num_seeds=2, seed_shards=("bc",), keep=keep),
                           fake_runner(plan, calls), out=lambda line: None) == []
    assert calls == []
    assert [s.title for s in suite.stages(dataclasses.replace(whole, seed_shards=("bc",)),
                                          "walker2d-medium", bc)] == ["data", "train", "n_sweep"]


def test_status_reports_training_progress_and_eta(tmp_path):
    plan = plan_for(tmp_path, steps=10_000)
    gem = plan.labels[0]
    wd = plan.workdir("hopper-medium", gem)
    wd.mkdir(parents=True)
    (wd / "metrics.csv").write_text("step,critic/loss,steps_per_s\n1000,2.0,50\n4000,1.5,100\n")
    st = suite.stages(plan, "hopper-medium", gem)
    line = suite.status_lines(plan, st, current=st[1])[0]
    assert "running: " in line and "train at 4000/10000, 100 steps/s, ETA 1 min" in line

    # trained; tune.py killed with three settings of this step (and one of an older) journaled
    write(wd / "summary.json", {"steps": 10_000})
    key = lambda step, n: json.dumps({"num_candidates": n, "step": step})
    journal = wd / "tune.journal.jsonl"
    journal.write_text("".join(json.dumps({"key": key(k, n), "row": {}}) + "\n"
                               for k, n in ((10_000, 1), (10_000, 4), (8_000, 1), (10_000, 16))))
    line = suite.status_lines(plan, st)[0]
    assert line.endswith("tune, n_sweep, ablations, mass (tune: 3 settings done)"), line


def test_mass_rows_take_only_finished_runs(tmp_path):
    plan = plan_for(tmp_path)
    gem, bc = plan.labels
    for label, step in ((gem, 300), (bc, 200)):  # bc's sweep is from an older, shorter run
        wd = plan.workdir("hopper-medium", label)
        write(wd / "summary.json", {"steps": 300})
        write(wd / "sweep_test_mass" / "sweep.json", {"step": step, "rows": [
            {"mass_scale": m, "num_candidates": 16, "seed_scores": [40.0 * m, 60.0 * m],
             "normalized_score": 50.0 * m, "normalized_score_seed_std": 10.0 * m,
             "violation": 0.01} for m in (0.5, 1.0)]})
    rows = suite.mass_rows(plan)
    assert [(r["algo"], r["mass_scale"], r["normalized_score"]) for r in rows] == [
        ("gem", 0.5, 25.0), ("gem", 1.0, 50.0)]
    text = suite.mass_markdown(rows)
    assert "| hopper-medium | gem | 0.5 | 16 | 25.0 ± 5.0 (20.0, 30.0) | 0.010 |" in text
    suite.plot_mass(rows, tmp_path / "mass.png")
    assert (tmp_path / "mass.png").stat().st_size > 1000


def test_cli_rejects_bad_input_in_one_line(tmp_path):
    cases = {
        ("--suite=atari",): "--suite='atari': choose one of",
        ("--suite=locomotion", "--tiers=4"): "locomotion has tiers 1-3",
        ("--datasets=hopper-mediun",): "hopper-mediun",
        ("--datasets=nav2d", "--algos=sac"): "the algorithm must be one of",
        (): "Name a --suite or some --datasets",
        ("--datasets=nav2d", "--seed_shards=gem-e2"): "--seed_shards names gem-e2",
        ("--datasets=nav2d", "--seed_shards=gem", "--num_seeds=1"): "two or more seeds",
    }
    for args, expected in cases.items():
        done = subprocess.run([sys.executable, str(ROOT / "experiments" / "suite.py"), *args,
                               f"--root={tmp_path}", "--status"], capture_output=True,
                              text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, done.stderr)


# --- end to end at tiny sizes, killed midway and rerun (slow) ---

TINY = ["--datasets=nav2d,pointmaze-umaze", "--algos=gem,bc", "--num_seeds=2", "--steps=300",
        "--checkpoint_every=100", "--eval_every=300", "--eval_episodes=2",
        "--train_args=--config.steps_per_call=100 --config.hidden_dims=(32,32) "
        "--config.num_critics=2", "--tune_args=--num_candidates=1,4 --lcb_lambda=1 "
        "--beta_start=0 --beta_end=0.1", "--n_sweep=0,4", "--ablation_datasets=nav2d",
        "--progress=false"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from gem_jax.data import build_dataset

    root = tmp_path_factory.mktemp("suite_data")
    env = {"MINARI_DATASETS_PATH": str(root / "minari"), "GEM_JAX_CACHE": str(root / "cache")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    build_dataset("nav2d", num_steps=20_000, progress=False, reference_episodes=10)
    build_dataset("pointmaze-umaze", num_steps=5_000, progress=False, reference_episodes=5)
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.update({key: value})
    return env


def run_suite(env: dict, root: pathlib.Path, kill_when=None, extra=()) -> int:
    cmd = [sys.executable, str(ROOT / "experiments" / "suite.py"), *TINY, f"--root={root}",
           f"--out={root / 'table' / 'fidelity'}", *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_when is not None:
        while proc.poll() is None and not kill_when():
            time.sleep(0.2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the queue and the command it runs
        proc.wait()
        return -1
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, err[-3000:]
    return proc.returncode


def table(root: pathlib.Path) -> dict:
    out = json.loads((root / "table" / "fidelity.json").read_text())
    return {k: out[k] for k in ("rows", "n_sweep", "ablations", "gaps")}


@pytest.mark.slow
def test_killed_suite_rerun_gives_the_uninterrupted_table(tiny_data, tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run_suite(tiny_data, whole)
    # Kill inside the second pair's training, once it has a checkpoint and before it ends.
    run_suite(tiny_data, cut, kill_when=lambda: suite.has_checkpoint(cut / "nav2d" / "bc"))
    partial = table(cut)  # rewritten after each table stage: the pair finished before the kill
    assert [(r["env"], r["algo"]) for r in partial["rows"]] == [("nav2d", "gem")]
    run_suite(tiny_data, cut)
    first, second = table(whole), table(cut)
    assert [r["algo"] for r in first["rows"]] == ["gem", "bc", "gem", "bc"]
    assert first == second
    assert (cut / "table" / "fidelity_vs_n.png").is_file()
    # Another machine: the run directories are gone, the kept copy (table/runs) is not. The
    # rerun trains nothing and writes the same table from the kept copy.
    import shutil

    for dataset in ("nav2d", "pointmaze-umaze"):
        shutil.rmtree(cut / dataset)
    run_suite(tiny_data, cut)
    assert not (cut / "nav2d").exists() and table(cut) == first


@pytest.mark.slow
def test_seed_shards_pool_into_the_table(tiny_data, tmp_path):
    """--seed_shards end to end: each seed trained and tuned alone, pooled, tabled; the pooled
    rows are the shards' own scores at the knobs chosen on the pooled validation scores."""
    run_suite(tiny_data, tmp_path, extra=["--seed_shards=gem,bc", "--datasets=nav2d"])
    rows = {r["algo"]: r for r in table(tmp_path)["rows"]}
    assert sorted(rows) == ["bc", "gem"]
    tunes = [json.loads((tmp_path / "nav2d" / "gem" / f"seed{i}" / "tune.json").read_text())
             for i in range(2)]
    chosen = json.loads((tmp_path / "nav2d" / "gem" / "tune.json").read_text())["chosen"]
    # seed 1, tuned last, chose with seed 0's tune.json and tested only its choice's curves
    assert [t["test_rows"] for t in tunes] == ["all", "curves"] and "chosen_with" in tunes[1]
    assert tunes[1]["chosen"] == chosen
    fixed = [k for k in chosen if k not in ("num_candidates", "top_k", "top_k_pick",
                                            "top_k_frac")]  # what an N curve holds fixed
    assert all(r[k] == chosen[k] for r in tunes[1]["rows"] if r["test"] for k in fixed)
    at_choice = [next(r["test"]["seed_scores"][0] for r in t["rows"]
                      if all(r[k] == v for k, v in chosen.items())) for t in tunes]
    assert rows["gem"]["seed_scores"] == at_choice
    bc = [json.loads((tmp_path / "nav2d" / "bc" / f"seed{i}" / "sweep_test_n" / "sweep.json")
                     .read_text())["rows"][0]["seed_scores"][0] for i in range(2)]
    assert rows["bc"]["seed_scores"] == bc
    assert (tmp_path / "table" / "runs" / "nav2d" / "gem" / "seed1" / "tune.json").is_file()
    # the ablations ran on each shard at the pooled knobs, and were pooled
    ablations = table(tmp_path)["ablations"]
    assert {r["variant"] for r in ablations} >= {"no_pw", "raw"}
    for i in range(2):
        rows = json.loads((tmp_path / "nav2d" / "gem" / f"seed{i}" / "sweep_test_ablations" /
                           "sweep.json").read_text())["rows"]
        assert all(r["lcb_lambda"] == chosen["lcb_lambda"] and r["num_candidates"] ==
                   chosen["num_candidates"] for r in rows if r["variant"] == "no_pw")
