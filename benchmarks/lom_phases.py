"""LOM's training throughput by program: the traced form against a program per phase.

LOM pretrains its behavior GMM alone for `gmm_pretrain_steps`, then trains everything else
with the behavior frozen (method §8). The runner builds one program per phase
(`runner.next_chunk`, `learner.make_update(config, phase=...)`): `"pretrain"` keeps only the
behavior's update, `"main"` drops the frozen behavior's gradient. The traced form
(`phase=None`, what every LOM run used before 3763976) reads the phase from `state.step`
inside one program, so it computes both sides at every step. This script times the three
programs at LOM's hopper-medium sizes (its `LOM_DATASETS` row, obs 11, actions 3, (256, 256),
batch 256) on a synthetic dataset, one seed as a `--seed_shards` shard trains, each program
compiled apart, then timed in turns (rounds) over blocking calls of K fused steps, so a
shared machine's drift falls on all three alike.

    python -m benchmarks.lom_phases --json=benchmarks/results/lom_phases_cpu.json

`gflop_per_step` is XLA's cost analysis of the compiled call, which counts the fused loop's
body (one step) once.
"""

from __future__ import annotations

import jax
from absl import app, flags

from benchmarks import common
from benchmarks.train_throughput import synthetic_dataset
from gem_jax import presets
from gem_jax.harness.runner import init_seeds, make_seed_loop

FLAGS = flags.FLAGS
PROGRAMS = (None, "pretrain", "main")  # None: one traced program for both phases


def define_flags() -> None:
    flags.DEFINE_string("dataset", "hopper-medium", "LOM_DATASETS row whose sizes are timed.")
    flags.DEFINE_integer("obs_dim", 11, "Observation size (11 = hopper).")
    flags.DEFINE_integer("action_dim", 3, "Action size (3 = hopper).")
    flags.DEFINE_list("hidden", ["256", "256"], "Hidden layer sizes of every MLP.")
    flags.DEFINE_integer("steps_per_call", 500, "K, train steps fused in one call.")
    flags.DEFINE_integer("dataset_size", 100_000, "Transitions in the synthetic dataset.")
    flags.DEFINE_integer("repeats", 3, "Timed calls per program and round, after a warm-up.")
    flags.DEFINE_integer("rounds", 3, "Rounds over the programs in turn; a program's figure is "
                         "the median of its rounds' medians.")
    flags.DEFINE_float("max_seconds", 60.0, "Time budget per program.")
    flags.DEFINE_string("json", None, "Write results here (plus a .md table beside it).")


def lom_config(dataset: str, hidden: tuple[int, ...], steps_per_call: int):
    """LOM's config on `dataset` as `presets.build_config` makes it for a 3e5-step run."""
    if dataset not in presets.LOM_DATASETS:
        raise ValueError(f"--dataset must be one of {sorted(presets.LOM_DATASETS)}, "
                         f"got {dataset!r}.")
    base = presets.lom(presets.locomotion()).replace(**presets.LOM_DATASETS[dataset])
    return base.replace(hidden_dims=hidden, steps_per_call=steps_per_call, num_steps=300_000,
                        **presets.ALGORITHM_FIXED["lom"]).validate()


def run(dataset: str = "hopper-medium", obs_dim: int = 11, action_dim: int = 3,
        hidden: tuple[int, ...] = (256, 256), steps_per_call: int = 500,
        dataset_size: int = 100_000, repeats: int = 3, rounds: int = 3,
        max_seconds: float | None = 60.0) -> dict:
    """Steps per second of each program; returns the JSON-ready result."""
    machine = common.machine_info()
    config = lom_config(dataset, hidden, steps_per_call)
    data = synthetic_dataset(jax.random.PRNGKey(1), dataset_size, obs_dim, action_dim)
    programs = []
    for phase in PROGRAMS:  # every program compiled first, then timed in alternating rounds
        state = init_seeds(config, [0], obs_dim, action_dim, None)  # [S = 1, ...]
        compiled, compile_s = common.timed_compile(
            make_seed_loop(config, steps_per_call, phase), state, data)
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        programs.append((phase, compiled, [state], compile_s, float(cost.get("flops", "nan"))))
    medians = {phase: [] for phase in PROGRAMS}
    for _ in range(rounds):  # a machine's drift falls on every program alike
        for phase, compiled, carry, _, _ in programs:
            def call(compiled=compiled, carry=carry):
                carry[0], metrics = compiled(carry[0], data)  # state donated: thread it on
                return metrics

            medians[phase].append(common.time_calls(call, repeats, max_seconds,
                                                    warmup=1)["median_ms"])
    rows = []
    for phase, _, _, compile_s, flops in programs:
        ms = medians[phase]
        row = {"program": phase or "traced",
               "steps_per_s": steps_per_call / (common.median(ms) / 1e3),
               "call_ms": common.median(ms), "call_ms_rounds": ms,
               "rounds_min_max_steps_per_s": [steps_per_call / (max(ms) / 1e3),
                                              steps_per_call / (min(ms) / 1e3)],
               "compile_s": compile_s, "gflop_per_step": flops / 1e9,
               "gflop_per_s": flops / 1e9 * steps_per_call / (common.median(ms) / 1e3)}
        print({k: row[k] for k in ("program", "steps_per_s", "gflop_per_step")}, flush=True)
        rows.append(row)
    traced = rows[0]
    for row in rows:
        row["speedup"] = row["steps_per_s"] / traced["steps_per_s"]
        row["flops_share"] = row["gflop_per_step"] / traced["gflop_per_step"]
    return {"results": rows, **machine,
            "sizes": {"dataset": dataset, "obs_dim": obs_dim, "action_dim": action_dim,
                      "hidden": list(hidden), "batch_size": config.batch_size,
                      "num_critics": config.num_critics,
                      "behavior_num_components": config.behavior_num_components,
                      "steps_per_call": steps_per_call, "dataset_size": dataset_size},
            "timing": "per round and program, the median of blocking calls of K fused steps "
                      "after one warm-up call; the programs take turns for `rounds` rounds, "
                      "steps_per_s from the median of a program's round medians; one seed (a "
                      "--seed_shards shard's program)", "repeats": repeats, "rounds": rounds}


def table(result: dict) -> str:
    header = ["program", "steps/s", "rounds' min-max steps/s", "x traced", "GFLOP per step",
              "share of traced", "GFLOP/s", "ms per call (K steps)", "compile s"]
    rows = [[r["program"], r["steps_per_s"], "{:.1f}-{:.1f}".format(
        *r["rounds_min_max_steps_per_s"]), r["speedup"], r["gflop_per_step"],
        r["flops_share"], r["gflop_per_s"], r["call_ms"], r["compile_s"]]
        for r in result["results"]]
    return common.markdown_table(header, rows)


def main(argv):
    del argv
    result = run(FLAGS.dataset, FLAGS.obs_dim, FLAGS.action_dim,
                 tuple(common.parse_int_list(FLAGS.hidden, "hidden")), FLAGS.steps_per_call,
                 FLAGS.dataset_size, FLAGS.repeats, FLAGS.rounds, FLAGS.max_seconds)
    text = table(result)
    print(text)
    common.write_outputs(FLAGS.json, result, text)


if __name__ == "__main__":
    define_flags()
    app.run(main)
