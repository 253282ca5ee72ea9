"""The online SAC training loop behind `tools/train_sac.py`: vectorised envs, a host replay
buffer, fused jitted updates, atomic checkpoints and the compact snapshot (the AntMaze issue).

The envs (`num_envs`, stepped together, the policy batched over them) run on the host; every
`update_every` vector steps one jitted call runs `update_every * num_envs * utd` fused SAC
updates (`sac.make_sac_update_many`), overlapped with the next env steps (the envs act with
the actor of before the call). The workdir gets `checkpoint/` (state, replay buffer,
counters; written atomically every `save_every` env steps), `snapshots/actor_<step>.msgpack`
(the actor every `snapshot_every` steps, what the dataset builders ship), `episodes.csv`,
`metrics.csv` and `throughput.json` (env steps/s after the first update). A resumed run
continues from the last checkpoint with fresh episodes; a run whose workdir is gone continues
from the compact snapshot (state and counters, no buffer), refilling the buffer with the
current policy before it updates again.
"""

from __future__ import annotations

import csv
import json
import os
import time

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from tqdm import tqdm

import gem_jax.envs  # noqa: F401  (registers gem_jax/AntDirection-v0, gem_jax/Nav2D-v0, ...)
from gem_jax.data.behavior import sac
from gem_jax.method.types import Batch


class ReplayBuffer:
    """Host-side ring buffer of transitions; `timeouts` marks truncations (not dones)."""

    FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")

    def __init__(self, capacity: int, obs_dim: int, action_dim: int):
        dims = {"observations": obs_dim, "actions": action_dim, "next_observations": obs_dim}
        self.data = {f: np.zeros((capacity, *((dims[f],) if f in dims else ())), np.float32)
                     for f in self.FIELDS}
        self.capacity, self.size, self.ptr = capacity, 0, 0

    def add(self, obs, action, reward, next_obs, terminal, timeout) -> None:
        for f, v in zip(self.FIELDS, (obs, action, reward, next_obs, terminal, timeout),
                        strict=True):
            self.data[f][self.ptr] = v
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Batch:
        idx = rng.integers(0, self.size, size=shape)
        d = self.data
        return Batch(d["observations"][idx], d["actions"][idx], d["rewards"][idx],
                     d["next_observations"][idx], d["terminals"][idx])


