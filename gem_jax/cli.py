"""Command-line glue shared by the `experiments/` scripts: config assembly and one-line
error reporting (no tracebacks for bad input)."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable

from gem_jax.config import (
    ALGORITHM_FIXED,
    ALGORITHMS,
    GEMConfig,
    algorithm,
    from_config_dict,
    preset,
)
from gem_jax.logwriters import MissingExtraError

ALGOS = sorted(ALGORITHMS)

# Errors that are the user's input, reported as one line and exit status 2.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, TimeoutError,
               MissingExtraError)


def explicit_overrides(argv: list[str]) -> set[str]:
    """Names of the `--config.<field>` flags given on the command line."""
    names = set()
    for arg in argv:
        if arg.startswith("--config."):
            names.add(arg[len("--config."):].split("=", 1)[0].split(".")[0])
    return names


def build_config(
    env: str, config_dict, argv: list[str], algo: str = "gem", **fields
) -> GEMConfig:
    """Suite preset of `env` (with the beta schedule's horizon T set to the dataset's
    episode length where it is known, e.g. 300 for the U-maze), then the algorithm's preset,
    then explicit `--config.` overrides, then the named flags (`--steps`, `--seed`, ...)."""
    from gem_jax.data import resolve_name

    spec = resolve_name(env)
    base = algorithm(algo, preset(spec.suite))
    if spec.max_episode_steps:  # SPEC 3: T is the episode length
        base = base.replace(horizon=int(spec.max_episode_steps))
    given = from_config_dict(config_dict)
    overrides = {name: getattr(given, name) for name in explicit_overrides(argv)}
    overrides.update({k: v for k, v in fields.items() if v is not None})
    if "top_k" in overrides and "top_k_frac" not in overrides:
        overrides["top_k_frac"] = 0.0  # a k the user names is a fixed k, not the preset's share
    overrides.update(ALGORITHM_FIXED[algo])  # e.g. IQL stays a Gaussian acting with its mean
    config = base.replace(**overrides)
    return config.validate()


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
    from gem_jax import runner
    from gem_jax.checkpoint import CheckpointError

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
    from gem_jax import runner

    summary = {}

    def body() -> None:
        summary.update(runner.train(env, config, workdir, algo=algo, **kwargs))

    status = guard(body)
    if status:
        return status
    score = summary["normalized_score"]
    print(f"{algo} on {env}: normalised score {score['mean']:.1f} ± {score['std']:.1f}, "
          f"SupportZ {summary['support_z']:.2f}, Violation {summary['violation']:.3f}, "
          f"CollapseDist {summary['collapse_dist']:.3f}, {summary['steps_per_s']:.0f} steps/s "
          f"(compile {summary['compile_s']:.1f} s) -> {workdir}/summary.json")
    return 0
