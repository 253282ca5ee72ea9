"""Offline datasets: loading by D4RL name / Minari id, suite conventions, local builds.

`load_dataset(name)` -> `Dataset` (flat numpy transitions after the suite's conventions);
`resolve_name`, `list_datasets` for names; `build_dataset(name)` for the local builds
(`nav2d`, `pointmaze-<maze>[-dense]`, `antmaze-umaze-fixture`, `antmaze-<task>`, the
locomotion levels). Minibatches are drawn on device by `gem_jax.method.learner.sample_batch`.
"""

from gem_jax.data.builders import build_dataset
from gem_jax.data.load import Dataset, load_dataset
from gem_jax.data.names import DatasetSpec, list_datasets, resolve_name

__all__ = [
    "Dataset",
    "DatasetSpec",
    "build_dataset",
    "list_datasets",
    "load_dataset",
    "resolve_name",
]
