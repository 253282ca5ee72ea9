"""One table of several systems from their committed result files, whatever wrote them
(the side-by-side tables of the related systems; `experiments/side_by_side.py`).

A row's numbers come from test episodes, read from one of three kinds of JSON file:
* `experiments/tune.py`'s `tune.json`: the setting chosen on validation, scored on test
  (`chosen_test`);
* a table of `experiments/fidelity_table.py` or `experiments/suite.py` (`rows` with `env`
  and `algo`): that pair's row;
* `experiments/evaluate.py`'s `sweep.json` of a system that acts with its mean: the N = 0 row.

Every row carries the seed scores, their mean and std, and the audits (method §4): SupportZ,
Violation, and where the file has them BehaviorZ and BehaviorViolation, the audits that put
one-action policies and every candidate source on the behavior's own scale.
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np

AUDITS = ("support_z", "violation", "collapse_dist", "behavior_z", "behavior_violation")


class MissingRow(ValueError):
    """A table file without the asked (env, algo) row: a queue that has not reached it."""


def scored(result: dict) -> dict:
    """Seed scores, their mean and population std, and the audits `result` has."""
    scores = [float(s) for s in result["seed_scores"]]
    return {"seed_scores": scores, "normalized_score": float(np.mean(scores)),
            "normalized_score_std": float(np.std(scores)),
            **{k: float(result[k]) for k in AUDITS if k in result}}


def row_from(result: dict, env: str, algo: str, source: str = "") -> dict:
    """The test-episode row of (`env`, `algo`) in one result file's contents (see the module
    docstring for the three kinds); `ValueError` where the file has no such row."""
    if "chosen_test" in result:  # tune.json
        src, steps, knobs = result["chosen_test"], result.get("step"), result.get("chosen")
    elif result.get("rows") and "env" in result["rows"][0]:  # a fidelity / suite table
        match = [r for r in result["rows"] if r["env"] == env and r["algo"] == algo]
        if not match:
            have = sorted({(r["env"], r["algo"]) for r in result["rows"]})
            raise MissingRow(f"{source or 'the table'} has no row for {env} {algo} (it has "
                             f"{have}).")
        src, steps, knobs = match[0], match[0].get("steps"), match[0].get("knobs")
        if src.get("split", "test") != "test":
            src = None
    elif result.get("rows"):  # an evaluate.py sweep: the mean action, N = 0
        zero = [r for r in result["rows"]
                if r.get("num_candidates") == 0 and r.get("variant", "gem") == "gem"]
        if not zero:
            raise ValueError(f"{source or 'the sweep'} has no N = 0 row: pass the tune.json "
                             "of a system that selects among candidates.")
        src, steps, knobs = zero[0], result.get("step"), {"num_candidates": 0}
    else:
        raise ValueError(f"{source or 'the file'} is neither a tune.json, a table with "
                         "env/algo rows, nor a sweep.json.")
    if src is None:  # tune.py --test_rows=none: a comparison on validation episodes
        raise ValueError(f"{source or 'the file'} scores {env} {algo} on validation episodes "
                         "alone (tune.py --test_rows=none); a test row needs its tune with "
                         "--test_rows=curves or all.")
    return {"env": env, "algo": algo, "steps": steps, **scored(src), "knobs": knobs,
            "source": source}


def published_score(published: dict, env: str, algo: str) -> float | None:
    """The published D4RL score of `algo` on `env` in `published` (system name -> {dataset:
    score}; names match case-blind, datasets with or without a `-vN` suffix), or None."""
    base = lambda name: re.sub(r"-v\d+$", "", name)
    for system, scores in published.items():
        if system.lower() != algo.lower() or not isinstance(scores, dict):
            continue
        for name, value in scores.items():
            if base(name) == base(env) and isinstance(value, (int, float)):
                return float(value)
    return None


def gather(specs: list[tuple[str, str, pathlib.Path]], published: dict | None = None):
    """Rows for `(env, algo, path)` specs, in order; a file not written yet, or a table
    without the pair's row yet, is listed in `missing` (a queue still running); a file of
    no known kind is an error. Returns (rows, missing)."""
    rows, missing = [], []
    for env, algo, path in specs:
        try:
            if not path.is_file():
                raise MissingRow(f"{path} is not written yet")
            row = row_from(json.loads(path.read_text()), env, algo, str(path))
        except MissingRow as err:
            missing.append({"env": env, "algo": algo, "expected": str(path), "why": str(err)})
            continue
        row["published"] = published_score(published or {}, env, algo)
        rows.append(row)
    return rows, missing


def markdown(rows: list[dict], missing: list[dict] = ()) -> str:
    num = lambda r, k, f: format(r[k], f) if r.get(k) is not None else "—"
    lines = ["| env | algo | steps | normalised score (per seed) | SupportZ | Violation | "
             "BehaviorZ | BehaviorViolation | published, D4RL data |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        seeds = ", ".join(f"{s:.1f}" for s in r["seed_scores"])
        lines.append(
            f"| {r['env']} | {r['algo']} | {r['steps'] or '—'} | {r['normalized_score']:.1f} ± "
            f"{r['normalized_score_std']:.1f} ({seeds}) | {num(r, 'support_z', '.2f')} | "
            f"{num(r, 'violation', '.3f')} | {num(r, 'behavior_z', '.2f')} | "
            f"{num(r, 'behavior_violation', '.3f')} | {num(r, 'published', '.1f')} |")
    if missing:
        lines += ["", "Not measured yet: " + "; ".join(
            f"{m['env']} {m['algo']} (`{m['expected']}`)" for m in missing) + "."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: pathlib.Path) -> None:
    """Score per env, one bar per algorithm (seed std as error bar, the seeds as dots), and the
    published D4RL score as a hollow marker where one is known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(r["env"] for r in rows))
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    width = 0.8 / max(len(algos), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(envs) * max(len(algos), 1) + 1), 3.8))
    for j, algo in enumerate(algos):
        label = algo  # on the first bar of each algorithm only
        for i, env in enumerate(envs):
            own = [r for r in rows if r["env"] == env and r["algo"] == algo]
            if not own:
                continue
            r, x = own[0], i + (j - (len(algos) - 1) / 2) * width
            ax.bar(x, r["normalized_score"], width, yerr=r["normalized_score_std"], capsize=3,
                   color=f"C{j}", alpha=0.75, label=label)
            label = None
            ax.plot([x] * len(r["seed_scores"]), r["seed_scores"], "k.", ms=4)
            if r.get("published") is not None:
                ax.plot(x, r["published"], marker="D", mfc="none", mec="k", ms=7)
    ax.set_xticks(range(len(envs)), envs)
    ax.set_ylabel("normalised score (test episodes)")
    ax.set_title("bars: mean ± seed std; dots: seeds; ◇: published, D4RL data", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(len(algos), 5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
