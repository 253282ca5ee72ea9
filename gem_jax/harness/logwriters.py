"""Where a run's numbers go besides its CSV: TensorBoard and Weights & Biases, at the edge.

`--log_to=csv,tensorboard,wandb` (`parse_log_to`) picks the targets. The CSV/JSONL logs
of `gem_jax.harness.runlog` are always written (resume, plots and summaries read them); the other
targets are `LogWriter`s fed the same rows by the runner, after the host has fetched the
metrics (nothing here runs inside jitted code):

* `tensorboard`: `tensorboardX` event files in `<workdir>/tensorboard/` (extra:
  `pip install -e ".[tensorboard]"`); the config as hyperparameters (HParams tab) and text.
* `wandb`: one W&B run per run directory, files in `<workdir>/wandb/`, offline unless
  `WANDB_MODE` says otherwise (`wandb sync <workdir>/wandb/offline-run-*` uploads it);
  project `$WANDB_PROJECT` or `gem-jax` (extra: `pip install -e ".[wandb]"`).

A target whose package is missing is a `MissingExtraError`, one line naming the extra.
"""

from __future__ import annotations

import importlib
import json
import numbers
import os
import pathlib
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

TARGETS = ("csv", "tensorboard", "wandb")
PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}  # target -> module (= extra name)
HPARAM_METRICS = ("eval/normalized_score", "eval/violation", "eval/support_z",
                  "eval/collapse_dist")
WANDB_ID_FILE = "wandb_run_id"


class MissingExtraError(ImportError):
    """A logging target's optional package is not installed; the message says what to run."""


class LogWriter(Protocol):
    """One logging target: scalars by tag at a gradient step, the config once, close."""

    def scalars(self, values: Mapping[str, float], step: int) -> None: ...

    def hparams(self, config: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def require(target: str):
    """The package behind `target` (None for csv), or a one-line `MissingExtraError`."""
    module = PACKAGES.get(target)
    if module is None:
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f'--log_to={target} needs the {module} package: pip install -e ".[{target}]"'
        ) from None


def parse_log_to(targets: str | Iterable[str] | None) -> tuple[str, ...]:
    """Validated, de-duplicated targets of `--log_to` (a comma list or its items); each
    target's package is imported here, so a missing one fails before any training."""
    if targets is None:
        targets = ("csv",)
    if isinstance(targets, str):
        targets = targets.split(",")
    names = [t.strip().lower() for t in targets if t.strip()]
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        raise ValueError(f"--log_to: unknown target(s) {', '.join(unknown)}; choose a "
                         f"comma-separated list from {', '.join(TARGETS)}.")
    out = tuple(dict.fromkeys(["csv", *names]))  # the CSV always: the run directory needs it
    for target in out:
        require(target)
    return out


HParam = bool | int | float | str


def flat_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, HParam]:
    """A config as flat `name: value` pairs of bool / int / float / str (nested mappings
    joined with '.', sequences and None as their text)."""
    out: dict[str, HParam] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def numeric(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are numbers (bools as 0/1), as floats; lists, dicts, text dropped."""
    return {k: float(v) for k, v in values.items() if isinstance(v, numbers.Real)}


class TensorBoardWriter:
    """Scalars to `tensorboardX` event files in `logdir`, flushed per call (watch live with
    `tensorboard --logdir=<workdir>`). `purge_step`: on resume, TensorBoard drops the
    events from that step on that the killed run had written (the CSV drops them too)."""

    def __init__(self, logdir: str | pathlib.Path, purge_step: int | None = None):
        tensorboardx = require("tensorboard")
        # Event files are named by the second and the host and opened "wb": a suffix keeps
        # a resume within the same second from overwriting the first file.
        self._writer = tensorboardx.SummaryWriter(
            logdir=str(logdir), purge_step=purge_step, flush_secs=30,
            filename_suffix=f".{os.getpid()}.{secrets.token_hex(3)}")
        self._session_end = None

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in numeric(values).items():
            self._writer.add_scalar(tag, value, global_step=step)
        self._writer.flush()

    def hparams(self, config: Mapping[str, Any]) -> None:
        """The config in TensorBoard's HParams tab (against the eval metrics) and as text."""
        from tensorboardX.summary import hparams

        experiment, start, self._session_end = hparams(flat_hparams(config),
                                                       dict.fromkeys(HPARAM_METRICS, 0.0))
        writer = self._writer._get_file_writer()
        writer.add_summary(experiment)
        writer.add_summary(start)
        text = json.dumps(dict(config), indent=2, default=str)
        self._writer.add_text("config", "\n".join("    " + ln for ln in text.splitlines()))
        self._writer.flush()

    def close(self) -> None:
        if self._session_end is not None:
            self._writer._get_file_writer().add_summary(self._session_end)
        self._writer.close()


class WandbWriter:
    """Scalars to a W&B run (offline unless `WANDB_MODE` is set). The run id is kept in
    `<workdir>/wandb_run_id`, so `--resume` continues the same run when W&B is online."""

    def __init__(self, workdir: str | pathlib.Path, name: str, group: str | None = None,
                 resume: bool = False):
        wandb = require("wandb")
        workdir = pathlib.Path(workdir)
        id_file = workdir / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if resume and id_file.is_file() else None
        run_id = run_id or secrets.token_hex(4)
        self._run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "gem-jax"), name=name, group=group,
            dir=str(workdir), id=run_id, resume="allow",
            mode=os.environ.get("WANDB_MODE", "offline"),
        )
        id_file.write_text(run_id + "\n")

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self._run.log(numeric(values), step=step)

    def hparams(self, config: Mapping[str, Any]) -> None:
        self._run.config.update(flat_hparams(config), allow_val_change=True)

    def close(self) -> None:
        self._run.finish()


class Writers:
    """Every chosen target behind one `LogWriter` (none at all: a no-op); a context
    manager that closes them all."""

    def __init__(self, writers: Iterable[LogWriter] = ()):
        self.writers = list(writers)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        values = numeric(values)
        for writer in self.writers:
            writer.scalars(values, step)

    def hparams(self, config: Mapping[str, Any]) -> None:
        for writer in self.writers:
            writer.hparams(config)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers = []

    def __enter__(self) -> Writers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_writers(targets: Iterable[str], workdir: str | pathlib.Path, name: str,
                 group: str | None = None, start_step: int = 0) -> Writers:
    """The non-CSV targets of a run directory; `start_step` > 0 when resuming from it."""
    workdir = pathlib.Path(workdir)
    writers: list[LogWriter] = []
    for target in parse_log_to(targets):
        if target == "tensorboard":
            purge = start_step + 1 if start_step else None
            writers.append(TensorBoardWriter(workdir / "tensorboard", purge_step=purge))
        elif target == "wandb":
            writers.append(WandbWriter(workdir, name, group, resume=start_step > 0))
    return Writers(writers)
