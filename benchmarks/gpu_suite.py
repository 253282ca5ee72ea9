"""The prepared accelerator run, one part per call (`benchmarks/gpu_suite.sh` calls each part
in its own process, so a part that crashes or overruns costs only itself).

Parts (each writes its JSON into `--out` as soon as it has a figure, and rewrites it as more
come, so a run cut short still returns what it measured):

* `select`: latency and memory of the select step over N (1 state and a batch of states);
  `select_latency.json`.
* `profile`: where the select step's time goes: each part timed alone, FLOPs and bytes from
  the compiled program, and the top ops of a `jax.profiler` trace (skipped, with the reason,
  where tracing is unavailable); `profile.json`.
* `throughput`: fused train steps per second for 1 and 8 vmapped seeds, at the default
  benchmark sizes and at the locomotion table's sizes; `train_throughput.json`.
* `diffusion`: the compute shape (issue 39, `benchmarks/diffusion_latency.py`): GEM over N
  beside a diffusion chain of T steps at N samples, the same critic, 1 and B states; then
  SfBC's in-sample planning on a 65536-state chunk (seconds per 10^6 transitions).
* `train`: real training on real data: the maze2d-medium GEM row of the fidelity table
  (maze2d preset, the table's sizes), 8 seeds vmapped, 2e5 steps, from the compact dataset
  of `benchmarks/gpu_data.py`, until done or `--deadline`; writes `maze2d_medium_train.json`
  (timings, final losses) and `maze2d_medium_state.npz` (the seed-stacked train state,
  saved atomically every `--save_every_s` and at the end).

`--dry` runs every part at tiny sizes (any machine, seconds). Only JAX, flax, optax, numpy
and absl are imported (no gymnasium, minari, mujoco or ml_collections): each JSON lists the
packages the part imported (`imported_packages`).

    python -m benchmarks.gpu_suite --part=select --out=runs/bench-gpu [--dry]
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks import common, gpu_data
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import ObsNorm, init_state, make_train_loop
from gem_jax.method.types import Batch
from gem_jax.presets import preset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PARTS = ("select", "profile", "throughput", "diffusion", "train")
FILES = {"select": "select_latency.json", "profile": "profile.json",
         "throughput": "train_throughput.json", "diffusion": "diffusion_latency.json",
         "train": "maze2d_medium_train.json"}
STATE_FILE = "maze2d_medium_state.npz"
MAX_FILE_BYTES = 15 * 2**20  # a returned file must stay under 16 MiB
# The locomotion table's sizes (hopper-like dims) and the library's default sizes.
LOCOMOTION_DIMS = {"obs_dim": 11, "action_dim": 3}
DEFAULT_DIMS = {"obs_dim": 17, "action_dim": 6}
# The maze2d table's training sizes (experiments/RESULTS.md, "The fidelity table"): the CPU
# row was trained with --config.hidden_dims="(128,128)" --config.num_critics=2 (K = 5).
TABLE_SIZES = {"hidden_dims": (128, 128), "num_critics": 2}

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_enum("part", None, PARTS, "Which part to run.")
    flags.DEFINE_string("out", os.path.join(ROOT, "runs", "bench-gpu"), "Output folder.")
    flags.DEFINE_bool("dry", False, "Tiny sizes: checks the whole path in seconds on any machine.")
    flags.DEFINE_float("deadline", 0.0, "Unix time by which the part must have written its "
                       "last file (0: none); the train part stops its loop in time for it.")
    flags.DEFINE_string("data", gpu_data.DEFAULT_PATH, "Compact dataset of the train part.")
    flags.DEFINE_integer("num_seeds", 8, "Seeds of the train part (vmapped).")
    flags.DEFINE_integer("steps", 200_000, "Gradient steps of the train part.")
    flags.DEFINE_float("save_every_s", 60.0, "Seconds between state saves of the train part.")


# --- sizes: full and dry ---------------------------------------------------------------


def sizes(dry: bool) -> dict:
    """Every size the parts use; `dry` shrinks them so the whole suite runs in seconds."""
    if dry:
        return {"num_candidates": [1, 8], "batch_states": 4, "select_repeats": 3,
                "select_max_s": 2.0, "bench": {"hidden": (16,), "num_critics": 2,
                                               "num_components": 2, **DEFAULT_DIMS},
                "profile_n": 8, "profile_repeats": 3,
                "seeds": [2], "steps_per_call": 5, "throughput_repeats": 2,
                "profile_states": [1],
                "dataset_size": 256, "diffusion_steps": [2], "diffusion_n": [1, 8],
                "diffusion_gem_n": [1, 8], "diffusion_max_s": 1.0, "planning_states": 8,
                "train_hidden": (8,), "train_steps_per_call": 20}
    return {"num_candidates": [1, 64, 1024, 2048, 8192], "batch_states": 256,
            "select_repeats": 50, "select_max_s": 8.0,
            "bench": {"hidden": (256, 256), "num_critics": 5, "num_components": 5,
                      **DEFAULT_DIMS},
            "profile_n": 1024, "profile_repeats": 30, "profile_states": [1, 256],
            "seeds": [1, 8], "steps_per_call": 1000, "throughput_repeats": 5,
            "dataset_size": 100_000, "diffusion_steps": [5, 10, 20, 50, 100],
            "diffusion_n": [1, 64, 1024], "diffusion_gem_n": [1, 64, 1024, 2048],
            "diffusion_max_s": 2.0, "planning_states": 65536,
            "train_hidden": None, "train_steps_per_call": 1000}


# --- output -------------------------------------------------------------------------------


def imported_packages() -> list[str]:
    """Top-level non-standard-library packages this process has imported."""
    names = {m.split(".")[0] for m in list(sys.modules)}
    return sorted(n for n in names if not n.startswith("_") and n not in sys.stdlib_module_names
                  and n not in ("benchmarks", "gem_jax", "cython_runtime"))


def write_json(path: str, result: dict) -> None:
    """Atomic JSON write (a temporary file renamed), with the imported packages appended."""
    result = {**result, "imported_packages": imported_packages()}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, default=float)
        f.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path}", flush=True)


def header(part: str, dry: bool) -> dict:
    """What every part's JSON starts with: the part, dry or not, the machine."""
    return {"part": part, "dry": dry, **common.machine_info(),
            "command": common.command()}


