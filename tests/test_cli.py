"""The experiments/ CLIs end to end, in subprocesses, on a tiny nav2d build.

* train.py writes metrics, checkpoints (the newest k), summary.json and the plot;
* a SIGKILL inside a checkpoint write, then `--resume`, reproduces the uninterrupted
  run bitwise (state, keys, step, logs): exact resume and cross-process determinism;
* evaluate.py sweeps budgets, variants and beta from the run into CSV, table and plots;
* nll_gap.py reports the gap per K, and evaluate.py scores with EMPO's support (both slow);
* bad input: one `error:` line on stderr, no traceback, a non-zero exit, in seconds.

Processes that do not depend on each other run side by side to keep the wall time low.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = [
    "--steps=100", "--eval_every=50", "--eval_episodes=2", "--checkpoint_every=25",
    "--config.keep_checkpoints=2", "--config.steps_per_call=25", "--config.log_every=25",
    "--config.hidden_dims=(16,16)", "--config.num_critics=2", "--config.num_components=2",
    "--config.behavior_num_components=2", "--config.num_candidates=4",
    "--config.batch_size=64", "--noprogress",
]


@dataclasses.dataclass
class Done:
    rc: int
    stdout: str
    stderr: str
    seconds: float


def launch(script: str, *args: str, env: dict | None = None, kill_at: int | None = None):
    cmd = [sys.executable, str(ROOT / "experiments" / f"{script}.py"), *args]
    if kill_at is not None:
        cmd.insert(1, str(ROOT / "tests" / "kill_driver.py"))
    env = {**os.environ, **(env or {})}
    if kill_at is not None:
        env["GEM_JAX_KILL_AT_STEP"] = str(kill_at)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.started = time.perf_counter()
    return proc


def finish(proc, timeout: float = 900) -> Done:
    out, err = proc.communicate(timeout=timeout)
    return Done(proc.returncode, out, err, time.perf_counter() - proc.started)


def leaves(workdir):
    from gem_jax.harness import checkpoint as ckpt

    state, _ = ckpt.restore(workdir)
    return [np.asarray(x) for x in jax.tree.leaves(state)]


def jsonl(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


def steps_in(workdir):
    return sorted(os.listdir(pathlib.Path(workdir) / "checkpoints"))


@pytest.fixture(scope="module")
def runs(tiny_nav2d, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    full, killed = root / "full", root / "killed"
    first = [launch("train", f"--workdir={full}", *TINY),
             launch("train", f"--workdir={killed}", *TINY, kill_at=50)]
    res_full, res_killed = (finish(p) for p in first)
    killed_listing = steps_in(killed)
    second = {
        "resume": launch("train", f"--workdir={killed}", "--resume", *TINY),
        "sweep": launch("evaluate", f"--workdir={full}", f"--out={root / 'sweep'}",
                        "--eval_episodes=2", "--num_candidates=0,4",
                        "--variants=gem,no_anchor", "--beta_start=0,1", "--candidate_means=false",
                        "--noprogress"),
        "trace": launch("probes/nav2d_trace", f"--workdir={full}", f"--out={root / 'trace'}"),
    }
    done = {name: finish(p) for name, p in second.items()}
    return dict(root=root, full=full, killed=killed, full_run=res_full,
                killed_run=res_killed, killed_listing=killed_listing, **done)


@pytest.fixture(scope="module")
def extra(runs):
    """The slow CLIs (`make test-slow`): EMPO's support fitted from a run, the NLL gap."""
    root, full = runs["root"], runs["full"]
    procs = {
        "empo_sweep": launch("evaluate", f"--workdir={full}", f"--out={root / 'sweep_empo'}",
                             "--eval_episodes=1", "--num_candidates=4",
                             "--support_model=gmm,empo", "--noprogress"),
        "nll": launch("probes/nll_gap", "--num_components=1,2", "--seeds=2", "--steps=300",
                      "--hidden_dims=16,16", "--eval_pairs=4096", f"--out={root / 'nll'}",
                      "--noprogress"),
    }
    return {name: finish(p) for name, p in procs.items()}


