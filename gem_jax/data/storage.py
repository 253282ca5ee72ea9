"""Where datasets live, how Minari episodes become flat arrays, and the flat-array cache.

Minari datasets (official and the local `gem/...` builds alike) live in Minari's
datasets directory: `$MINARI_DATASETS_PATH`, else `~/.minari/datasets`. Flattening a
1M-step dataset through `iterate_episodes` takes about a minute, so the flat arrays are
cached next to the dataset, in `<dataset dir>/.gem_jax_flat/<key>.npz`, the key hashing
the dataset's `metadata.json` (id with version, step and episode counts, size) and the
flat layout version. If that directory is read-only the cache goes to
`$GEM_JAX_CACHE/flat/<dataset id>/` (default `~/.cache/gem_jax`).

The cache holds raw data (environment rewards, terminals, timeouts); the suite
conventions of `gem_jax.data.conventions` are applied after loading.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any

import numpy as np

FLAT_FORMAT = "gem_jax-flat-1"
LABEL_INFO_KEYS = ("behavior", "source")
FLAT_KEYS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminals",
    "timeouts",
    "episode_ids",
)


def datasets_root() -> pathlib.Path:
    """Minari's datasets directory (no side effects, unlike minari's own helper)."""
    root = os.environ.get("MINARI_DATASETS_PATH")
    return pathlib.Path(root) if root else pathlib.Path.home() / ".minari" / "datasets"


def dataset_dir(dataset_id: str) -> pathlib.Path:
    return datasets_root() / dataset_id


def is_on_disk(dataset_id: str) -> bool:
    return (dataset_dir(dataset_id) / "data" / "metadata.json").is_file()


def user_cache_dir() -> pathlib.Path:
    root = os.environ.get("GEM_JAX_CACHE")
    return pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "gem_jax"


def flat_observation(suite: str, observations: Any) -> np.ndarray:
    """The flat observation layout of each suite, for one episode's [T+1, ...] data.

    * nav2d, locomotion: the Box observation as is.
    * maze2d: D4RL's maze2d layout `[x, y, vx, vy]` = `observation` (the goal is not
      part of the state; evaluation uses a fixed goal).
    * antmaze: D4RL's 29-d layout `[x, y, qpos[2:], qvel]` = `achieved_goal ++ observation`.
    """
    if suite in ("nav2d", "locomotion"):
        return np.asarray(observations, np.float32)
    if suite == "maze2d":
        return np.asarray(observations["observation"], np.float32)
    if suite == "antmaze":
        return np.concatenate(
            [observations["achieved_goal"], observations["observation"]], axis=-1
        ).astype(np.float32)
    raise ValueError(f"Unknown suite {suite!r}.")


class EpisodeView:
    """Duck-typed Minari `EpisodeData` over an in-memory episode dict (builders use it to
    write the flat cache with exactly the code that flattens a dataset read from disk)."""

    def __init__(self, episode: dict):
        self.observations = episode["observations"]
        self.actions = episode["actions"]
        self.rewards = episode["rewards"]
        self.terminations = episode["terminations"]
        self.truncations = episode["truncations"]
        self.infos = episode.get("infos")


def flatten_episodes(
    episodes: Any, suite: str, num_episodes: int, progress: bool = False
) -> dict[str, np.ndarray]:
    """Concatenate Minari `EpisodeData` into flat transitions `(s, a, r, s', term, trunc)`.

    Episode k's transitions get `episode_ids == k`. A per-step `infos["behavior"]` (nav2d)
    or `infos["source"]` (local medium-expert) becomes `labels`.
    """
    from tqdm.auto import tqdm

    parts: dict[str, list[np.ndarray]] = {k: [] for k in (*FLAT_KEYS, "labels")}
    for k, ep in enumerate(
        tqdm(
            episodes,
            total=num_episodes,
            disable=not progress,
            desc="flattening episodes",
            unit="ep",
        )
    ):
        obs = flat_observation(suite, ep.observations)  # [T+1, obs]
        steps = len(ep.rewards)
        parts["observations"].append(obs[:-1])
        parts["next_observations"].append(obs[1:])
        parts["actions"].append(np.asarray(ep.actions, np.float32).reshape(steps, -1))
        parts["rewards"].append(np.asarray(ep.rewards, np.float32))
        parts["terminals"].append(np.asarray(ep.terminations, bool))
        parts["timeouts"].append(np.asarray(ep.truncations, bool))
        parts["episode_ids"].append(np.full((steps,), k, np.int32))
        label_key = next((k for k in LABEL_INFO_KEYS if ep.infos and k in ep.infos), None)
        if label_key is not None:
            parts["labels"].append(np.asarray(ep.infos[label_key][:steps], np.int32))
    flat = {k: np.concatenate(v) for k, v in parts.items() if v}
    if "labels" in flat and flat["labels"].shape[0] != flat["rewards"].shape[0]:
        del flat["labels"]  # behavior labels on some episodes only: unusable
    return flat


def _cache_key(dataset_id: str, suite: str) -> str:
    metadata = (dataset_dir(dataset_id) / "data" / "metadata.json").read_bytes()
    digest = hashlib.sha1(metadata + FLAT_FORMAT.encode() + suite.encode()).hexdigest()
    return digest[:16]


def _cache_candidates(dataset_id: str, suite: str) -> list[pathlib.Path]:
    name = f"{_cache_key(dataset_id, suite)}.npz"
    return [
        dataset_dir(dataset_id) / ".gem_jax_flat" / name,
        user_cache_dir() / "flat" / dataset_id / name,
    ]


def read_flat_cache(dataset_id: str, suite: str) -> dict[str, np.ndarray] | None:
    for path in _cache_candidates(dataset_id, suite):
        if path.is_file():
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
    return None


def write_flat_cache(dataset_id: str, suite: str, flat: dict[str, np.ndarray]) -> pathlib.Path:
    """Save flat arrays for `dataset_id` (atomic rename); returns the path written."""
    last_error: OSError | None = None
    for path in _cache_candidates(dataset_id, suite):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, **flat)
            os.replace(tmp, path)
            return path
        except OSError as error:  # read-only dataset directory: try the user cache
            last_error = error
    raise OSError(f"Could not write the flat cache of {dataset_id}: {last_error}")


def load_flat(dataset_id: str, suite: str, progress: bool = True) -> dict[str, np.ndarray]:
    """Flat raw arrays of a Minari dataset on disk, from the cache when possible."""
    cached = read_flat_cache(dataset_id, suite)
    if cached is not None:
        return cached
    import minari

    dataset = minari.load_dataset(dataset_id)
    flat = flatten_episodes(
        dataset.iterate_episodes(), suite, dataset.total_episodes, progress=progress
    )
    write_flat_cache(dataset_id, suite, flat)
    return flat