# --- parts ----------------------------------------------------------------------------------


def part_select(out: str, dry: bool) -> dict:
    """Select latency and memory, one N at a time (ascending), the JSON rewritten after each."""
    from benchmarks import select_latency

    s = sizes(dry)
    path = os.path.join(out, FILES["select"])
    result = {**header("select", dry), "results": []}
    for n in sorted(s["num_candidates"]):
        one = select_latency.run([n], batch_size=s["batch_states"], repeats=s["select_repeats"],
                                 max_seconds=s["select_max_s"], **s["bench"])
        result["results"] += one["results"]
        result.update(sizes=one["sizes"], timing=one["timing"],
                      compile_s=sum(r["compile_s"] + r.get("batch_compile_s", 0.0)
                                    for r in result["results"]))
        result["targets"] = select_targets(result["results"])
        write_json(path, result)
    return result


def select_targets(rows: list) -> dict:
    """The issue's select targets, read off the measured rows (None where not measured)."""
    by_n = {r["num_candidates"]: r for r in rows}
    lat = lambda n, key="latency_ms": by_n[n].get(key) if n in by_n else None
    ratio = None
    if 1 in by_n and 2048 in by_n:
        ratio = max(r["latency_ms"] for n_, r in by_n.items() if n_ <= 2048) / lat(1)
    return {"latency_ms_n1024": lat(1024), "target_n1024_ms": 0.3,
            "max_ratio_to_n1_up_to_2048": ratio, "target_ratio": 1.5,
            "batch_latency_ms_n1024": lat(1024, "batch_latency_ms"), "target_batch_ms": 2.0}


