"""Reliability (in process): the divergence guard's parameter check and message, one-line
CLI errors, torn log rows, partial checkpoint writes, shape checks, a select fuzz over
random parameters; and (slow) random SIGKILLs of the train CLI followed by --resume.

Through the real command line (subprocesses): `--resume` without a checkpoint, unknown or
wrong-typed `--config.` fields, a checkpoint shard cut in half (`--resume` falls back,
`evaluate.py` and `load_policy` name the damaged and the intact steps, nothing is deleted),
`make_dataset.py` on a dataset that is already built (a success) or damaged (needs --force).
The other subprocess end-to-end checks (kill inside a checkpoint write, bad input, corrupted
files, divergence through the runner) live in test_cli.py.
"""

import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toy import two_mode_bandit

from gem_jax.harness import checkpoint as ckpt
from gem_jax.harness import cli, runner
from gem_jax.harness.runlog import MetricsLog
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import init_state, make_fused_train_step
from gem_jax.method.select import SelectKnobs, make_policy, policy_params

CFG = GEMConfig(hidden_dims=(16, 16), num_critics=2, num_components=2,
                behavior_num_components=2, batch_size=64, steps_per_call=3)


def test_non_finite_parameters_are_flagged_before_any_loss_is():
    """An update that overflows the actor's weights leaves this step's losses finite (they
    were computed before the update); only the parameter check sees it, at step 1."""
    data = two_mode_bandit(jax.random.PRNGKey(0), 256)
    cfg = CFG.replace(actor_lr=float("inf"))  # the first Adam step overflows the weights
    _, m = make_fused_train_step(cfg)(init_state(jax.random.PRNGKey(0), cfg, 2, 1), data)
    assert np.isfinite(float(m["actor/loss"][0])) and np.isfinite(float(m["critic/loss"][0]))
    assert float(m["train/params_finite"][0]) == 0.0 and float(m["train/finite"][0]) == 0.0
    metrics = {k: np.asarray(v)[None] for k, v in m.items()}  # one seed: [S=1, K]
    assert runner.find_divergence(metrics, first_step=40) == (
        "non-finite parameters at step 41 (seed index 0)")


def test_divergence_message_names_loss_step_and_seed():
    ones = np.ones((2, 3), np.float32)  # [S, K]
    metrics = {n: ones.copy() for n in ("value/loss", "critic/loss", "actor/loss",
                                        "behavior/nll", "train/finite", "train/params_finite")}
    assert runner.find_divergence(metrics, 100) is None
    metrics["critic/loss"][1, 2] = np.nan
    metrics["actor/loss"][1, 2] = np.inf
    metrics["train/finite"][1, 2] = 0.0
    assert runner.find_divergence(metrics, 100) == (
        "non-finite critic/loss, actor/loss at step 103 (seed index 1)")


@pytest.mark.parametrize("error, status", [
    (ValueError("Unknown dataset\n  Did you mean 'nav2d'?"), 2),
    (FileNotFoundError("not on disk"), 2),
    (PermissionError("Cannot write"), 2),
    (ckpt.CheckpointError("corrupted"), 2),
    (runner.DatasetError("could not be read"), 2),
    (runner.DivergenceError("Training diverged: non-finite critic/loss at step 7"), 1),
    (KeyboardInterrupt(), 130),
])
def test_guard_turns_errors_into_one_line(capsys, error, status):
    def body():
        raise error

    assert cli.guard(body) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_guard_passes_success_and_real_bugs_through():
    assert cli.guard(lambda: None) == 0 and cli.guard(lambda: 0) == 0
    with pytest.raises(ZeroDivisionError):  # a bug is not bad input: keep its traceback
        cli.guard(lambda: 1 / 0)


def test_torn_log_row_is_dropped(tmp_path):
    log = MetricsLog(tmp_path, "metrics")
    for step in (10, 20, 30):
        log.write({"step": step, "loss": step / 10})
    with open(log.jsonl, "a") as f:
        f.write('{"step": 40, "lo')  # a kill mid-write
    assert [r["step"] for r in log.rows()] == [10, 20, 30]
    log.truncate_after(20)
    again = MetricsLog(tmp_path, "metrics")
    again.write({"step": 30, "loss": 3.5})
    assert [(r["step"], r["loss"]) for r in again.rows()] == [(10, 1.0), (20, 2.0), (30, 3.5)]
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "step,loss", "10,1.0", "20,2.0", "30,3.5"]


