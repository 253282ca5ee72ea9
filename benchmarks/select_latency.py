"""Per-decision latency and memory of the GEM select step versus the candidate budget N.

For each N: compile `make_policy(config, num_candidates=N)` for one state and for a
batch of B states (compile time reported apart), warm up, then time >= `--repeats`
blocking calls and report the median and the interquartile spread. Memory: the compiled
program's temporary / argument / output bytes (`compiled.memory_analysis()`, every
backend) and the process-wide peak device bytes where the backend reports them (GPU).

    python -m benchmarks.select_latency --num_candidates=1,64,1024,2048,8192 \
        --json=benchmarks/results/select_latency_cpu.json

Writes the JSON, a markdown table beside it (`.md`) and a plot (`.png`, or `--plot`).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from gem_jax import SelectKnobs, init_state, make_policy, policy_params

FLAGS = flags.FLAGS


def define_flags() -> None:
    common.define_size_flags()
    flags.DEFINE_list("num_candidates", ["1", "64", "1024", "2048", "8192"], "Budgets N.")
    flags.DEFINE_integer("batch_size", 16, "B, states per call in the batched case (0: skip).")
    flags.DEFINE_integer("top_k", 1, "Mean of the top-k candidates.")
    flags.DEFINE_integer("repeats", 50, "Timed calls per case (after warm-up).")
    flags.DEFINE_float("max_seconds", 30.0, "Time budget per case; slower cases repeat less.")
    flags.DEFINE_string("plot", None, "Plot path (default: the JSON path with .png).")
    flags.DEFINE_integer("state_chunk", -1, "States per chunk in the batched case "
                         "(GEMConfig.state_chunk: 0 = vmap all, -1 = auto).")


def run(
    num_candidates: list[int],
    obs_dim: int = 17,
    action_dim: int = 6,
    num_critics: int = 5,
    num_components: int = 5,
    hidden: tuple[int, ...] = (256, 256),
    batch_size: int = 16,
    top_k: int = 1,
    repeats: int = 50,
    max_seconds: float | None = 30.0,
    seed: int = 0,
    state_chunk: int = -1,
) -> dict:
    """Measure every N (ascending, so the process-wide GPU peak grows with N); return JSON."""
    if obs_dim < 1 or action_dim < 1 or batch_size < 0:
        raise ValueError("obs_dim and action_dim must be >= 1 and batch_size >= 0.")
    machine = common.machine_info()  # load and date at the start
    config = common.bench_config(num_critics, num_components, hidden)
    param_key, obs_key, select_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = policy_params(init_state(param_key, config, obs_dim, action_dim))
    knobs = SelectKnobs.from_config(config)
    t = jnp.zeros((), jnp.float32)
    obs_one = jax.random.normal(obs_key, (1, obs_dim))  # [1, obs]
    obs_batch = jax.random.normal(obs_key, (max(batch_size, 1), obs_dim))  # [B, obs]

    results = []
    for n in sorted(num_candidates):
        policy = make_policy(config, num_candidates=n, top_k=top_k, state_chunk=state_chunk)
        row = {"num_candidates": n}
        args = (params, obs_one, select_key, t, knobs)
        one, row["compile_s"] = common.timed_compile(policy, *args)
        stats = common.time_calls(functools.partial(one, *args), repeats, max_seconds)
        row.update(latency_ms=stats["median_ms"], latency_ms_spread=stats["spread_ms"],
                   latency_ms_min=stats["min_ms"], latency_ms_mean=stats["mean_ms"],
                   latency_ms_std=stats["std_ms"],
                   repeats=stats["repeats"], **common.memory_analysis(one))
        if batch_size > 0:
            args = (params, obs_batch, select_key, t, knobs)
            many, row["batch_compile_s"] = common.timed_compile(policy, *args)
            stats = common.time_calls(functools.partial(many, *args), repeats, max_seconds)
            batch_mem = common.memory_analysis(many)
            row.update(batch_latency_ms=stats["median_ms"],
                       batch_latency_ms_spread=stats["spread_ms"],
                       batch_latency_ms_min=stats["min_ms"],
                       batch_repeats=stats["repeats"], batch_temp_bytes=batch_mem["temp_bytes"])
        row["peak_bytes"] = common.peak_device_bytes()
        print({k: row[k] for k in ("num_candidates", "latency_ms", "temp_bytes")}, flush=True)
        results.append(row)

    return {
        "results": results,
        **machine,
        "compile_s": sum(r["compile_s"] + r.get("batch_compile_s", 0.0) for r in results),
        "sizes": {"obs_dim": obs_dim, "action_dim": action_dim, "num_critics": num_critics,
                  "num_components": num_components, "hidden": list(hidden),
                  "batch_size": batch_size, "top_k": top_k, "state_chunk": state_chunk},
        "timing": "median and IQR (p75-p25) of blocking calls after 3 warm-up calls; "
                  "peak_bytes is the process-wide device peak (GPU only)",
    }


def table(result: dict) -> str:
    b = result["sizes"]["batch_size"]
    header = ["N", "latency ms (1 state)", "IQR ms", "fastest ms", f"latency ms ({b} states)",
              "temp MB", f"temp MB ({b} states)", "peak MB", "compile s", "repeats"]
    mb = lambda x: None if x is None else x / 2**20
    rows = [[r["num_candidates"], r["latency_ms"], r["latency_ms_spread"], r["latency_ms_min"],
             r.get("batch_latency_ms"), mb(r["temp_bytes"]), mb(r.get("batch_temp_bytes")),
             mb(r["peak_bytes"]), r["compile_s"], r["repeats"]] for r in result["results"]]
    return common.markdown_table(header, rows)


def plot(result: dict, path: str) -> None:
    """Latency (1 state and B states, IQR bars) and temporary bytes versus N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["results"]
    n = [max(r["num_candidates"], 1) for r in rows]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(8, 3.2))
    ax_t.errorbar(n, [r["latency_ms"] for r in rows], [r["latency_ms_spread"] / 2 for r in rows],
                  marker="o", label="1 state")
    if "batch_latency_ms" in rows[0]:
        b = result["sizes"]["batch_size"]
        ax_t.errorbar(n, [r["batch_latency_ms"] for r in rows],
                      [r["batch_latency_ms_spread"] / 2 for r in rows], marker="s",
                      label=f"{b} states")
    ax_t.set(xscale="log", yscale="log", xlabel="candidates N", ylabel="latency per call (ms)")
    ax_t.legend()
    ax_m.plot(n, [(r["temp_bytes"] or 0) / 2**20 for r in rows], marker="o", label="temp, 1 state")
    if "batch_temp_bytes" in rows[0]:
        ax_m.plot(n, [(r["batch_temp_bytes"] or 0) / 2**20 for r in rows], marker="s",
                  label=f"temp, {result['sizes']['batch_size']} states")
    if any(r["peak_bytes"] for r in rows):
        ax_m.plot(n, [(r["peak_bytes"] or 0) / 2**20 for r in rows], marker="s", label="peak")
    ax_m.set(xscale="log", yscale="log", xlabel="candidates N", ylabel="compiled temp MB")
    ax_m.legend()
    fig.suptitle(f"GEM select step, {result['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv):
    del argv
    result = run(
        common.parse_int_list(FLAGS.num_candidates, "num_candidates"),
        batch_size=FLAGS.batch_size,
        top_k=FLAGS.top_k,
        repeats=FLAGS.repeats,
        max_seconds=FLAGS.max_seconds,
        state_chunk=FLAGS.state_chunk,
        **common.size_kwargs(FLAGS),
    )
    result["command"] = common.command()
    common.write_outputs(FLAGS.json, result, table(result))
    plot_path = FLAGS.plot or (os.path.splitext(FLAGS.json)[0] + ".png" if FLAGS.json else None)
    if plot_path:
        plot(result, plot_path)


if __name__ == "__main__":
    define_flags()
    app.run(main)
