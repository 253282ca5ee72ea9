"""A compact, lossless copy of a flat offline dataset that travels with the repository.

The prepared accelerator run (`benchmarks/gpu_suite.sh`) trains on real data on a machine
that has JAX but none of the dataset tooling (gymnasium, minari, mujoco). This module writes
the flat transitions exactly as the training run puts them on the device
(`gem_jax.harness.runner.device_dataset`: float32, actions divided by the env's action half-width
and clipped to [-1, 1]) into one `.npz`, and reads them back with numpy alone.

Encoding (lossless): each float32 array is split into its four byte planes, column by
column (`[4, d, M]` bytes: the sign/exponent planes of smooth trajectories compress far
better than interleaved floats), and the planes are LZMA-compressed (stdlib). The next
observations are stored only where they differ from the following row's observation (in
a continuous trajectory they never do). A SHA-256 of every decoded array is kept and
checked on load.

    python -m benchmarks.gpu_data --dataset=maze2d-medium \
        --out=benchmarks/data/maze2d-medium.npz     # (`make bench-gpu-data`)

`load_compact(path)` -> `(arrays, meta)`: `arrays` holds `observations`, `actions`,
`rewards`, `next_observations`, `dones` (the `gem_jax.method.types.Batch` fields, float32
`[M, ...]`);
`meta` the dataset's name, id, suite, dims, action scale, observation normaliser, episode
length and reference scores.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import sys

import numpy as np

FORMAT = "gem-jax compact dataset v1"
FIELDS = ("observations", "actions", "rewards", "next_observations", "dones")
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                            "maze2d-medium.npz")


def encode_f32(x: np.ndarray) -> np.ndarray:
    """Float32 `[M]` or `[M, d]` -> LZMA-compressed byte planes as a uint8 array."""
    x = np.asarray(x, np.float32)
    cols = np.ascontiguousarray(x.reshape(x.shape[0], -1).T)  # [d, M]
    planes = cols.view(np.uint8).reshape(cols.shape[0], cols.shape[1], 4)  # [d, M, 4]
    planes = np.ascontiguousarray(planes.transpose(2, 0, 1))  # [4, d, M]
    return np.frombuffer(lzma.compress(planes.tobytes(), preset=6), np.uint8)


def decode_f32(blob: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of `encode_f32` for an array of `shape`."""
    m = shape[0]
    d = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    raw = np.frombuffer(lzma.decompress(np.asarray(blob, np.uint8).tobytes()), np.uint8)
    if raw.size != 4 * d * m:
        raise ValueError(f"Compact array holds {raw.size} bytes, expected {4 * d * m} for "
                         f"shape {tuple(shape)}: the file is damaged; remake it.")
    planes = raw.reshape(4, d, m).transpose(1, 2, 0)  # [d, M, 4]
    cols = np.ascontiguousarray(planes).view(np.float32).reshape(d, m)  # [d, M]
    return np.ascontiguousarray(cols.T).reshape(shape)


def digest(x: np.ndarray) -> str:
    """SHA-256 of a float32 array's bytes (C order)."""
    return hashlib.sha256(np.ascontiguousarray(x, np.float32).tobytes()).hexdigest()


def check_arrays(arrays: dict) -> int:
    """Number of transitions M; ValueError when the five fields do not line up."""
    missing = [f for f in FIELDS if f not in arrays]
    if missing:
        raise ValueError(f"Dataset arrays lack {missing}; need {list(FIELDS)}.")
    obs, act = np.asarray(arrays["observations"]), np.asarray(arrays["actions"])
    m = obs.shape[0]
    if m < 1 or obs.ndim != 2 or act.ndim != 2:
        raise ValueError(f"Need observations [M, obs] and actions [M, A] with M >= 1, got "
                         f"{obs.shape} and {act.shape}.")
    want = {"actions": (m, act.shape[1]), "rewards": (m,), "dones": (m,),
            "next_observations": obs.shape}
    for name, shape in want.items():
        if np.asarray(arrays[name]).shape != shape:
            raise ValueError(f"{name} has shape {np.asarray(arrays[name]).shape}, expected "
                             f"{shape} (M = {m} transitions).")
    return m


