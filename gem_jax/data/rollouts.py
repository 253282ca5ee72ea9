"""Lockstep rollouts of SAC actors in W gymnasium envs, deterministic given a seed.

Used by `gem_jax.data.locomotion` to roll the shipped behavior policies out (D4RL recipe)
and to evaluate them. One jitted call per step computes all W actions (vmapped over workers,
optionally over per-worker parameters); the envs step on the host.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gem_jax.data.behavior import sac


def _make_batch_act(action_dim: int, shared: bool):
    """Jitted `(params, obs [W, O], key, t, uniform [W]) -> actions [W, A]`, keyed by `t` only.

    `shared`: one parameter set for all workers; else params carry a leading `[W]` axis.
    """
    act = sac.make_act(sac.SACConfig(), action_dim)

    @jax.jit
    def batch_act(params, observations, key, t, uniform):
        keys = jax.random.split(jax.random.fold_in(key, t), 2)
        worker_keys = jax.random.split(keys[0], observations.shape[0])  # [W, 2]
        one = lambda p, o, k: act(p, o[None], k)[0]
        actions = jax.vmap(one, in_axes=(None if shared else 0, 0, 0))(
            params, observations, worker_keys
        )  # [W, A]
        random_actions = jax.random.uniform(keys[1], actions.shape, minval=-1.0, maxval=1.0)
        return jnp.where(uniform[:, None], random_actions, actions)

    return batch_act


def collect(
    env_id: str,
    params,
    budgets: np.ndarray,
    seed: int,
    *,
    shared: bool,
    uniform: np.ndarray | None = None,
    single_episode: bool = False,
    progress: bool = False,
) -> list[dict]:
    """Roll out `W = len(budgets)` envs in lockstep, worker `w` for `budgets[w]` steps.

    Returns episodes (dicts of numpy arrays: observations [T+1, O], actions [T, A], rewards,
    terminations, truncations [T], worker) in completion order; an episode cut by its
    worker's budget ends truncated. Deterministic given `seed` (env resets and policy keys).
    `single_episode`: each worker stops after its first episode (for evaluation).
    """
    budgets = np.asarray(budgets, np.int64)
    num_workers = len(budgets)
    uniform = np.zeros(num_workers, bool) if uniform is None else np.asarray(uniform, bool)
    envs = [gym.make(env_id) for _ in range(num_workers)]
    batch_act = _make_batch_act(envs[0].action_space.shape[0], shared)
    key = jax.random.PRNGKey(seed)
    obs = np.stack([e.reset(seed=seed * 10_007 + w)[0] for w, e in enumerate(envs)])  # [W, O]
    traj = [{"obs": [o], "act": [], "rew": [], "term": [], "trunc": []} for o in obs]
    steps, done, episodes, t = np.zeros(num_workers, np.int64), budgets <= 0, [], 0
    bar = tqdm(total=int(budgets.sum()), desc=env_id, disable=not progress, mininterval=2)
    while not done.all():
        actions = np.asarray(batch_act(params, obs.astype(np.float32), key, t, uniform))
        t += 1
        active = np.flatnonzero(~done)
        for w in active:
            next_obs, reward, term, trunc, _ = envs[w].step(actions[w])
            steps[w] += 1
            cut = steps[w] >= budgets[w]
            tr = traj[w]
            tr["act"].append(actions[w])
            tr["rew"].append(reward)
            tr["term"].append(term)
            tr["trunc"].append(bool(trunc or (cut and not term)))
            tr["obs"].append(next_obs)
            obs[w] = next_obs
            if term or trunc or cut:
                episodes.append(
                    {
                        "observations": np.stack(tr["obs"]),
                        "actions": np.stack(tr["act"]),
                        "rewards": np.asarray(tr["rew"], np.float64),
                        "terminations": np.asarray(tr["term"], bool),
                        "truncations": np.asarray(tr["trunc"], bool),
                        "worker": w,
                    }
                )
                done[w] = cut or single_episode
                if not done[w]:
                    obs[w] = envs[w].reset()[0]
                    traj[w] = {
                        "obs": [obs[w].copy()],
                        "act": [],
                        "rew": [],
                        "term": [],
                        "trunc": [],
                    }
        bar.update(len(active))
    bar.close()
    return episodes
