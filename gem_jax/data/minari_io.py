"""Writing local builds as real Minari datasets, in one go from filled episode buffers.

Minari writes `metadata.json` before the episodes, so a build killed while writing would
leave a directory that looks complete. `write_dataset` therefore writes into a hidden
staging root next to the datasets (`.gem_jax_staging_<pid>`, skipped by Minari's listings)
and moves the finished dataset directory into place with one `os.replace`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from gem_jax.data import storage

AUTHOR = "gem-jax"


def remove_dataset(dataset_id: str) -> None:
    """Delete a local dataset directory (used by `--force` rebuilds)."""
    path = storage.dataset_dir(dataset_id)
    if path.exists():
        shutil.rmtree(path)


def episode_slices(episode_ids: np.ndarray) -> list[slice]:
    """Contiguous `[start, stop)` ranges of each episode in flat order. [M] -> list."""
    bounds = np.flatnonzero(np.diff(episode_ids)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [episode_ids.shape[0]]])
    return [slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


NAMESPACE_FILE = "namespace_metadata.json"


@contextlib.contextmanager
def _minari_root(path):
    """Point Minari (which reads $MINARI_DATASETS_PATH on every call) at `path` for a while."""
    saved = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = saved


def _publish(stage, root, dataset_id: str) -> None:
    """Move `stage/dataset_id` to `root/dataset_id` (atomic), with its namespace files."""
    parts = dataset_id.split("/")[:-1]
    for depth in range(1, len(parts) + 1):  # Minari's namespace metadata, if not there yet
        namespace = "/".join(parts[:depth])
        source, target = stage / namespace / NAMESPACE_FILE, root / namespace / NAMESPACE_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)
    destination = root / dataset_id
    if destination.exists():
        raise FileExistsError(f"{destination} appeared while {dataset_id} was being written.")
    os.replace(stage / dataset_id, destination)


def write_dataset(
    dataset_id: str,
    episodes: Sequence[dict[str, Any]],
    env: Any,
    eval_env: Any,
    ref_min_score: float | None,
    ref_max_score: float | None,
    algorithm_name: str,
    description: str,
    requirements: list[str] | None = None,
    progress: bool = True,
) -> None:
    """Create the Minari dataset from complete episodes (staged, then moved into place).

    Each episode is a dict with `observations` ([T+1, ...] array or dict of such arrays),
    `actions` [T, A], `rewards` [T], `terminations` [T], `truncations` [T] and optional
    `infos` (dict of [T+1, ...] arrays).
    """
    import minari
    from minari.data_collector import EpisodeBuffer
    from tqdm.auto import tqdm

    buffers = [
        EpisodeBuffer(
            id=k,
            observations=ep["observations"],
            actions=ep["actions"],
            rewards=np.asarray(ep["rewards"]),
            terminations=np.asarray(ep["terminations"], bool),
            truncations=np.asarray(ep["truncations"], bool),
            infos=ep.get("infos"),
        )
        for k, ep in enumerate(episodes)
    ]
    root = storage.datasets_root()
    stage = root / f".gem_jax_staging_{os.getpid()}"  # a killed build leaves only this
    shutil.rmtree(stage, ignore_errors=True)
    try:
        with _minari_root(stage), warnings.catch_warnings():  # no e-mail to give: local build
            warnings.filterwarnings("ignore", message=".*author_email.*")
            minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=tqdm(buffers, disable=not progress, unit="ep", desc=f"writing {dataset_id}"),
                env=env,
                eval_env=eval_env,
                algorithm_name=algorithm_name,
                author=AUTHOR,
                code_permalink="experiments/make_dataset.py (gem-jax)",
                ref_min_score=ref_min_score,
                ref_max_score=ref_max_score,
                description=description,
                requirements=requirements,
            )
        _publish(stage, root, dataset_id)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
