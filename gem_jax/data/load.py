"""`load_dataset`: a named offline dataset as flat float32 transitions plus its metadata.

Nothing is downloaded unless asked (`download=True`, bounded by `download_timeout`);
a missing dataset raises `FileNotFoundError` at once, naming the Minari id, where it
looked, the command that fetches it on a machine with network, and the local builder
that can stand in. The one exception is `nav2d`, the project's embedded default: it is
built on first use (about 20 s) and reused afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import warnings

import numpy as np

from gem_jax.data import conventions, names, storage
from gem_jax.method.types import Batch


@dataclasses.dataclass
class Dataset:
    """A flat offline dataset after its suite's conventions (see `conventions`)."""

    name: str  # as requested
    dataset_id: str  # Minari id ("+"-joined for unions, e.g. D4RL medium-expert)
    suite: str  # nav2d | maze2d | antmaze | locomotion (== GEMConfig preset name)
    batch: Batch  # numpy float32 [M, ...]; rewards after the convention; dones = terminals
    timeouts: np.ndarray  # [M] bool truncations
    episode_ids: np.ndarray  # [M] int32, 0..num_episodes-1, contiguous
    labels: np.ndarray | None  # [M] int32 behavior label where known, else None
    ref_min_score: float
    ref_max_score: float
    obs_mean: np.ndarray  # [obs_dim]; zeros unless normalize_observations
    obs_std: np.ndarray  # [obs_dim]; ones unless normalize_observations
    max_episode_steps: int
    reward_scale: float = 1.0  # what the convention multiplied the rewards by (locomotion)

    @property
    def obs_dim(self) -> int:
        return int(self.batch.observations.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.batch.actions.shape[1])

    @property
    def num_episodes(self) -> int:
        return int(self.episode_ids[-1]) + 1 if self.episode_ids.size else 0

    def normalized_score(self, returns) -> np.ndarray:
        """method §5: `100 * (return - ref_min) / (ref_max - ref_min)`."""
        if not np.isfinite(self.ref_min_score) or not np.isfinite(self.ref_max_score):
            raise ValueError(f"{self.dataset_id} has no reference scores to normalise with.")
        span = self.ref_max_score - self.ref_min_score
        return 100.0 * (np.asarray(returns, np.float64) - self.ref_min_score) / span

    def make_env(self, **kwargs):
        """The evaluation env, observations in this dataset's flat float32 layout (raw,
        not normalised). AntMaze terminates on success (return = success), as in D4RL."""
        from gem_jax.data.envs import make_eval_env

        return make_eval_env(self.suite, self.dataset_id.split("+")[0], **kwargs)


def _metadata(dataset_id: str) -> dict:
    return json.loads((storage.dataset_dir(dataset_id) / "data" / "metadata.json").read_text())


def missing_message(name: str, spec: names.DatasetSpec, dataset_id: str) -> str:
    root_env = os.environ.get("MINARI_DATASETS_PATH")
    where = (
        f"MINARI_DATASETS_PATH={root_env}"
        if root_env
        else "MINARI_DATASETS_PATH is unset, so Minari's default ~/.minari/datasets"
    )
    lines = [
        f"Dataset {name!r} (Minari id {dataset_id!r}) is not on disk.",
        f"Looked in {storage.dataset_dir(dataset_id)} ({where}).",
    ]
    if spec.local:
        lines.append(
            f"It is a local gem-jax build: python experiments/make_dataset.py "
            f"--dataset={spec.builder}"
        )
        return "\n".join(lines)
    lines += [
        "Nothing is downloaded unless asked. On a machine with network access run",
        f'    pip install "minari[hdf5]" && minari download {dataset_id}',
        f"and copy the folder <its datasets dir>/{dataset_id} to "
        f"{storage.dataset_dir(dataset_id)}; or, where there is network, pass download=True "
        "(CLI: --download).",
    ]
    if spec.builder:
        local = names.LOCAL[spec.builder]
        lines.append(
            f"Local stand-in (the published recipe, rebuilt here; a different dataset, "
            f"{local.dataset_id}): python experiments/make_dataset.py --dataset={spec.builder}"
            f", then load {spec.builder!r}."
        )
    elif spec.suite == "locomotion":
        lines.append("gem-jax has no local builder for this locomotion dataset "
                     "(python experiments/make_dataset.py --list shows those it has).")
    else:
        lines.append(
            "gem-jax has no local builder for this dataset (the "
            "'antmaze-umaze-fixture' pipeline fixture is not a benchmark)."
        )
    return "\n".join(lines)


def download_minari(dataset_id: str, timeout: float) -> None:
    """`minari.download_dataset` in a child process, killed after `timeout` seconds."""
    code = f"import minari; minari.download_dataset({dataset_id!r})"
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise TimeoutError(
            f"Downloading {dataset_id} took longer than {timeout:.0f} s and was stopped. "
            f"Fetch it elsewhere with `minari download {dataset_id}` and copy it to "
            f"{storage.dataset_dir(dataset_id)}."
        ) from error
    except subprocess.CalledProcessError as error:
        raise FileNotFoundError(
            f"Downloading {dataset_id} failed (exit {error.returncode}); see the output above."
        ) from error


