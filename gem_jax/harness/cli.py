"""Command-line glue shared by the `experiments/` scripts: config assembly and one-line
error reporting (no tracebacks for bad input)."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import os
import sys
import warnings
from collections.abc import Callable

from gem_jax.harness.logwriters import MissingExtraError
from gem_jax.method.config import GEMConfig
from gem_jax.presets import ALGORITHMS

ALGOS = sorted(ALGORITHMS)

# Errors that are the user's input, reported as one line and exit status 2.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, TimeoutError,
               MissingExtraError)


CONFIG_PREFIX = "--config."


def check_config_flags(argv: list[str]) -> None:
    """Raise `ValueError` (one line) for a `--config.<field>` that `GEMConfig` lacks (naming
    the closest fields) or whose value does not parse as that field's type.

    Runs before absl parses the flags: ml_collections' own errors there are a traceback
    (unknown field) or absl's two-line usage error (a bad value).
    """
    defaults = {f.name: getattr(GEMConfig(), f.name) for f in dataclasses.fields(GEMConfig)}
    args = list(argv[1:])
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if not arg.startswith(CONFIG_PREFIX):
            continue
        name, eq, value = arg[len(CONFIG_PREFIX):].partition("=")
        if name not in defaults:
            close = difflib.get_close_matches(name, defaults, n=3, cutoff=0.0)
            raise ValueError(
                f"{CONFIG_PREFIX}{name}: GEMConfig has no field {name!r}; closest: "
                f"{', '.join(close)} (every field is in gem_jax/method/config.py)."
            )
        default = defaults[name]
        if not eq:
            if isinstance(default, bool):
                continue  # `--config.flag` alone means true
            value = args[i + 1] if i + 1 < len(args) else ""
        problem = _config_value_problem(default, value)
        if problem:
            raise ValueError(f"{CONFIG_PREFIX}{name}={value}: {problem} (default "
                             f"{_show(default)}).")


def _show(value) -> str:
    return f"({','.join(map(str, value))})" if isinstance(value, tuple) else str(value)


def _config_value_problem(default, value: str) -> str | None:
    """What is wrong with `value` for a field whose default is `default` (None if fine)."""
    if isinstance(default, bool):
        return None if value.lower() in BOOLS else "expected true or false"
    if isinstance(default, int):
        try:
            int(value)
        except ValueError:
            return "expected an integer"
        return None
    if isinstance(default, float):
        try:
            float(value)
        except ValueError:
            return "expected a number"
        return None
    if isinstance(default, tuple):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = None
        parsed = (parsed,) if isinstance(parsed, int) else parsed
        if not (isinstance(parsed, tuple | list) and parsed
                and all(isinstance(v, int) and not isinstance(v, bool) for v in parsed)):
            return "expected a tuple of integers such as \"(256,256)\""
    return None


def define_config_flag() -> None:
    """Define `--config.<field>` (ml_collections, over every `GEMConfig` field), after
    checking those on the command line: ml_collections parses them as it defines the flag,
    and its errors are a traceback (unknown field) or absl's usage lines (a bad value). A
    bad one is one line and exit status 2 here."""
    try:
        check_config_flags(sys.argv)
    except ValueError as err:
        sys.exit(fail(one_line(err)))
    from ml_collections import config_flags

    from gem_jax.presets import to_config_dict

    config_flags.DEFINE_config_dict("config", to_config_dict(GEMConfig()), "GEMConfig overrides.")


def quiet_logs() -> None:
    """Keep library chatter off stderr (orbax logs every checkpoint step at INFO and
    save timings at WARNING; its errors still show) and print Python warnings as one line
    each (`warning: ...`)."""
    import logging as py_logging

    from absl import logging

    logging.set_verbosity(logging.ERROR)
    py_logging.getLogger("jax._src.xla_bridge").setLevel(py_logging.ERROR)
    warnings.formatwarning = lambda message, *_, **__: f"warning: {one_line(message)}\n"
    sys.unraisablehook = _drop_closed_loop_noise


def _drop_closed_loop_noise(unraisable) -> None:
    """Silence tensorstore callbacks that land on orbax's already-closed event loop after
    a failed (corrupted) checkpoint read; everything else goes to Python's default hook."""
    exc = unraisable.exc_value
    if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
        return
    sys.__unraisablehook__(unraisable)


