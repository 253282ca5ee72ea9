"""`build_dataset`: build a local dataset (namespace `gem/`) by its short name.

| short name | dataset id | recipe (module) | default steps |
|---|---|---|---|
| `nav2d` | `gem/nav2d-v0` | the EMPO paper, App. A (`nav2d_build`) | 10^6 |
| `pointmaze-<maze>[-dense]` | `gem/pointmaze/<maze>[-dense]-v0` | `pointmaze_build` Minari | 10^6 |
| `maze2d-<maze>[-dense]` | `gem/maze2d/<maze>[-dense]-v0` | `pointmaze_build`, D4RL | 10^6 |
| `antmaze-umaze-fixture` | `gem/antmaze/umaze-fixture-v0` | random, NOT a benchmark | 5000 |
| `antmaze-<task>` | `gem/antmaze/<task>-v0` | `antmaze_sac_build` (Minari, SAC ant) | 10^6 |
| `<env>-<level>` | `gem/<env>/<level>-v0` | `locomotion` (D4RL recipe, SAC) | 10^6 |

Builds are deterministic given the seed. A build holds a lock file in the datasets
directory so two processes never write the same dataset at once.
"""

from __future__ import annotations

import contextlib
import fcntl

from gem_jax.data import minari_io, names, storage

DEFAULT_NUM_STEPS = {"nav2d": 1_000_000, "pointmaze": 1_000_000, "antmaze-umaze-fixture": 5000}


@contextlib.contextmanager
def _build_lock(dataset_id: str):
    root = storage.datasets_root()
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / f".gem_jax_build_{dataset_id.replace('/', '__')}.lock"
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_dataset(
    name: str,
    num_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    *,
    force: bool = False,
    exist_ok: bool = False,
    reference_episodes: int = 100,
) -> str:
    """Build the local dataset `name` into Minari's datasets directory; returns its id.

    `force` replaces an existing build; `exist_ok` returns the existing id instead of
    raising `FileExistsError`. Official names raise `ValueError` pointing at their
    local counterpart: an official dataset is never rebuilt under its own id.
    """
    spec = names.resolve_name(name)
    if not spec.local or spec.builder is None:
        hint = (
            f" Its local rebuild is {spec.builder!r} (a different dataset, "
            f"{names.LOCAL[spec.builder].dataset_id})."
            if spec.builder
            else ""
        )
        raise ValueError(
            f"{name!r} is an official dataset ({spec.dataset_id}); gem-jax only builds local "
            f"datasets: {sorted(names.LOCAL)}.{hint}"
        )
    builder, dataset_id = spec.builder, spec.dataset_ids[0]
    if _needs_ant_policy(builder):  # fail before touching an existing build
        from gem_jax.data import antmaze_sac_build

        antmaze_sac_build.require_policy()
    with _build_lock(dataset_id):
        if storage.is_on_disk(dataset_id):
            if exist_ok and not force:
                return dataset_id
            if not force:
                raise FileExistsError(
                    f"{dataset_id} already exists at {storage.dataset_dir(dataset_id)}; pass "
                    "force=True (CLI: --force) to rebuild it."
                )
        minari_io.remove_dataset(dataset_id)  # also clears a half-written directory
        try:
            return _run_builder(builder, num_steps, seed, progress, reference_episodes)
        except BaseException:
            minari_io.remove_dataset(dataset_id)
            raise


def _needs_ant_policy(builder: str) -> bool:
    """The Minari-recipe AntMaze builds (`antmaze-<task>`), not the random fixture."""
    return builder.startswith("antmaze-") and builder != "antmaze-umaze-fixture"


def _run_builder(builder: str, num_steps, seed, progress, reference_episodes) -> str:
    if builder == "nav2d":
        from gem_jax.data import nav2d_build

        steps = DEFAULT_NUM_STEPS["nav2d"] if num_steps is None else num_steps
        return nav2d_build.build(steps, seed, progress, reference_episodes)
    if builder.startswith(("pointmaze-", "maze2d-")):
        from gem_jax.data import pointmaze_build

        family, maze = builder.split("-")[:2]
        steps = DEFAULT_NUM_STEPS["pointmaze"] if num_steps is None else num_steps
        recipe = "minari" if family == "pointmaze" else "d4rl"
        return pointmaze_build.build(
            maze, builder.endswith("-dense"), steps, seed, progress, reference_episodes, recipe
        )
    if builder == "antmaze-umaze-fixture":
        from gem_jax.data import antmaze_build

        steps = DEFAULT_NUM_STEPS["antmaze-umaze-fixture"] if num_steps is None else num_steps
        return antmaze_build.build(steps, seed, progress)
    if _needs_ant_policy(builder):  # Minari's recipe from the shipped goal-reaching ant
        from gem_jax.data import antmaze_sac_build

        return antmaze_sac_build.build(builder, num_steps, seed, progress, reference_episodes)
    if names.LOCAL[builder].suite == "locomotion":  # D4RL's recipe from shipped SAC policies
        from gem_jax.data import locomotion

        return locomotion.build_locomotion_dataset(builder, num_steps, seed, progress)
    raise ValueError(f"No builder named {builder!r}.")