def test_train_writes_run_directory(runs):
    run, full = runs["full_run"], runs["full"]
    assert run.rc == 0, run.stderr
    assert "Traceback" not in run.stderr
    absl_lines = [ln for ln in run.stderr.splitlines() if ln[:1] in "IW" and ln[1:5].isdigit()]
    assert not absl_lines  # no orbax INFO/WARNING chatter
    summary = json.loads((full / "summary.json").read_text())
    assert summary["steps"] == 100 and summary["env"] == "nav2d"
    assert np.isfinite(summary["normalized_score"]["mean"])
    assert 0.0 <= summary["violation"] <= 1.0 and np.isfinite(summary["support_z"])
    assert steps_in(full) == ["100", "75"]  # keep_checkpoints = 2
    assert (full / "learning_curve.png").stat().st_size > 1000
    assert [r["step"] for r in jsonl(full / "metrics.jsonl")] == [25, 50, 75, 100]
    assert [r["step"] for r in jsonl(full / "eval.jsonl")] == [50, 100]
    assert "normalised score" in run.stdout


def test_kill_inside_checkpoint_write_then_resume_is_exact(runs):
    assert runs["killed_run"].rc == -9  # SIGKILL right before the rename of step 50
    # the data of step 50 was on disk but never committed: 25 is the newest checkpoint
    assert runs["killed_listing"] == ["25", "50.orbax-checkpoint-tmp"]
    resume = runs["resume"]
    assert resume.rc == 0, resume.stderr
    assert steps_in(runs["killed"]) == ["100", "75"]  # leftover temporary dir removed
    full, resumed = leaves(runs["full"]), leaves(runs["killed"])
    assert len(full) == len(resumed) > 50
    for a, b in zip(full, resumed):  # params, optimiser states, key, step: bitwise
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for name in ("metrics.jsonl", "eval.jsonl"):  # logs without duplicates, same numbers
        untimed = lambda rows: [{k: v for k, v in r.items() if k != "steps_per_s"} for r in rows]
        assert untimed(jsonl(runs["killed"] / name)) == untimed(jsonl(runs["full"] / name))


def test_evaluate_sweeps_budgets_variants_and_beta(runs):
    sweep = runs["sweep"]
    assert sweep.rc == 0, sweep.stderr
    out = runs["root"] / "sweep"
    data = json.loads((out / "sweep.json").read_text())
    rows = data["rows"]
    # 2 N x 2 variants x 2 beta, minus no_anchor at N = 0 (empty set, skipped)
    assert len(rows) == 6 and data["skipped"] == ["no_anchor at N=0 (empty candidate set)"]
    assert "skipped: no_anchor" in sweep.stderr
    csv_lines = (out / "sweep.csv").read_text().splitlines()
    assert len(csv_lines) == 7 and "violation" in csv_lines[0]
    table = (out / "sweep.md").read_text()
    assert table.count("\n| ") == 7 and "Violation" in table  # header + 6 rows
    for name in ("score_vs_n.png", "frontier_beta.png"):
        assert (out / name).stat().st_size > 1000
    for r in rows:
        assert 0.0 <= r["violation"] <= 1.0 and np.isfinite(r["normalized_score"])
        assert r["num_seeds"] == 1 and r["episodes"] == 2
    anchor_only = [r for r in rows if r["num_candidates"] == 0]
    assert [r["beta_start"] for r in anchor_only] == [0.0, 1.0]  # the anchor alone: beta moot
    assert all(r["support_z"] == 0.0 for r in anchor_only)  # z of a single candidate
    assert len({(r["normalized_score"], r["collapse_dist"]) for r in anchor_only}) == 1
    assert {r["variant"] for r in rows if r["num_candidates"] == 4} == {"gem", "no_anchor"}
    assert not any(r["candidate_means"] for r in rows)  # --candidate_means=false: the paper's set


