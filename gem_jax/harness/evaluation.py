"""Vectorised evaluation: many episodes at once, the policy jitted over the batch (method §5).

* nav2d: a pure-JAX rollout of `E` envs under `lax.scan`, one XLA program.
* Gymnasium envs (MuJoCo mazes, locomotion): `E` envs stepped on the host, actions for
  all live envs from one batched policy call per step.

The beta schedule is driven by each env's step index. Policies act in `[-1, 1]^A`;
`action_scale` maps to the env's symmetric box (nav2d: 0.2). Returns per-episode
returns, normalised scores, and the audits averaged over decisions (method §4).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gem_jax.method import audits
from gem_jax.method.select import PolicyParams, SelectKnobs

AUDIT_INFO = ("support_z", "collapse_dist", "behavior_z")  # per decision, from the policy's info
RESULT_KEYS = ("normalized_score", "support_z", "violation", "collapse_dist", "behavior_z",
               "behavior_violation", "return_mean")  # what a seed's evaluation reports


def audit_info(info: dict) -> dict:
    """The audit entries of a policy's `info` (a policy without `behavior_z` has two)."""
    return {k: info[k] for k in AUDIT_INFO if k in info}


def action_scale(env) -> np.ndarray:
    """Half-width of a symmetric Box action space, `[A]` (policies act in [-1, 1])."""
    low, high = np.asarray(env.action_space.low), np.asarray(env.action_space.high)
    if not np.allclose(low, -high):
        raise ValueError(f"Action space [{low}, {high}] is not symmetric; rescale it first.")
    return high.astype(np.float32)


@functools.partial(jax.jit, static_argnames=("policy", "num_episodes", "max_steps"))
def _nav2d_rollout(policy, params, knobs, key, scale, num_episodes: int, max_steps: int):
    from gem_jax.envs import nav2d

    reset_key, act_key = jax.random.split(key)
    states, obs = jax.vmap(nav2d.reset)(jax.random.split(reset_key, num_episodes))  # [E, 2]

    def body(carry, t):
        states, obs, alive, ret, length, key = carry
        key, step_key = jax.random.split(key)
        actions, info = policy(params, obs, step_key, t, knobs)  # [E, A]
        states, obs, reward, term, trunc = jax.vmap(nav2d.step)(states, actions * scale)
        ret = ret + jnp.where(alive, reward, 0.0)
        length = length + alive.astype(jnp.int32)
        decision = (alive, audit_info(info))
        alive = alive & ~(term | trunc)
        return (states, obs, alive, ret, length, key), decision

    alive = jnp.ones((num_episodes,), bool)
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    carry = (states, obs, alive, zeros, jnp.zeros((num_episodes,), jnp.int32), act_key)
    carry, (mask, audit) = jax.lax.scan(body, carry, jnp.arange(max_steps))
    return carry[3], carry[4], mask, audit  # returns [E], lengths [E], mask [T, E], {k: [T, E]}


