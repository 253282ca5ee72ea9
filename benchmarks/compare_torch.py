"""JAX (this library) versus a straightforward PyTorch implementation, same sizes, same machine.

Select step: latency per call at `--num_candidates` for one state and a batch of
`--select_batch_size` states. Train step: steps per second, JAX as the fused `lax.scan`
call of K steps, PyTorch as a Python loop of eager steps (`torch_reference.TorchGEM`).
PyTorch runs once per `torch.set_num_threads(t)` for t in `--torch_threads` (default 2, 1)
and each measure keeps its fastest setting, so a thread count that suffers from cores
shared with other processes does not count against PyTorch; JAX uses its default
threading. Speed-up = PyTorch time / JAX time (> 1: JAX faster).

    python -m benchmarks.compare_torch --json=benchmarks/results/compare_torch_cpu.json
"""

from __future__ import annotations

import os

from absl import app, flags

from benchmarks import common, select_latency, train_throughput

FLAGS = flags.FLAGS


def define_flags() -> None:
    common.define_size_flags()
    flags.DEFINE_integer("num_candidates", 1024, "N for the select comparison.")
    flags.DEFINE_integer("select_batch_size", 16, "States per call in the batched select case.")
    flags.DEFINE_integer("batch_size", 256, "Minibatch size of one train step.")
    flags.DEFINE_integer("steps_per_call", 200, "K, JAX train steps fused in one call.")
    flags.DEFINE_integer("torch_steps", 10, "PyTorch train steps per timed call.")
    flags.DEFINE_integer("repeats", 50, "Timed select calls per case.")
    flags.DEFINE_integer("train_repeats", 5, "Timed train calls per case.")
    flags.DEFINE_float("max_seconds", 30.0, "Time budget per case; slower cases repeat less.")
    flags.DEFINE_list("torch_threads", ["2", "1"],
                      "torch.set_num_threads values to try; each measure uses the fastest.")
    flags.DEFINE_integer("dataset_size", 100_000, "Transitions in the synthetic dataset.")
    flags.DEFINE_integer("rounds", 1, "Alternate JAX and PyTorch this many times (median).")


def torch_side(num_candidates: int, select_batch_size: int, batch_size: int, torch_steps: int,
               repeats: int, train_repeats: int, max_seconds: float, torch_threads: int,
               dataset_size: int, obs_dim: int, action_dim: int, num_critics: int,
               num_components: int, hidden: tuple[int, ...], seed: int) -> dict:
    """PyTorch select latency (1 and B states) and train steps/s at `torch_threads` threads."""
    import torch

    from benchmarks import torch_reference

    torch.set_num_threads(torch_threads)
    model = torch_reference.TorchGEM(obs_dim, action_dim, hidden, num_components, num_critics,
                                     seed=seed)
    none = lambda x: x
    out = {"torch_version": torch.__version__, "torch_threads": torch.get_num_threads()}
    for key, batch in (("select", 1), ("batch_select", select_batch_size)):
        obs = torch.randn(batch, obs_dim)
        stats = common.time_calls(lambda obs=obs: model.select(obs, num_candidates, 0.0), repeats,
                                  max_seconds, block=none)
        out[f"{key}_ms"], out[f"{key}_repeats"] = stats["median_ms"], stats["repeats"]
        out[f"{key}_ms_spread"], out[f"{key}_ms_min"] = stats["spread_ms"], stats["min_ms"]

    data = torch_reference.synthetic_dataset(dataset_size, obs_dim, action_dim, seed)

    def train_call():
        for _ in range(torch_steps):
            model.train_step(torch_reference.sample_batch(data, batch_size))

    stats = common.time_calls(train_call, train_repeats, max_seconds, warmup=1, block=none)
    out["train_steps_per_s"] = torch_steps / (stats["median_ms"] / 1e3)
    out["train_steps_per_s_best"] = torch_steps / (stats["min_ms"] / 1e3)
    out["train_repeats"] = stats["repeats"]
    return out


def best_of(runs: list[dict]) -> dict:
    """Per measure, the fastest PyTorch run (with the thread count it used)."""
    best = {"torch_version": runs[0]["torch_version"]}
    measures = {"select": ("select_ms", min), "batch_select": ("batch_select_ms", min),
                "train": ("train_steps_per_s", max)}
    for name, (key, better) in measures.items():
        run = better(runs, key=lambda r, key=key: r[key])
        best.update({k: v for k, v in run.items() if k.startswith(name + "_")})
        best[f"{name}_threads"] = run["torch_threads"]
    return best


def jax_figures(sel: dict, train: dict, steps_per_call: int) -> dict:
    row, train_row = sel["results"][0], train["results"][0]
    return {
        "select_ms": row["latency_ms"], "select_ms_spread": row["latency_ms_spread"],
        "select_ms_min": row["latency_ms_min"], "select_repeats": row["repeats"],
        "batch_select_ms": row["batch_latency_ms"],
        "batch_select_ms_spread": row["batch_latency_ms_spread"],
        "batch_select_ms_min": row["batch_latency_ms_min"],
        "batch_select_repeats": row["batch_repeats"],
        "train_steps_per_s": train["steps_per_s"],
        "train_steps_per_s_best": steps_per_call / (train_row["call_ms_min"] / 1e3),
        "train_repeats": train_row["repeats"],
        "select_compile_s": row["compile_s"], "train_compile_s": train["compile_s"],
    }


