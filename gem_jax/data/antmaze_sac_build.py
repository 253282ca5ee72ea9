"""AntMaze datasets by Minari's recipe (`gem/antmaze/<task>-v0`) from our shipped ant policy.

Recipe: minari-dataset-generation-scripts `scripts/D4RL/antmaze/create_antmaze_dataset.py`
with `scripts/antmaze/controller.py` (and D4RL's antmaze data before them), written again:

* behavior: the goal-reaching ant `gem_jax/AntGoal-v0` (`gem_jax.envs.ant_goal`) trained with
  our SAC (`tools/train_sac.py`) and shipped as `policies/ant-goal.msgpack`
  (`tools/ship_ant_policy.py`). Its goal input is the vector to the current waypoint.
* waypoints: the value-iteration planner of `maze_controller` on the maze's own cell grid,
  switching waypoints within 0.45, intermediate waypoints at cell centres minus
  `U[0, 1)^2 * 0.2`, the last one the goal itself.
* actions: a sample of the stochastic policy (SB3's `predict` default in Minari) plus
  N(0, 0.2^2) noise, clipped to [-1, 1] (`SACPolicy`, NumPy forward pass).
* env: gymnasium-robotics `AntMaze_*-v4`, `continuing_task=True, reset_target=False`: the ant
  keeps the one goal of each episode (its reward is the sparse `1[|xy - goal| <= 0.45]` every
  step it is there) and every episode is cut (truncated) at the registered horizon, 700 steps
  for umaze and 1000 for medium / large, then reset with seed + k. Terminations are all False.
* size: 10^6 steps per dataset, so about 1429 (umaze) / 1000 episodes.
* reference scores, as Minari computes them (`minari.utils.get_average_reference_score`):
  `ref_min_score` the mean return of uniform random actions and `ref_max_score` the mean
  return of the planner + policy (no added noise) over `reference_episodes` (100) episodes of
  the evaluation env (`EVAL_MAPS`, `continuing_task=True, reset_target=False`, first reset
  seeded). They are stored in the metadata only: gem-jax scores antmaze by success (0 / 1,
  `names.ANTMAZE_REF`) in an evaluation env that ends on success, as D4RL.
* evaluation maps (`EVAL_MAPS`): one start cell, one goal cell. Medium and large are
  Minari's `EVAL_ENV_MAPS` (the data's maze, start top-left, goal bottom-right). For umaze we
  do *not* take Minari's: its umaze evaluation map (`MINARI_UMAZE_EVAL_MAP`, also the
  fixture's) has the wall gap at cell (2, 1) where the data's maze has it at (2, 3), i.e. it
  is the data's maze turned by 180 degrees, so a policy learned from the data would be scored
  in a maze it never saw. We evaluate umaze as D4RL does, from the collection start (3, 1) to
  its goal (1, 1) in the data's own maze (`COLLECT_MAP`; D4RL's goal is 8 units from the
  start along y, as here).

Rewards: what the env gives, `1[|xy - goal| <= 0.45]` toward *each episode's own goal*
(Minari stores the same; the goal is kept in `observations["desired_goal"]`). Each episode's
goal is drawn around its cell (up to ±1 per axis for the ant) or, for -diverse / -play, in a
random cell. The loader relabels rewards and terminals toward the one evaluation goal, the
eval maze's goal-cell centre, as D4RL did (`conventions.goal_reached`; on umaze 9.3% of the
steps are rewarded after relabelling, 33.4% before), and evaluation keeps that goal fixed
(`envs.FixedGoal`); then gem-jax's antmaze convention `r - 1`.

Maps (`TASKS`), Minari's mapping, which this module follows:

| task | env | starts / goals |
|---|---|---|
| umaze | `AntMaze_UMaze-v4`, fixed map | one start cell, one goal cell (the fixture's map) |
| umaze-diverse | `AntMaze_UMaze-v4` | any free cell |
| medium-play | `AntMaze_Medium-v4` | any free cell |
| medium-diverse | `AntMaze_Medium_Diverse_GR-v4` | 4 hand-picked cells (both roles) |
| large-play | `AntMaze_Large-v4` | any free cell |
| large-diverse | `AntMaze_Large_Diverse_GR-v4` | 8 hand-picked cells (both roles) |

D4RL describes it the other way round: "diverse" commands random goals, "play" hand-picked
goals from hand-picked starts. Minari's `-play` maps draw from every free cell and its
`-diverse` maps from a few hand-picked `c` cells, so by D4RL's words the two are swapped.
We follow Minari because gem-jax's official names (`antmaze-medium-play-v2` ...) load
Minari's `D4RL/antmaze/*-v1` data, and a local stand-in should be the same recipe as the data
its official name loads; `policies/README.md` says the same.

Acceptance (`goal_success`): the share of 700-step umaze episodes in which planner + policy
(with the data's action noise) reach the goal; Minari's figures are in `MINARI_FIGURES`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from gem_jax.data import minari_io, names, storage
from gem_jax.data.antmaze_build import COLLECT_MAP, EVAL_MAP
from gem_jax.data.maze_controller import WaypointController
from gem_jax.envs.ant_goal import ACTION_DIM, maze_policy_observation

WAYPOINT_THRESHOLD = 0.45
ACTION_NOISE = 0.2
SUCCESS_RADIUS = 0.45  # AntMaze-v4's sparse reward / info["success"] radius
DEFAULT_NUM_STEPS = 1_000_000
POLICY_DIR = Path(__file__).with_name("policies")
POLICY_PATH = POLICY_DIR / "ant-goal.msgpack"

# task -> (gymnasium-robotics env id, collection maze_map or None for the registered map)
TASKS: dict[str, tuple[str, list | None]] = {
    "umaze": ("AntMaze_UMaze-v4", COLLECT_MAP),
    "umaze-diverse": ("AntMaze_UMaze-v4", None),
    "medium-play": ("AntMaze_Medium-v4", None),
    "medium-diverse": ("AntMaze_Medium_Diverse_GR-v4", None),
    "large-play": ("AntMaze_Large-v4", None),
    "large-diverse": ("AntMaze_Large_Diverse_GR-v4", None),
}
G, R = "g", "r"
EVAL_MAPS = {  # one start R, one goal G; medium, large: Minari's EVAL_ENV_MAPS
    "umaze": COLLECT_MAP,  # not Minari's umaze eval map (MINARI_UMAZE_EVAL_MAP), see above
    "medium": [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [1, R, 0, 1, 1, 0, 0, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 0, 0, 1, 0, 1],
        [1, 0, 0, 0, 1, 0, G, 1],
        [1, 1, 1, 1, 1, 1, 1, 1],
    ],
    "large": [
        [1] * 12,
        [1, R, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1],
        [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1, 0, G, 0, 1],
        [1] * 12,
    ],
}
MINARI_UMAZE_EVAL_MAP = EVAL_MAP  # the wall gap at (2, 1): a different maze from the data's
# What Minari's D4RL/antmaze/*-v1 data show, as cited in issue #16 (approximate: the
# episode counts follow from 10^6 steps / horizon, the success shares are rounded ranges);
# our builds' figures are recorded beside them in policies/manifest.json ("ant-goal").
MINARI_FIGURES = {
    "umaze": {"episodes": 1430},
    "umaze-diverse": {"episodes": 1430, "success": "~0.94"},
    "medium-play": {"episodes": 1000, "success": "0.83-0.87"},
    "medium-diverse": {"episodes": 1000, "success": "0.83-0.87"},
    "large-play": {"episodes": 1000, "success": "0.83-0.87"},
    "large-diverse": {"episodes": 1000, "success": "0.83-0.87"},
}
UMAZE_SUCCESS_TARGET = 0.9
ACCEPTANCE = {"umaze": 0.9, "medium-play": 0.8}  # the shipped ant's checks (AntMaze issue)
# The shipped ant is the directional one (gem_jax/AntDirection-v0): it is commanded by the unit
# vector toward the planner's waypoint, not the raw goal vector of Minari's goal-reaching ant.
UNIT_COMMAND = True
TRAIN_COMMAND = ("python tools/train_sac.py --env=gem_jax/AntDirection-v0 --workdir=<dir> "
                 "--num_envs=16 --utd=0.25 --lr=1e-4 --target_entropy_scale=0.5 --resume")


def parse_task(name: str) -> str:
    """`"antmaze-medium-play"` (or `"medium-play"`) -> `"medium-play"`."""
    task = name.removeprefix("antmaze-")
    if task not in TASKS:
        raise ValueError(
            f"unknown antmaze task {name!r}; expected one of {['antmaze-' + t for t in TASKS]}."
        )
    return task


def maze_of(task: str) -> str:
    return task.split("-")[0]


def dataset_id(task: str) -> str:
    return f"gem/antmaze/{parse_task(task)}-v0"


def horizon(task: str) -> int:
    return names.ANTMAZE_MAX_STEPS[maze_of(task)]


def missing_policy_message(path: Path | None = None) -> str:
    path = POLICY_PATH if path is None else Path(path)
    return (
        f"the AntMaze recipe needs the goal-reaching ant policy {path.name}, not shipped yet: "
        f"train it with `{TRAIN_COMMAND}` and ship it with `python tools/ship_ant_policy.py "
        "--workdir=<dir>` (gem_jax/data/policies/README.md, AntMaze section)."
    )


def policy_shipped(path: Path | None = None) -> bool:
    return (POLICY_PATH if path is None else Path(path)).is_file()


def require_policy(path: Path | None = None) -> None:
    """Raise a one-line `FileNotFoundError` if the ant policy is not shipped."""
    if not policy_shipped(path):
        raise FileNotFoundError(missing_policy_message(path))


def load_policy(path: Path | None = None):
    """The shipped actor's parameters (float32), from the `locomotion.save_policy` format
    (its first snapshot)."""
    import jax
    from flax import serialization

    path = POLICY_PATH if path is None else Path(path)
    require_policy(path)
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
        return jax.tree.map(lambda x: np.asarray(x[0], np.float32), payload["actor_params"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a shipped SAC actor file ({error}).") from error


class SACPolicy:
    """Host-side `obs [29] -> action [8]` of a shipped
    `gem_jax.data.behavior.sac.TanhGaussianActor`.

    The actor's forward pass in NumPy (ReLU MLP, then mean and log-std clipped to
    `SACConfig`'s [-5, 2]): a per-step jitted JAX call costs about a millisecond on a CPU,
    this about 30 us. `deterministic=False` samples `tanh(mean + std * eps)` with `eps` from
    `np.random.default_rng(seed)`; `True` returns `tanh(mean)`.
    `tests/test_antmaze_sac_build.py` checks it against `sac.make_act`.
    """

    def __init__(self, actor_params, seed, deterministic: bool = False):
        from gem_jax.data.behavior import sac

        params = actor_params["params"]
        mlp = params["MLP_0"]
        order = sorted(mlp, key=lambda name: int(name.split("_")[-1]))
        self.hidden = [(np.asarray(mlp[n]["kernel"]), np.asarray(mlp[n]["bias"])) for n in order]
        self.head = (np.asarray(params["Dense_0"]["kernel"]), np.asarray(params["Dense_0"]["bias"]))
        config = sac.SACConfig()
        self.log_std_range = (config.log_std_min, config.log_std_max)
        self.rng = np.random.default_rng(seed)
        self.deterministic = deterministic

    def mean_log_std(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[..., 29] -> mean [..., 8], log_std [..., 8] (float32)."""
        h = np.asarray(observation, np.float32)
        for kernel, bias in self.hidden:
            h = np.maximum(h @ kernel + bias, 0.0)  # [..., H]
        out = h @ self.head[0] + self.head[1]  # [..., 16]
        mean, log_std = np.split(out, 2, axis=-1)
        return mean, np.clip(log_std, *self.log_std_range)

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        mean, log_std = self.mean_log_std(observation)
        if self.deterministic:
            return np.tanh(mean)
        return np.tanh(mean + np.exp(log_std) * self.rng.standard_normal(mean.shape))


