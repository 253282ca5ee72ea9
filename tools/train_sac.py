"""Train a SAC behavior policy online on a gymnasium MuJoCo env, resumably.

    python tools/train_sac.py --env=Hopper-v5 --steps=1000000 --workdir=runs/sac/hopper
    python tools/train_sac.py --env=Hopper-v5 --steps=1000000 --workdir=runs/sac/hopper \
        --resume

The env is stepped on the host; every `--update_every` env steps one jitted call runs as many
fused SAC updates (UTD 1). The workdir gets `checkpoint/` (state, replay buffer, counters;
written atomically every `--save_every` steps), `snapshots/actor_<step>.msgpack` (the actor
every `--snapshot_every` steps, what the dataset builder ships), `episodes.csv` (training
episode returns) and `metrics.csv`. A resumed run continues from the last checkpoint with a
fresh episode; everything before the checkpoint is kept.
"""

from __future__ import annotations

import csv
import json
import os
import time

import gymnasium as gym
import jax
import numpy as np
from absl import app, flags
from flax import serialization
from tqdm import tqdm

import gem_jax.envs  # noqa: F401  (registers gem_jax/AntGoal-v0, gem_jax/Nav2D-v0)
from gem_jax.data.behavior import sac
from gem_jax.method.types import Batch

FLAGS = flags.FLAGS
flags.DEFINE_string("env", "Hopper-v5",
                    "gymnasium env id, e.g. Hopper-v5, Walker2d-v5, gem_jax/AntGoal-v0.")
flags.DEFINE_integer("steps", 1_000_000, "Total env steps to reach (counting resumed ones).")
flags.DEFINE_integer("seed", 0, "Seed for the networks, the env and the exploration noise.")
flags.DEFINE_string("workdir", None, "Where checkpoints, snapshots and curves go.")
flags.DEFINE_bool("resume", False, "Continue from <workdir>/checkpoint.")
flags.DEFINE_integer("save_every", 20_000, "Env steps between checkpoints.")
flags.DEFINE_integer("snapshot_every", 10_000, "Env steps between actor snapshots.")
flags.DEFINE_integer("update_every", 10, "Env steps per jitted call of that many fused updates.")
flags.DEFINE_integer("buffer_size", 1_000_000, "Replay buffer capacity (transitions).")
flags.mark_flag_as_required("workdir")


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


def train(env_name: str, steps: int, seed: int, workdir: str, resume: bool = False,
          save_every: int = 20_000, snapshot_every: int = 10_000, update_every: int = 10,
          buffer_size: int = 1_000_000, config: sac.SACConfig | None = None) -> sac.SACState:
    """Train (or resume) SAC on `env_name` until `steps` env steps; see the module docstring."""
    config = config or sac.SACConfig()
    ckpt_dir, snap_dir = os.path.join(workdir, "checkpoint"), os.path.join(workdir, "snapshots")
    os.makedirs(snap_dir, exist_ok=True)
    env = gym.make(env_name)
    if not np.allclose(env.action_space.high, 1.0) or not np.allclose(env.action_space.low, -1.0):
        one = np.ones(env.action_space.shape, np.float32)
        env = gym.wrappers.RescaleAction(env, -one, one)  # the actor's tanh range
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]

    state = sac.init_sac_state(jax.random.PRNGKey(seed), config, obs_dim, action_dim)
    buffer = ReplayBuffer(buffer_size, obs_dim, action_dim)
    rng = np.random.default_rng(seed)
    counters = {"env_steps": 0, "episodes": 0, "resumes": 0, "wall_s": 0.0, "env": env_name,
                "seed": seed}
    meta = load_meta(ckpt_dir)
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
        if counters["env"] != env_name:
            raise ValueError(f"checkpoint is for {counters['env']}, not --env={env_name}.")
    elif meta is not None:
        raise ValueError(f"{ckpt_dir} holds a checkpoint: pass --resume or use a new --workdir.")

    update_many = sac.make_sac_update_many(config, action_dim)
    act = sac.make_act(config, action_dim)
    obs, _ = env.reset(seed=seed + 1000 * counters["resumes"])
    env.action_space.seed(seed + 1000 * counters["resumes"])
    act_key = jax.random.fold_in(jax.random.PRNGKey(seed + 1), counters["resumes"])
    ep_return, ep_len, episodes, metric_rows = 0.0, 0, [], []
    t0, session_t0, start_steps = time.time(), time.time(), counters["env_steps"]
    bar = tqdm(total=steps, initial=start_steps, desc=env_name, mininterval=10)
    while counters["env_steps"] < steps:
        act_key, chunk_key = jax.random.split(act_key)
        keys = np.asarray(jax.random.split(chunk_key, update_every))
        for i in range(update_every):
            step = counters["env_steps"]
            if step % snapshot_every == 0:
                path = os.path.join(snap_dir, f"actor_{step:08d}.msgpack")
                _atomic_write(path, serialization.to_bytes(state.actor.params))
            if step < config.start_steps:
                action = env.action_space.sample()
            else:
                action = np.asarray(act(state.actor.params, obs[None].astype(np.float32),
                                        keys[i]))[0]
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, float(terminated), float(truncated))
            ep_return, ep_len = ep_return + reward, ep_len + 1
            counters["env_steps"] += 1
            obs = next_obs
            if terminated or truncated:
                counters["episodes"] += 1
                episodes.append([counters["env_steps"], ep_return, ep_len])
                obs, _ = env.reset()
                ep_return, ep_len = 0.0, 0
        if counters["env_steps"] >= config.start_steps:
            batches = buffer.sample(rng, (update_every, config.batch_size))
            state, metrics = update_many(state, batches)
            if counters["env_steps"] % 5000 == 0:
                m = {k: float(v[-1]) for k, v in metrics.items()}
                metric_rows.append([counters["env_steps"], *m.values()])
                if len(metric_rows) == 1:
                    metric_header = ["env_step", *m.keys()]
        bar.update(update_every)
        if counters["env_steps"] % save_every == 0 or counters["env_steps"] >= steps:
            counters["wall_s"] += time.time() - t0
            t0 = time.time()
            _append_csv(os.path.join(workdir, "episodes.csv"), ["env_step", "return", "length"],
                        episodes)
            if metric_rows:
                _append_csv(os.path.join(workdir, "metrics.csv"), metric_header, metric_rows)
            episodes, metric_rows = [], []
            save_checkpoint(ckpt_dir, state, buffer, counters, rng)
            ep_path = os.path.join(workdir, "episodes.csv")
            recent = (np.loadtxt(ep_path, delimiter=",", skiprows=1, ndmin=2)[-10:, 1]
                      if os.path.exists(ep_path) else np.full(1, np.nan))  # no episode yet
            rate = (counters["env_steps"] - start_steps) / (time.time() - session_t0)
            bar.write(f"step {counters['env_steps']}: last-10 return {recent.mean():.1f}, "
                      f"{rate:.0f} steps/s "
                      f"(wall {counters['wall_s'] / 3600:.2f} h)")
    bar.close()
    return state


def main(_):
    train(FLAGS.env, FLAGS.steps, FLAGS.seed, FLAGS.workdir, FLAGS.resume, FLAGS.save_every,
          FLAGS.snapshot_every, FLAGS.update_every, FLAGS.buffer_size)


if __name__ == "__main__":
    app.run(main)
