"""Checkpoints (orbax): the whole train state plus a JSON record of how to rebuild it.

A run directory holds `checkpoints/<step>/` written atomically by orbax (a temporary
directory renamed on completion, so a crash mid-write leaves the previous checkpoint as
the latest complete one) and keeps the newest `keep` of them. Each checkpoint stores:

* `state`: the `GEMState` pytree (leading seed axis `[S, ...]` on every leaf),
* `meta`: JSON with the config, dims, seeds, dataset name and action scale.

`restore_params(workdir)` rebuilds the state's structure from `meta` and restores it.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import sys
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from gem_jax.harness.learners import init_state
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import GEMState
from gem_jax.method.select import PolicyParams, policy_params, seed_params
from gem_jax.presets import from_config_dict

TMP_SUFFIX = ".orbax-checkpoint-tmp"  # orbax's name for a write in progress


class CheckpointError(RuntimeError):
    """A run directory has no usable checkpoint, or one that does not fit."""


def checkpoint_dir(workdir: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(workdir).absolute() / "checkpoints"


def make_manager(workdir: str | pathlib.Path, keep: int = 3) -> ocp.CheckpointManager:
    """Manager keeping the newest `keep` checkpoints (for the one process writing this run)."""
    remove_partial(workdir)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    return ocp.CheckpointManager(checkpoint_dir(workdir), options=options)


def remove_partial(workdir: str | pathlib.Path) -> list[str]:
    """Delete the temporary directories of checkpoint writes a kill interrupted.

    Orbax writes `<step>.orbax-checkpoint-tmp*` and renames it to `<step>` only once it is
    complete, so these were never visible as checkpoints; removing them just frees space.
    """
    directory = checkpoint_dir(workdir)
    removed = []
    if directory.is_dir():
        for path in directory.glob(f"*{TMP_SUFFIX}*"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def has_checkpoint(workdir: str | pathlib.Path) -> bool:
    """Whether `workdir` holds at least one complete checkpoint (what `--resume` needs)."""
    directory = checkpoint_dir(workdir)
    return directory.is_dir() and any(p.is_dir() and p.name.isdigit() for p in directory.iterdir())


def make_meta(
    config: GEMConfig, obs_dim: int, action_dim: int, seeds: list[int], **extra: Any
) -> dict:
    return {
        "config": dataclasses.asdict(config),
        "obs_dim": int(obs_dim),
        "action_dim": int(action_dim),
        "seeds": [int(s) for s in seeds],
        **extra,
    }


def save(manager: ocp.CheckpointManager, step: int, state: GEMState, meta: dict) -> None:
    """Write one checkpoint and wait for it to be complete on disk."""
    manager.save(
        int(step),
        args=ocp.args.Composite(state=ocp.args.StandardSave(on_disk(state)),
                                meta=ocp.args.JsonSave(meta)),
        force=True,
    )
    manager.wait_until_finished()


def on_disk(state: GEMState) -> dict:
    """The state's tree as saved: its fields by name, without the empty ones (`hyper_q` is
    None but for LOM), so a GEM checkpoint holds exactly the tree it held before LOM
    existed and every earlier checkpoint still restores. Any other pytree is saved as is."""
    if not dataclasses.is_dataclass(state):
        return state
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    return {name: value for name, value in fields.items() if value is not None}


def abstract_state(meta: dict) -> GEMState:
    """Shape/dtype skeleton of the stacked `[S, ...]` state a `meta` describes."""
    config = from_config_dict(meta["config"])
    keys = jax.random.split(jax.random.PRNGKey(0), len(meta["seeds"]))
    init = lambda k: init_state(k, config, meta["obs_dim"], meta["action_dim"])
    state = jax.eval_shape(jax.vmap(init), keys)
    if config.planning_iterations > 0:  # SfBC's per-seed critic targets [S, M]
        if "num_transitions" not in meta:
            raise CheckpointError("this SfBC checkpoint's meta lacks num_transitions, the "
                                  "length of its planned returns; it cannot be restored.")
        state = state.replace(returns=jax.ShapeDtypeStruct(
            (len(meta["seeds"]), int(meta["num_transitions"])), np.float32))
    return state


def read_meta(workdir: str | pathlib.Path, step: int | None = None) -> tuple[int, dict]:
    """`(step, meta)` of the newest (or given) checkpoint, without restoring the state."""
    manager = _existing_manager(workdir)
    step = _pick_step(manager, workdir, step)
    try:
        meta = _read_meta(manager, step)
    except READ_ERRORS as err:
        raise _corrupted(workdir, step, err, manager) from err
    return step, meta


# What a damaged checkpoint raises on read: orbax and tensorstore report truncated or garbled
# files as ValueError (JSON, zarr, OCDBT), KeyError, OSError, and a cut array shard as a bare
# `Exception` ("Encountered error while reading array index"): any of them means unreadable.
READ_ERRORS = (Exception,)


def _read_meta(manager: ocp.CheckpointManager, step: int) -> dict:
    meta = dict(manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])
    for field in ("config", "obs_dim", "action_dim", "seeds"):
        meta[field]  # noqa: B018 - a KeyError here means a damaged record
    return meta


def _restore_step(manager: ocp.CheckpointManager, step: int, meta: dict | None = None
                  ) -> tuple[GEMState, dict]:
    """One step's `(state, meta)` (`meta`: that step's, when already read)."""
    meta = _read_meta(manager, step) if meta is None else meta
    target = abstract_state(meta)
    args = ocp.args.Composite(state=ocp.args.StandardRestore(on_disk(target)))
    try:
        restored = manager.restore(step, args=args)
    except READ_ERRORS:
        _silence_abandoned_reads()
        raise
    return GEMState(**restored["state"]), meta


def _silence_abandoned_reads() -> None:
    """A failed read of a damaged shard leaves orbax's other array reads as coroutines that
    are never awaited; when they are collected Python prints "Exception ignored in" with a
    tensorstore traceback for each (thousands of lines) to stderr. Drop exactly those, once
    a read has failed; every other unraisable exception still reaches the previous hook."""
    previous = sys.unraisablehook
    if getattr(previous, "_gem_jax_quiet", False):
        return

    def hook(unraisable):
        name = getattr(unraisable.object, "__qualname__", "")
        if type(unraisable.object).__name__ == "coroutine" and "read" in name.lower():
            return
        previous(unraisable)

    hook._gem_jax_quiet = True
    sys.unraisablehook = hook


def intact_steps(workdir: str | pathlib.Path, exclude: tuple[int, ...] = ()) -> list[int]:
    """The kept steps (but `exclude`) whose checkpoint restores, meta and state; oldest first."""
    return _intact(_existing_manager(workdir), exclude)


def _intact(manager: ocp.CheckpointManager, exclude: tuple[int, ...] = ()) -> list[int]:
    intact = []
    for step in sorted(manager.all_steps()):
        if step in exclude:
            continue
        try:
            _restore_step(manager, step)
        except READ_ERRORS:
            continue
        intact.append(step)
    return intact


def newest_meta(workdir: str | pathlib.Path) -> dict:
    """The meta of the newest checkpoint whose meta reads (a damaged newer one is skipped;
    `restore_newest_intact` reports it)."""
    manager = _existing_manager(workdir)
    steps = sorted(manager.all_steps(), reverse=True)
    errors = []
    for step in steps:
        try:
            return _read_meta(manager, step)
        except READ_ERRORS as err:
            errors.append(err)
    raise _corrupted(workdir, steps[0], errors[0], manager)


def restore_newest_intact(workdir: str | pathlib.Path, check=None
                          ) -> tuple[GEMState, dict, int, list[int]]:
    """`(state, meta, step, damaged)`: the newest checkpoint that restores, and the newer
    steps that did not (newest first). `check(meta)` (e.g. the dims against the env) runs
    on each readable meta before its state is read, and what it raises goes through. A
    `CheckpointError` names the damaged steps when none restores."""
    manager = _existing_manager(workdir)
    damaged, first_err = [], None
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            meta = _read_meta(manager, step)
        except READ_ERRORS as err:
            damaged.append(step)
            first_err = first_err or err
            continue
        if check is not None:
            check(meta)
        try:
            state, meta = _restore_step(manager, step, meta)
        except READ_ERRORS as err:
            damaged.append(step)
            first_err = first_err or err
            continue
        return state, meta, step, damaged
    raise _corrupted(workdir, damaged[0], first_err, manager)


def set_aside(workdir: str | pathlib.Path, step: int) -> pathlib.Path:
    """Move a damaged `checkpoints/<step>` to `checkpoints_damaged/<step>` (kept, not deleted),
    so that a resumed run can write that step again."""
    source = checkpoint_dir(workdir) / str(step)
    target = pathlib.Path(workdir).absolute() / "checkpoints_damaged" / str(step)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # set aside before: keep both
        target = target.with_name(f"{step}.{len(list(target.parent.glob(f'{step}*')))}")
    shutil.move(str(source), str(target))
    return target


def check_dims(meta: dict, obs_dim: int, action_dim: int, workdir, env: str) -> None:
    """Raise `ValueError` if a checkpoint's observation/action sizes differ from `env`'s."""
    if (int(meta["obs_dim"]), int(meta["action_dim"])) != (int(obs_dim), int(action_dim)):
        raise ValueError(
            f"Checkpoint in {workdir} expects obs_dim={meta['obs_dim']}, action_dim="
            f"{meta['action_dim']} but {env} has obs_dim={obs_dim}, action_dim={action_dim}; "
            f"use the dataset the run was trained on ({meta.get('env', 'see its meta')})."
        )


def _corrupted(workdir, step: int, err: BaseException, manager=None) -> CheckpointError:
    """One line: the damaged step, what failed, the intact steps that remain, what to do."""
    detail = " ".join(str(err).split())[:200]
    intact = [] if manager is None else _intact(manager, exclude=(step,))
    if intact:
        remedy = (f"intact steps: {intact}; use one with --step={intact[-1]} "
                  f"(load_policy / load_params: step={intact[-1]}), or retrain.")
    else:
        remedy = "no intact step remains; retrain."
    return CheckpointError(
        f"Checkpoint step {step} ({checkpoint_dir(workdir) / str(step)}) is unreadable or "
        f"corrupted ({type(err).__name__}: {detail}); {remedy}"
    )


def restore(workdir: str | pathlib.Path, step: int | None = None) -> tuple[GEMState, dict]:
    """The newest (or given) complete checkpoint: `(stacked state, meta)`."""
    manager = _existing_manager(workdir)
    step = _pick_step(manager, workdir, step)
    try:
        return _restore_step(manager, step)
    except READ_ERRORS as err:
        raise _corrupted(workdir, step, err, manager) from err


def restore_params(workdir: str | pathlib.Path, seed_index: int | None = None,
                step: int | None = None) -> PolicyParams:
    """Policy parameters of the newest complete checkpoint in `workdir` (or of `step`) as a
    pytree.

    With `seed_index=None` every leaf keeps its leading seed axis `[S, ...]`; an integer
    selects that seed's parameters.
    """
    state, meta = restore(workdir, step)
    params = policy_params(state, load_support(workdir, meta))
    if seed_index is not None:
        num_seeds = jax.tree.leaves(params.actor)[0].shape[0]
        if not 0 <= seed_index < num_seeds:
            raise ValueError(
                f"seed_index={seed_index} is out of range: the run has {num_seeds} seed(s)."
            )
        params = seed_params(params, seed_index)
    return params


SUPPORT_FILE = "empo_support.msgpack"
def load_support(workdir: str | pathlib.Path, meta: dict):
    """The run's fitted EMPO support when its config asks for one (method §7), else None."""
    if meta["config"].get("support_model", "gmm") != "empo":
        return None
    from gem_jax.empo.support import load_support as _load

    return _load(pathlib.Path(workdir) / SUPPORT_FILE)


def _existing_manager(workdir: str | pathlib.Path) -> ocp.CheckpointManager:
    directory = checkpoint_dir(workdir)
    if not directory.is_dir():
        raise CheckpointError(
            f"No checkpoints in {directory}: train first "
            f"(experiments/train.py --workdir={workdir})."
        )
    manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(create=False))
    if manager.latest_step() is None:
        raise CheckpointError(f"No complete checkpoint in {directory}.")
    return manager


def _pick_step(manager: ocp.CheckpointManager, workdir, step: int | None) -> int:
    """The newest step, or `step` if the run kept it (else a `CheckpointError` listing them)."""
    if step is None:
        return manager.latest_step()
    kept = sorted(manager.all_steps())
    if step not in kept:
        raise CheckpointError(
            f"No checkpoint at step {step} in {checkpoint_dir(workdir)}; it keeps steps {kept} "
            "(train.py's --config.keep_checkpoints sets how many are kept)."
        )
    return step


def seed_slice(tree, index: int):
    """The `index`-th seed of a stacked pytree."""
    return jax.tree.map(lambda x: np.asarray(x)[index], tree)
