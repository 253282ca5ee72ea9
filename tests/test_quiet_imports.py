"""Imports are quiet: gem-jax prints nothing on import, and the one place it imports
gymnasium-robotics (`gem_jax.data.envs.register_robotics`) swallows that package's Adroit
notice, which it prints to stderr on import."""

import subprocess
import sys

import pytest


def stderr_of(code: str) -> str:
    """stderr of `python -W default -c code` (default warning filters: DeprecationWarnings
    raised by library code would show)."""
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


def adroit_notice() -> str | None:
    """The notice this gymnasium-robotics version prints on import (None if it has none)."""
    import importlib.metadata

    notifications = pytest.importorskip("farama_notifications").notifications
    version = importlib.metadata.version("gymnasium-robotics")
    return notifications.get("gymnasium_robotics", {}).get(version)


def test_import_gem_jax_data_prints_nothing():
    assert stderr_of("import gem_jax.data") == ""
    assert stderr_of("import gem_jax, gem_jax.data.envs, gem_jax.harness.runner") == ""


def test_maze_envs_are_made_without_the_adroit_notice():
    notice = adroit_notice()
    if notice:  # the raw import does print it: the check below is not vacuous
        assert notice in stderr_of("import gymnasium_robotics")
    code = ("from gem_jax.data import antmaze_build, pointmaze_build\n"
            "collect, evaluate = pointmaze_build.make_envs('umaze', False)\n"
            "collect.reset(seed=0); evaluate.reset(seed=0)\n"
            "antmaze_build.make_envs()\n")
    assert stderr_of(code) == ""


def test_register_robotics_registers_the_maze_envs():
    code = ("import gymnasium as gym\n"
            "from gem_jax.data.envs import register_robotics\n"
            "register_robotics(); register_robotics()\n"  # a second call is a no-op
            "assert 'PointMaze_UMaze-v3' in gym.registry\n"
            "assert 'AntMaze_UMaze-v4' in gym.registry\n")
    assert stderr_of(code) == ""