def make_env(task: str, eval_env: bool = False, **kwargs):
    """The task's collection env (or Minari's evaluation env), `continuing_task=True,
    reset_target=False`, registered horizon (700 / 1000 steps)."""
    import gymnasium as gym

    from gem_jax.data.envs import register_robotics

    task = parse_task(task)
    env_id, collect_map = TASKS[task]
    maze_map = EVAL_MAPS[maze_of(task)] if eval_env else collect_map
    if maze_map is not None:
        kwargs["maze_map"] = maze_map
    register_robotics()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "v4 is out of date"
        return gym.make(env_id, continuing_task=True, reset_target=False, **kwargs)


def rollout_episode(
    sim,
    controller: WaypointController,
    policy,
    steps: int,
    seed: int,
    noise: np.ndarray | None,
) -> dict:
    """One episode of `steps` steps of planner + policy (+ `noise` [steps, 8]) from a reset
    with `seed`; `sim` is the unwrapped AntMaze env. Returns a Minari-ready episode dict."""
    obs, info = sim.reset(seed=seed)
    controller.reset()
    observations = {k: np.empty((steps + 1, *v.shape), v.dtype) for k, v in obs.items()}
    for k, v in obs.items():
        observations[k][0] = v
    actions = np.empty((steps, ACTION_DIM), np.float32)  # [T, 8]
    rewards = np.empty((steps,), np.float64)  # [T]
    success = np.zeros((steps + 1,), bool)  # [T+1], Minari's infos["success"]
    success[0] = info["success"]
    for t in range(steps):
        action = policy(maze_policy_observation(obs, controller.target(obs), UNIT_COMMAND))
        if noise is not None:
            action = action + noise[t]
        actions[t] = np.clip(action, -1.0, 1.0)
        obs, rewards[t], _, _, info = sim.step(actions[t])
        for k, v in obs.items():
            observations[k][t + 1] = v
        success[t + 1] = info["success"]
    return {
        "observations": observations,
        "actions": actions,
        "rewards": rewards,
        "terminations": np.zeros(steps, bool),
        "truncations": np.arange(steps) == steps - 1,
        "infos": {"success": success},
    }


