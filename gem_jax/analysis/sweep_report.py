"""Sweep results at the edge: CSV, markdown table and the plots of `experiments/evaluate.py`.

* `score_vs_n.png`: normalised score and Violation against the candidate budget N,
  one line per combination of the other knobs.
* `frontier_beta.png`: the score-versus-Violation frontier traced by the support weight
  (beta_0, beta_end), one line per combination of the other knobs, each point labelled with
  its beta, the run's own setting starred.
* `ablation.png`: one bar per variant (mean over seeds, each seed a point), ordered by the
  difference to GEM, and each variant's Violation beside it.
"""

from __future__ import annotations

import csv
import pathlib

import numpy as np

from gem_jax.analysis.sweep import STATIC, TRACED

# newest columns last, so older tables keep their layout
NEWER = ("candidate_means", "top_k_pick", "top_k_frac")
KNOBS = (*[k for k in STATIC if k not in NEWER], *TRACED, "mass_scale", *NEWER)
# knobs newer than some saved sweeps: their value there (those sweeps used the paper's set)
OPTIONAL = {"anchor_bonus": 0.0, "candidate_means": False, "top_k_pick": "mean",
            "top_k_frac": 0.0}
HEADERS = {
    "variant": "variant", "num_candidates": "N", "top_k": "k", "source": "source",
    "mode": "mode", "lcb_lambda": "λ", "beta_start": "β₀", "beta_end": "β_end",
    "anchor_bonus": "δ",
    "horizon": "T", "mass_scale": "mass", "support_model": "support",
    "candidate_means": "means", "top_k_pick": "pick", "top_k_frac": "k share",
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


# The knobs that mean something for a baseline acting with its own mean (N = 0): selection's
# score, candidate set and top-k do not exist there.
BASELINE_KNOBS = ("variant", "num_candidates", "mass_scale")


def columns(rows: list[dict], algo: str = "gem") -> tuple[str, ...]:
    """The knob columns that apply: all of them for GEM (a fixed layout), and for a baseline
    (IQL, BC) acting with its mean only the budget and the test-time mass; a baseline run
    swept with candidates (N > 0) gets GEM's selection on its actor, so every column."""
    if algo == "gem" or any(r["num_candidates"] > 0 for r in rows):
        return KNOBS
    return BASELINE_KNOBS


def variant_label(variant: str, algo: str = "gem") -> str:
    """The row's name: the variant for GEM, the algorithm (and a non-default variant) else."""
    if algo == "gem":
        return variant
    return algo if variant == "gem" else f"{algo} {variant}"


def to_markdown(rows: list[dict], algo: str = "gem") -> str:
    """Knob columns (`columns`), then score (mean ± std over seeds) and the three audits
    (method §4). `algo`: the run's algorithm, named in the variant column."""
    knobs = columns(rows, algo)
    head = [HEADERS[k] for k in knobs] + ["score", "SupportZ", "Violation", "CollapseDist"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [variant_label(r["variant"], algo) if k == "variant" else _fmt(_knob(r, k))
                 for k in knobs] + [
            f"{r['normalized_score']:.1f} ± {r['normalized_score_seed_std']:.1f}",
            f"{r['support_z']:.2f}", f"{r['violation']:.3f}", f"{r['collapse_dist']:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _knob(row: dict, name: str):
    return row.get(name, OPTIONAL[name]) if name in OPTIONAL else row[name]


def _groups(rows: list[dict], along: tuple[str, ...]) -> dict[str, list[dict]]:
    """Rows grouped by every knob not in `along`; labels name the knobs that vary."""
    others = [k for k in KNOBS if k not in along]
    varying = [k for k in others if len({_knob(r, k) for r in rows}) > 1]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        label = ", ".join(f"{HEADERS[k]}={_fmt(_knob(r, k))}" for k in varying) or "run config"
        groups.setdefault(label, []).append(r)
    return groups


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SCORE_LABEL = "normalised score (mean ± std over seeds)"
VIOLATION_LABEL = "Violation = P(z(a*) < z_thresh)"


def _colors(n: int) -> list:
    """`n` distinct colours (tab10, tab20, then a sampled viridis)."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colormaps["viridis"](i / (n - 1)) for i in range(n)]


def _legend_outside(ax, groups: dict, title: str) -> None:
    """One legend right of the axes (never over the data); none for a single setting."""
    if len(groups) < 2:
        return
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, title=title,
              title_fontsize=7, frameon=False)


def _varying(rows: list[dict], along: tuple[str, ...]) -> str:
    """The legend title: the knobs (other than `along`) that the rows vary."""
    names = [HEADERS[k] for k in KNOBS if k not in along and len({_knob(r, k) for r in rows}) > 1]
    return ", ".join(names)


def _save(fig, path) -> None:
    fig.savefig(path, dpi=100, bbox_inches="tight")  # "tight": outside legends included
    _pyplot().close(fig)


def plot_budget(rows: list[dict], path: str | pathlib.Path, title: str = "") -> None:
    """`budget_figure` saved to `path` (PNG)."""
    _save(budget_figure(rows, title), path)


def plot_frontier(rows: list[dict], path: str | pathlib.Path, title: str = "",
                  chosen: dict | None = None) -> None:
    """`frontier_figure` saved to `path` (PNG)."""
    _save(frontier_figure(rows, title, chosen), path)


def budget_figure(rows: list[dict], title: str = ""):
    """Score and Violation against N, one line per setting of the other knobs; x is symlog
    (so that N = 0 shows) with a plain tick at every N swept; the legend sits outside."""
    from matplotlib import ticker

    groups = _groups(rows, ("num_candidates",))
    fig, axes = _score_and_violation(groups, "num_candidates", "candidate budget")
    budgets = sorted({r["num_candidates"] for r in rows})
    for ax in axes:
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(budgets)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.set_xlabel("candidates N (0 = anchor only)")
    return _finish(fig, axes, title, groups, _varying(rows, ("num_candidates",)))


def _score_and_violation(groups: dict[str, list[dict]], x: str, against: str):
    """Two panels, score (mean ± std over seeds) and Violation against the row field `x`,
    one line per group."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for color, (label, group) in zip(_colors(len(groups)), groups.items()):
        group = sorted(group, key=lambda r: r[x])
        xs = [r[x] for r in group]
        score = np.array([r["normalized_score"] for r in group])
        std = np.array([r["normalized_score_seed_std"] for r in group])
        axes[0].errorbar(xs, score, yerr=std, marker="o", capsize=3, color=color, label=label)
        axes[1].plot(xs, [r["violation"] for r in group], marker="o", color=color, label=label)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].set(ylabel=SCORE_LABEL, title=f"score vs {against}")
    axes[1].set(ylabel=VIOLATION_LABEL, title=f"Violation vs {against}")
    return fig, axes


def _finish(fig, axes, title: str, groups: dict, legend_title: str):
    if title:
        fig.suptitle(title)
    _legend_outside(axes[1], groups, legend_title)
    fig.tight_layout()
    return fig


def frontier_figure(rows: list[dict], title: str = "", chosen: dict | None = None):
    """Score against Violation, one line per setting of the other knobs (colour) through
    the support schedules beta_0 -> beta_end, each point labelled with its beta; `chosen`
    (knob values, e.g. the run's own or tune.py's) marks the rows that match it with a star."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    along = ("beta_start", "beta_end")
    groups = _groups(rows, along)
    fig, ax = plt.subplots(figsize=(7, 4.6))
    one_end = len({r["beta_end"] for r in rows}) == 1
    marked = 0
    for color, (label, group) in zip(_colors(len(groups)), groups.items()):
        group = sorted(group, key=lambda r: (r["beta_start"], r["beta_end"]))
        x = [r["violation"] for r in group]
        y = [r["normalized_score"] for r in group]
        ax.plot(x, y, color=color, lw=1.2, alpha=0.8, marker="o", ms=4, label=label)
        for r, xi, yi in zip(group, x, y):
            text = f"β₀ {_fmt(r['beta_start'])}" if one_end else _schedule(*(r[k] for k in along))
            ax.annotate(text, (xi, yi), fontsize=6, color=color, textcoords="offset points",
                        xytext=(4, 3))
            if chosen and all(_knob(r, k) == v for k, v in chosen.items()):
                ax.plot([xi], [yi], ls="", marker="*", ms=16, mfc="none", mec="black", mew=1.2)
                marked += 1
    ax.set(xlabel=VIOLATION_LABEL, ylabel="normalised score (mean over seeds)",
           title=title or "support-weight frontier")
    ax.title.set_size(10)
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if len(groups) < 2:
        handles = []
    if marked:
        handles.append(Line2D([], [], ls="", marker="*", ms=12, mfc="none", mec="black",
                              label="the run's setting"))
    if handles:
        legend_title = _varying(rows, along) if len(groups) > 1 else ""
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7,
                  title=legend_title, title_fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_ablation(rows: list[dict], path: str | pathlib.Path, title: str = "",
                  algo: str = "gem") -> None:
    """`ablation_figure` saved to `path` (PNG)."""
    _save(ablation_figure(rows, title, algo), path)


def ablation_figure(rows: list[dict], title: str = "", algo: str = "gem"):
    """One bar per variant (mean score over seeds) with each seed's score as a point, the
    variants ordered by their score's difference to plain GEM (GEM first), and the
    Violation of each beside it; several settings of the other knobs are bars side by side."""
    plt = _pyplot()
    groups = _groups(rows, ("variant",))
    by_variant: dict[str, list[dict]] = {}
    for r in rows:
        by_variant.setdefault(r["variant"], []).append(r)
    mean = {v: float(np.mean([r["normalized_score"] for r in rs])) for v, rs in by_variant.items()}
    base = mean.get("gem", max(mean.values()))
    order = sorted(by_variant, key=lambda v: (v != "gem", -(mean[v] - base)))
    fig, (score_ax, viol_ax) = plt.subplots(
        1, 2, figsize=(max(7.5, 1.3 * len(order) * max(1, len(groups)) + 3), 3.8),
        gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(groups)
    xs = np.arange(len(order))
    for j, (color, (label, group)) in enumerate(zip(_colors(len(groups)), groups.items())):
        row = {r["variant"]: r for r in group}
        offset = (j - (len(groups) - 1) / 2) * width
        present = [i for i, v in enumerate(order) if v in row]
        heights = [row[order[i]]["normalized_score"] for i in present]
        score_ax.bar(xs[present] + offset, heights, width * 0.9, color=color, alpha=0.55,
                     label=label if len(groups) > 1 else None)
        for i in present:
            seeds = row[order[i]].get("seed_scores") or []
            score_ax.plot(np.full(len(seeds), xs[i] + offset), seeds, ls="", marker="o", ms=4,
                          color="black", alpha=0.7,
                          label="each seed" if (i == present[0] and j == 0 and seeds) else None)
        viol_ax.bar(xs[present] + offset, [row[order[i]]["violation"] for i in present],
                    width * 0.9, color=color, alpha=0.8)
    names = [variant_label(v, algo) for v in order]
    deltas = ["" if v == "gem" else f"\nΔ {mean[v] - base:+.1f}" for v in order]
    for ax in (score_ax, viol_ax):
        ax.set_xticks(xs)
        ax.grid(alpha=0.3, axis="y")
    score_ax.set_xticklabels([n + d for n, d in zip(names, deltas)], fontsize=8)
    viol_ax.set_xticklabels(names, fontsize=8, rotation=30, ha="right")
    score_ax.set(ylabel="normalised score (bar: mean over seeds)",
                 title="score by variant, ordered by Δ vs GEM")
    viol_ax.set(ylabel=VIOLATION_LABEL, title="Violation")
    score_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=4,
                    frameon=False, title=_varying(rows, ("variant",)), title_fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _schedule(beta_start: float, beta_end: float) -> str:
    return f"β {_fmt(beta_start)}→{_fmt(beta_end)}"


def over_steps(sweeps: list[dict]) -> dict[str, list[dict]]:
    """Sweeps of one run at several checkpoints -> {setting label: rows sorted by step}.

    `sweeps` are `evaluate.py` sweep.json objects (each with its `step` and `rows`); a row
    gains the `step` of its sweep. Labels name the knobs that vary over all the rows.
    Raises if two sweeps share a step (which one to plot would be a guess).
    """
    steps = [s["step"] for s in sweeps]
    if len(set(steps)) != len(steps):
        raise ValueError(f"two sweeps evaluate the same checkpoint step: {sorted(steps)}; "
                         "pass one sweep.json per step.")
    rows = [{**r, "step": s["step"]} for s in sweeps for r in s["rows"]]
    groups = _groups(rows, ())
    return {label: sorted(group, key=lambda r: r["step"]) for label, group in groups.items()}


def over_steps_markdown(groups: dict[str, list[dict]]) -> str:
    """One line per setting, one column per step: mean ± std over seeds (per-seed values)."""
    steps = sorted({r["step"] for g in groups.values() for r in g})
    lines = ["| setting | " + " | ".join(f"{s:g}" for s in steps) + " |",
             "|" + "---|" * (len(steps) + 1)]
    for label, group in groups.items():
        by_step = {r["step"]: r for r in group}
        cells = []
        for s in steps:
            r = by_step.get(s)
            cells.append("" if r is None else (
                f"{r['normalized_score']:.1f} ± {r['normalized_score_seed_std']:.1f} ("
                + ", ".join(f"{v:.0f}" for v in r.get("seed_scores", [])) + ")"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_steps(groups: dict[str, list[dict]], path: str | pathlib.Path, title: str = "") -> None:
    """`steps_figure` saved to `path` (PNG)."""
    _save(steps_figure(groups, title), path)


def steps_figure(groups: dict[str, list[dict]], title: str = ""):
    """Score (mean ± std over seeds) and Violation against the checkpoint step."""
    fig, axes = _score_and_violation(groups, "step", "training")
    for ax in axes:
        ax.set_xlabel("gradient steps of the checkpoint")
    return _finish(fig, axes, title, groups, "setting")