def part_profile(out: str, dry: bool) -> dict:
    """Parts of the select step timed alone, compiled cost, and traced top ops."""
    from benchmarks import profile_hotpath
    from gem_jax import SelectKnobs, make_policy, policy_params

    s = sizes(dry)
    b = s["bench"]
    path = os.path.join(out, FILES["profile"])
    config = common.bench_config(b["num_critics"], b["num_components"], b["hidden"])
    n = s["profile_n"]
    result = {**header("profile", dry), "sizes": {"num_candidates": n, **b,
                                                  "hidden": list(b["hidden"])}}
    result["select_parts"] = profile_hotpath.select_parts(
        config, n, b["obs_dim"], b["action_dim"], 0, s["profile_repeats"])
    write_json(path, result)

    key = jax.random.PRNGKey(0)
    params = policy_params(init_state(key, config, b["obs_dim"], b["action_dim"]))
    knobs, t = SelectKnobs.from_config(config), jnp.zeros((), jnp.float32)
    policy = make_policy(config, num_candidates=n)
    result["compiled_cost"], result["top_ops"] = {}, {}
    for states in s["profile_states"]:
        name = f"{states} state(s), N = {n}"
        obs = jax.random.normal(key, (states, b["obs_dim"]))  # [B, obs]
        args = (params, obs, key, t, knobs)
        compiled, _ = common.timed_compile(policy, *args)
        result["compiled_cost"][name] = compiled_cost(compiled)
        try:
            trace_dir = os.path.join(out, "trace_tmp", f"select_{states}")
            result["top_ops"][name] = traced_top_ops(compiled, args, trace_dir)
        except Exception as err:  # noqa: BLE001 - the profiler is optional; say why it failed
            result["top_ops"][name] = {"skipped": f"{type(err).__name__}: {err}"[:300]}
        write_json(path, result)
    remove_tree(os.path.join(out, "trace_tmp"))
    return result


def compiled_cost(compiled) -> dict:
    """FLOPs and bytes accessed of a compiled program (None where the backend has no figure)."""
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else (cost or {})
    except Exception:  # noqa: BLE001 - some backends do not implement it
        cost = {}
    get = lambda k: float(cost[k]) if k in cost else None
    return {"gflop": None if get("flops") is None else get("flops") / 1e9,
            "bytes_accessed": get("bytes accessed"), **common.memory_analysis(compiled)}


def traced_top_ops(compiled, args: tuple, trace_dir: str, calls: int = 20, top: int = 10) -> dict:
    """Trace `calls` blocking calls; the ops that take the most time, per call.

    Events are attributed to the compiled program's HLO ops: by name on a CPU, by the
    `hlo_op` argument of GPU kernel events. Where a trace has device streams, only their
    events count (host-side launch events would count the same op twice)."""
    import glob
    import gzip
    import re

    for _ in range(2):
        jax.block_until_ready(compiled(*args))
    jax.profiler.start_trace(trace_dir)
    try:
        for _ in range(calls):
            jax.block_until_ready(compiled(*args))
    finally:
        jax.profiler.stop_trace()
    paths = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)
    if not paths:
        return {"skipped": "the profiler wrote no trace.json.gz (xplane only)"}
    with gzip.open(max(paths, key=os.path.getmtime)) as f:
        events = json.load(f)["traceEvents"]
    hlo = {m.group(1): f"{m.group(2)} {m.group(3)}" for m in re.finditer(
        r"%([\w.-]+) = (\S+?)(?:\{[^}]*\})? (\w[\w-]*)\(", compiled.as_text())}
    return summarize_trace(events, hlo, calls, top)


