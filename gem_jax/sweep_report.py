"""Sweep results at the edge: CSV, markdown table and the two plots of `experiments/evaluate.py`.

* `score_vs_n.png`: normalised score and Violation against the candidate budget N,
  one line per combination of the other knobs.
* `frontier_beta.png`: the score-versus-Violation frontier traced by the support weight
  (beta_0, beta_end), one line per combination of the other knobs.
"""

from __future__ import annotations

import csv
import pathlib

import numpy as np

from gem_jax.sweep import STATIC, TRACED

KNOBS = (*STATIC, *TRACED, "mass_scale")
HEADERS = {
    "variant": "variant", "num_candidates": "N", "top_k": "k", "source": "source",
    "mode": "mode", "lcb_lambda": "λ", "beta_start": "β₀", "beta_end": "β_end",
    "horizon": "T", "mass_scale": "mass", "support_model": "support",
}


def write_csv(rows: list[dict], path: str | pathlib.Path) -> None:
    """Every scalar column of the rows (per-seed score lists are left to the JSON)."""
    fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def to_markdown(rows: list[dict]) -> str:
    """Knob columns, then score (mean ± std over seeds) and the three audits (SPEC 4)."""
    head = [HEADERS[k] for k in KNOBS] + ["score", "SupportZ", "Violation", "CollapseDist"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [_fmt(r[k]) for k in KNOBS] + [
            f"{r['normalized_score']:.1f} ± {r['normalized_score_seed_std']:.1f}",
            f"{r['support_z']:.2f}", f"{r['violation']:.3f}", f"{r['collapse_dist']:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _groups(rows: list[dict], along: tuple[str, ...]) -> dict[str, list[dict]]:
    """Rows grouped by every knob not in `along`; labels name the knobs that vary."""
    others = [k for k in KNOBS if k not in along]
    varying = [k for k in others if len({r[k] for r in rows}) > 1]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        label = ", ".join(f"{HEADERS[k]}={_fmt(r[k])}" for k in varying) or "run config"
        groups.setdefault(label, []).append(r)
    return groups


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_budget(rows: list[dict], path: str | pathlib.Path, title: str = "") -> None:
    """Score and Violation against N (symlog x so that N = 0 shows)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, group in _groups(rows, ("num_candidates",)).items():
        group = sorted(group, key=lambda r: r["num_candidates"])
        n = [r["num_candidates"] for r in group]
        score = np.array([r["normalized_score"] for r in group])
        std = np.array([r["normalized_score_seed_std"] for r in group])
        axes[0].errorbar(n, score, yerr=std, marker="o", capsize=3, label=label)
        axes[1].plot(n, [r["violation"] for r in group], marker="o", label=label)
    axes[0].set(xlabel="candidates N", ylabel="normalised score", xscale="symlog", title=title)
    axes[1].set(xlabel="candidates N", ylabel="Violation", xscale="symlog")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_frontier(rows: list[dict], path: str | pathlib.Path, title: str = "") -> None:
    """Score against Violation, points labelled by (beta_0, beta_end)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, group in _groups(rows, ("beta_start", "beta_end")).items():
        group = sorted(group, key=lambda r: (r["beta_start"], r["beta_end"]))
        x = [r["violation"] for r in group]
        y = [r["normalized_score"] for r in group]
        ax.plot(x, y, marker="o", label=label)
        for r, xi, yi in zip(group, x, y):
            ax.annotate(f"β₀={_fmt(r['beta_start'])}/{_fmt(r['beta_end'])}", (xi, yi),
                        fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set(xlabel="Violation", ylabel="normalised score", title=title or "support-weight frontier")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
