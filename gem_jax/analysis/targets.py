"""The issues' targets read off a fidelity table, with seed noise as the yardstick (a
difference inside one seed std is not a finding). Pure functions of the rows that
`experiments/fidelity_table.py` writes; it prints them under the table.

* `versus`: GEM minus a baseline per env: ahead / tie / behind, where a tie is a gap inside
  the larger of the two seed stds;
* `n_monotone`: along the chosen rule's N curve (N >= 1), the largest drop from a smaller
  budget to a larger one, and whether it stays inside the seed noise of the two points;
* `no_pw`: the support term's ablation, its score delta and Violation ratio against GEM.
"""

from __future__ import annotations


def _noise(*rows: dict) -> float:
    return max(r["normalized_score_std"] for r in rows)


def versus(rows: list[dict], baseline: str) -> list[dict]:
    """GEM minus `baseline` on every env that has both rows, scored on the same split (a
    variant tuned on validation episodes alone is not set against a test score)."""
    by = {(r["env"], r["algo"]): r for r in rows}
    out = []
    for (env, algo), gem in by.items():
        if algo != "gem" or (env, baseline) not in by:
            continue
        base = by[env, baseline]
        if gem.get("split", "test") != base.get("split", "test"):
            continue
        gap, noise = gem["normalized_score"] - base["normalized_score"], _noise(gem, base)
        verdict = "ahead" if gap > noise else "behind" if gap < -noise else "tie"
        out.append({"env": env, "baseline": baseline, "gap": gap, "noise": noise,
                    "verdict": verdict})
    return out


def n_monotone(rows: list[dict], sweep: list[dict]) -> list[dict]:
    """Per env with a GEM row: the worst drop along its chosen curve (`row["curve"]`) from
    N = 1 up, `score(N_i) - score(N_j)` over N_i < N_j, against those points' seed noise."""
    out = []
    for row in rows:
        if row["algo"] != "gem" or "curve" not in row:
            continue
        points = sorted((r for r in sweep if r["env"] == row["env"] and r["curve"] == row["curve"]
                         and r["num_candidates"] >= 1), key=lambda r: r["num_candidates"])
        worst = None
        for i, lo in enumerate(points):
            for hi in points[i + 1:]:
                drop = lo["normalized_score"] - hi["normalized_score"]
                if worst is None or drop - _noise(lo, hi) > worst["drop"] - worst["noise"]:
                    worst = {"drop": drop, "noise": _noise(lo, hi),
                             "from_n": lo["num_candidates"], "to_n": hi["num_candidates"]}
        if worst is not None:
            out.append({"env": row["env"], "curve": row["curve"], **worst,
                        "budgets": [p["num_candidates"] for p in points],
                        "holds": worst["drop"] <= worst["noise"]})
    return out


def no_pw(ablations: list[dict]) -> list[dict]:
    """The no_pw rows: score delta against GEM and Violation ratio (no_pw / GEM)."""
    return [{"env": r["env"], "delta_score": r["delta_score"],
             "violation_ratio": r["violation_ratio_vs_gem"]}
            for r in ablations if r["variant"] == "no_pw"]


def summary_lines(rows: list[dict], sweep: list[dict], ablations: list[dict]) -> list[str]:
    """The checks as markdown bullets (empty when the table has nothing to check)."""
    lines = []
    for algo in sorted({r["algo"] for r in rows if r["algo"] != "gem"}):
        for v in versus(rows, algo):
            lines.append(f"* {v['env']}: GEM − {algo} {v['gap']:+.1f} against seed noise "
                         f"{v['noise']:.1f}: **{v['verdict']}**")
    for m in n_monotone(rows, sweep):
        lines.append(f"* {m['env']}, {m['curve']} over N = {m['budgets']}: worst drop "
                     f"{m['drop']:.1f} (N {m['from_n']} → {m['to_n']}) against noise "
                     f"{m['noise']:.1f}: non-decreasing within noise "
                     f"**{'yes' if m['holds'] else 'no'}**")
    for p in no_pw(ablations):
        lines.append(f"* {p['env']}: no_pw {p['delta_score']:+.1f} vs GEM, Violation "
                     f"{p['violation_ratio']:.1f}x GEM's")
    return ["", "Checks (seed noise = the larger seed std of the two rows compared):", *lines] \
        if lines else []