def summarize_trace(events: list, hlo: dict, calls: int, top: int = 10) -> dict:
    """Pure: per-op milliseconds per call from Chrome-trace `events` (see `traced_top_ops`)."""
    processes = {e["pid"]: e.get("args", {}).get("name", "") for e in events
                 if e.get("ph") == "M" and e.get("name") == "process_name"}
    device = {pid for pid, name in processes.items() if "gpu" in name.lower()
              or "/device:" in name.lower() and "cpu" not in name.lower()}
    micros: dict[str, float] = {}
    total = 0.0
    for e in events:
        if e.get("ph") != "X" or (device and e.get("pid") not in device):
            continue
        op = e.get("args", {}).get("hlo_op") or e.get("name")
        if op in hlo:
            micros[op] = micros.get(op, 0.0) + float(e.get("dur", 0.0))
            total += float(e.get("dur", 0.0))
    rows = sorted(micros.items(), key=lambda kv: -kv[1])[:top]
    return {"source": "device streams" if device else "all events",
            "total_op_ms_per_call": total / calls / 1e3,
            "ops": [[name, us / calls / 1e3, hlo[name]] for name, us in rows]}


def remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def part_throughput(out: str, dry: bool) -> dict:
    """Steps/s for 1 and 8 vmapped seeds at the default and the locomotion table's sizes."""
    from benchmarks import train_throughput

    s = sizes(dry)
    b = s["bench"]
    path = os.path.join(out, FILES["throughput"])
    settings = {
        "default sizes (plain critics, obs 17, act 6)": dict(
            b, layer_norm=False),
        "locomotion table (LayerNorm critics, obs 11, act 3)": dict(
            b, layer_norm=True, **LOCOMOTION_DIMS),
    }
    result = {**header("throughput", dry), "settings": {}}
    for name, kwargs in settings.items():
        rows = []
        for seeds in s["seeds"]:
            one = train_throughput.run([seeds], batch_size=256 if not dry else 8,
                                       steps_per_call=s["steps_per_call"],
                                       dataset_size=s["dataset_size"],
                                       repeats=s["throughput_repeats"], max_seconds=30.0,
                                       **kwargs)
            rows += one["results"]
            result["settings"][name] = {"sizes": one["sizes"], "results": rows,
                                        "timing": one["timing"],
                                        "targets": throughput_targets(rows)}
            write_json(path, result)
    return result


def throughput_targets(rows: list) -> dict:
    """One seed's steps/s (target >= 5000) and S seeds' call time over one seed's (<= 2)."""
    one = next((r for r in rows if r["num_seeds"] == 1), None)
    many = max((r for r in rows if r["num_seeds"] > 1), key=lambda r: r["num_seeds"],
               default=None)
    ratio = None if one is None or many is None else many["call_ms"] / one["call_ms"]
    return {"steps_per_s_one_seed": None if one is None else one["steps_per_s"],
            "target_steps_per_s": 5000, "seeds_time_ratio": ratio,
            "seeds": None if many is None else many["num_seeds"], "target_ratio": 2.0}


def part_diffusion(out: str, dry: bool, deadline: float = 0.0) -> dict | None:
    """The compute shape (issue 39): `benchmarks/diffusion_latency.run`, GEM's N beside the
    diffusion chain's T at N samples (skipped, and said so, where that module is absent)."""
    if importlib.util.find_spec("benchmarks.diffusion_latency") is None:
        print("diffusion: skipped (no benchmarks/diffusion_latency.py yet: issue 39's hook)",
              flush=True)
        return None
    from benchmarks import diffusion_latency

    s = sizes(dry)
    path = os.path.join(out, FILES["diffusion"])
    save = lambda partial: write_json(path, {**header("diffusion", dry), **partial})
    result = {**header("diffusion", dry), **diffusion_latency.run(
        s["diffusion_steps"], s["diffusion_n"], batch_size=s["batch_states"],
        gem_candidates=s["diffusion_gem_n"], repeats=s["select_repeats"],
        max_seconds=s["diffusion_max_s"], deadline=deadline, on_row=save, **s["bench"])}
    write_json(path, result)
    if not (deadline and time.time() > deadline):  # SfBC's planning chunk, if time is left
        result["planning"] = diffusion_latency.planning_throughput(
            s["planning_states"], repeats=s["select_repeats"],
            max_seconds=s["diffusion_max_s"], **s["bench"])
        write_json(path, result)
    return result


