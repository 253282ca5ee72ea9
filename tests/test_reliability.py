"""Reliability (in process): the divergence guard's parameter check and message, one-line
CLI errors, torn log rows, partial checkpoint writes, shape checks, a select fuzz over
random parameters; and (slow) random SIGKILLs of the train CLI followed by --resume.

The subprocess end-to-end checks (kill inside a checkpoint write, bad input, corrupted
files, divergence through the runner) live in test_cli.py.
"""

import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gem_jax import checkpoint as ckpt
from gem_jax import cli, runner
from gem_jax.config import GEMConfig
from gem_jax.runlog import MetricsLog
from gem_jax.select import SelectKnobs, make_policy, policy_params
from gem_jax.toy import two_mode_bandit
from gem_jax.train import init_state, make_fused_train_step

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
    return [sys.executable, str(ROOT / "experiments" / "train.py"), f"--workdir={workdir}",
            *KILL_ARGS]


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
