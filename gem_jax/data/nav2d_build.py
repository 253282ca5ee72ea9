"""The nav2d dataset of the EMPO paper, App. A (Algorithm 3), built with vmapped JAX envs.

Algorithm 3 runs once per subgoal list until it holds `num_steps / 2` transitions, so
the dataset has at least `num_steps` transitions, half from each behavior, in whole
trajectories (the last trajectory is finished, as in Algorithm 3). Thousands of envs
step in parallel under `lax.scan`, resetting on termination or on the 1000-step
truncation (a truncated trajectory keeps its `timeouts` flag; App. A's loop would
never hit the limit, which the behaviors reach in ~560-750 steps).
Each transition keeps the behavior label (0/1) of its trajectory in `infos["behavior"]`.

Reference scores (100 episodes each): min = a uniform random policy, max = the better
of the two behaviors.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from gem_jax.data import minari_io, names, storage
from gem_jax.envs import nav2d

STEPS_PER_ENV = 3000  # an env's finished trajectories hold >= STEPS_PER_ENV - 1000 steps
CHUNK = 250  # scan steps per jitted call (one progress-bar tick)
ROLLOUT_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


def _collect_step(carry, behavior):
    """One auto-resetting env step for one env. carry = (state, subgoal_index, key)."""
    state, subgoal_index, key = carry
    key, act_key, reset_key = jax.random.split(key, 3)
    action, subgoal_index = nav2d.behavior_action(act_key, state.position, subgoal_index, behavior)
    next_state, next_obs, reward, terminated, truncated = nav2d.step(state, action)
    fresh_state, _ = nav2d.reset(reset_key)
    done = terminated | truncated
    next_state = jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh_state, next_state)
    subgoal_index = jnp.where(done, 0, subgoal_index)
    out = (state.position, action, reward, next_obs, terminated, truncated)
    return (next_state, subgoal_index, key), out


@functools.partial(jax.jit, static_argnums=2)
def _collect_chunk(carry, behaviors, length: int):
    """`length` steps of every env: outputs [length, E, ...]."""
    step = jax.vmap(_collect_step)  # over envs
    return jax.lax.scan(lambda c, _: step(c, behaviors), carry, None, length=length)


def collect(key: jax.Array, behaviors: np.ndarray, num_steps_per_env: int, progress: bool):
    """Roll every env (behavior per env, [E]) for `num_steps_per_env` steps.

    Returns numpy arrays shaped [E, T, ...] (env-major time lines).
    """
    from tqdm.auto import tqdm

    num_envs = behaviors.shape[0]
    env_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num_envs))  # [E]
    reset_keys, run_keys = jax.vmap(lambda k: jax.random.split(k))(env_keys).transpose(1, 0, 2)
    states, _ = jax.vmap(nav2d.reset)(reset_keys)
    carry = (states, jnp.zeros((num_envs,), jnp.int32), run_keys)
    behaviors = jnp.asarray(behaviors, jnp.int32)
    chunks = []
    with tqdm(
        total=num_steps_per_env * num_envs,
        disable=not progress,
        unit="step",
        unit_scale=True,
        desc="nav2d: rolling out behaviors",
    ) as bar:
        for start in range(0, num_steps_per_env, CHUNK):
            length = min(CHUNK, num_steps_per_env - start)
            carry, out = _collect_chunk(carry, behaviors, length)
            chunks.append(jax.device_get(out))
            bar.update(length * num_envs)
    return {  # [T, E, ...] chunks -> [E, T, ...]
        k: np.concatenate([c[i] for c in chunks]).swapaxes(0, 1) for i, k in enumerate(ROLLOUT_KEYS)
    }


def finished_episodes(rollout: dict[str, np.ndarray], target_steps: int) -> dict[str, np.ndarray]:
    """Flat transitions of whole trajectories, env after env, until >= target_steps."""
    done = rollout["terminals"] | rollout["timeouts"]  # [E, T]
    num_steps = done.shape[1]
    last_done = num_steps - 1 - np.argmax(done[:, ::-1], axis=1)  # [E]
    keep = np.arange(num_steps)[None, :] <= last_done[:, None]  # [E, T]
    keep &= done.any(axis=1, keepdims=True)
    flat = {k: v[keep] for k, v in rollout.items()}  # [M', ...] env-major
    ends = np.flatnonzero(flat["terminals"] | flat["timeouts"])
    take = ends[np.searchsorted(ends + 1, target_steps)]  # first end with >= target steps
    flat = {k: v[: take + 1] for k, v in flat.items()}
    done_flat = flat["terminals"] | flat["timeouts"]
    flat["episode_ids"] = (np.cumsum(done_flat) - done_flat).astype(np.int32)
    return flat


def generate(num_steps: int, seed: int, progress: bool = True) -> dict[str, np.ndarray]:
    """Flat nav2d transitions (>= num_steps), behavior 0 first, with `labels` [M]."""
    per_behavior = math.ceil(num_steps / nav2d.NUM_BEHAVIORS)
    envs_per_behavior = math.ceil(per_behavior / (STEPS_PER_ENV - nav2d.MAX_EPISODE_STEPS))
    behaviors = np.repeat(np.arange(nav2d.NUM_BEHAVIORS), envs_per_behavior)  # [E]
    rollout = collect(jax.random.PRNGKey(seed), behaviors, STEPS_PER_ENV, progress)
    parts = []
    for b in range(nav2d.NUM_BEHAVIORS):
        part = finished_episodes({k: v[behaviors == b] for k, v in rollout.items()}, per_behavior)
        part["labels"] = np.full(part["rewards"].shape, b, np.int32)
        if parts:
            part["episode_ids"] += parts[-1]["episode_ids"][-1] + 1
        parts.append(part)
    flat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    for k in ("observations", "actions", "rewards", "next_observations"):
        flat[k] = flat[k].astype(np.float32)
    return flat


REFERENCE_POLICIES = ("random", "behavior0", "behavior1")


@functools.partial(jax.jit, static_argnums=1)
def _episode_returns(key: jax.Array, num_episodes: int) -> jax.Array:
    """Returns [3, num_episodes] of the uniform random policy and the two behaviors."""

    def episode(key, policy):  # policy 0: random, 1 + b: behavior b
        reset_key, key = jax.random.split(key)
        state, _ = nav2d.reset(reset_key)

        def body(carry, _):
            state, index, alive, ret, key = carry
            key, act_key = jax.random.split(key)
            steered, index = nav2d.behavior_action(
                act_key, state.position, index, jnp.maximum(policy - 1, 0)
            )
            action = jnp.where(policy == 0, nav2d.random_action(act_key), steered)
            state, _, reward, terminated, truncated = nav2d.step(state, action)
            ret = ret + jnp.where(alive, reward, 0.0)
            alive = alive & ~(terminated | truncated)
            return (state, index, alive, ret, key), None

        init = (state, jnp.int32(0), jnp.bool_(True), jnp.float32(0.0), key)
        (_, _, _, ret, _), _ = jax.lax.scan(body, init, None, length=nav2d.MAX_EPISODE_STEPS)
        return ret

    policies = jnp.arange(len(REFERENCE_POLICIES))  # [3]
    keys = jax.vmap(lambda p: jax.random.split(jax.random.fold_in(key, p), num_episodes))(policies)
    return jax.vmap(jax.vmap(episode, (0, None)))(keys, policies)  # [3, num_episodes]


def reference_scores(seed: int, num_episodes: int = 100) -> dict[str, float]:
    """Mean returns of the reference policies; min = random, max = the better behavior."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1_000_003)
    returns = np.asarray(_episode_returns(key, num_episodes))  # [3, num_episodes]
    scores = {p: float(r.mean()) for p, r in zip(REFERENCE_POLICIES, returns, strict=True)}
    scores["ref_min_score"] = scores["random"]
    scores["ref_max_score"] = max(scores["behavior0"], scores["behavior1"])
    return scores