# --- the training run -------------------------------------------------------------------------


def table_config(meta: dict, num_steps: int, steps_per_call: int,
                 hidden: tuple[int, ...] | None = None) -> GEMConfig:
    """The table row's training config: the suite preset, T = the episode length, the
    table's sizes (`hidden` replaces the widths in a dry run)."""
    config = preset(meta["suite"]).replace(
        horizon=int(meta["max_episode_steps"]), num_steps=int(num_steps),
        steps_per_call=int(steps_per_call), eval_episodes=0, **TABLE_SIZES)
    if hidden is not None:
        config = config.replace(hidden_dims=tuple(hidden))
    return config.validate()


def init_seeds(config: GEMConfig, seeds: list[int], obs_dim: int, action_dim: int,
               obs_norm: ObsNorm):
    """Seed-stacked `[S, ...]` state, one `PRNGKey(seed)` per seed (as the runner does)."""
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])  # [S, 2]
    return jax.vmap(lambda k: init_state(k, config, obs_dim, action_dim, obs_norm))(keys)


def make_seed_loop(config: GEMConfig):
    """Jitted `(state [S, ...], dataset) -> (state, metrics [S, K])`, the state donated."""
    return jax.jit(jax.vmap(make_train_loop(config), in_axes=(0, None)), donate_argnums=0)


