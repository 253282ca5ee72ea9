"""Shared pieces of the benchmark scripts: timing, machine description, output files.

Timing follows one recipe everywhere: the program is compiled first (compile time is
reported on its own), warmed up with a few calls that are discarded, then called
`repeats` times with `jax.block_until_ready` after each call; we report the median and
the interquartile range (p75 - p25) as the spread, plus mean and std for comparison with
tables that quote mean +- std.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
from absl import flags

from gem_jax import GEMConfig
from gem_jax.harness.runlog import portable

WARMUP_CALLS = 3


def define_size_flags() -> None:
    """The model-size flags every benchmark script shares (defaults: `GEMConfig`'s sizes)."""
    flags.DEFINE_integer("obs_dim", 17, "Observation size (17 = halfcheetah/walker2d).")
    flags.DEFINE_integer("action_dim", 6, "Action size.")
    flags.DEFINE_integer("num_critics", 5, "E, critic ensemble size.")
    flags.DEFINE_integer("num_components", 5, "K of the actor and behavior GMMs.")
    flags.DEFINE_list("hidden", ["256", "256"], "Hidden layer sizes of every MLP.")
    flags.DEFINE_integer("seed", 0, "PRNG seed of the random parameters and inputs.")
    flags.DEFINE_string("json", None, "Write results here (plus a .md table beside it).")


def size_kwargs(values) -> dict:
    """The size flags as keyword arguments of the scripts' `run` functions."""
    return {
        "obs_dim": values.obs_dim,
        "action_dim": values.action_dim,
        "num_critics": values.num_critics,
        "num_components": values.num_components,
        "hidden": tuple(parse_int_list(values.hidden, "hidden")),
        "seed": values.seed,
    }


def bench_config(
    num_critics: int, num_components: int, hidden: Sequence[int], layer_norm: bool = False
) -> GEMConfig:
    """`GEMConfig` defaults with the benchmark's size flags applied (both GMMs get K).

    Plain critics by default (`layer_norm=False`): the published timings
    (benchmarks/RESULTS.md) and the PyTorch yardstick (`torch_reference.py`) were measured
    without LayerNorm; `layer_norm=True` is the library's default critic."""
    return GEMConfig(
        layer_norm=layer_norm,
        hidden_dims=tuple(int(h) for h in hidden),
        num_critics=num_critics,
        num_components=num_components,
        behavior_num_components=num_components,
    )


def parse_int_list(values: Sequence[str] | str, name: str) -> list[int]:
    """`["1", "64"]` or `"1,64"` -> `[1, 64]`, with a clear error for bad entries."""
    items = values.split(",") if isinstance(values, str) else list(values)
    try:
        out = [int(v) for v in items if str(v).strip()]
    except ValueError as err:
        raise ValueError(
            f"--{name} must be a comma-separated list of integers, got {values!r}."
        ) from err
    if not out or any(v < 0 for v in out):
        raise ValueError(f"--{name} needs at least one integer >= 0, got {values!r}.")
    return out


def cpu_model() -> str:
    """The CPU model string from /proc/cpuinfo (Linux), else `platform.processor()`."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info() -> dict:
    """What the figures ran on: JAX device, CPU model and cores, load, versions, date."""
    device = jax.devices()[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    kind = getattr(device, "device_kind", str(device))
    if device.platform == "cpu":
        kind = f"{cpu_model()}, {os.cpu_count()} cores"
    return {
        "device": f"{device.platform}: {kind}",
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "load_1min_at_start": load,
        "jax_version": jax.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def time_calls(
    fn: Callable[[], object],
    repeats: int,
    max_seconds: float | None = None,
    warmup: int = WARMUP_CALLS,
    block: Callable[[object], object] = jax.block_until_ready,
) -> dict:
    """Milliseconds per call of `fn` (`block`ing on its outputs), after `warmup` discarded calls.

    If `max_seconds` is given and `repeats` calls would clearly exceed it (judged from the
    warm-up), the count drops to what fits, but never below 3; `repeats` in the result is
    the count actually used. At least one warm-up call always runs.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    start = time.perf_counter()
    for _ in range(max(warmup, 1)):
        block(fn())
    per_call = (time.perf_counter() - start) / max(warmup, 1)
    if max_seconds is not None and per_call * repeats > max_seconds:
        repeats = max(min(repeats, 3), int(max_seconds / max(per_call, 1e-9)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        times.append((time.perf_counter() - t0) * 1e3)
    return summarize_ms(times)


def summarize_ms(times: Sequence[float]) -> dict:
    """Median, IQR spread, min, mean, std and count of a list of per-call milliseconds.

    The min is the least disturbed call: on cores shared with other work it is the better
    estimate of the uncontended speed, the median of what a user sees.
    """
    arr = np.asarray(times, np.float64)
    p25, p75 = np.percentile(arr, [25, 75])
    return {
        "median_ms": float(np.median(arr)),
        "min_ms": float(arr.min()),
        "spread_ms": float(p75 - p25),
        "mean_ms": float(arr.mean()),
        "std_ms": float(arr.std()),
        "repeats": len(times),
    }


def peak_device_bytes() -> int | None:
    """Process-wide peak device bytes where the backend reports them (GPU), else None."""
    stats = jax.devices()[0].memory_stats()
    if not stats:
        return None
    peak = stats.get("peak_bytes_in_use")
    return int(peak) if peak is not None else None


def memory_analysis(compiled) -> dict:
    """Temporary / argument / output bytes of a compiled XLA program (None where unknown)."""
    try:
        ma = compiled.memory_analysis()
    except Exception:  # some backends do not implement it
        ma = None
    get = lambda name: None if ma is None else int(getattr(ma, name, 0))
    return {
        "temp_bytes": get("temp_size_in_bytes"),
        "argument_bytes": get("argument_size_in_bytes"),
        "output_bytes": get("output_size_in_bytes"),
    }


def timed_compile(jitted, *args):
    """`(compiled, seconds)`: lower and compile `jitted` for `args`, timing the whole."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    fmt = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def command() -> str:
    """This process's command line, without this machine's paths (`runlog.portable`)."""
    return "python " + " ".join(portable(sys.argv))


def write_outputs(path: str | None, result: dict, table: str) -> None:
    """Write `result` as JSON at `path` and the markdown table next to it (`.md`)."""
    print(table)
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    result = portable(result)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    write_markdown(os.path.splitext(path)[0] + ".md", result, table)
    print(f"wrote {path}")


def write_markdown(path: str, result: dict, table: str) -> None:
    """The table with what produced it: command, device, load at the start, date."""
    load = result.get("load_1min_at_start")
    with open(path, "w") as f:
        f.write(f"`{result.get('command', '')}`\n\n")
        f.write(f"{result['device']}; 1-min load at start {load:.2f}; jax "
                f"{result.get('jax_version', '?')}; {result.get('date', '')}\n\n")
        f.write(table)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
