"""Local rebuilds of Minari's pointmaze and D4RL's maze2d datasets.

Two published recipes, which differ in one rule: when the collector moves on to a new goal.

* `recipe="minari"` (`gem/pointmaze/<maze>[-dense]-v0`, short name `pointmaze-<maze>`):
  Minari's `create_pointmaze_dataset.py`, the recipe of Minari's `D4RL/pointmaze/*-v2`. The
  env moves the goal as soon as the agent is within 0.45 of it (`reset_target=True`), so the
  agent turns away at speed and the data never slow down at a goal.
* `recipe="d4rl"` (`gem/maze2d/<maze>[-dense]-v0`, short name `maze2d-<maze>`): D4RL's
  `generate_maze2d_datasets.py` + `waypoint_controller.py`, the data of D4RL's
  `maze2d-*-v1`, which the GEM paper evaluated on. A goal is solved only when the agent is
  within `D4RL_SOLVE_THRESHOLD` = 0.1 of it (D4RL also asks for a per-step displacement
  below 0.1, which at dt = 0.01 and |v| <= 5 always holds), or after an episode of the
  evaluation horizon without solving it (D4RL's `ts >= max_episode_steps`); then the
  collector draws the next goal (`generate_target_goal` + position noise, the env's own
  draw). The PD controller slows down as it closes in, so these data contain the slow
  states at each goal that the evaluation (staying inside the goal disc) rewards.

Common to both: one `PointMaze_<Maze>[Dense]-v3` env with `continuing_task=True`, reset
once with the seed; every step the waypoint controller of `maze_controller` acts, plus
N(0, 0.5^2) noise, clipped to [-1, 1]. A new goal ends an episode (a truncation; the env
carries on from where the agent is), and the final partial episode is truncated too.
Terminations are therefore all False, as in D4RL.

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
RECIPES = ("minari", "d4rl")
D4RL_SOLVE_THRESHOLD = 0.1  # D4RL WaypointController.solve_thresh
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


def make_envs(maze: str, dense: bool, recipe: str = "minari"):
    """(collection env, evaluation env), both gymnasium-robotics PointMaze v3. Under the
    D4RL recipe the collector, not the env, moves the goal (`reset_target=False`)."""
    import gymnasium as gym

    from gem_jax.data.envs import register_robotics

    register_robotics()
    collect_env = gym.make(
        env_id(maze, dense),
        continuing_task=True,
        reset_target=recipe == "minari",
        max_episode_steps=1_000_000,
    )
    eval_env = gym.make(
        env_id(maze, dense),
        maze_map=EVAL_MAPS[maze],
        continuing_task=True,
        reset_target=False,
        max_episode_steps=names.MAZE2D_MAX_STEPS[maze],
    )
    return collect_env, eval_env


def collect(
    env, num_steps: int, seed: int, progress: bool = True, recipe: str = "minari",
    horizon: int = 1_000_000,
) -> dict:
    """Roll the noisy controller for `num_steps` steps from one seeded reset.

    `success[t]` marks the steps after which the goal moved (an episode ends there): the
    env's 0.45 success under `recipe="minari"`; under `"d4rl"`, reaching within
    `D4RL_SOLVE_THRESHOLD` of the goal or `horizon` steps spent on it.
    """
    if recipe not in RECIPES:
        raise ValueError(f"Unknown pointmaze recipe {recipe!r}; choose one of {RECIPES}.")
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
    tick, since_goal = 10_000, 0
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
            moved = info["success"]
            if recipe == "d4rl":
                since_goal += 1
                near = np.linalg.norm(obs["achieved_goal"] - sim.goal) <= D4RL_SOLVE_THRESHOLD
                moved = bool(near or since_goal >= horizon)
                if moved:  # D4RL's env.set_target(): the next goal, drawn by the env
                    sim.goal = sim.add_xy_position_noise(sim.generate_target_goal())
                    sim.update_target_site_pos()
                    obs["desired_goal"] = sim.goal.copy()
                    since_goal = 0
            for k, v in obs.items():
                observations[k][t + 1] = v
            actions[t], rewards[t], success[t] = action, reward, moved
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
    recipe: str = "minari",
) -> str:
    """Build `gem/pointmaze/<maze>[-dense]-v0` (Minari's recipe) or `gem/maze2d/...-v0`
    (`recipe="d4rl"`) as a Minari dataset; returns its id."""
    num_steps = 1_000_000 if num_steps is None else int(num_steps)
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    if recipe not in RECIPES:
        raise ValueError(f"Unknown pointmaze recipe {recipe!r}; choose one of {RECIPES}.")
    family = "pointmaze" if recipe == "minari" else "maze2d"
    dataset_id = names.LOCAL[f"{family}-{maze}{'-dense' if dense else ''}"].dataset_ids[0]
    collect_env, eval_env = make_envs(maze, dense, recipe)
    horizon = names.MAZE2D_MAX_STEPS[maze]
    episodes = split_episodes(collect(collect_env, num_steps, seed, progress, recipe, horizon))
    ref_min, ref_max = reference_scores(eval_env, reference_episodes, seed)
    minari_io.write_dataset(
        dataset_id,
        episodes,
        env=collect_env.spec,
        eval_env=eval_env.spec,
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        algorithm_name=f"QIteration waypoints + PD controller ({recipe} recipe)",
        description=(
            f"Local rebuild of the {'Minari pointmaze' if recipe == 'minari' else 'D4RL maze2d'}"
            f"-{maze} recipe with {env_id(maze, dense)}, seed "
            f"{seed}, {num_steps} steps, {len(episodes)} episodes (one per goal). "
            f"Reference scores over {reference_episodes} evaluation episodes: random "
            f"{ref_min:.2f}, controller {ref_max:.2f}. Not the official D4RL data."
        ),
        requirements=["gymnasium-robotics>=1.3", "mujoco>=3.1"],
        progress=progress,
    )
    flat = storage.flatten_episodes(map(storage.EpisodeView, episodes), "maze2d", len(episodes))
    storage.write_flat_cache(dataset_id, "maze2d", flat)
    return dataset_id