def test_partial_checkpoint_write_is_ignored_and_removed(tmp_path):
    state = {"w": jnp.arange(6.0).reshape(2, 3), "step": jnp.array([5, 5])}
    ckpt.save(ckpt.make_manager(tmp_path, keep=2), 5, state, {"note": "ok"})
    partial = ckpt.checkpoint_dir(tmp_path) / f"10{ckpt.TMP_SUFFIX}"
    (partial / "state").mkdir(parents=True)
    (partial / "state" / "half_written").write_bytes(b"\x00" * 10)
    manager = ckpt.make_manager(tmp_path, keep=2)
    assert manager.latest_step() == 5 and not partial.exists()


def test_checkpoint_dims_must_match_the_env():
    meta = {"obs_dim": 29, "action_dim": 8, "env": "antmaze-umaze-v2"}
    ckpt.check_dims(meta, 29, 8, "runs/x", "antmaze-umaze-v2")
    with pytest.raises(ValueError, match=r"expects obs_dim=29, action_dim=8 but nav2d has "
                                         r"obs_dim=2, action_dim=2.*antmaze-umaze-v2"):
        ckpt.check_dims(meta, 2, 2, "runs/x", "nav2d")


def test_missing_checkpoints_are_a_clear_error(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="No checkpoints in .*train first"):
        ckpt.read_meta(tmp_path)


def test_a_step_the_run_did_not_keep_is_a_clear_error(tmp_path):
    manager = ckpt.make_manager(tmp_path, keep=3)
    for step in (5, 10):
        ckpt.save(manager, step, {"w": jnp.full((2,), float(step))}, {"note": "ok"})
    manager.wait_until_finished()
    kept = r"No checkpoint at step 7 .*keeps steps \[5, 10\]"
    with pytest.raises(ckpt.CheckpointError, match=kept):
        ckpt.read_meta(tmp_path, 7)
    with pytest.raises(ckpt.CheckpointError, match=r"step 7 .*\[5, 10\]"):
        ckpt.restore(tmp_path, 7)


# ---- select fuzz over random parameters -----------------------------------------

FUZZ = GEMConfig(hidden_dims=(16,), num_critics=3, num_components=3, behavior_num_components=3)


@pytest.fixture(scope="module")
def fuzz_setup():
    init = jax.jit(lambda key: policy_params(init_state(key, FUZZ, 4, 2)))
    return init, make_policy(FUZZ, num_candidates=8, top_k=2)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), weight_scale=st.floats(0.0, 40.0),
       obs_scale=st.floats(0.0, 1e4), lam=st.floats(0.0, 20.0), beta=st.floats(0.0, 50.0),
       t=st.integers(0, 5000))
def test_select_fuzz_random_parameters(fuzz_setup, seed, weight_scale, obs_scale, lam, beta, t):
    """Random networks with weights scaled up to 40x (huge logits, saturated means,
    exploding critics) and observations up to 1e4: actions in the box, info finite."""
    init, policy = fuzz_setup
    params = init(jax.random.PRNGKey(seed))
    nets = jax.tree.map(lambda x: x * weight_scale, (params.actor, params.behavior, params.critic))
    params = params.replace(actor=nets[0], behavior=nets[1], critic=nets[2])
    obs = obs_scale * jax.random.normal(jax.random.PRNGKey(seed + 1), (5, 4))
    actions, info = policy(params, obs, jax.random.PRNGKey(seed + 2), t,
                           SelectKnobs.create(lam, beta, 0.0, 1000))
    actions = np.asarray(actions)
    assert np.all(np.isfinite(actions)) and np.all(np.abs(actions) <= 1.0)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in info.values())