def save_compact(path: str, arrays: dict, meta: dict) -> dict:
    """Write `arrays` (the five `Batch` fields) and `meta` to `path`; returns the full meta."""
    m = check_arrays(arrays)
    f32 = {k: np.asarray(arrays[k], np.float32) for k in FIELDS}
    obs, nxt = f32["observations"], f32["next_observations"]
    chain = np.concatenate([obs, nxt[-1:]])  # [M + 1, obs]: obs, then the last next obs
    fix = np.flatnonzero(np.any(nxt[:-1] != obs[1:], axis=1))  # rows with their own next obs
    meta = {**meta, "format": FORMAT, "num_transitions": int(m),
            "obs_dim": int(obs.shape[1]), "action_dim": int(f32["actions"].shape[1]),
            "next_fixups": int(fix.size), "sha256": {k: digest(v) for k, v in f32.items()}}
    out = {
        "chain": encode_f32(chain),
        "actions": encode_f32(f32["actions"]),
        "rewards": encode_f32(f32["rewards"]),
        "dones": encode_f32(f32["dones"]),
        "fix_index": fix.astype(np.int64),  # [F]
        "fix_next": nxt[fix],  # [F, obs]
        "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return meta


def load_compact(path: str) -> tuple[dict, dict]:
    """`(arrays, meta)` of a file written by `save_compact`, checked against its digests."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: make it with `make bench-gpu-data` "
                                "(benchmarks/gpu_data.py) on a machine with the dataset.")
    with np.load(path) as f:
        stored = {k: f[k] for k in f.files}
    try:
        meta = json.loads(stored["meta"].tobytes().decode())
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path} is not a compact dataset ({err}).") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}.")
    m, obs_dim, act_dim = meta["num_transitions"], meta["obs_dim"], meta["action_dim"]
    chain = decode_f32(stored["chain"], (m + 1, obs_dim))  # [M + 1, obs]
    nxt = chain[1:].copy()  # [M, obs]
    nxt[stored["fix_index"]] = stored["fix_next"]
    arrays = {
        "observations": chain[:-1],
        "actions": decode_f32(stored["actions"], (m, act_dim)),
        "rewards": decode_f32(stored["rewards"], (m,)),
        "next_observations": nxt,
        "dones": decode_f32(stored["dones"], (m,)),
    }
    for name, want in meta["sha256"].items():
        if digest(arrays[name]) != want:
            raise ValueError(f"{path}: {name} does not match its checksum; remake the file.")
    return arrays, meta


def from_dataset(name: str) -> tuple[dict, dict]:
    """The training arrays and meta of dataset `name`, as the training run sees them.

    Needs the dataset tooling (`gem_jax.data`, gymnasium for the action scale); the
    observation normaliser is the suite preset's choice."""
    from gem_jax.data import load_dataset, resolve_name
    from gem_jax.harness.evaluation import action_scale
    from gem_jax.presets import preset

    spec = resolve_name(name)
    normalize = preset(spec.suite).normalize_observations
    dataset = load_dataset(name, normalize_observations=normalize, progress=False)
    env = dataset.make_env()
    scale = np.asarray(action_scale(env), np.float32)  # [A] env half-widths
    env.close()
    b = dataset.batch
    arrays = {
        "observations": np.asarray(b.observations, np.float32),
        "actions": np.clip(np.asarray(b.actions, np.float32) / scale, -1.0, 1.0),
        "rewards": np.asarray(b.rewards, np.float32),
        "next_observations": np.asarray(b.next_observations, np.float32),
        "dones": np.asarray(b.dones, np.float32),
    }
    meta = {
        "env": name, "dataset_id": dataset.dataset_id, "suite": dataset.suite,
        "action_scale": scale.tolist(),
        "obs_mean": np.asarray(dataset.obs_mean, np.float32).tolist(),
        "obs_std": np.asarray(dataset.obs_std, np.float32).tolist(),
        "normalize_observations": bool(normalize),
        "max_episode_steps": int(dataset.max_episode_steps),
        "ref_min_score": float(dataset.ref_min_score),
        "ref_max_score": float(dataset.ref_max_score),
    }
    return arrays, meta


def main(argv) -> None:
    from absl import flags

    del argv
    values = flags.FLAGS
    arrays, meta = from_dataset(values.dataset)
    meta["command"] = " ".join(["python", os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    meta = save_compact(values.out, arrays, meta)
    size = os.path.getsize(values.out)
    check, _ = load_compact(values.out)
    assert all(np.array_equal(check[k], arrays[k]) for k in FIELDS)  # lossless round trip
    print(f"wrote {values.out}: {meta['num_transitions']} transitions, "
          f"{size / 2**20:.1f} MiB (float32 arrays: "
          f"{sum(a.nbytes for a in arrays.values()) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("dataset", "maze2d-medium", "Dataset name (experiments/make_dataset.py "
                        "--list); it must be on disk.")
    flags.DEFINE_string("out", DEFAULT_PATH, "Output .npz path.")
    app.run(main)
