"""A small AntMaze pipeline fixture, `gem/antmaze/umaze-fixture-v0`. NOT A BENCHMARK.

Uniform random actions in `AntMaze_UMaze-v4` (the env version of Minari's official
`D4RL/antmaze/*-v1` data; `-v5` also exists in gymnasium-robotics >= 1.3 but the
official data and its evaluation env use v4) on the official umaze collection map,
`continuing_task=True, reset_target=False`, episodes truncated every 500 steps and reset
with seed + k. The ant never reaches the goal, so every raw reward is 0. Its only use is
to run the antmaze code path (dict observations flattened to D4RL's 29-d layout, the
`r - 1` reward convention, success-based scoring with ref scores 0 / 1, the evaluation
env) end to end without the official data. The real recipe (a trained ant, the planner,
Minari's maps) is `gem_jax.data.antmaze_sac_build`.
"""

from __future__ import annotations

import warnings

import numpy as np

from gem_jax.data import minari_io, names, storage

ENV_ID = "AntMaze_UMaze-v4"
EPISODE_STEPS = 500
G, R = "g", "r"
COLLECT_MAP = [[1, 1, 1, 1, 1], [1, G, 0, 0, 1], [1, 1, 1, 0, 1], [1, R, 0, 0, 1], [1, 1, 1, 1, 1]]
EVAL_MAP = [[1, 1, 1, 1, 1], [1, 0, 0, R, 1], [1, 0, 1, 1, 1], [1, 0, 0, G, 1], [1, 1, 1, 1, 1]]


def make_envs():
    import gymnasium as gym

    from gem_jax.data.envs import register_robotics

    register_robotics()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "v4 is out of date"
        collect_env = gym.make(
            ENV_ID,
            maze_map=COLLECT_MAP,
            continuing_task=True,
            reset_target=False,
            max_episode_steps=EPISODE_STEPS,
        )
        eval_env = gym.make(
            ENV_ID,
            maze_map=EVAL_MAP,
            continuing_task=True,
            reset_target=False,
            max_episode_steps=names.ANTMAZE_MAX_STEPS["umaze"],
        )
    return collect_env, eval_env


def collect_episode(sim, steps: int, seed: int, rng: np.random.Generator) -> dict:
    obs, _ = sim.reset(seed=seed)
    observations = {k: np.empty((steps + 1, *v.shape), v.dtype) for k, v in obs.items()}
    for k, v in obs.items():
        observations[k][0] = v
    actions = rng.uniform(-1.0, 1.0, (steps, 8)).astype(np.float32)  # [T, 8]
    rewards = np.empty((steps,), np.float64)
    for t in range(steps):
        obs, rewards[t], _, _, _ = sim.step(actions[t])
        for k, v in obs.items():
            observations[k][t + 1] = v
    return {
        "observations": observations,
        "actions": actions,
        "rewards": rewards,
        "terminations": np.zeros(steps, bool),
        "truncations": np.arange(steps) == steps - 1,
    }


def build(num_steps: int | None = None, seed: int = 0, progress: bool = True) -> str:
    """Build the fixture (default 5000 steps) as a Minari dataset; returns its id."""
    from tqdm.auto import tqdm

    num_steps = 5000 if num_steps is None else int(num_steps)
    if num_steps < 2:
        raise ValueError(f"num_steps must be >= 2, got {num_steps}.")
    collect_env, eval_env = make_envs()
    rng = np.random.default_rng(seed)
    lengths = [EPISODE_STEPS] * (num_steps // EPISODE_STEPS)
    lengths += [num_steps % EPISODE_STEPS] if num_steps % EPISODE_STEPS else []
    episodes = [
        collect_episode(collect_env.unwrapped, steps, seed + k, rng)
        for k, steps in enumerate(
            tqdm(lengths, disable=not progress, unit="ep", desc="antmaze fixture (not a benchmark)")
        )
    ]
    dataset_id = names.ANTMAZE_FIXTURE_ID
    minari_io.write_dataset(
        dataset_id,
        episodes,
        env=collect_env.spec,
        eval_env=eval_env.spec,
        ref_min_score=names.ANTMAZE_REF[0],
        ref_max_score=names.ANTMAZE_REF[1],
        algorithm_name="uniform random actions (pipeline fixture, not a benchmark)",
        description=(
            f"PIPELINE FIXTURE, NOT A BENCHMARK: {num_steps} uniform-random steps in {ENV_ID}, "
            f"seed {seed}. Exercises the antmaze data path only."
        ),
        requirements=["gymnasium-robotics>=1.3", "mujoco>=3.1"],
        progress=progress,
    )
    flat = storage.flatten_episodes(map(storage.EpisodeView, episodes), "antmaze", len(episodes))
    storage.write_flat_cache(dataset_id, "antmaze", flat)
    return dataset_id