# ---- slow: SIGKILL at random moments, then resume ----------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[1]
KILL_ARGS = [
    "--steps=300", "--eval_every=100", "--eval_episodes=2", "--checkpoint_every=25",
    "--config.steps_per_call=25", "--config.log_every=25", "--config.hidden_dims=(16,16)",
    "--config.num_critics=2", "--config.num_components=2", "--config.behavior_num_components=2",
    "--config.num_candidates=4", "--config.batch_size=64", "--noprogress", "--resume",
]


def train_cmd(workdir):
    """The kill test's command; `--resume` once the run has a checkpoint to continue."""
    args = [a for a in KILL_ARGS if a != "--resume" or ckpt.has_checkpoint(workdir)]
    return [sys.executable, str(ROOT / "experiments" / "train.py"), f"--workdir={workdir}",
            *args]


@pytest.mark.slow
def test_random_kills_then_resume_match_the_uninterrupted_run(tiny_nav2d, tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    done = subprocess.run(train_cmd(ref), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rng, kills = random.Random(0), 0
    for _ in range(5):  # kill at random moments: compile, training, eval, checkpoint writes
        proc = subprocess.Popen(train_cmd(killed), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(3.0, 25.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    done = subprocess.run(train_cmd(killed), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert kills >= 1
    a, _ = ckpt.restore(ref)
    b, _ = ckpt.restore(killed)
    assert int(np.asarray(b.step)[0]) == 300
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert np.array_equal(np.asarray(x), np.asarray(y))


# ---- bad input through the real command line -----------------------------------------

CUT_ARGS = [  # hidden 64: the largest array is an OCDBT shard of its own (a bare `Exception`)
    "--steps=100", "--eval_every=100", "--eval_episodes=1", "--checkpoint_every=50",
    "--config.steps_per_call=50", "--config.log_every=50", "--config.hidden_dims=(64,64)",
    "--config.num_critics=2", "--config.num_components=2", "--config.behavior_num_components=2",
    "--config.num_candidates=4", "--config.batch_size=64", "--noprogress",
]


def script(name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *args],
                            cwd=ROOT, env={**os.environ, **(env or {})}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen) -> tuple[int, list[str], list[str]]:
    """`(status, stdout lines, stderr lines)`."""
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out.splitlines(), err.splitlines()


def cut_in_half(step_dir: pathlib.Path) -> pathlib.Path:
    """Truncate the largest file of a checkpoint's state to half its size."""
    largest = max((p for p in (step_dir / "state").rglob("*") if p.is_file()),
                  key=lambda p: p.stat().st_size)
    with open(largest, "r+b") as f:
        f.truncate(largest.stat().st_size // 2)
    return largest


def listing(root: pathlib.Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def bad_cli(tiny_nav2d, tmp_path_factory):
    """A tiny run (checkpoints 50 and 100) and copies with step 100's largest shard cut in
    half; then every bad-input case, side by side."""
    root = tmp_path_factory.mktemp("bad_cli")
    run = root / "run"
    status, _, err = finish(script("train", f"--workdir={run}", *CUT_ARGS))
    assert status == 0, err[-20:]
    copies = {}
    for name in ("resume", "evaluate", "load_policy"):
        copies[name] = root / name
        shutil.copytree(run, copies[name])
        cut_in_half(copies[name] / "checkpoints" / "100")
    before = {name: listing(path / "checkpoints") for name, path in copies.items()}
    garbled = root / "garbled"
    shutil.copytree(tiny_nav2d / "minari", garbled / "minari")
    for path in [*garbled.rglob("*.hdf5"), *garbled.rglob("*.npz")]:
        path.write_bytes(b"not a dataset" * 10)
    (root / "empty").mkdir()
    cases = {
        "resume_empty": ("train", [f"--workdir={root / 'empty'}", "--resume", *CUT_ARGS]),
        "resume_missing": ("train", [f"--workdir={root / 'missing'}", "--resume", *CUT_ARGS]),
        "unknown_field": ("train", [f"--workdir={root / 'u'}", "--config.num_critcs=3"]),
        "unknown_field_far": ("train", [f"--workdir={root / 'u'}", "--config.no_such_field=1"]),
        "unknown_field_compare": ("compare", [f"--out={root / 'c'}", "--config.actr_lr=1e-3"]),
        "wrong_int": ("train", [f"--workdir={root / 'u'}", "--config.num_critics=abc"]),
        "wrong_tuple": ("train", [f"--workdir={root / 'u'}", "--config.hidden_dims=abc"]),
        "wrong_bool": ("train", [f"--workdir={root / 'u'}", "--config.layer_norm=maybe"]),
        "resume_cut": ("train", [f"--workdir={copies['resume']}", "--resume", *CUT_ARGS]),
        "evaluate_cut": ("evaluate", [f"--workdir={copies['evaluate']}", "--eval_episodes=1",
                                      f"--out={root / 'sweep'}", "--noprogress"]),
        "train_no_data": ("train", [f"--workdir={root / 'no_data'}", "--env=pointmaze-umaze",
                                    *CUT_ARGS]),
        "dataset_built": ("make_dataset", ["--dataset=nav2d", "--noprogress"]),
        "dataset_damaged": ("make_dataset", ["--dataset=nav2d", "--noprogress"]),
    }
    envs = {"dataset_damaged": {"MINARI_DATASETS_PATH": str(garbled / "minari"),
                                "GEM_JAX_CACHE": str(garbled / "cache")},
            "train_no_data": {"MINARI_DATASETS_PATH": str(root / "no_minari"),
                              "GEM_JAX_CACHE": str(root / "no_cache")}}
    results, names = {}, list(cases)
    for i in range(0, len(names), 4):
        procs = {n: script(cases[n][0], *cases[n][1], env=envs.get(n)) for n in names[i:i + 4]}
        results.update({n: finish(p) for n, p in procs.items()})
    return dict(root=root, copies=copies, before=before, datasets=tiny_nav2d, **results)


def one_error(result, status: int = 2) -> str:
    """The one stderr line of a failed command (nothing else on stderr)."""
    rc, _, err = result
    assert rc == status, err[-20:]
    assert len(err) == 1 and err[0].startswith("error: "), err[-20:]
    return err[0]


@pytest.mark.parametrize("case", ["resume_empty", "resume_missing"])
def test_resume_without_a_checkpoint_is_one_line(bad_cli, case):
    workdir = bad_cli["root"] / case.split("_")[1]
    assert one_error(bad_cli[case]) == (
        f"error: no checkpoint in {workdir} to resume; drop --resume to start a new run")
    assert not workdir.exists() or not list(workdir.iterdir())  # nothing started there


def test_a_run_without_its_dataset_fails_in_one_line_and_leaves_nothing_to_resume(bad_cli):
    line = one_error(bad_cli["train_no_data"])
    assert "'pointmaze-umaze'" in line and "make_dataset.py" in line, line
    assert not (bad_cli["root"] / "no_data" / "checkpoints").exists()  # a rerun needs no --resume


def test_unknown_config_field_names_the_closest_fields(bad_cli):
    assert one_error(bad_cli["unknown_field"]) == (
        "error: --config.num_critcs: GEMConfig has no field 'num_critcs'; closest: "
        "num_critics, train_critics, num_candidates (every field is in gem_jax/method/config.py).")
    far = one_error(bad_cli["unknown_field_far"])
    assert far.startswith("error: --config.no_such_field: GEMConfig has no field "
                          "'no_such_field'; closest: ")
    assert len(far.split("closest: ")[1].split(" (")[0].split(", ")) == 3
    assert one_error(bad_cli["unknown_field_compare"]).startswith(
        "error: --config.actr_lr: GEMConfig has no field 'actr_lr'; closest: actor_lr, ")


@pytest.mark.parametrize("case, line", [
    ("wrong_int", "error: --config.num_critics=abc: expected an integer (default 5)."),
    ("wrong_tuple", 'error: --config.hidden_dims=abc: expected a tuple of integers such as '
                    '"(256,256)" (default (256,256)).'),
    ("wrong_bool", "error: --config.layer_norm=maybe: expected true or false (default True)."),
])
def test_wrong_typed_config_value_is_one_line(bad_cli, case, line):
    assert one_error(bad_cli[case]) == line


def test_resume_falls_back_to_the_newest_intact_checkpoint(bad_cli):
    rc, out, err = bad_cli["resume_cut"]
    workdir = bad_cli["copies"]["resume"]
    assert rc == 0, err[-20:]
    assert err == [f"warning: checkpoint step 100 in {workdir / 'checkpoints'} is damaged "
                   f"(moved to {workdir / 'checkpoints_damaged'}); resuming from step 50, the "
                   "newest intact one."]
    assert "normalised score" in out[-1]
    # the damaged step is kept, byte for byte, beside the run; step 100 was trained again
    moved = listing(workdir / "checkpoints_damaged")
    assert moved == {k: v for k, v in bad_cli["before"]["resume"].items()
                     if k.startswith("100/")}
    state, _ = ckpt.restore(workdir)
    assert int(np.asarray(state.step)[0]) == 100


def test_evaluate_names_the_damaged_and_the_intact_steps(bad_cli):
    workdir = bad_cli["copies"]["evaluate"]
    line = one_error(bad_cli["evaluate_cut"])
    assert line.startswith(f"error: Checkpoint step 100 ({workdir / 'checkpoints' / '100'}) is "
                           "unreadable or corrupted (Exception: ")
    assert line.endswith("; intact steps: [50]; use one with --step=50 (load_policy / "
                         "load_params: step=50), or retrain.")
    assert listing(workdir / "checkpoints") == bad_cli["before"]["evaluate"]  # nothing deleted


def test_load_policy_names_the_damaged_and_the_intact_steps(bad_cli):
    import gem_jax

    workdir = bad_cli["copies"]["load_policy"]
    with pytest.raises(ckpt.CheckpointError) as err:
        gem_jax.load_policy(workdir, num_candidates=4)
    message = str(err.value)
    assert "\n" not in message and message.startswith("Checkpoint step 100 (")
    assert "intact steps: [50]; use one with --step=50" in message
    policy = gem_jax.load_policy(workdir, num_candidates=4, step=50)
    assert policy(np.zeros((3, 2), np.float32), jax.random.PRNGKey(0)).shape == (3, 2)
    assert listing(workdir / "checkpoints") == bad_cli["before"]["load_policy"]


def test_make_dataset_on_a_built_dataset_succeeds_and_a_damaged_one_needs_force(bad_cli):
    rc, out, err = bad_cli["dataset_built"]
    where = bad_cli["datasets"] / "minari" / "gem" / "nav2d-v0"
    assert rc == 0 and not err, err
    assert len(out) == 1 and out[0].startswith(f"gem/nav2d-v0 already built at {where}: ")
    assert out[0].endswith("episodes, ref scores -1000.00 / -749.05 (--force rebuilds it)")
    line = one_error(bad_cli["dataset_damaged"])
    damaged = bad_cli["root"] / "garbled" / "minari" / "gem" / "nav2d-v0"
    assert line.startswith(f"error: gem/nav2d-v0 at {damaged} is damaged (")
    assert line.endswith("); rebuild it with --force.")


def test_abandoned_reads_of_a_damaged_shard_print_nothing():
    """After a failed restore, orbax's suspended array reads raise when collected; Python
    would print "Exception ignored in" with a traceback for each (thousands of lines). They
    are dropped; any other unraisable exception still prints."""
    code = textwrap.dedent("""
        import gc
        from gem_jax.harness import checkpoint

        class Pending:
            def __await__(self):
                yield

        async def _read_array_index_and_device_put():
            try:
                await Pending()
            finally:
                raise Exception("Encountered error while reading array index")

        async def unrelated():
            try:
                await Pending()
            finally:
                raise Exception("unrelated failure")

        checkpoint._silence_abandoned_reads()
        checkpoint._silence_abandoned_reads()  # installed once
        for make in (_read_array_index_and_device_put, unrelated):
            c = make()
            c.send(None)
            del c
            gc.collect()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "_read_array_index_and_device_put" not in done.stderr
    assert done.stderr.count("Exception ignored in") == 1 and "unrelated failure" in done.stderr
