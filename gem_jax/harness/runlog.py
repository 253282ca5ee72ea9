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
        return read_jsonl(self.jsonl)

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step` (used on resume, so curves have no duplicates)."""
        rows = [r for r in self.rows() if r.get("step", 0) <= step]
        for path in (self.jsonl, self.csv):
            if path.exists():
                path.unlink()
        self._fields = None
        for r in rows:
            self.write(r)


def read_jsonl(path: str | pathlib.Path) -> list[dict]:
    """The rows of a JSONL file ([] when absent); a row torn by a kill mid-write is dropped."""
    path = pathlib.Path(path)
    if not path.exists():
        return []
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def append_jsonl(path: str | pathlib.Path, row: dict[str, Any]) -> dict:
    """Append one row and push it to disk before returning (a journal entry survives a kill
    that comes after it). A line torn by an earlier kill is closed first. Returns the row as
    `read_jsonl` will read it back (plain JSON types)."""
    path = pathlib.Path(path)
    torn = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    line = json.dumps(_plain(row))
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + line + "\n")
        f.flush()
        os.fsync(f.fileno())
    return json.loads(line)


def portable(value):
    """`value` with this machine's paths left out of its strings (recursively): a path under
    the working directory becomes relative, one under the home directory starts with `~`.

    Result files are committed and read on other machines; `~/gem-runs/...` says where a run
    lives without naming this one's layout."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable(v) for v in value]
    if not isinstance(value, str):
        return value
    cwd, home = os.getcwd(), os.path.expanduser("~")
    if cwd != os.sep:
        value = value.replace(cwd + os.sep, "")
    if home not in ("", os.sep):
        value = value.replace(home + os.sep, "~" + os.sep)
    return value


def write_json(path: str | pathlib.Path, payload: dict) -> None:
    """Atomic JSON write (temp file + rename), machine paths made `portable`."""
    path = pathlib.Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(portable(_plain(payload)), f, indent=2)
    os.replace(tmp, path)


def write_report(out: str | pathlib.Path, report: dict, lines: list[str]) -> str:
    """A diagnostic's result as `<out>.json` (the numbers) and `<out>.md` (the table `lines`);
    returns the markdown text. Both leave machine paths out (`portable`)."""
    out = pathlib.Path(out)
    write_json(out.with_suffix(".json"), report)
    text = portable("\n".join(lines) + "\n")
    out.with_suffix(".md").write_text(text)
    return text


LOSS_PANELS = (  # (metric, panel title, y label with units), in panel order
    ("critic/loss", "critic loss", "squared TD error"),
    ("value/loss", "value loss", "expectile-weighted squared error"),
    ("actor/loss", "actor loss", "−advantage-weighted log-likelihood (nats)"),
    ("behavior/nll", "behavior NLL", "nats per action (actions in [-1, 1])"),
)


def loss_panels(train_rows: list[dict]) -> list[tuple[str, str, str]]:
    """A panel for every loss the rows hold (`*/loss`, `*/nll`): the known ones in
    `LOSS_PANELS`' order with their units, then any other."""
    keys = {k for r in train_rows for k in r if k.endswith(("/loss", "/nll"))}
    known = [p for p in LOSS_PANELS if p[0] in keys]
    other = sorted(keys - {p[0] for p in known})
    return known + [(k, k.replace("/", " "), "loss") for k in other]


def plot_learning_curve(train_rows: list[dict], eval_rows: list[dict], path, title: str) -> None:
    """`learning_curve_figure` saved to `path` (PNG)."""
    fig = learning_curve_figure(train_rows, eval_rows, title)
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def learning_curve_figure(train_rows: list[dict], eval_rows: list[dict], title: str):
    """Normalised score and one panel per loss in the rows (`loss_panels`) against gradient
    steps: each seed a thin line (from the rows' `per_seed`, when there are several seeds),
    their mean thick."""
    plt = _pyplot()
    panels = loss_panels(train_rows) or list(LOSS_PANELS[:1])
    ncols = 2 if len(panels) + 1 <= 4 else 3
    nrows = -(-(len(panels) + 1) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.3 * nrows), sharex=True,
                             squeeze=False)  # one step range
    cells = list(grid.flat)
    for ax in cells[len(panels) + 1:]:  # the grid's spare cells
        fig.delaxes(ax)
    axes = cells[:len(panels) + 1]
    score_ax, *loss_axes = axes
    _seed_lines(score_ax, eval_rows, "normalized_score", marker="o")
    if eval_rows and not _per_seed(eval_rows, "normalized_score"):  # older logs: mean +- std
        steps = [r["step"] for r in eval_rows]
        mean = np.array([r["normalized_score"] for r in eval_rows])
        std = np.array([r.get("normalized_score_seed_std", 0.0) for r in eval_rows])
        score_ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    score_ax.set(title="normalised score", ylabel="score (0 = random, 100 = reference)")
    for ax, (key, name, unit) in zip(loss_axes, panels):
        values = _seed_lines(ax, train_rows, key)
        ax.set(title=name, ylabel=unit)
        _readable_y(ax, values)
    legend = [ax for ax in axes if ax.get_legend_handles_labels()[0]][:1]
    for i, ax in enumerate(axes):
        if i + ncols >= len(axes):  # nothing below it: label its steps
            ax.set_xlabel("gradient steps")
            ax.xaxis.set_tick_params(labelbottom=True)
        ax.xaxis.set_major_formatter(_steps_formatter())
        ax.grid(alpha=0.3)
    for ax in legend:  # one legend (each seed / mean) for all panels
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _per_seed(rows: list[dict], key: str) -> list[list[float]]:
    """`[S][T]` per-seed values of `key` over the rows (empty if any row lacks them)."""
    per = [r.get("per_seed", {}).get(key) for r in rows if key in r]
    if not per or any(p is None for p in per) or len({len(p) for p in per}) != 1:
        return []
    return [list(s) for s in zip(*per)]


def _seed_lines(ax, rows: list[dict], key: str, marker: str | None = None) -> list[float]:
    """Thin per-seed lines (two seeds or more) and the thick mean of `key`; returns every
    plotted value (for the axis scaling)."""
    pts = [(r["step"], r[key]) for r in rows if key in r]
    if not pts:
        return []
    steps, mean = zip(*pts)
    seeds = _per_seed(rows, key)
    if len(seeds) > 1:
        for i, values in enumerate(seeds):
            ax.plot(steps, values, color="C0", lw=0.8, alpha=0.45,
                    label="each seed" if i == 0 else None)
    label = f"mean of {len(seeds)} seeds" if len(seeds) > 1 else None
    ax.plot(steps, mean, color="C0", lw=2.2, marker=marker, ms=4, label=label)
    return [*mean, *(v for s in seeds for v in s)]


def _readable_y(ax, values: list[float]) -> None:
    """Plain tick labels: a log axis (labels 0.01, 0.1, 1, 10) when positive values span
    more than two decades, else a linear axis without offset or scientific notation."""
    from matplotlib import ticker

    finite = [v for v in values if np.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        ax.yaxis.set_major_formatter(ticker.ScalarFormatter(useOffset=False))
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)


def _steps_formatter():
    """Step counts as 500, 20k, 1.5M."""
    from matplotlib import ticker

    def fmt(v, _):
        if abs(v) >= 1e6:
            return f"{v / 1e6:g}M"
        if abs(v) >= 1e3:
            return f"{v / 1e3:g}k"
        return f"{v:g}"

    return ticker.FuncFormatter(fmt)


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