def speedups(jax_side: dict, runs: list[dict]) -> tuple[dict, dict]:
    """(median-call speed-ups against the best thread count, fastest-call speed-ups)."""
    ref = best_of(runs)
    median = {
        "select": ref["select_ms"] / jax_side["select_ms"],
        "batch_select": ref["batch_select_ms"] / jax_side["batch_select_ms"],
        "train": jax_side["train_steps_per_s"] / ref["train_steps_per_s"],
    }
    fastest = lambda key, pick=min: pick(r[key] for r in runs)  # over thread counts
    best_call = {  # least disturbed call of each side
        "select": fastest("select_ms_min") / jax_side["select_ms_min"],
        "batch_select": fastest("batch_select_ms_min") / jax_side["batch_select_ms_min"],
        "train": jax_side["train_steps_per_s_best"] / fastest("train_steps_per_s_best", max),
    }
    return median, best_call


def summarize_rounds(per_round: list[dict]) -> dict:
    """The middle round's figures, the median speed-ups over rounds and their range."""
    names = ("select", "batch_select", "train")
    middle = lambda key, name: common.median([r[key][name] for r in per_round])
    return {
        **per_round[len(per_round) // 2],  # a representative round for the table
        "speedup": {n: middle("speedup", n) for n in names},
        "speedup_best_call": {n: middle("speedup_best_call", n) for n in names},
        "speedup_range": {n: [min(r["speedup"][n] for r in per_round),
                              max(r["speedup"][n] for r in per_round)] for n in names},
        "rounds": per_round,
    }


def run(num_candidates: int = 1024, select_batch_size: int = 16, batch_size: int = 256,
        steps_per_call: int = 200, torch_steps: int = 10, repeats: int = 50,
        train_repeats: int = 5, max_seconds: float = 30.0, torch_threads: tuple[int, ...] = (2, 1),
        dataset_size: int = 100_000, rounds: int = 1, **sizes) -> dict:
    """Both sides at the same sizes, alternating for `rounds` rounds (so both see the same
    drift in background load); speed-ups are the median over rounds."""
    if rounds < 1 or select_batch_size < 1:
        raise ValueError("rounds and select_batch_size must be >= 1.")
    machine = common.machine_info()  # load and date at the start
    per_round = []
    for _ in range(rounds):
        sel = select_latency.run([num_candidates], batch_size=select_batch_size,
                                 repeats=repeats, max_seconds=max_seconds, **sizes)
        train = train_throughput.run([1], batch_size=batch_size, steps_per_call=steps_per_call,
                                     dataset_size=dataset_size, repeats=train_repeats,
                                     max_seconds=max_seconds, **sizes)
        runs = [torch_side(num_candidates, select_batch_size, batch_size, torch_steps, repeats,
                           train_repeats, max_seconds, t, dataset_size, **sizes)
                for t in torch_threads]
        jax_side = jax_figures(sel, train, steps_per_call)
        median, best_call = speedups(jax_side, runs)
        per_round.append({"jax": jax_side, "torch": best_of(runs), "torch_runs": runs,
                          "speedup": median, "speedup_best_call": best_call,
                          "load_1min": os.getloadavg()[0]})
    return {
        **summarize_rounds(per_round),
        **machine,
        "sizes": {**sel["sizes"], "num_candidates": num_candidates,
                  "select_batch_size": select_batch_size, "batch_size": batch_size,
                  "steps_per_call": steps_per_call, "torch_steps": torch_steps},
    }


def table(result: dict) -> str:
    j, t, s, z = result["jax"], result["torch"], result["speedup"], result["sizes"]
    rows = [
        [f"select, N={z['num_candidates']}, 1 state (ms)", j["select_ms"], t["select_ms"],
         s["select"]],
        [f"select, N={z['num_candidates']}, {z['select_batch_size']} states (ms)",
         j["batch_select_ms"], t["batch_select_ms"], s["batch_select"]],
        [f"train, batch {z['batch_size']} (steps/s)", j["train_steps_per_s"],
         t["train_steps_per_s"], s["train"]],
    ]
    for row, key in zip(rows, ("select", "batch_select", "train"), strict=True):
        row.insert(3, t[f"{key}_threads"])
        low, high = result["speedup_range"][key]
        row += [f"{low:.2f}-{high:.2f}", result["speedup_best_call"][key]]
    r = len(result["rounds"])
    header = ["measure (median call, middle round)", "JAX", "PyTorch", "torch threads",
              f"speed-up x (median of {r} rounds)", "range", "speed-up x, fastest calls"]
    return common.markdown_table(header, rows)


def main(argv):
    del argv
    result = run(
        num_candidates=FLAGS.num_candidates,
        select_batch_size=FLAGS.select_batch_size,
        batch_size=FLAGS.batch_size,
        steps_per_call=FLAGS.steps_per_call,
        torch_steps=FLAGS.torch_steps,
        repeats=FLAGS.repeats,
        train_repeats=FLAGS.train_repeats,
        max_seconds=FLAGS.max_seconds,
        torch_threads=tuple(common.parse_int_list(FLAGS.torch_threads, "torch_threads")),
        dataset_size=FLAGS.dataset_size,
        rounds=FLAGS.rounds,
        **common.size_kwargs(FLAGS),
    )
    result["command"] = common.command()
    common.write_outputs(FLAGS.json, result, table(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)