@pytest.mark.slow
def test_evaluate_compares_support_models_on_a_gmm_run(runs, extra):
    """--support_model=gmm,empo on a run trained with the GMM support: EMPO's support is
    fitted once on the run's data, saved in the workdir, and scores the empo rows."""
    done = extra["empo_sweep"]
    assert done.rc == 0, done.stderr
    rows = json.loads((runs["root"] / "sweep_empo" / "sweep.json").read_text())["rows"]
    assert [r["support_model"] for r in rows] == ["gmm", "empo"]
    assert (runs["full"] / "empo_support.msgpack").is_file()
    assert rows[0]["collapse_dist"] != rows[1]["collapse_dist"]  # a different support
    assert "| support |" in (runs["root"] / "sweep_empo" / "sweep.md").read_text()


def test_nav2d_trace_draws_the_path_and_scores_directions_where_it_ends(runs):
    done = runs["trace"]
    assert done.rc == 0, done.stderr
    rows = json.loads((runs["root"] / "trace" / "trace.json").read_text())["rows"]
    assert len(rows) == 1 and 1 <= rows[0]["steps"] <= 1000
    end = np.asarray(rows[0]["end"])
    assert end.shape == (2,) and np.all((end >= 0) & (end <= 30))  # the nav2d box
    terms = rows[0]["at_end"]
    assert list(terms) == ["E", "NE", "N", "NW", "W", "SW", "S", "SE", "stay"]
    assert all(np.isfinite(t["q_mean"]) and t["q_std"] >= 0 for t in terms.values())
    assert (runs["root"] / "trace" / "trace.png").stat().st_size > 1000
    assert "Q mean" in done.stdout


@pytest.mark.slow
def test_nll_gap_table(runs, extra):
    nll = extra["nll"]
    assert nll.rc == 0, nll.stderr
    rows = json.loads((runs["root"] / "nll" / "nll_gap.json").read_text())["rows"]
    assert [r["num_components"] for r in rows] == [1, 2]
    assert rows[0]["gap_mean"] == pytest.approx(0.0, abs=1e-5)  # K = 1: top1 is the mixture
    assert all(len(r["gap_per_seed"]) == 2 and np.isfinite(r["gap_mean"]) for r in rows)
    assert "| K | seeds |" in (runs["root"] / "nll" / "nll_gap.md").read_text()


def test_divergence_stops_naming_loss_and_step_and_keeps_checkpoints(runs, tmp_path, monkeypatch):
    """Resume the run on data whose rewards are NaN: the guard stops at the first step."""
    from gem_jax.harness import runner
    from gem_jax.method.config import GEMConfig

    work = tmp_path / "diverge"
    shutil.copytree(runs["full"], work)
    real = runner.open_dataset

    def poisoned(*args, **kwargs):
        ds = real(*args, **kwargs)
        nan = np.full_like(ds.batch.rewards, np.nan)
        return dataclasses.replace(ds, batch=ds.batch.replace(rewards=nan))

    monkeypatch.setattr(runner, "open_dataset", poisoned)
    with pytest.raises(runner.DivergenceError,
                       match=r"non-finite critic/loss.* at step 101 \(seed index 0\)"):
        runner.run_training("nav2d", GEMConfig(num_steps=150), work, resume=True, progress=False)
    assert steps_in(work) == ["100", "75"]  # nothing written after the last good step
    restored = leaves(work)
    assert all(np.isfinite(x).all() for x in restored if x.dtype.kind == "f")
    assert all(np.array_equal(a, b) for a, b in zip(restored, leaves(runs["full"])))


@pytest.mark.parametrize("minutes, want", [(0.0, ["40"]), (1e-9, ["10", "20", "30", "40"])])
def test_a_checkpoint_after_so_many_minutes_besides_the_step_interval(tiny_nav2d, tmp_path,
                                                                       minutes, want):
    """The step interval (here beyond the run) saves only the last step; a wall-time interval
    shorter than one call saves after every call of `steps_per_call` steps."""
    from gem_jax.harness import runner
    from gem_jax.method.config import GEMConfig

    config = GEMConfig(hidden_dims=(16, 16), num_critics=2, num_components=2,
                       behavior_num_components=2, batch_size=64, steps_per_call=10,
                       num_steps=40, checkpoint_every=1000, eval_episodes=0, keep_checkpoints=9)
    work = tmp_path / "run"
    runner.run_training("nav2d", config, work, progress=False, checkpoint_minutes=minutes)
    assert sorted(steps_in(work), key=int) == want


