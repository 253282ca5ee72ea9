"""Training throughput: gradient steps per second of the fused GEM train step.

One call runs K train steps under `lax.scan` (`make_fused_train_step`, minibatches sampled
on device from a synthetic dataset of the given sizes). For S > 1 seeds the pure loop
`make_train_loop(config)` is vmapped over a stacked state with the dataset shared
(`in_axes=(0, None)`) and jitted with the state donated. Compile time is reported apart;
the first call after compiling is a discarded warm-up.

    python -m benchmarks.train_throughput --num_seeds=1,4 \
        --json=benchmarks/results/train_throughput_cpu.json

`steps_per_s` counts one seed's gradient steps per second; `total_steps_per_s` = S x that.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from gem_jax import Batch, init_state
from gem_jax.method.learner import make_fused_train_step, make_train_loop

FLAGS = flags.FLAGS


def define_flags() -> None:
    common.define_size_flags()
    flags.DEFINE_integer("batch_size", 256, "Minibatch size of one train step.")
    flags.DEFINE_integer("steps_per_call", 1000, "K, train steps fused in one call (lax.scan).")
    flags.DEFINE_list("num_seeds", ["1"], "Seed counts S to measure (S > 1: vmapped over seeds).")
    flags.DEFINE_integer("dataset_size", 100_000, "Transitions in the synthetic dataset.")
    flags.DEFINE_integer("repeats", 5, "Timed calls per case (each K steps), after one warm-up.")
    flags.DEFINE_float("max_seconds", 60.0, "Time budget per case; slower cases repeat less.")
    flags.DEFINE_bool("layer_norm", False, "LayerNorm critics (the library's default critic).")
    flags.DEFINE_bool("vmap_one_seed", False, "Also time one seed through jax.vmap over a "
                      "size-1 seed axis (the runner's one-seed program before fe20ee9).")


def synthetic_dataset(key: jax.Array, size: int, obs_dim: int, action_dim: int) -> Batch:
    """Random transitions of the right shapes (throughput does not depend on the values)."""
    k_obs, k_act, k_rew, k_next, k_done = jax.random.split(key, 5)
    return Batch(
        observations=jax.random.normal(k_obs, (size, obs_dim)),  # [D, obs]
        actions=jax.random.uniform(k_act, (size, action_dim), minval=-1.0, maxval=1.0),
        rewards=jax.random.normal(k_rew, (size,)),  # [D]
        next_observations=jax.random.normal(k_next, (size, obs_dim)),
        dones=(jax.random.uniform(k_done, (size,)) < 0.01).astype(jnp.float32),  # [D]
    )


def seeds_loop(config, num_seeds: int, obs_dim: int, action_dim: int, key: jax.Array,
               vmap_one: bool = False):
    """`(jitted loop, initial state)` for `num_seeds` seeds (1: the library's fused step, as
    `runner.make_seed_loop` runs one seed; `vmap_one`: vmapped over a size-1 axis instead)."""
    if num_seeds == 1 and not vmap_one:
        return make_fused_train_step(config), init_state(key, config, obs_dim, action_dim)
    keys = jax.random.split(key, num_seeds)  # [S]
    state = jax.vmap(lambda k: init_state(k, config, obs_dim, action_dim))(keys)
    loop = jax.vmap(make_train_loop(config), in_axes=(0, None))
    return jax.jit(loop, donate_argnums=0), state


def run(
    num_seeds: list[int] = (1,),
    obs_dim: int = 17,
    action_dim: int = 6,
    num_critics: int = 5,
    num_components: int = 5,
    hidden: tuple[int, ...] = (256, 256),
    batch_size: int = 256,
    steps_per_call: int = 1000,
    dataset_size: int = 100_000,
    repeats: int = 5,
    max_seconds: float | None = 60.0,
    seed: int = 0,
    layer_norm: bool = False,
    vmap_one_seed: bool = False,
) -> dict:
    """Steps per second for each seed count S; returns the JSON-ready result.

    `layer_norm`: LayerNorm critics (the library's default; False, the plain critics of
    the published CPU figures). `vmap_one_seed`: one more row, S = 1 through `jax.vmap` over
    a size-1 seed axis."""
    if min(num_seeds) < 1 or steps_per_call < 1 or batch_size < 1 or dataset_size < 1:
        raise ValueError("num_seeds, steps_per_call, batch_size and dataset_size must be >= 1.")
    machine = common.machine_info()  # load and date at the start
    config = common.bench_config(num_critics, num_components, hidden, layer_norm).replace(
        batch_size=batch_size, steps_per_call=steps_per_call
    )
    data_key, state_key = jax.random.split(jax.random.PRNGKey(seed))
    dataset = synthetic_dataset(data_key, dataset_size, obs_dim, action_dim)

    results = []
    for s, vmapped in [(s, s > 1) for s in num_seeds] + [(1, True)] * vmap_one_seed:
        loop, state = seeds_loop(config, s, obs_dim, action_dim, state_key, vmap_one=vmapped)
        compiled, compile_s = common.timed_compile(loop, state, dataset)
        mem = common.memory_analysis(compiled)
        carry = [state]

        def call(compiled=compiled, carry=carry):
            carry[0], metrics = compiled(carry[0], dataset)  # state donated: thread it on
            return metrics

        stats = common.time_calls(call, repeats, max_seconds, warmup=1)
        steps_per_s = steps_per_call / (stats["median_ms"] / 1e3)
        row = {"num_seeds": s, "vmapped": vmapped, "steps_per_s": steps_per_s,
               "total_steps_per_s": s * steps_per_s,
               "compile_s": compile_s, "call_ms": stats["median_ms"],
               "call_ms_spread": stats["spread_ms"], "call_ms_min": stats["min_ms"],
               "repeats": stats["repeats"],
               "temp_bytes": mem["temp_bytes"], "peak_bytes": common.peak_device_bytes()}
        print({k: row[k] for k in ("num_seeds", "vmapped", "steps_per_s", "compile_s")},
              flush=True)
        results.append(row)

    first = results[0]
    return {
        "steps_per_s": first["steps_per_s"],
        "compile_s": first["compile_s"],
        "num_seeds": first["num_seeds"],
        "results": results,
        **machine,
        "sizes": {"obs_dim": obs_dim, "action_dim": action_dim, "num_critics": num_critics,
                  "num_components": num_components, "hidden": list(hidden),
                  "batch_size": batch_size, "steps_per_call": steps_per_call,
                  "dataset_size": dataset_size, "layer_norm": layer_norm},
        "timing": "median over blocking calls of K fused steps after one warm-up call; "
                  "steps_per_s = K / median call time (per seed)",
    }


def table(result: dict) -> str:
    header = ["seeds S", "vmapped", "steps/s per seed", "steps/s total",
              "ms per call (K steps)", "IQR ms", "compile s", "repeats"]
    rows = [[r["num_seeds"], "yes" if r.get("vmapped", r["num_seeds"] > 1) else "no",
             r["steps_per_s"], r["total_steps_per_s"], r["call_ms"],
             r["call_ms_spread"], r["compile_s"], r["repeats"]] for r in result["results"]]
    return common.markdown_table(header, rows)


def main(argv):
    del argv
    result = run(
        common.parse_int_list(FLAGS.num_seeds, "num_seeds"),
        batch_size=FLAGS.batch_size,
        steps_per_call=FLAGS.steps_per_call,
        dataset_size=FLAGS.dataset_size,
        repeats=FLAGS.repeats,
        max_seconds=FLAGS.max_seconds,
        layer_norm=FLAGS.layer_norm,
        vmap_one_seed=FLAGS.vmap_one_seed,
        **common.size_kwargs(FLAGS),
    )
    result["command"] = common.command()
    common.write_outputs(FLAGS.json, result, table(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)
