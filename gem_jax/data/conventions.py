"""Per-suite dataset conventions (method §2, 5), as pure NumPy functions.

* dones are terminals only; a truncation (time limit) is not a done.
* nav2d: rewards as the environment gives them.
* maze2d: rewards relabelled to the evaluation goal, as D4RL's maze2d datasets were
  (`relabel_maze2d_rewards.py`): the data were collected toward goals that moved after
  every success, while evaluation has one fixed goal g and no goal in the observation.
  `maze2d_rewards` recomputes the eval env's reward on the next position: sparse
  `1[||s'_xy - g|| <= 0.45]`, dense `exp(-||s'_xy - g||)`.
* antmaze: rewards and terminals relabelled to the evaluation goal, as D4RL's antmaze
  datasets were (`relabel_antmaze_rewards.py`): every episode of the data (and of Minari's
  v1 data) has its own goal, drawn around a cell centre (up to ±1 per axis, or anywhere for
  -play / -diverse), while evaluation has one fixed goal g and no goal in the observation.
  `goal_reached` gives `1[||s'_xy - g|| <= 0.45]` (gymnasium-robotics' success radius; D4RL
  used 0.5 with its own env's), the reward and the terminal of each transition; then `r - 1`
  (IQL's convention for the sparse 0/1 reward).
* locomotion: `r * 1000 / (max_return - min_return)`, the returns taken over the
  dataset's episodes (IQL's convention).
* optional observation normalisation `(s - mean) / std` with dataset statistics; the
  statistics travel with the checkpoint (`GEMState.obs_norm`) so evaluation applies the
  same map to raw environment observations.
"""

from __future__ import annotations

import numpy as np

OBS_STD_EPS = 1e-3  # added to the std so constant features do not blow up


def episode_returns(rewards: np.ndarray, episode_ids: np.ndarray) -> np.ndarray:
    """Undiscounted return of each episode. rewards [M], episode_ids [M] -> [num_episodes]."""
    return np.bincount(episode_ids, weights=rewards.astype(np.float64))


MAZE_SPARSE_RADIUS = 0.45  # gymnasium-robotics' success radius (PointMaze and AntMaze)


def goal_reached(next_positions: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """`1[||s'_xy - g|| <= 0.45]`, the eval env's success. next_positions [M, 2], goal [2]
    -> [M] bool."""
    distance = np.linalg.norm(np.asarray(next_positions, np.float64) - goal, axis=-1)  # [M]
    return distance <= MAZE_SPARSE_RADIUS


def maze2d_rewards(next_positions: np.ndarray, goal: np.ndarray, reward_type: str) -> np.ndarray:
    """The eval env's reward for reaching `goal`. next_positions [M, 2], goal [2] -> [M]."""
    distance = np.linalg.norm(np.asarray(next_positions, np.float64) - goal, axis=-1)  # [M]
    if reward_type == "sparse":
        return goal_reached(next_positions, goal).astype(np.float32)
    if reward_type == "dense":
        return np.exp(-distance).astype(np.float32)
    raise ValueError(f"Unknown maze reward_type {reward_type!r}; expected sparse or dense.")


def reward_scale(rewards: np.ndarray, episode_ids: np.ndarray, suite: str) -> float:
    """The factor the suite's convention multiplies rewards by: `1000 / (max_return -
    min_return)` on locomotion (IQL's), 1 elsewhere. rewards [M] raw, episode_ids [M]."""
    if suite in ("nav2d", "maze2d", "antmaze"):
        return 1.0
    if suite == "locomotion":
        returns = episode_returns(rewards, episode_ids)  # [E]
        spread = float(returns.max() - returns.min())
        if spread <= 0.0:
            raise ValueError(
                "Locomotion reward scaling needs episodes with different returns "
                f"(max - min = {spread}); the dataset has {returns.size} episode(s)."
            )
        return 1000.0 / spread
    raise ValueError(f"Unknown suite {suite!r}; expected nav2d, maze2d, antmaze or locomotion.")


def transform_rewards(rewards: np.ndarray, episode_ids: np.ndarray, suite: str) -> np.ndarray:
    """Apply the suite's reward convention. rewards [M] raw -> [M] float32."""
    rewards = rewards.astype(np.float32)
    scale = reward_scale(rewards, episode_ids, suite)
    if suite == "antmaze":
        return rewards - np.float32(1.0)
    return rewards if scale == 1.0 else (rewards * np.float32(scale)).astype(np.float32)


def observation_stats(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (+ eps) of the dataset observations [M, obs_dim] -> ([obs], [obs])."""
    mean = observations.mean(axis=0, dtype=np.float64)
    std = observations.std(axis=0, dtype=np.float64) + OBS_STD_EPS
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(observations: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((observations - mean) / std).astype(np.float32)  # [M, obs_dim]
