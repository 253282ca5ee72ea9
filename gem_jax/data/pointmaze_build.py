"""Local rebuild of the D4RL maze2d / Minari pointmaze datasets (`gem/pointmaze/<maze>-v0`).

The published recipe (Minari `create_pointmaze_dataset.py`, after D4RL): one
`PointMaze_<Maze>[Dense]-v3` env with `continuing_task=True, reset_target=True`, reset
once with the seed; every step the waypoint controller of `maze_controller` acts, plus
N(0, 0.5^2) noise, clipped to [-1, 1]. Reaching the goal (`info["success"]`) ends an
episode (a truncation; the env itself moves the goal and carries on), and the final
partial episode is truncated too. Terminations are therefore all False, as in D4RL.

Speed: the env is stepped unwrapped, the observations land in preallocated arrays, and
the Minari dataset is created from the filled episode buffers in one call.

Reference scores (`ref_min_score`, `ref_max_score`): mean return of a uniform random
policy and of the noiseless controller, each over `reference_episodes` episodes of the
evaluation env (the fixed-goal map of Minari's script, `continuing_task=True,
reset_target=False`, D4RL's horizon of 300 / 600 / 800 steps).
"""

from __future__ import annotations

import numpy as np

from gem_jax.data import minari_io, names, storage
from gem_jax.data.maze_controller import WaypointController

ACTION_NOISE = 0.5
G = "g"
EVAL_MAPS = {  # single goal G, random resets (Minari's EVAL_ENV_MAPS)
    "umaze": [[1, 1, 1, 1, 1], [1, G, 0, 0, 1], [1, 1, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]],
    "medium": [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [1, 0, 0, 1, 1, 0, 0, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 0, 0, 1, 0, 1],
        [1, 0, 0, 0, 1, 0, G, 1],
        [1, 1, 1, 1, 1, 1, 1, 1],
    ],
    "large": [
        [1] * 12,
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1],
        [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1, 0, G, 0, 1],
        [1] * 12,
    ],
}


MAZE_ENV_NAMES = {"umaze": "UMaze", "medium": "Medium", "large": "Large"}


def env_id(maze: str, dense: bool) -> str:
    return f"PointMaze_{MAZE_ENV_NAMES[maze]}{'Dense' if dense else ''}-v3"


def make_envs(maze: str, dense: bool):
    """(collection env, evaluation env), both gymnasium-robotics PointMaze v3."""
    import gymnasium as gym

    from gem_jax.data.envs import register_robotics

    register_robotics()
    collect_env = gym.make(
        env_id(maze, dense), continuing_task=True, reset_target=True, max_episode_steps=1_000_000
    )
    eval_env = gym.make(
        env_id(maze, dense),
        maze_map=EVAL_MAPS[maze],
        continuing_task=True,
        reset_target=False,
        max_episode_steps=names.MAZE2D_MAX_STEPS[maze],
    )
    return collect_env, eval_env


def collect(env, num_steps: int, seed: int, progress: bool = True) -> dict:
    """Roll the noisy controller for `num_steps` steps from one seeded reset."""
    from tqdm.auto import tqdm

    sim = env.unwrapped
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, ACTION_NOISE, (num_steps, 2))  # [N, 2]
    controller = WaypointController(sim.maze, np.random.default_rng([seed, 1]))
    obs, _ = sim.reset(seed=seed)
    observations = {k: np.empty((num_steps + 1, *v.shape), v.dtype) for k, v in obs.items()}
    actions = np.empty((num_steps, 2), np.float32)
    rewards = np.empty((num_steps,), np.float64)
    success = np.empty((num_steps,), bool)
    for k, v in obs.items():
        observations[k][0] = v
    tick = 10_000
    with tqdm(
        total=num_steps,
        disable=not progress,
        unit="step",
        unit_scale=True,
        desc=f"pointmaze: collecting {env.spec.id}",
    ) as bar:
        for t in range(num_steps):
            action = np.clip(controller(obs) + noise[t], -1.0, 1.0).astype(np.float32)
            obs, reward, _, _, info = sim.step(action)
            for k, v in obs.items():
                observations[k][t + 1] = v
            actions[t], rewards[t], success[t] = action, reward, info["success"]
            if (t + 1) % tick == 0:
                bar.update(tick)
        bar.update(num_steps % tick)
    return {
        "observations": observations,
        "actions": actions,
        "rewards": rewards,
        "success": success,
    }


def split_episodes(rollout: dict) -> list[dict]:
    """Cut at every success and at the end; consecutive episodes share the boundary obs."""
    success = rollout["success"]
    num_steps = success.shape[0]
    ends = np.flatnonzero(success)
    ends = np.append(ends[ends < num_steps - 1], num_steps - 1)
    episodes, start = [], 0
    for end in ends:
        sl = slice(start, end + 1)
        episodes.append(
            {
                "observations": {k: v[start : end + 2] for k, v in rollout["observations"].items()},
                "actions": rollout["actions"][sl],
                "rewards": rollout["rewards"][sl],
                "terminations": np.zeros(end + 1 - start, bool),
                "truncations": np.arange(start, end + 1) == end,
            }
        )
        start = end + 1
    return episodes


def average_return(env, policy, num_episodes: int, seed: int) -> float:
    """Mean undiscounted return over `num_episodes` (one seeded reset, then unseeded)."""
    returns = []
    obs, _ = env.reset(seed=seed)
    for _ in range(num_episodes):
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    return float(np.mean(returns))


def reference_scores(eval_env, num_episodes: int, seed: int) -> tuple[float, float]:
    eval_env.action_space.seed(seed)
    random_score = average_return(
        eval_env, lambda _: eval_env.action_space.sample(), num_episodes, seed
    )
    controller = WaypointController(eval_env.unwrapped.maze, np.random.default_rng([seed, 2]))
    expert = lambda obs: np.clip(controller(obs), -1.0, 1.0).astype(np.float32)
    return random_score, average_return(eval_env, expert, num_episodes, seed)


def build(
    maze: str,
    dense: bool,
    num_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    reference_episodes: int = 100,
) -> str:
    """Build `gem/pointmaze/<maze>[-dense]-v0` as a Minari dataset; returns its id."""
    num_steps = 1_000_000 if num_steps is None else int(num_steps)
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    dataset_id = names.LOCAL[f"pointmaze-{maze}{'-dense' if dense else ''}"].dataset_ids[0]
    collect_env, eval_env = make_envs(maze, dense)
    episodes = split_episodes(collect(collect_env, num_steps, seed, progress))
    ref_min, ref_max = reference_scores(eval_env, reference_episodes, seed)
    minari_io.write_dataset(
        dataset_id,
        episodes,
        env=collect_env.spec,
        eval_env=eval_env.spec,
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        algorithm_name="QIteration waypoints + PD controller (D4RL maze2d recipe)",
        description=(
            f"Local rebuild of the D4RL maze2d-{maze} recipe with {env_id(maze, dense)}, seed "
            f"{seed}, {num_steps} steps, {len(episodes)} episodes (one per reached goal). "
            f"Reference scores over {reference_episodes} evaluation episodes: random "
            f"{ref_min:.2f}, controller {ref_max:.2f}. Not the official D4RL data."
        ),
        requirements=["gymnasium-robotics>=1.3", "mujoco>=3.1"],
        progress=progress,
    )
    flat = storage.flatten_episodes(map(storage.EpisodeView, episodes), "maze2d", len(episodes))
    storage.write_flat_cache(dataset_id, "maze2d", flat)
    return dataset_id