def _ensure_on_disk(name, spec, dataset_id, download_requested, timeout, progress) -> None:
    if storage.is_on_disk(dataset_id):
        return
    if spec.local and spec.builder == "nav2d":
        from gem_jax.data.builders import build_dataset

        build_dataset("nav2d", progress=progress, exist_ok=True)
    elif download_requested and not spec.local:
        download_minari(dataset_id, timeout)
    if not storage.is_on_disk(dataset_id):
        raise FileNotFoundError(missing_message(name, spec, dataset_id))


def _concatenate(flats: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join flat datasets; in a union (D4RL medium-expert) the component is the label."""
    if len(flats) == 1:
        return flats[0]
    offsets = np.cumsum([0] + [int(f["episode_ids"][-1]) + 1 for f in flats[:-1]])
    flat = {k: np.concatenate([f[k] for f in flats]) for k in storage.FLAT_KEYS}
    flat["episode_ids"] = np.concatenate(
        [f["episode_ids"] + o for f, o in zip(flats, offsets, strict=True)]
    ).astype(np.int32)
    flat["labels"] = np.concatenate(
        [np.full(f["rewards"].shape, j, np.int32) for j, f in enumerate(flats)]
    )
    return flat


def load_dataset(
    name: str,
    download: bool = False,
    normalize_observations: bool = False,
    *,
    download_timeout: float = 900.0,
    progress: bool = True,
) -> Dataset:
    """Load a D4RL name, a Minari id or a local short name (see `names`) as a `Dataset`."""
    spec = names.resolve_name(name)
    if spec.approximate:
        warnings.warn(spec.approximate, UserWarning, stacklevel=2)
    for dataset_id in spec.dataset_ids:
        _ensure_on_disk(name, spec, dataset_id, download, download_timeout, progress)
    flat = _concatenate([storage.load_flat(i, spec.suite, progress) for i in spec.dataset_ids])
    metadata = _metadata(spec.dataset_ids[-1])
    ref_min, ref_max = spec.ref_scores or (
        float(metadata.get("ref_min_score", np.nan)),
        float(metadata.get("ref_max_score", np.nan)),
    )
    max_steps = spec.max_episode_steps
    if max_steps is None:
        eval_spec = json.loads(metadata.get("eval_env_spec") or metadata.get("env_spec") or "{}")
        max_steps = int(eval_spec.get("max_episode_steps") or 1000)

    observations, next_observations = flat["observations"], flat["next_observations"]
    obs_dim = observations.shape[1]
    obs_mean, obs_std = np.zeros(obs_dim, np.float32), np.ones(obs_dim, np.float32)
    if normalize_observations:
        obs_mean, obs_std = conventions.observation_stats(observations)
        observations = conventions.normalize(observations, obs_mean, obs_std)
        next_observations = conventions.normalize(next_observations, obs_mean, obs_std)
    raw_rewards = flat["rewards"]
    if spec.suite == "maze2d":  # D4RL: rewards toward the one evaluation goal
        from gem_jax.data.envs import maze2d_goal

        goal, reward_type = maze2d_goal(spec.dataset_id.split("+")[0])
        raw_rewards = conventions.maze2d_rewards(
            flat["next_observations"][:, :2], goal, reward_type
        )  # raw [x, y, vx, vy] layout, before any normalisation
    terminals = flat["terminals"].astype(bool)
    if spec.suite == "antmaze":  # D4RL: rewards and terminals toward the one evaluation goal
        from gem_jax.data.envs import antmaze_goal

        reached = conventions.goal_reached(
            flat["next_observations"][:, :2], antmaze_goal(spec.dataset_id.split("+")[0])
        )  # raw [x, y, ...] layout, before any normalisation
        raw_rewards, terminals = reached.astype(np.float32), terminals | reached
    rewards = conventions.transform_rewards(raw_rewards, flat["episode_ids"], spec.suite)
    scale = conventions.reward_scale(raw_rewards.astype(np.float32), flat["episode_ids"],
                                     spec.suite)  # as transform_rewards computed it
    batch = Batch(
        observations=observations.astype(np.float32),
        actions=flat["actions"].astype(np.float32),
        rewards=rewards,
        next_observations=next_observations.astype(np.float32),
        dones=terminals.astype(np.float32),
    )
    return Dataset(
        name=name,
        dataset_id=spec.dataset_id,
        suite=spec.suite,
        batch=batch,
        timeouts=flat["timeouts"].astype(bool),
        episode_ids=flat["episode_ids"],
        labels=flat.get("labels"),
        ref_min_score=float(ref_min),
        ref_max_score=float(ref_max),
        obs_mean=obs_mean,
        obs_std=obs_std,
        max_episode_steps=int(max_steps),
        reward_scale=float(scale),
    )