def build(
    num_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    reference_episodes: int = 100,
) -> str:
    """Build `gem/nav2d-v0` as a Minari dataset and its flat cache; returns the id."""
    from gem_jax.envs import NAV2D_ID as ENV_ID

    num_steps = 1_000_000 if num_steps is None else int(num_steps)
    if num_steps < 2:
        raise ValueError(f"num_steps must be >= 2 for nav2d, got {num_steps}.")
    flat = generate(num_steps, seed, progress)
    scores = reference_scores(seed, reference_episodes)
    episodes = []
    for sl in minari_io.episode_slices(flat["episode_ids"]):
        obs = np.concatenate([flat["observations"][sl], flat["next_observations"][sl][-1:]])
        episodes.append(
            {
                "observations": obs,
                "actions": flat["actions"][sl],
                "rewards": flat["rewards"][sl],
                "terminations": flat["terminals"][sl],
                "truncations": flat["timeouts"][sl],
                "infos": {"behavior": np.full((obs.shape[0],), flat["labels"][sl][0], np.int32)},
            }
        )
    minari_io.write_dataset(
        names.NAV2D_ID,
        episodes,
        env=ENV_ID,
        eval_env=ENV_ID,
        ref_min_score=scores["ref_min_score"],
        ref_max_score=scores["ref_max_score"],
        algorithm_name="EMPO App. A Algorithm 3 (two subgoal lists)",
        description=(
            f"2-D navigation (the EMPO paper, App. A), seed {seed}, {flat['rewards'].size} "
            "transitions; infos['behavior'] = subgoal list (0/1). Reference scores: random "
            f"{scores['random']:.2f}, behavior 0 {scores['behavior0']:.2f}, behavior 1 "
            f"{scores['behavior1']:.2f} ({reference_episodes} episodes each)."
        ),
        progress=progress,
    )
    flat = storage.flatten_episodes(map(storage.EpisodeView, episodes), "nav2d", len(episodes))
    storage.write_flat_cache(names.NAV2D_ID, "nav2d", flat)
    return names.NAV2D_ID
