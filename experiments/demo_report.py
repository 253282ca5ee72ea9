"""The last lines of `make demo`: what the run's final score means.

    python experiments/demo_report.py --workdir=runs/demo

Prints the run's final normalised score (each seed's too) beside the score of the data's own
behaviours (the dataset's episodes, normalised the same way: 100 is the better of nav2d's two
behaviour routes) and the score our committed nav2d runs reach at the same step count, N = 64,
on test episodes (`experiments/results/nav2d_polyak_0.02/`, 6 seeds), and says where the
learning curve and summary.json are.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Run directory written by experiments/train.py.")

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "experiments" / "results" / "nav2d_polyak_0.02"
COMMITTED_SEEDS = ("seeds_0-2", "seeds_3-5")


def committed_scores(step: int, num_candidates: int) -> list[float] | None:
    """Per-seed test scores of our committed nav2d runs (GEM, `num_candidates`) at `step`, or
    None when no committed sweep has that step and budget."""
    scores = []
    for part in COMMITTED_SEEDS:
        path = COMMITTED / part / f"test_{step}.json"
        if not path.is_file():
            return None
        rows = [r for r in json.loads(path.read_text())["rows"]
                if r["variant"] == "gem" and r["num_candidates"] == num_candidates]
        if not rows:
            return None
        scores += rows[0]["seed_scores"]
    return scores


def behaviour_scores(dataset) -> dict[str, float]:
    """Normalised return of the dataset's episodes: their mean and, where the data label
    each episode's behaviour, each behaviour's mean."""
    returns = np.bincount(dataset.episode_ids, weights=dataset.batch.rewards)  # [episodes]
    scores = dataset.normalized_score(returns)
    out = {"all": float(scores.mean())}
    if dataset.labels is not None:
        first = np.r_[0, np.flatnonzero(np.diff(dataset.episode_ids)) + 1]  # episode starts
        labels = dataset.labels[first]
        for label in np.unique(labels):
            out[f"behaviour {label}"] = float(scores[labels == label].mean())
    return out


def report(workdir: pathlib.Path) -> list[str]:
    from gem_jax.harness.runner import open_dataset

    path = workdir / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run experiments/train.py "
                                f"--workdir={workdir} first (make demo does).")
    summary = json.loads(path.read_text())
    score = summary["normalized_score"]
    seeds = [s["normalized_score"] for s in summary.get("per_seed", [])]
    per_seed = f" (seeds: {', '.join(f'{s:.0f}' for s in seeds)})" if len(seeds) > 1 else ""
    lines = [f"final score after {summary['steps']} steps: {score['mean']:.1f} "
             f"± {score['std']:.1f} over {summary['config']['eval_episodes']} episodes{per_seed}"]
    evals = workdir / "eval.jsonl"
    rows = [json.loads(line) for line in evals.read_text().splitlines()] if evals.is_file() else []
    earlier = [r for r in rows if r["step"] < summary["steps"]]
    if earlier and summary["env"] == "nav2d":
        lines.append("on the way: " + ", ".join(f"{r['normalized_score']:.0f} at {r['step']}"
                                                for r in earlier)
                     + " (a dip on the way is the critic's values still settling; on nav2d "
                     "they settle by 1.5-2·10^4 steps)")
    dataset = open_dataset(summary["env"], progress=False)
    behaviour = behaviour_scores(dataset)
    routes = [f"{v:.0f}" for k, v in behaviour.items() if k != "all"]
    lines.append(f"the data's behaviours score {behaviour['all']:.1f} on average"
                 + (f" (each route: {' and '.join(routes)})" if routes else "")
                 + "; 0 = random, 100 = the better behaviour's reference return, above 100 "
                 "a shorter path to the goal than the data's")
    n = summary["config"]["num_candidates"]
    committed = committed_scores(summary["steps"], n)
    if committed and summary["env"] == "nav2d":
        lines.append(f"our committed runs reach {np.mean(committed):.1f} ± {np.std(committed):.1f} "
                     f"at {summary['steps']} steps, N = {n} ({len(committed)} seeds, lowest "
                     f"{min(committed):.0f}; experiments/RESULTS.md, "
                     "\"nav2d: the collapse is an unsettled critic\")")
    lines.append(f"learning curve: {workdir / 'learning_curve.png'}; numbers: "
                 f"{workdir / 'summary.json'}, per evaluation {workdir / 'eval.csv'}")
    return lines


def body() -> None:
    print("\n".join(report(pathlib.Path(FLAGS.workdir))))


main = absl_main(body)

if __name__ == "__main__":
    app.run(main)