def episode_lengths(num_steps: int, episode_steps: int) -> list[int]:
    """Full episodes of `episode_steps`, then the remainder (itself truncated)."""
    lengths = [episode_steps] * (num_steps // episode_steps)
    return lengths + ([num_steps % episode_steps] if num_steps % episode_steps else [])


def _episode_rngs(seed: int, k: int) -> tuple:
    """Episode k's own generators (action noise, planner, policy): an episode's data depend
    only on (seed, k), so episodes can be collected in any order, in any process."""
    return (np.random.default_rng([seed, 2, k]), np.random.default_rng([seed, 1, k]),
            [seed, 3, k])


_WORKER: dict = {}


def _worker_init(task: str, actor_params) -> None:
    env = make_env(task)
    _WORKER.update(task=task, env=env, params=actor_params)


def _collect_one(args) -> dict:
    """One episode in a worker (or in-process): `(k, steps, seed, action_noise)`."""
    k, steps, seed, action_noise = args
    sim = _WORKER["env"].unwrapped
    noise_rng, planner_rng, policy_seed = _episode_rngs(seed, k)
    controller = WaypointController(sim.maze, planner_rng, WAYPOINT_THRESHOLD)
    policy = SACPolicy(_WORKER["params"], seed=policy_seed)
    noise = noise_rng.normal(0.0, action_noise, (steps, ACTION_DIM)) if action_noise else None
    return rollout_episode(sim, controller, policy, steps, seed + k, noise)


def collect(
    task: str,
    actor_params,
    num_steps: int,
    seed: int,
    progress: bool = True,
    action_noise: float = ACTION_NOISE,
    workers: int | None = None,
) -> list[dict]:
    """The dataset's episodes (module docstring): episode k is reset with `seed + k` and
    draws its noise, waypoints and policy samples from its own generators, so `workers`
    processes (default 1; `build` uses one per core) collect them in parallel with the same
    result. Worker processes are spawned: a script calling this with `workers > 1` needs
    Python's `if __name__ == "__main__":` guard (every command here has it)."""
    from tqdm.auto import tqdm

    jobs = [(k, steps, seed, action_noise)
            for k, steps in enumerate(episode_lengths(num_steps, horizon(task)))]
    workers = min(workers or 1, len(jobs))
    bar = tqdm(total=num_steps, disable=not progress, unit="step", unit_scale=True,
               desc=f"antmaze-{parse_task(task)}: collecting", mininterval=2)
    episodes = []
    if workers <= 1:
        _worker_init(task, actor_params)
        try:
            for job in jobs:
                episodes.append(_collect_one(job))
                bar.update(job[1])
        finally:
            _WORKER.pop("env").close()
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no fork of a process holding JAX
        with context.Pool(workers, _worker_init, (task, actor_params)) as pool:
            for episode in pool.imap(_collect_one, jobs, chunksize=4):
                episodes.append(episode)
                bar.update(len(episode["rewards"]))
    bar.close()
    return episodes


def summarize(episodes) -> dict:
    """Episode count, share of episodes that reach the goal (any sparse reward), steps."""
    reached = [bool(np.any(np.asarray(ep["rewards"]) > 0)) for ep in episodes]
    return {
        "episodes": len(reached),
        "steps": int(sum(len(ep["rewards"]) for ep in episodes)),
        "success": round(float(np.mean(reached)), 4) if reached else float("nan"),
    }


def average_return(
    env, policy, num_episodes: int, seed: int, controller=None, progress: bool = False
) -> float:
    """Minari's `get_average_reference_score`: first reset seeded, then unseeded. With a
    `controller`, `policy` sees the [29] observation toward its waypoint (planner + policy)."""
    from tqdm.auto import tqdm

    returns = []
    obs, _ = env.reset(seed=seed)
    for _ in tqdm(range(num_episodes), disable=not progress, unit="ep", desc="reference"):
        total, done = 0.0, False
        if controller is not None:
            controller.reset()
        while not done:
            if controller is None:
                action = policy(obs)
            else:
                command = maze_policy_observation(obs, controller.target(obs), UNIT_COMMAND)
                action = policy(command)
            obs, reward, terminated, truncated, _ = env.step(np.clip(action, -1.0, 1.0))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    return float(np.mean(returns))


def reference_scores(
    task: str, actor_params, num_episodes: int, seed: int, progress: bool = False
) -> tuple[float | None, float | None]:
    """(ref_min, ref_max) as Minari computes them (module docstring); (None, None) for 0."""
    if num_episodes <= 0:
        return None, None
    env = make_env(task, eval_env=True)
    env.action_space.seed(seed)
    random_score = average_return(
        env, lambda _: env.action_space.sample(), num_episodes, seed, progress=progress
    )
    controller = WaypointController(
        env.unwrapped.maze, np.random.default_rng([seed, 2]), WAYPOINT_THRESHOLD
    )
    policy = SACPolicy(actor_params, seed=[seed, 4])
    expert = average_return(env, policy, num_episodes, seed, controller, progress)
    env.close()
    return random_score, expert


def goal_success(
    actor_params,
    num_episodes: int = 50,
    seed: int = 0,
    task: str = "umaze",
    action_noise: float = ACTION_NOISE,
    progress: bool = False,
) -> dict:
    """Acceptance check: planner + policy in the task's collection env (umaze: one start,
    one goal, 700 steps), `num_episodes` episodes; the share that reach the goal."""
    episodes = collect(task, actor_params, num_episodes * horizon(task), seed, progress,
                       action_noise)  # fmt: skip
    first = [np.flatnonzero(ep["rewards"] > 0) for ep in episodes]
    summary = summarize(episodes)
    summary.update(
        task=parse_task(task),
        action_noise=action_noise,
        target=ACCEPTANCE.get(parse_task(task), UMAZE_SUCCESS_TARGET),
        passed=bool(summary["success"] >= ACCEPTANCE.get(parse_task(task), UMAZE_SUCCESS_TARGET)),
        median_steps_to_goal=float(np.median([f[0] + 1 for f in first if f.size]))
        if any(f.size for f in first) else None,
    )  # fmt: skip
    return summary


def build(
    task: str,
    num_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    reference_episodes: int = 100,
    policy_path: Path | None = None,
    workers: int | None = None,
) -> str:
    """Build `gem/antmaze/<task>-v0` (module docstring) as a Minari dataset; returns its id.
    `workers` processes collect the episodes (default: one per core; same data either way)."""
    import os

    task = parse_task(task)
    num_steps = DEFAULT_NUM_STEPS if num_steps is None else int(num_steps)
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    actor_params = load_policy(policy_path)
    episodes = collect(task, actor_params, num_steps, seed, progress,
                       workers=os.cpu_count() if workers is None else workers)
    stats = summarize(episodes)
    ref_min, ref_max = reference_scores(task, actor_params, reference_episodes, seed, progress)
    env, eval_env = make_env(task), make_env(task, eval_env=True)
    ds_id = dataset_id(task)
    refs = (
        f"Minari-style reference returns over {reference_episodes} evaluation episodes: "
        f"random {ref_min:.2f}, planner + policy {ref_max:.2f}."
        if ref_min is not None else "No reference returns computed."
    )  # fmt: skip
    minari_io.write_dataset(
        ds_id,
        episodes,
        env=env.spec,
        eval_env=eval_env.spec,
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        algorithm_name="QIteration waypoints + SAC goal-reaching ant (Minari antmaze recipe)",
        description=(
            f"Local rebuild of Minari's D4RL antmaze-{task} recipe with {TASKS[task][0]}, "
            f"seed {seed}, {num_steps} steps, {stats['episodes']} episodes of "
            f"{horizon(task)} steps, {100 * stats['success']:.1f}% reaching the goal. {refs} "
            "Not the official D4RL / Minari data."
        ),
        requirements=["gymnasium-robotics>=1.3", "mujoco>=3.1"],
        progress=progress,
    )
    env.close()
    eval_env.close()
    flat = storage.flatten_episodes(map(storage.EpisodeView, episodes), "antmaze", len(episodes))
    storage.write_flat_cache(ds_id, "antmaze", flat)
    return ds_id