BOOLS = {"true": True, "1": True, "false": False, "0": False}


def bool_list(name: str, values: list[str] | None) -> list[bool] | None:
    """A comma-separated list flag of true/false values (None stays None)."""
    if values is None:
        return None
    bad = [v for v in values if v.lower() not in BOOLS]
    if bad:
        raise ValueError(f"--{name}={','.join(values)}: expected true and/or false.")
    return [BOOLS[v.lower()] for v in values]


def one_line(err: BaseException) -> str:
    """The error's message on one line (multi-line hints joined)."""
    return " ".join(str(err).split()) or type(err).__name__


def fail(message: str, status: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def guard(body: Callable[[], int | None]) -> int:
    """Run a CLI body; bad input becomes one line on stderr, never a traceback.

    Exit status: 0 on success (or `body`'s own int), 1 when training diverged, 2 for user
    errors (unknown names, missing or corrupted data and checkpoints, invalid knobs,
    unwritable directories), 130 on Ctrl-C.
    """
    from gem_jax.harness import runner
    from gem_jax.harness.checkpoint import CheckpointError

    try:
        status = body()
    except runner.DivergenceError as err:
        return fail(one_line(err), 1)
    except (*USER_ERRORS, CheckpointError) as err:
        return fail(one_line(err), 2)
    except KeyboardInterrupt:
        return fail("interrupted; continue the run with --resume.", 130)
    return 0 if status is None else int(status)


def exit_now(status: int) -> int:
    """Return 0; end a failed CLI process at once with `status` (stderr flushed).

    Skipping interpreter shutdown keeps the error to its one line: after a failed
    checkpoint read, tensorstore callbacks can otherwise print tracebacks while Python
    tears its event loops down. Nothing is left to write at that point (checkpoint writes
    are waited for, log rows are flushed one by one).
    """
    if status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def absl_main(body: Callable[[], int | None]) -> Callable[[list[str]], int]:
    """The `main(argv)` for `absl.app.run` of a script whose work is `body()`: stray
    arguments rejected, library logs quieted, errors through `guard`."""

    def main(argv: list[str]) -> int:
        if len(argv) > 1:
            return exit_now(fail(f"unexpected arguments {argv[1:]}."))
        quiet_logs()
        return exit_now(guard(body))

    return main


def run_cli(algo: str, env: str, config: GEMConfig, workdir: str, **kwargs) -> int:
    """Run training; user errors become one line on stderr and exit status 2."""
    from gem_jax.harness import runner

    summary = {}

    def body() -> None:
        summary.update(runner.run_training(env, config, workdir, algo=algo, **kwargs))

    status = guard(body)
    if status:
        return status
    print(summary_line(algo, env, summary, workdir))
    return 0


def summary_line(algo: str, env: str, summary: dict, workdir: str) -> str:
    """The one line `train.py` prints at the end of a run. A run trained without evaluation
    (`--eval_episodes=0`, its scores all NaN) says so instead of printing NaNs."""
    score = summary["normalized_score"]
    speed = (f"{summary['steps_per_s']:.0f} steps/s (compile {summary['compile_s']:.1f} s) "
             f"-> {workdir}/summary.json")
    if not math.isfinite(score["mean"]):
        return (f"{algo} on {env}: trained, not evaluated (--eval_episodes=0; tune.py or "
                f"evaluate.py scores it), {speed}")
    return (f"{algo} on {env}: normalised score {score['mean']:.1f} ± {score['std']:.1f}, "
            f"SupportZ {summary['support_z']:.2f}, Violation {summary['violation']:.3f}, "
            f"CollapseDist {summary['collapse_dist']:.3f}, "
            f"BehaviorZ {summary['behavior_z']:.2f}, {speed}")
