"""Run-directory I/O at the edge: metrics as JSONL + CSV, summary JSON, learning-curve plot."""

from __future__ import annotations

import csv
import json
import os
import pathlib
from typing import Any

import numpy as np


class MetricsLog:
    """Append rows to `<name>.jsonl` and `<name>.csv` (flushed per row, so a crash loses
    at most the row being written). The CSV header is the first row's scalar keys; lists
    and dicts (e.g. `per_seed`) go to the JSONL only."""

    def __init__(self, workdir: str | pathlib.Path, name: str):
        self.jsonl = pathlib.Path(workdir) / f"{name}.jsonl"
        self.csv = pathlib.Path(workdir) / f"{name}.csv"
        self._fields: list[str] | None = None
        if self.csv.exists():
            with open(self.csv) as f:
                header = f.readline().strip()
            self._fields = header.split(",") if header else None

    def write(self, row: dict[str, Any]) -> None:
        row = {k: _plain(v) for k, v in row.items()}
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        new = self._fields is None
        if new:
            self._fields = [k for k, v in row.items() if not isinstance(v, list | dict)]
        with open(self.csv, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def rows(self) -> list[dict]:
        if not self.jsonl.exists():
            return []
        rows = []
        with open(self.jsonl) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # a row torn by a kill mid-write: drop it
                    continue
        return rows

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step` (used on resume, so curves have no duplicates)."""
        rows = [r for r in self.rows() if r.get("step", 0) <= step]
        for path in (self.jsonl, self.csv):
            if path.exists():
                path.unlink()
        self._fields = None
        for r in rows:
            self.write(r)


def write_json(path: str | pathlib.Path, payload: dict) -> None:
    """Atomic JSON write (temp file + rename)."""
    path = pathlib.Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(_plain(payload), f, indent=2)
    os.replace(tmp, path)


def plot_learning_curve(train_rows: list[dict], eval_rows: list[dict], path, title: str) -> None:
    """Normalised score (mean +- std over seeds) and losses against gradient steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    if eval_rows:
        steps = [r["step"] for r in eval_rows]
        mean = np.array([r["normalized_score"] for r in eval_rows])
        std = np.array([r.get("normalized_score_seed_std", 0.0) for r in eval_rows])
        axes[0].plot(steps, mean, marker="o")
        axes[0].fill_between(steps, mean - std, mean + std, alpha=0.2)
    axes[0].set(xlabel="gradient step", ylabel="normalised score", title=title)
    for key in ("critic/loss", "value/loss", "behavior/nll"):
        pts = [(r["step"], r[key]) for r in train_rows if key in r]
        if pts:
            axes[1].plot(*zip(*pts), label=key)
    axes[1].set(xlabel="gradient step", ylabel="loss", yscale="symlog")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # jax arrays
        return np.asarray(value).tolist()
    return value
