"""Evaluation environments of the datasets, observations in the dataset's flat layout."""

from __future__ import annotations

import contextlib
import io
import sys
import warnings

import gymnasium as gym
import numpy as np

from gem_jax.data import conventions, storage


def register_robotics():
    """Import gymnasium-robotics quietly and register its envs; returns the module.

    The one place gem-jax imports it. Its import prints a Farama notification about the
    Adroit v1 rewards to stderr (nothing to do with the maze envs used here), and may warn;
    both are swallowed on the first import. Import errors still raise.
    """
    if "gymnasium_robotics" not in sys.modules:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            import gymnasium_robotics  # noqa: F401
    robotics = sys.modules["gymnasium_robotics"]
    gym.register_envs(robotics)
    return robotics


def make_eval_env(suite: str, dataset_id: str, **kwargs):
    """The evaluation env of `dataset_id` with flat float32 observations.

    nav2d: `gem_jax/Nav2D-v0`. Minari datasets: `recover_environment(eval_env=True)`,
    with `continuing_task=False` for AntMaze so that reaching the goal ends the episode
    and the return is the success (D4RL's antmaze scoring), and one fixed goal
    (`FixedGoal`); `kwargs` override.
    """
    if suite == "nav2d":
        from gem_jax.envs import NAV2D_ID

        return gym.make(NAV2D_ID, **kwargs)
    import minari

    if suite in ("maze2d", "antmaze"):
        register_robotics()
    if suite == "antmaze":
        kwargs.setdefault("continuing_task", False)
    env = minari.load_dataset(dataset_id).recover_environment(eval_env=True, **kwargs)
    if suite == "antmaze":
        env = FixedGoal(env, goal_cell_centre(env))
    probe = env.observation_space.sample()  # layout only; no reset, no seeding
    obs_dim = storage.flat_observation(suite, probe).shape[-1]
    space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    return gym.wrappers.TransformObservation(
        env, lambda obs: storage.flat_observation(suite, obs), space
    )


def goal_cell_centre(env) -> np.ndarray:
    """The centre `[2]` of the one goal cell of a gymnasium-robotics maze env."""
    goals = env.unwrapped.maze.unique_goal_locations
    if len(goals) != 1:
        raise ValueError(
            f"{env.spec.id if env.spec else env}: the evaluation maze has {len(goals)} goal "
            "cells; D4RL's fixed-goal task (and its reward relabelling) needs exactly one."
        )
    return np.asarray(goals[0], np.float64)


class FixedGoal(gym.Wrapper):
    """D4RL's antmaze evaluation: every episode has the same goal, the goal cell's centre.

    gymnasium-robotics draws each reset's goal up to ±0.25 cells (±1 for the ant) around it,
    and the goal is not in D4RL's observation, so a policy could not know where to stop; the
    relabelled data (`conventions.goal_reached`) reward this same centre. The start keeps its
    noise (drawn after the goal's, so a seed gives the start it gave before)."""

    def __init__(self, env, goal: np.ndarray):
        super().__init__(env)
        self.goal = np.array(goal, np.float64)  # [2]

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        inner = self.env.unwrapped
        inner.goal = self.goal.copy()  # what its step() scores and terminates on
        inner.update_target_site_pos()
        obs = {**obs, "desired_goal": self.goal.copy()}
        info["success"] = bool(conventions.goal_reached(obs["achieved_goal"], self.goal))
        return obs, info


def maze2d_goal(dataset_id: str) -> tuple[np.ndarray, str]:
    """`(goal_xy [2], reward_type)` of a maze2d dataset's evaluation env (its one goal cell)."""
    env = make_eval_env("maze2d", dataset_id)
    goal, reward_type = goal_cell_centre(env), str(env.unwrapped.reward_type)
    env.close()
    return goal, reward_type


def antmaze_goal(dataset_id: str) -> np.ndarray:
    """The fixed evaluation goal `[2]` of an antmaze dataset (its eval maze's goal cell)."""
    env = make_eval_env("antmaze", dataset_id)
    goal = goal_cell_centre(env)
    env.close()
    return goal


def maze2d_set_state(env, obs) -> None:
    """Put a (reset) PointMaze env at the flat observation `[x, y, vx, vy]` (its qpos, qvel);
    the goal stays the one of the reset."""
    obs = np.asarray(obs, np.float64)
    env.unwrapped.point_env.set_state(obs[:2], obs[2:4])