def _atomic_write(path: str, payload: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(ckpt_dir, state, buffer, counters, rng) -> None:
    """State + buffer + counters; `meta.json` is written last and names the valid files."""
    os.makedirs(ckpt_dir, exist_ok=True)
    tag = f"{counters['env_steps']:08d}"
    _atomic_write(os.path.join(ckpt_dir, f"state_{tag}.msgpack"), serialization.to_bytes(state))
    n = buffer.size
    tmp = os.path.join(ckpt_dir, f"buffer_{tag}.tmp.npz")
    np.savez(tmp, **{f: v[:n] for f, v in buffer.data.items()})
    os.replace(tmp, os.path.join(ckpt_dir, f"buffer_{tag}.npz"))
    meta = {**counters, "tag": tag, "buffer_ptr": buffer.ptr, "rng": rng.bit_generator.state}
    old = load_meta(ckpt_dir)
    _atomic_write(os.path.join(ckpt_dir, "meta.json"), json.dumps(meta).encode())
    if old is not None and old["tag"] != tag:
        for name in (f"state_{old['tag']}.msgpack", f"buffer_{old['tag']}.npz"):
            path = os.path.join(ckpt_dir, name)
            if os.path.exists(path):
                os.remove(path)


def load_meta(ckpt_dir: str) -> dict | None:
    path = os.path.join(ckpt_dir, "meta.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _append_csv(path: str, header: list[str], rows: list[list]) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerows(rows)


def make_env(env_name: str, **env_kwargs):
    env = gym.make(env_name, **env_kwargs)
    if not np.allclose(env.action_space.high, 1.0) or not np.allclose(env.action_space.low, -1.0):
        one = np.ones(env.action_space.shape, np.float32)
        env = gym.wrappers.RescaleAction(env, -one, one)  # the actor's tanh range
    return env


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of `every` lies in (before, after]."""
    return after // every > before // every


def save_compact(path: str, state, counters: dict) -> None:
    """The compact snapshot: the whole SAC state (actor, critics, targets, optimiser states,
    temperature, key) and the counters, no replay buffer; one msgpack, written atomically."""
    payload = {"state": serialization.to_state_dict(state), "counters": json.dumps(counters)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _atomic_write(path, serialization.msgpack_serialize(payload))


def load_compact(path: str, template) -> tuple[object, dict]:
    with open(path, "rb") as f:
        payload = serialization.msgpack_restore(f.read())
    return (serialization.from_state_dict(template, payload["state"]),
            json.loads(payload["counters"]))


def train(env_name: str, steps: int, seed: int, workdir: str, resume: bool = False,
          save_every: int = 20_000, snapshot_every: int = 10_000, update_every: int = 10,
          buffer_size: int = 1_000_000, config: sac.SACConfig | None = None,
          num_envs: int = 1, utd: float = 1.0, compact: str | None = None,
          compact_every_s: float = 1800.0, env_kwargs: dict | None = None) -> sac.SACState:
    """Train (or resume) SAC on `env_name` until `steps` env steps; see the module docstring.

    `num_envs` envs step together (the policy batched over them); every `update_every` such
    vector steps one jitted call runs `round(update_every * num_envs * utd)` fused updates,
    while the envs already step on with the actor of before the call (the call runs on
    XLA's threads meanwhile). With `compact`, the compact snapshot is written there every
    `compact_every_s` seconds and at the end; a run whose workdir holds no checkpoint
    continues from it, refilling the buffer with the current policy before updating again."""
    config = config or sac.SACConfig()
    if num_envs < 1 or utd <= 0 or update_every < 1:
        raise ValueError(f"need num_envs >= 1, utd > 0 and update_every >= 1; got {num_envs}, "
                         f"{utd}, {update_every}.")
    ckpt_dir, snap_dir = os.path.join(workdir, "checkpoint"), os.path.join(workdir, "snapshots")
    os.makedirs(snap_dir, exist_ok=True)
    envs = [make_env(env_name, **(env_kwargs or {})) for _ in range(num_envs)]
    obs_dim, action_dim = envs[0].observation_space.shape[0], envs[0].action_space.shape[0]

    state = sac.init_sac_state(jax.random.PRNGKey(seed), config, obs_dim, action_dim)
    buffer = ReplayBuffer(buffer_size, obs_dim, action_dim)
    rng = np.random.default_rng(seed)
    counters = {"env_steps": 0, "episodes": 0, "resumes": 0, "wall_s": 0.0, "env": env_name,
                "seed": seed}
    meta = load_meta(ckpt_dir)
    refill_until = 0  # env steps of the current policy to collect before updating again
    if resume and meta is not None:
        with open(os.path.join(ckpt_dir, f"state_{meta['tag']}.msgpack"), "rb") as f:
            state = serialization.from_bytes(state, f.read())
        stored = np.load(os.path.join(ckpt_dir, f"buffer_{meta['tag']}.npz"))
        for f in buffer.FIELDS:
            buffer.data[f][: len(stored[f])] = stored[f]
        buffer.size, buffer.ptr = len(stored["rewards"]), meta["buffer_ptr"]
        rng.bit_generator.state = meta["rng"]
        counters = {k: meta[k] for k in counters}
        counters["resumes"] += 1
    elif resume and compact and os.path.exists(compact):
        state, stored = load_compact(compact, state)
        counters = {k: stored[k] for k in counters}
        counters["resumes"] += 1
        refill_until = counters["env_steps"] + max(config.start_steps, config.batch_size)
        print(f"{ckpt_dir} has no checkpoint: continuing from the compact snapshot {compact} "
              f"at {counters['env_steps']} env steps (refilling the buffer first).")
    elif meta is not None:
        raise ValueError(f"{ckpt_dir} holds a checkpoint: pass --resume or use a new --workdir.")
    if counters["env"] != env_name:
        raise ValueError(f"the checkpoint is for {counters['env']}, not --env={env_name}.")

    import dataclasses

    with open(os.path.join(workdir, "config.json"), "w") as f:  # what this run trains with
        json.dump({"sac": dataclasses.asdict(config), "env": env_name, "num_envs": num_envs,
                   "utd": utd, "update_every": update_every, "buffer_size": buffer_size,
                   "env_kwargs": env_kwargs or {}}, f,
                  indent=1)
    update_many = sac.make_sac_update_many(config, action_dim)
    act = sac.make_act(config, action_dim)
    updates_per_call = max(1, round(update_every * num_envs * utd))
    base = seed + 1000 * counters["resumes"]
    obs = np.stack([e.reset(seed=base + 100_003 * j)[0] for j, e in enumerate(envs)])
    for j, e in enumerate(envs):
        e.action_space.seed(base + 100_003 * j)
    act_key = jax.random.fold_in(jax.random.PRNGKey(seed + 1), counters["resumes"])
    act_params = state.actor.params
    ep_return, ep_len = np.zeros(num_envs), np.zeros(num_envs, np.int64)
    episodes, metric_rows, metric_header = [], [], None
    t0, session_t0, start_steps = time.time(), time.time(), counters["env_steps"]
    last_compact, warm = time.time(), None  # warm: (time, env steps) after the first update
    bar = tqdm(total=steps, initial=start_steps, desc=env_name, mininterval=10)
    while counters["env_steps"] < steps:
        act_key, chunk_key = jax.random.split(act_key)
        keys = jax.random.split(chunk_key, update_every)
        call_start = counters["env_steps"]
        for i in range(update_every):
            step = counters["env_steps"]
            if step == 0 or crossed(step - num_envs, step, snapshot_every):
                snap_step = step - step % snapshot_every
                path = os.path.join(snap_dir, f"actor_{snap_step:08d}.msgpack")
                if not os.path.exists(path):
                    _atomic_write(path, serialization.to_bytes(act_params))
            if step < config.start_steps:
                actions = np.stack([e.action_space.sample() for e in envs])
            else:
                actions = np.asarray(act(act_params, obs.astype(np.float32), keys[i]))
            for j, env in enumerate(envs):
                next_obs, reward, terminated, truncated, _ = env.step(actions[j])
                buffer.add(obs[j], actions[j], reward, next_obs, float(terminated),
                           float(truncated))
                ep_return[j] += reward
                ep_len[j] += 1
                counters["env_steps"] += 1
                if terminated or truncated:
                    counters["episodes"] += 1
                    episodes.append([counters["env_steps"], ep_return[j], ep_len[j]])
                    next_obs, _ = env.reset()
                    ep_return[j], ep_len[j] = 0.0, 0
                obs[j] = next_obs
        learning = counters["env_steps"] >= max(config.start_steps, refill_until)
        if learning and buffer.size >= config.batch_size:
            act_params = jax.tree.map(jnp.copy, state.actor.params)  # envs act with these
            batches = buffer.sample(rng, (updates_per_call, config.batch_size))
            state, metrics = update_many(state, batches)  # runs while the envs step on
            if warm is None:
                jax.block_until_ready(state)  # compiled and run once: time from here on
                warm = (time.time(), counters["env_steps"])
            if crossed(call_start, counters["env_steps"], 5000):
                m = {k: float(v[-1]) for k, v in metrics.items()}
                metric_header = metric_header or ["env_step", *m.keys()]
                metric_rows.append([counters["env_steps"], *m.values()])
        else:
            act_params = state.actor.params
        bar.update(counters["env_steps"] - call_start)
        done = counters["env_steps"] >= steps
        if crossed(call_start, counters["env_steps"], save_every) or done:
            jax.block_until_ready(state)
            counters["wall_s"] += time.time() - t0
            t0 = time.time()
            _append_csv(os.path.join(workdir, "episodes.csv"), ["env_step", "return", "length"],
                        episodes)
            if metric_rows:
                _append_csv(os.path.join(workdir, "metrics.csv"), metric_header, metric_rows)
            episodes, metric_rows = [], []
            save_checkpoint(ckpt_dir, state, buffer, counters, rng)
            if compact and (done or time.time() - last_compact >= compact_every_s):
                save_compact(compact, state, counters)
                last_compact = time.time()
            ep_path = os.path.join(workdir, "episodes.csv")
            recent = (np.loadtxt(ep_path, delimiter=",", skiprows=1, ndmin=2)[-10:, 1]
                      if os.path.exists(ep_path) else np.full(1, np.nan))  # no episode yet
            rate = (counters["env_steps"] - start_steps) / (time.time() - session_t0)
            bar.write(f"step {counters['env_steps']}: last-10 return {recent.mean():.1f}, "
                      f"{rate:.0f} steps/s "
                      f"(wall {counters['wall_s'] / 3600:.2f} h)")
    bar.close()
    if warm is not None and counters["env_steps"] > warm[1]:
        rate = (counters["env_steps"] - warm[1]) / (time.time() - warm[0])
        with open(os.path.join(workdir, "throughput.json"), "w") as f:
            json.dump({"env_steps_per_s": rate, "num_envs": num_envs, "utd": utd,
                       "updates_per_call": updates_per_call, "env_steps": counters["env_steps"],
                       "timed_env_steps": counters["env_steps"] - warm[1]}, f)
    return state
