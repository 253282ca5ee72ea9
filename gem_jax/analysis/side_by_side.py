"""Comparison of algorithms on one dataset (the I/O edge behind `experiments/compare.py`)."""

from __future__ import annotations

import csv
import pathlib
import time

import jax
import numpy as np

from gem_jax.harness import checkpoint as ckpt
from gem_jax.harness import runner
from gem_jax.method.config import GEMConfig
from gem_jax.method.select import SelectKnobs, make_policy

COLUMNS = ("algo", "score_mean", "score_std", "support_z", "violation", "collapse_dist",
           "behavior_z", "behavior_violation", "train_steps_per_s", "select_latency_ms")


def select_latency_ms(config: GEMConfig, workdir, repeats: int = 30) -> float:
    """Median latency of one jitted decision for one observation (warm-up excluded)."""
    from gem_jax.harness.checkpoint import read_meta, restore_params

    _, meta = read_meta(workdir)
    params = restore_params(workdir, seed_index=0)
    policy = make_policy(config)
    obs = np.zeros((1, meta["obs_dim"]), np.float32)
    knobs, key = SelectKnobs.from_config(config), jax.random.PRNGKey(0)
    jax.block_until_ready(policy(params, obs, key, 0, knobs))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(policy(params, obs, key, 0, knobs))
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def compare(env: str, configs: dict[str, GEMConfig], out, num_seeds: int,
            progress: bool = True, log_to=("csv",)) -> str:
    """Train each algorithm's config with `num_seeds` seeds; write CSV, markdown, plot.
    `log_to` goes to every run (`runner.run_training`); W&B runs are grouped by `out`'s name."""
    out = runner.check_workdir(out)
    rows = []
    for algo, config in configs.items():
        workdir = out / algo
        summary = runner.run_training(env, config, workdir, num_seeds=num_seeds,
                               resume=ckpt.has_checkpoint(workdir), progress=progress,
                               algo=algo, log_to=log_to, log_group=out.name)
        scores = [s["normalized_score"] for s in summary["per_seed"]]
        rows.append({
            "algo": algo,
            "score_mean": float(np.mean(scores)),
            "score_std": float(np.std(scores)),
            "support_z": summary["support_z"],
            "violation": summary["violation"],
            "collapse_dist": summary["collapse_dist"],
            "behavior_z": summary["behavior_z"],
            "behavior_violation": summary["behavior_violation"],
            "train_steps_per_s": summary["steps_per_s"],
            "select_latency_ms": select_latency_ms(config, workdir),
        })
    first = next(iter(configs.values()))
    settings = (f"{env}: {first.num_steps} steps, {num_seeds} seeds, {first.eval_episodes} "
                f"episodes per seed; train steps/s counts all seeds of one program together")
    with open(out / "compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = markdown_table(rows, settings)
    (out / "compare.md").write_text(table)
    plot(rows, out / "compare.png", settings)
    return table


def markdown_table(rows: list[dict], settings: str) -> str:
    lines = [
        f"Settings: {settings}.",
        "",
        "| algo | normalised score | SupportZ | Violation | CollapseDist | BehaviorZ "
        "| BehaviorViolation | train steps/s | select latency (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['algo']} | {r['score_mean']:.1f} ± {r['score_std']:.1f} | {r['support_z']:.2f} "
            f"| {r['violation']:.3f} | {r['collapse_dist']:.3f} | {r['behavior_z']:.2f} "
            f"| {r['behavior_violation']:.3f} | {r['train_steps_per_s']:.0f} "
            f"| {r['select_latency_ms']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: pathlib.Path, settings: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = [r["algo"] for r in rows]
    ax.bar(names, [r["score_mean"] for r in rows], yerr=[r["score_std"] for r in rows],
           capsize=4, color=["#999999", "#4c72b0", "#dd8452", "#55a868"][: len(rows)])
    ax.set(ylabel="normalised score (mean ± std over seeds)")
    ax.set_title(settings, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
