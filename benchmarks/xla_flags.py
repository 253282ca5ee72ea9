"""XLA CPU flags against the defaults: train steps/s and select latency, in interleaved rounds.

Each round runs, for every variant of `XLA_FLAGS` in turn, `benchmarks.train_throughput`
(one seed, the fused train step) and `benchmarks.select_latency` (one N, one state and a
batch of states) in fresh subprocesses, so that each variant is compiled by its own XLA.
Rounds interleave the variants: a drift of the machine's speed (other work, a noisy
neighbour) falls on every variant alike. We report each variant's median over rounds, the
per-round values, and its ratio to the first variant (the baseline, by default no flags).

    python -m benchmarks.xla_flags --obs_dim=29 --action_dim=8 --layer_norm \
        --dataset_size=1000000 --rounds=3 --json=benchmarks/results/xla_flags_cpu.json

A flag that this jaxlib does not know makes XLA abort, and the variant's row says so.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ("train_steps_per_s", "select_ms", "select_batch_ms")  # higher, lower, lower better


def define_flags() -> None:
    common.define_size_flags()
    flags.DEFINE_list("variants", ["", "--xla_cpu_experimental_ynn_fusion_type="],
                      "XLA_FLAGS values to compare ('' = XLA's defaults), the first the "
                      "baseline; separate flags of one variant with '+'.")
    flags.DEFINE_integer("rounds", 3, "Interleaved rounds (each variant once per round).")
    flags.DEFINE_bool("layer_norm", False, "LayerNorm critics in the train step.")
    flags.DEFINE_integer("dataset_size", 100_000, "Transitions of the train step's data.")
    flags.DEFINE_integer("steps_per_call", 300, "Train steps per timed call.")
    flags.DEFINE_integer("train_repeats", 5, "Timed train calls per run.")
    flags.DEFINE_integer("num_candidates", 1024, "N of the select step.")
    flags.DEFINE_integer("batch_size", 10, "States of the batched select call.")
    flags.DEFINE_integer("select_repeats", 20, "Timed select calls per run.")


def run_module(module: str, args: Sequence[str], xla_flags: str, timeout: float) -> dict:
    """`python -m benchmarks.<module> args` with `XLA_FLAGS=xla_flags`; its JSON, or an error."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        env = dict(os.environ, XLA_FLAGS=xla_flags)
        proc = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args,
                               f"--json={out}"], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=timeout)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["(no stderr)"]
            return {"error": lines[-1][:300]}
        with open(out) as f:
            return json.load(f)


def measure(xla_flags: str, size_args: Sequence[str], values) -> dict:
    """One round of one variant: train steps/s, select ms (1 state and a batch)."""
    train = run_module("train_throughput", [
        *size_args, "--num_seeds=1", f"--steps_per_call={values.steps_per_call}",
        f"--repeats={values.train_repeats}", f"--dataset_size={values.dataset_size}",
        "--max_seconds=60", *(["--layer_norm"] if values.layer_norm else [])], xla_flags, 900)
    select = run_module("select_latency", [
        *size_args, f"--num_candidates={values.num_candidates}",
        f"--batch_size={values.batch_size}", f"--repeats={values.select_repeats}",
        "--max_seconds=15"], xla_flags, 900)
    if "error" in train or "error" in select:
        return {"error": train.get("error") or select.get("error")}
    row = select["results"][0]
    return {"train_steps_per_s": train["steps_per_s"], "select_ms": row["latency_ms"],
            "select_batch_ms": row["batch_latency_ms"]}


def summarize(variants: Sequence[str], rounds: Sequence[Sequence[dict]]) -> list[dict]:
    """Per variant: the per-round values, their medians and the ratio to variant 0's medians.

    `rounds[r][v]` is round r's measurement of variant v. Ratios are speed-ups: baseline
    time / variant time (for steps/s, variant / baseline), so > 1 means faster.
    """
    rows = []
    for v, name in enumerate(variants):
        runs = [r[v] for r in rounds]
        errors = [run["error"] for run in runs if "error" in run]
        row = {"xla_flags": name, "rounds": runs}
        if errors:
            row["error"] = errors[0]
        else:
            for m in METRICS:
                row[m] = statistics.median(run[m] for run in runs)
        rows.append(row)
    base = rows[0]
    for row in rows:
        if "error" in row or "error" in base:
            continue
        row["speedup_train"] = row["train_steps_per_s"] / base["train_steps_per_s"]
        row["speedup_select"] = base["select_ms"] / row["select_ms"]
        row["speedup_select_batch"] = base["select_batch_ms"] / row["select_batch_ms"]
    return rows


def table(result: dict) -> str:
    header = ["XLA_FLAGS", "train steps/s", "x", "select ms (1 state)", "x",
              f"select ms ({result['batch_size']} states)", "x", "per round (steps/s)"]
    body = []
    for r in result["results"]:
        name = f"`{r['xla_flags']}`" if r["xla_flags"] else "(defaults)"
        if "error" in r:
            body.append([name, f"error: {r['error']}", "", "", "", "", "", ""])
            continue
        body.append([name, r["train_steps_per_s"], r["speedup_train"], r["select_ms"],
                     r["speedup_select"], r["select_batch_ms"], r["speedup_select_batch"],
                     ", ".join(f"{run['train_steps_per_s']:.1f}" for run in r["rounds"])])
    return common.markdown_table(header, body)


def main(argv):
    del argv
    if FLAGS.rounds < 1:
        raise app.UsageError(f"--rounds must be >= 1, got {FLAGS.rounds}.")
    variants = [v.replace("+", " ") for v in FLAGS.variants]
    sizes = common.size_kwargs(FLAGS)
    size_args = [f"--obs_dim={sizes['obs_dim']}", f"--action_dim={sizes['action_dim']}",
                 f"--num_critics={sizes['num_critics']}",
                 f"--num_components={sizes['num_components']}",
                 "--hidden=" + ",".join(map(str, sizes["hidden"])), f"--seed={sizes['seed']}"]
    result = common.machine_info()
    rounds = []
    for r in range(FLAGS.rounds):
        rounds.append([measure(v, size_args, FLAGS) for v in variants])
        print(f"round {r + 1}/{FLAGS.rounds}: " + "; ".join(
            f"[{v}] {m.get('train_steps_per_s', m.get('error'))}"
            for v, m in zip(variants, rounds[-1])), flush=True)
    result.update(results=summarize(variants, rounds), sizes=sizes,
                  layer_norm=FLAGS.layer_norm, dataset_size=FLAGS.dataset_size,
                  num_candidates=FLAGS.num_candidates, batch_size=FLAGS.batch_size,
                  command=common.command())
    common.write_outputs(FLAGS.json, result, table(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)
