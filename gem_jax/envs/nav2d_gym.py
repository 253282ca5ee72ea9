"""Gymnasium face of the 2-D navigation task (`gem_jax/Nav2D-v0`).

The dynamics are the App. A equations of `gem_jax.envs.nav2d`, written again in NumPy
float32 so an evaluation loop pays no JAX dispatch per step; `tests/test_nav2d.py`
checks that both agree step for step. The start state comes from the JAX `reset` with
`PRNGKey(seed)`, so a seeded gymnasium reset and `nav2d.reset(PRNGKey(seed))` coincide.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from gem_jax.envs import nav2d


def _reached(position: np.ndarray, target: np.ndarray, radius: float) -> bool:
    delta = (position - target).astype(np.float32)  # [2]
    return bool(delta[0] * delta[0] + delta[1] * delta[1] < np.float32(radius * radius))


class Nav2DEnv(gym.Env):
    """S = [0, 30]^2, A = [-0.2, 0.2]^2, goal (30, 30), penalty [15, 30] x [0, 10]."""

    metadata = {"render_modes": []}

    def __init__(self, max_episode_steps: int = nav2d.MAX_EPISODE_STEPS):
        self.observation_space = gym.spaces.Box(
            nav2d.STATE_LOW, nav2d.STATE_HIGH, (nav2d.OBS_DIM,), np.float32
        )
        self.action_space = gym.spaces.Box(
            nav2d.ACTION_LOW, nav2d.ACTION_HIGH, (nav2d.ACTION_DIM,), np.float32
        )
        self.max_episode_steps = int(max_episode_steps)
        self._goal = np.asarray(nav2d.GOAL, np.float32)
        self._position = np.zeros((2,), np.float32)
        self._step = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if options and "position" in options:
            self._position = np.asarray(options["position"], np.float32).reshape(2)
        else:
            import jax  # deferred: keeps `import gem_jax.envs` cheap

            key_seed = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
            _, position = nav2d.reset(jax.random.PRNGKey(key_seed))
            self._position = np.asarray(position, np.float32)
        self._step = 0
        return self._position.copy(), {"success": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = np.clip(np.asarray(action, np.float32), nav2d.ACTION_LOW, nav2d.ACTION_HIGH)
        position = np.clip(self._position + action, nav2d.STATE_LOW, nav2d.STATE_HIGH)
        self._position = position.astype(np.float32)
        self._step += 1
        x, y = float(position[0]), float(position[1])
        terminated = _reached(position, self._goal, nav2d.GOAL_RADIUS)
        in_penalty = (
            nav2d.PENALTY_LOW[0] <= x <= nav2d.PENALTY_HIGH[0]
            and nav2d.PENALTY_LOW[1] <= y <= nav2d.PENALTY_HIGH[1]
        )
        if terminated:
            reward = nav2d.REWARD_GOAL
        elif in_penalty:
            reward = nav2d.REWARD_PENALTY
        else:
            reward = nav2d.REWARD_STEP
        truncated = self._step >= self.max_episode_steps and not terminated
        return self._position.copy(), float(reward), terminated, truncated, {"success": terminated}