# ---- bad input -------------------------------------------------------------------


def garble_dataset(src_root: pathlib.Path, dst_root: pathlib.Path) -> None:
    shutil.copytree(src_root / "minari", dst_root / "minari")
    for path in [*dst_root.rglob("*.npz"), *dst_root.rglob("*.hdf5")]:
        path.write_bytes(b"not a dataset" * 10)


@pytest.fixture(scope="module")
def bad(tiny_nav2d, tmp_path_factory):
    """Every bad-input case that needs no trained run, run side by side."""
    root = tmp_path_factory.mktemp("bad")
    garble_dataset(tiny_nav2d, root / "garbled")
    (root / "a_file").write_text("x")
    (root / "empty").mkdir()
    w = lambda name: f"--workdir={root / name}"
    cases = {
        "unknown_env": ("train", [w("u"), "--env=hoper-medium-v2"], None),
        "missing_dataset": ("train", [w("m"), "--env=hopper-medium-v2"], None),
        "corrupted_dataset": ("train", [w("c"), *TINY], {
            "MINARI_DATASETS_PATH": str(root / "garbled" / "minari"),
            "GEM_JAX_CACHE": str(root / "garbled" / "cache")}),
        "num_critics": ("train", [w("k1"), "--config.num_critics=0"], None),
        "negative_n": ("train", [w("k2"), "--config.num_candidates=-1"], None),
        "top_k": ("train", [w("k3"), "--config.num_candidates=4", "--config.top_k=6"], None),
        "horizon": ("train", [w("k4"), "--config.horizon=0"], None),
        "steps": ("train", [w("k5"), "--steps=-5"], None),
        "workdir": ("train", [f"--workdir={root / 'a_file' / 'run'}", *TINY], None),
        "no_checkpoint": ("evaluate", [w("empty")], None),
        "nll_k": ("probes/nll_gap", ["--num_components=2,0", f"--out={root / 'n'}"], None),
        "nll_env": ("probes/nll_gap", ["--env=nav2dd", f"--out={root / 'n'}"], None),
    }
    return root, run_batch(cases)


def run_batch(cases: dict, width: int = 6) -> dict:
    results, names = {}, list(cases)
    for i in range(0, len(names), width):
        procs = {n: launch(cases[n][0], *cases[n][1], env=cases[n][2]) for n in names[i:i + width]}
        results.update({n: finish(p, timeout=300) for n, p in procs.items()})
    return results


EXPECTED = {
    "unknown_env": "Did you mean 'hopper-medium-v2'",
    "missing_dataset": "is not on disk",
    "corrupted_dataset": "could not be read",
    "num_critics": "num_critics must be >= 1",
    "negative_n": "num_candidates (N) must be >= 0",
    "top_k": "top_k=6 exceeds the candidate-set size N + 1 = 5",
    "horizon": "horizon (T of the beta schedule) must be > 0",
    "steps": "num_steps must be >= 0",
    "workdir": "Cannot write to workdir",
    "no_checkpoint": "No checkpoints in",
    "nll_k": "--num_components must list integers >= 1",
    "nll_env": "Did you mean 'nav2d'",
}