def rollout_gym(
    make_env: Callable,
    policy,
    params: PolicyParams,
    knobs: SelectKnobs,
    key: jax.Array,
    num_episodes: int,
    scale: np.ndarray,
    seed: int = 0,
    max_steps: int | None = None,
    progress: bool = False,
    step_rewards: list | None = None,
    step_info: list | None = None,
    step_obs: list | None = None,
):
    """Host-stepped envs, one batched policy call per step for all live envs.

    If `step_rewards` is a list, each step appends the rewards `[E]` (0 for ended envs);
    if `step_info` is, each step appends the policy's info (arrays `[E]`) and `alive` [E];
    if `step_obs` is, each step appends the observations the policy acted on, live envs
    only `[E_alive, O]`.

    Returns `(returns [E], lengths [E], audit)`: `audit` maps each `AUDIT_INFO` entry of the
    policy's info to its values at every decision of a live env, `[D]`.
    """
    envs = [make_env() for _ in range(num_episodes)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
    limit = max_steps or envs[0].spec.max_episode_steps or 1000
    alive = np.ones(num_episodes, bool)
    ret = np.zeros(num_episodes)
    length = np.zeros(num_episodes, np.int64)
    decisions = []  # per step: the audit entries of the live envs
    bar = tqdm(total=limit, desc="eval", disable=not progress, leave=False)
    for t in range(limit):
        key, step_key = jax.random.split(key)
        actions, info = policy(params, jnp.asarray(obs), step_key, t, knobs)
        actions = np.asarray(actions) * scale
        if step_obs is not None:
            step_obs.append(obs[alive].copy())
        if step_info is not None:
            step_info.append({"alive": alive.copy(), **{k: np.asarray(v) for k, v in info.items()}})
        decisions.append({k: np.asarray(v)[alive] for k, v in audit_info(info).items()})
        rewards = np.zeros(num_episodes)
        for i in np.flatnonzero(alive):
            o, r, term, trunc, _ = envs[i].step(actions[i])
            obs[i] = o
            rewards[i] = r
            ret[i] += r
            length[i] += 1
            alive[i] = not (term or trunc)
        if step_rewards is not None:
            step_rewards.append(rewards)
        bar.update(1)
        if not alive.any():
            break
    bar.close()
    for env in envs:
        env.close()
    return ret, length, {k: np.concatenate([d[k] for d in decisions]) for k in decisions[0]}


def returns_from_states(
    make_env: Callable,
    set_state: Callable,
    starts: np.ndarray,
    first_actions: np.ndarray,
    policy,
    params: PolicyParams,
    knobs: SelectKnobs,
    key: jax.Array,
    scale: np.ndarray,
    horizon: int,
    discount: float,
) -> np.ndarray:
    """Monte-Carlo `Q^pi(s, a)`: from each raw state `starts[m]` [M, O], act
    `first_actions[m]` [M, A] (in [-1, 1]), then `policy` (t = 1, 2, ...) for `horizon - 1`
    more steps; returns the discounted returns [M] (an env that terminates stops adding).

    `set_state(env, obs)` puts a freshly reset env at a flat observation (for the mazes,
    `gem_jax.data.envs.maze2d_set_state`). The ground truth behind a critic's ranking of two
    actions at one state: the same continuation after a one-step deviation.
    """
    envs = [make_env() for _ in range(len(starts))]
    for env, start in zip(envs, starts):
        env.reset(seed=0)
        set_state(env, start)
    obs = np.array(starts, np.float32)  # [M, O]
    alive = np.ones(len(starts), bool)
    ret = np.zeros(len(starts))
    actions = np.asarray(first_actions)
    for t in range(horizon):
        for i in np.flatnonzero(alive):
            o, r, term, trunc, _ = envs[i].step(actions[i] * scale)
            obs[i] = o
            ret[i] += discount**t * r
            alive[i] = not (term or trunc)
        if t + 1 == horizon or not alive.any():
            break
        key, step_key = jax.random.split(key)
        actions = np.asarray(policy(params, jnp.asarray(obs), step_key, t + 1, knobs)[0])
    for env in envs:
        env.close()
    return ret


def evaluate(
    dataset,
    policy,
    params: PolicyParams,
    knobs: SelectKnobs,
    key: jax.Array,
    num_episodes: int,
    z_thresh: float = -2.0,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Score `policy` on `dataset`'s environment; see the module docstring.

    `dataset` is a `gem_jax.data.Dataset` (its suite picks the rollout, its reference
    scores normalise the returns).
    """
    if dataset.suite == "nav2d":
        from gem_jax.envs import nav2d

        scale = jnp.full((nav2d.ACTION_DIM,), nav2d.ACTION_HIGH, jnp.float32)
        ret, length, mask, audit = _nav2d_rollout(
            policy, params, knobs, key, scale, num_episodes, nav2d.MAX_EPISODE_STEPS
        )
        mask = np.asarray(mask)
        ret, length = np.asarray(ret), np.asarray(length)
        audit = {k: np.asarray(v)[mask] for k, v in audit.items()}
    else:
        env = dataset.make_env()
        scale = action_scale(env)
        env.close()
        ret, length, audit = rollout_gym(
            dataset.make_env, policy, params, knobs, key, num_episodes, scale, seed,
            dataset.max_episode_steps, progress,
        )
    scores = dataset.normalized_score(ret)
    decisions = int(audit["support_z"].size)
    audit = audits.summarize(audit, z_thresh)
    return {
        "normalized_score": float(np.mean(scores)),
        "normalized_score_std": float(np.std(scores)),
        "return_mean": float(np.mean(ret)),
        "episode_length_mean": float(np.mean(length)),
        "episode_scores": [float(s) for s in scores],
        "decisions": decisions,
        **audit,
    }
