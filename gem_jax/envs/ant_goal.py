"""The low-level goal-reaching ant (`gem_jax/AntGoal-v0`) whose SAC policy makes the AntMaze data.

Recipe: Minari's `GoalReachAnt` (minari-dataset-generation-scripts,
`scripts/antmaze/reach_goal_ant.py` and the config of `scripts/antmaze/train_ant.py`),
written again here:

* body: gymnasium's `Ant-v4` (MuJoCo), `exclude_current_positions_from_observation=False`
  (so its observation is qpos [15] ++ qvel [14], no contact forces), `reset_noise_scale=0.15`;
  the same body and observation layout as gymnasium-robotics' `AntMaze_*-v4`.
* observation [29] = `ant_obs[2:]` [27] (qpos without x, y; qvel), exactly AntMaze's
  `obs["observation"]`, ++ the goal vector `goal - xy` [2] (not normalised, as in Minari;
  in the maze the goal is the planner's current waypoint).
* goals: uniform angle, radius `10 * U[0, 1)` around the origin (Minari's `_generate_goal`),
  a new one drawn on reset and whenever the ant ends a step within `goal_threshold` (0.2, the
  value Minari trained with) of the goal; the task never ends on reaching a goal.
* reward: `10 * v_xy . (goal - xy) / |goal - xy| + reward_ctrl + reward_survive`, the xy
  velocity and the two Ant-v4 terms (`-0.5 |a|^2`, `+1`) from Ant-v4's `info`, `xy` after
  the step and the goal before any resampling (`goal_reward`).
* termination (our addition; Minari's env never terminates, the issue allows it): the episode
  ends when the torso is upside down (body z axis pointing down) or leaves Ant-v4's healthy
  height range [0.2, 1.0]. An ant on its back cannot walk again, so ending there stops the
  replay buffer filling with useless flailing and makes falling cost the survive reward.
* time limit 1000 steps (registration), as Minari.

The directional ant (`gem_jax/AntDirection-v0`, `command="direction"`; the AntMaze issue,
after OGBench's directional ant expert): the same body, reward form and termination, but the
command is a unit direction `z` [2] in place of the goal vector, redrawn uniformly on the
circle every `direction_every` (100) steps, and the reward's velocity term is `10 v_xy . z`.
Hitting a direction is what the maze planner asks (its waypoint, normalised:
`maze_policy_observation(..., unit=True)`), and a policy learns it far faster than reaching
goals 0-10 m away.

Kept cheap to import: MuJoCo is loaded when the env is built.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np

OBS_DIM = 29
ACTION_DIM = 8
GOAL_REGION_RADIUS = 10.0
GOAL_THRESHOLD = 0.2
FORWARD_REWARD_SCALE = 10.0
RESET_NOISE_SCALE = 0.15
MAX_EPISODE_STEPS = 1000
DIRECTION_EVERY = 100  # steps between redrawn directions (OGBench's directional ant)
COMMANDS = ("goal", "direction")


def goal_reward(
    xy_velocity: np.ndarray,
    xy: np.ndarray,
    goal: np.ndarray,
    ctrl_reward: float,
    survive_reward: float,
    scale: float = FORWARD_REWARD_SCALE,
    max_speed: float | None = None,
    lateral_penalty: float = 0.0,
) -> float:
    """`scale * v . (goal - xy) / |goal - xy| + ctrl + survive` (Minari's `compute_reward`).

    xy_velocity [2], xy [2], goal [2]. At the goal itself (|goal - xy| = 0) the velocity
    term is 0. With `max_speed` (ours, m/s) the speed toward the goal is paid only up to it:
    `scale * min(v . d, max_speed)`; `lateral_penalty` (ours) charges
    `scale * lateral_penalty * |v x d|`, the speed across that direction.
    """
    direction = np.asarray(goal, np.float64) - np.asarray(xy, np.float64)  # [2]
    norm = float(np.linalg.norm(direction))
    velocity = np.asarray(xy_velocity, np.float64)
    forward = float(np.dot(velocity, direction) / norm) if norm > 0.0 else 0.0
    across = abs(float(velocity[0] * direction[1] - velocity[1] * direction[0]) / norm) \
        if norm > 0.0 else 0.0
    if max_speed is not None:
        forward = min(forward, float(max_speed))
    forward -= float(lateral_penalty) * across
    return scale * forward + float(ctrl_reward) + float(survive_reward)


def upright(qpos: np.ndarray) -> float:
    """World z component of the torso's z axis from qpos[3:7] = (w, x, y, z): 1 upright."""
    _, qx, qy, _ = qpos[3:7]
    return float(1.0 - 2.0 * (qx * qx + qy * qy))


def policy_observation(ant_obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """[29] = ant_obs[2:] [27] ++ (goal - ant_obs[:2]) [2]; ant_obs is qpos ++ qvel [29]."""
    return np.concatenate([ant_obs[2:], np.asarray(goal) - ant_obs[:2]])


def unit(vector: np.ndarray) -> np.ndarray:
    """`v / |v|` [2] (zero stays zero)."""
    norm = float(np.linalg.norm(vector))
    return np.asarray(vector, np.float64) / norm if norm > 0.0 else np.zeros(2)


def maze_policy_observation(maze_obs: dict, waypoint: np.ndarray, unit_command: bool = False
                            ) -> np.ndarray:
    """The same [29] layout inside AntMaze: `observation` [27] ++ (waypoint - xy) [2]
    (Minari's `wrap_maze_obs`); with `unit_command`, the unit direction to the waypoint (the
    directional ant's command)."""
    command = waypoint - maze_obs["achieved_goal"]
    return np.concatenate([maze_obs["observation"], unit(command) if unit_command else command])


class AntGoalEnv(gym.Env):
    """Goal-reaching Ant-v4 (module docstring). `info`: x/y velocity, reward terms, `goal`,
    `goal_reached` (this step), `goals_reached` (this episode)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        goal_region_radius: float = GOAL_REGION_RADIUS,
        goal_threshold: float = GOAL_THRESHOLD,
        forward_reward_scale: float = FORWARD_REWARD_SCALE,
        reset_noise_scale: float = RESET_NOISE_SCALE,
        terminate_when_flipped: bool = True,
        command: str = "goal",
        direction_every: int = DIRECTION_EVERY,
        action_noise: float = 0.0,
        max_speed: float | None = None,
        lateral_penalty: float = 0.0,
    ):
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}, got {command!r}.")
        if action_noise < 0:
            raise ValueError(f"action_noise must be >= 0, got {action_noise}.")
        if max_speed is not None and max_speed <= 0:
            raise ValueError(f"max_speed must be > 0 m/s (or None for no cap), got {max_speed}.")
        if lateral_penalty < 0:
            raise ValueError(f"lateral_penalty must be >= 0, got {lateral_penalty}.")
        if direction_every < 1:
            raise ValueError(f"direction_every must be >= 1 step, got {direction_every}.")
        if goal_region_radius <= 0 or goal_threshold <= 0:
            raise ValueError(
                f"goal_region_radius and goal_threshold must be > 0, got {goal_region_radius}"
                f" and {goal_threshold}."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "ant_v4 is out of date" (AntMaze-v4 uses it)
            from gymnasium.envs.mujoco.ant_v4 import AntEnv

            self.ant_env = AntEnv(
                exclude_current_positions_from_observation=False,
                reset_noise_scale=reset_noise_scale,
            )
        self.goal_region_radius = float(goal_region_radius)
        self.goal_threshold = float(goal_threshold)
        self.forward_reward_scale = float(forward_reward_scale)
        self.terminate_when_flipped = bool(terminate_when_flipped)
        self.command, self.direction_every = command, int(direction_every)
        # Gaussian noise added to every action before the body moves (clipped to the box):
        # training under the AntMaze recipe's N(0, 0.2^2) makes a policy that survives it
        self.action_noise = float(action_noise)
        # ours: pay the commanded speed only up to max_speed m/s; an uncapped ant learns a
        # ~2.6 m/s gallop; 11 of 30 of its 700-step episodes ended early (ant_probes.json)
        self.max_speed = None if max_speed is None else float(max_speed)
        # ours: charge the speed across the command; sideways drift walks the maze ant into
        # walls (the flips left at 5.9e6 were at the inner wall's corner, ant_probes.json)
        self.lateral_penalty = float(lateral_penalty)
        self.direction, self._steps = np.array([1.0, 0.0]), 0
        self.action_space = self.ant_env.action_space
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float64)
        self.goal = np.zeros(2)
        self._goals_reached = 0

    def _generate_goal(self) -> np.ndarray:
        angle = 2.0 * np.pi * self.np_random.uniform()
        radius = self.goal_region_radius * self.np_random.uniform()
        return radius * np.array([np.cos(angle), np.sin(angle)])  # [2]

    def _draw_direction(self) -> np.ndarray:
        angle = 2.0 * np.pi * self.np_random.uniform()
        return np.array([np.cos(angle), np.sin(angle)])  # [2], unit

    def _observe(self, ant_obs: np.ndarray) -> np.ndarray:
        if self.command == "direction":
            return np.concatenate([ant_obs[2:], self.direction])
        return policy_observation(ant_obs, self.goal)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.goal = self._generate_goal()
        if options and "goal" in options:
            self.goal = np.asarray(options["goal"], np.float64).reshape(2)
        ant_obs, _ = self.ant_env.reset(seed=seed)
        self._goals_reached, self._steps = 0, 0
        self.direction = self._draw_direction()
        if options and "direction" in options:
            self.direction = unit(np.asarray(options["direction"], np.float64).reshape(2))
        return self._observe(ant_obs), {"goal": self.goal.copy(),
                                        "direction": self.direction.copy()}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.action_noise:
            noise = self.np_random.normal(0.0, self.action_noise, np.shape(action))
            action = np.clip(np.asarray(action) + noise, -1.0, 1.0)
        ant_obs, _, unhealthy, _, info = self.ant_env.step(action)
        xy = ant_obs[:2]
        velocity = np.array([info["x_velocity"], info["y_velocity"]])
        toward = xy + self.direction if self.command == "direction" else self.goal
        reward = goal_reward(
            velocity,
            xy,
            toward,
            info["reward_ctrl"],
            info["reward_survive"],
            self.forward_reward_scale,
            self.max_speed,
            self.lateral_penalty,
        )
        flipped = upright(ant_obs[:15]) < 0.0
        terminated = bool(self.terminate_when_flipped and (flipped or unhealthy))
        reached = bool(np.linalg.norm(xy - self.goal) <= self.goal_threshold)
        if reached:
            self._goals_reached += 1
            self.goal = self._generate_goal()
        self._steps += 1
        if self.command == "direction" and self._steps % self.direction_every == 0:
            self.direction = self._draw_direction()
        info.update(goal=self.goal.copy(), goal_reached=reached, goals_reached=self._goals_reached,
                    direction=self.direction.copy())
        return self._observe(ant_obs), reward, terminated, False, info

    def close(self):
        self.ant_env.close()
        super().close()
