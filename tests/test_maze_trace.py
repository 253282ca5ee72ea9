"""experiments/probes/maze_trace.py (gem_jax/analysis/maze_paths.py): paths split by hand, the
goal test, and a tiny antmaze run drawn end to end (same starts in every panel)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from gem_jax.analysis import maze_paths as maze_trace

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_split_paths_by_hand():
    """Env 1 ends after step 0, env 0 after step 1, env 2 lives on: rows follow `alive`."""
    info = [{"alive": np.array([True, True, True])}, {"alive": np.array([True, False, True])},
            {"alive": np.array([False, False, True])}]
    obs = [np.array([[0, 0, 9], [1, 1, 9], [2, 2, 9]], float),
           np.array([[0, 5, 9], [2, 6, 9]], float), np.array([[2, 7, 9]], float)]
    paths = maze_trace.split_paths(info, obs, 3)
    np.testing.assert_array_equal(paths[0], [[0, 0], [0, 5]])
    np.testing.assert_array_equal(paths[1], [[1, 1]])
    np.testing.assert_array_equal(paths[2], [[2, 2], [2, 6], [2, 7]])


def test_reached_goal_by_hand():
    goal = np.array([1.0, 1.0])
    far = np.array([[5.0, 5.0], [3.0, 1.0]])
    assert not maze_trace.reached_goal(far, 2, 2, goal)  # ran to the limit, never within 0.45
    assert maze_trace.reached_goal(far, 2, 10, goal)  # ended early: AntMaze ends on success
    assert maze_trace.reached_goal(np.array([[5.0, 5.0], [1.3, 1.3]]), 2, 2, goal)  # 0.42 away
    assert not maze_trace.reached_goal(np.array([[1.35, 1.35]]), 1, 1, goal)  # 0.49 away


def test_trace_of_a_tiny_antmaze_run(tmp_path):
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tmp_path / "minari"),
           "GEM_JAX_CACHE": str(tmp_path / "cache")}
    run = lambda script, *args: subprocess.run(
        [sys.executable, str(ROOT / "experiments" / f"{script}.py"), *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600)
    built = run("make_dataset", "--dataset=antmaze-umaze-fixture", "--num_steps=600",
                "--noprogress")
    assert built.returncode == 0, built.stderr[-2000:]
    workdir = tmp_path / "run"
    trained = run("train", "--env=antmaze-umaze-fixture", f"--workdir={workdir}", "--steps=20",
                  "--eval_episodes=0", "--checkpoint_every=20", "--num_seeds=2", "--noprogress",
                  "--config.steps_per_call=10", "--config.hidden_dims=(8,8)",
                  "--config.num_critics=2", "--config.num_candidates=4")
    assert trained.returncode == 0, trained.stderr[-2000:]
    done = run("probes/maze_trace", f"--workdir={workdir}", "--variants=gem,no_pw",
               "--episodes=2", "--max_steps=12")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((workdir / "trace" / "trace.json").read_text())
    assert (workdir / "trace" / "trace.png").is_file()
    np.testing.assert_array_equal(report["goal"], [4.0, -4.0])  # the fixture maze's goal cell
    assert list(report["variants"]) == ["gem", "no_pw"]
    gem, no_pw = report["variants"]["gem"], report["variants"]["no_pw"]
    assert len(gem) == len(no_pw) == 2 and all(len(s) == 2 for s in gem + no_pw)  # seeds x eps
    for a, b in zip(gem, no_pw, strict=True):
        for ea, eb in zip(a, b, strict=True):
            assert 1 <= len(ea["path"]) <= 12 and ea["length"] == len(ea["path"])
            assert ea["path"][0] == eb["path"][0]  # the same starts in every panel
            assert not ea["success"]  # 20 steps of training, 12 steps from the far corner
    bad = run("probes/maze_trace", f"--workdir={workdir}", "--episodes=0")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: --episodes must be >= 1, got 0."]