def assert_one_line_error(done: Done, expected: str, status: int = 2) -> None:
    assert done.rc == status, (done.rc, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    others = [line for line in done.stderr.splitlines()
              if line.strip() and not line.startswith(("error: ", "warning: "))]
    assert len(errors) == 1 and not others, done.stderr[-2000:]
    assert expected in errors[0], errors[0]
    assert done.seconds < 120  # no training, no download: a couple of seconds when idle


@pytest.mark.parametrize("case", list(EXPECTED))
def test_bad_input_is_one_line(bad, case):
    root, results = bad
    assert_one_line_error(results[case], EXPECTED[case])
    if case not in ("missing_dataset", "corrupted_dataset"):  # failed before any checkpoint
        assert not list(root.rglob("checkpoints/*"))


def corrupt_copies(full: pathlib.Path, root: pathlib.Path) -> dict:
    copies = {}
    for name in ("ckpt", "meta", "dims"):
        copies[name] = root / name
        shutil.copytree(full, copies[name])
    newest = lambda name: copies[name] / "checkpoints" / "100"
    (newest("ckpt") / "state" / "manifest.ocdbt").write_bytes(b"garbage")
    (newest("meta") / "meta" / "metadata").write_text("{not json")
    meta_path = newest("dims") / "meta" / "metadata"
    meta = json.loads(meta_path.read_text())
    meta["obs_dim"] = 3
    meta_path.write_text(json.dumps(meta))
    return copies


@pytest.fixture(scope="module")
def bad_run(runs, tmp_path_factory):
    """Bad input against the trained run: knobs (the rest of the knob checks are unit
    tests of `sweep.make_grid`), corrupted or mismatched checkpoints."""
    root = tmp_path_factory.mktemp("bad_run")
    full, c = runs["full"], corrupt_copies(runs["full"], root)
    ev = lambda workdir, *args: ("evaluate", [f"--workdir={workdir}", f"--out={root / 'o'}",
                                              "--noprogress", *args], None)
    cases = {
        "existing_run": ("train", [f"--workdir={full}", *TINY], None),
        "eval_top_k": ev(full, "--num_candidates=0,4", "--top_k=3"),
        "eval_number": ev(full, "--lcb_lambda=1,abc"),
        "eval_mass": ev(full, "--mass_scale=0.5,1.0"),
        "eval_bool": ev(full, "--candidate_means=yes"),
        "corrupted_state": ev(c["ckpt"]),
        "corrupted_meta": ev(c["meta"]),
        "dims_evaluate": ev(c["dims"]),
        "dims_resume": ("train", [f"--workdir={c['dims']}", "--resume", *TINY], None),
    }
    return run_batch(cases)


EXPECTED_RUN = {
    "existing_run": "already holds checkpoints; pass --resume",
    "eval_top_k": "top_k=3 must lie in [1, 1]",
    "eval_number": "--lcb_lambda=1,abc: expected comma-separated numbers",
    "eval_mass": "nav2d is a point mass without MuJoCo bodies",
    "eval_bool": "--candidate_means=yes: expected true and/or false",
    "corrupted_state": "checkpoints/100) is unreadable or corrupted",
    "corrupted_meta": "checkpoints/100) is unreadable or corrupted",
    "dims_evaluate": "expects obs_dim=3, action_dim=2 but nav2d has obs_dim=2",
    "dims_resume": "expects obs_dim=3, action_dim=2 but nav2d has obs_dim=2",
}


@pytest.mark.parametrize("case", list(EXPECTED_RUN))
def test_bad_input_against_a_run_is_one_line(bad_run, case):
    assert_one_line_error(bad_run[case], EXPECTED_RUN[case])


def test_summary_line_of_a_run_without_evaluation():
    """`--eval_episodes=0` (the queues' shards) prints "not evaluated", not NaNs."""
    from gem_jax.harness.cli import summary_line

    nan = float("nan")
    summary = {"normalized_score": {"mean": nan, "std": nan}, "support_z": nan,
               "violation": nan, "collapse_dist": nan, "behavior_z": nan,
               "steps_per_s": 54.2, "compile_s": 14.6}
    line = summary_line("idql", "maze2d-umaze", summary, "runs/x")
    assert line == ("idql on maze2d-umaze: trained, not evaluated (--eval_episodes=0; tune.py "
                    "or evaluate.py scores it), 54 steps/s (compile 14.6 s) -> "
                    "runs/x/summary.json")
    summary.update(normalized_score={"mean": 93.84, "std": 3.5}, support_z=0.25, violation=0.0125,
                   collapse_dist=0.1, behavior_z=-0.5)
    line = summary_line("gem", "nav2d", summary, "runs/x")
    assert line.startswith("gem on nav2d: normalised score 93.8 ± 3.5, SupportZ 0.25, "
                           "Violation 0.013, CollapseDist 0.100, BehaviorZ -0.50, 54 steps/s")