def flat_state(state) -> dict:
    """`{keystr(path): numpy leaf}` of a pytree (the names `gpu_collect.py` matches)."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


POLICY_PREFIXES = (".actor.params", ".behavior.params", ".critic.params", ".obs_norm",
                   ".step", ".key")


def save_state(path: str, state, meta: dict, limit: int = MAX_FILE_BYTES) -> str:
    """Write the state (every leaf, or the policy's alone if the whole is over `limit`)
    atomically; returns "full" or "policy"."""
    flat = flat_state(jax.device_get(state))
    kind = "full"
    if sum(v.nbytes for v in flat.values()) > limit:
        flat = {k: v for k, v in flat.items() if k.startswith(POLICY_PREFIXES)}
        kind = "policy"
    blob = np.frombuffer(json.dumps({**meta, "state_kind": kind}).encode(), np.uint8)
    tmp = path + ".tmp.npz"
    np.savez(tmp, __meta__=blob, **flat)
    os.replace(tmp, path)
    return kind


def last_metrics(metrics: dict) -> dict:
    """Per-seed values of the last step of a call (metrics `[S, K]`) as lists."""
    return {k: np.asarray(v)[:, -1].astype(float).tolist() for k, v in metrics.items()}


def part_train(out: str, dry: bool, data_path: str, num_seeds: int, num_steps: int,
               deadline: float, save_every_s: float) -> dict:
    """Train GEM on the compact dataset until `num_steps` or the deadline; see the module doc."""
    s = sizes(dry)
    if num_seeds < 1 or num_steps < 1:
        raise ValueError(f"num_seeds and steps must be >= 1, got {num_seeds}, {num_steps}.")
    path, state_path = os.path.join(out, FILES["train"]), os.path.join(out, STATE_FILE)
    started = time.perf_counter()
    arrays, data_meta = gpu_data.load_compact(data_path)
    k = min(s["train_steps_per_call"], num_steps)
    num_steps = (num_steps // k) * k  # whole calls only: one compiled program
    config = table_config(data_meta, num_steps, k, s["train_hidden"])
    seeds = [config.seed + i for i in range(num_seeds)]
    obs_dim, action_dim = data_meta["obs_dim"], data_meta["action_dim"]
    run_meta = {"config": {**dataclasses.asdict(config),
                           "hidden_dims": list(config.hidden_dims)},
                "obs_dim": obs_dim, "action_dim": action_dim, "seeds": seeds,
                "env": data_meta["env"], "dataset_id": data_meta["dataset_id"],
                "suite": data_meta["suite"], "action_scale": data_meta["action_scale"],
                "algo": "gem"}
    result = {**header("train", dry), "status": "started", "data": os.path.relpath(
        data_path, ROOT), "num_transitions": data_meta["num_transitions"], **run_meta,
        "target_steps": num_steps, "steps": 0, "train_s": 0.0}
    write_json(path, result)

    dataset = Batch(**{name: jnp.asarray(v) for name, v in arrays.items()})  # [M, ...]
    norm = ObsNorm(jnp.asarray(data_meta["obs_mean"], jnp.float32),
                   jnp.asarray(data_meta["obs_std"], jnp.float32))
    t0 = time.perf_counter()
    state = init_seeds(config, seeds, obs_dim, action_dim, norm)
    loop = make_seed_loop(config).lower(state, dataset).compile()
    result.update(compile_s=time.perf_counter() - t0, setup_s=time.perf_counter() - started)

    step, train_s, call_s, last_save = 0, 0.0, 0.0, time.perf_counter()
    status = "done"
    while step < num_steps:
        if deadline and time.time() + 1.5 * call_s + 10.0 > deadline:
            status = "stopped at the deadline"
            break
        t = time.perf_counter()
        state, metrics = loop(state, dataset)
        metrics = jax.device_get(metrics)  # one host transfer per call: [S, K] each
        call_s = time.perf_counter() - t
        train_s += call_s
        step += k
        finite = np.asarray(metrics["train/finite"])
        if not finite.all():
            status = f"diverged in call ending at step {step}"
        result.update(steps=step, train_s=train_s, steps_per_s=step / train_s,
                      last_call_s=call_s, final_metrics=last_metrics(metrics))
        if status.startswith("diverged"):
            break
        if time.perf_counter() - last_save > save_every_s or step >= num_steps:
            result["state_kind"] = save_state(state_path, state, {**run_meta, "step": step})
            result["state_saved_at_step"] = step
            last_save = time.perf_counter()
            write_json(path, {**result, "status": "running"})
    if result.get("state_saved_at_step") != step and not status.startswith("diverged"):
        result["state_kind"] = save_state(state_path, state, {**run_meta, "step": step})
        result["state_saved_at_step"] = step
    result.update(status=status, wall_s=time.perf_counter() - started,
                  state_file=STATE_FILE, state_bytes=os.path.getsize(state_path)
                  if os.path.exists(state_path) else None)
    write_json(path, result)
    return result


def main(argv) -> None:
    del argv
    os.makedirs(FLAGS.out, exist_ok=True)
    part = FLAGS.part
    if part is None:
        raise app.UsageError(f"--part is required: one of {', '.join(PARTS)}.")
    runners = {
        "select": functools.partial(part_select, FLAGS.out, FLAGS.dry),
        "profile": functools.partial(part_profile, FLAGS.out, FLAGS.dry),
        "throughput": functools.partial(part_throughput, FLAGS.out, FLAGS.dry),
        "diffusion": functools.partial(part_diffusion, FLAGS.out, FLAGS.dry, FLAGS.deadline),
        "train": functools.partial(part_train, FLAGS.out, FLAGS.dry, FLAGS.data,
                                   FLAGS.num_seeds, FLAGS.steps, FLAGS.deadline,
                                   FLAGS.save_every_s),
    }
    runners[part]()


if __name__ == "__main__":
    define_flags()
    app.run(main)
