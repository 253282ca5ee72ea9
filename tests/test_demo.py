"""`make demo` ends on a result that shows learning, and says what it means.

* (default) `experiments/demo_report.py`'s lines: the final score beside the data's
  behaviour score and our committed runs' score, where the curve and summary.json are;
* (slow, `make test-slow`: the Makefile's own demo command with 3 seeds, about 3x the demo's
  training time) every seed's final score clears `THRESHOLD`.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

# Every seed's final normalised score must clear this: well above the data's own behaviours
# (83.6 on average, 100 for the better route) and below the lowest of the six committed seeds
# at 2*10^4 steps (203; experiments/results/nav2d_polyak_0.02/seeds_*/test_20000.json).
THRESHOLD = 150.0


def demo_commands() -> list[list[str]]:
    """The Makefile's `demo` recipe as argument lists (`$(PY)` -> this interpreter), without
    its `rm -rf`."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", text, flags=re.M).group(1)
    lines = recipe.replace("\\\n", " ").splitlines()
    out = []
    for line in lines:
        words = shlex.split(line.strip().replace("$(PY)", sys.executable))
        if words and words[0] == sys.executable:
            out.append(words)
    return out


def test_the_demo_recipe_trains_then_reports():
    train, report = demo_commands()
    assert train[1:3] == ["experiments/train.py", "--env=nav2d"]
    assert "--steps=20000" in train and "--workdir=runs/demo" in train
    assert report[1:] == ["experiments/demo_report.py", "--workdir=runs/demo"]


def test_report_lines_put_the_score_beside_behaviour_and_committed_runs(tiny_nav2d, tmp_path):
    import demo_report

    summary = {"env": "nav2d", "steps": 20000, "normalized_score": {"mean": 241.5, "std": 9.0},
               "per_seed": [{"normalized_score": v} for v in (230.0, 244.5, 250.0)],
               "config": {"eval_episodes": 10, "num_candidates": 64}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "eval.jsonl").write_text("".join(
        json.dumps({"step": s, "normalized_score": v}) + "\n"
        for s, v in ((5000, 150.2), (10000, 20.0), (20000, 241.5))))
    lines = demo_report.report(tmp_path)
    assert lines[0] == ("final score after 20000 steps: 241.5 ± 9.0 over 10 episodes "
                        "(seeds: 230, 244, 250)")
    assert lines[1].startswith("on the way: 150 at 5000, 20 at 10000 (a dip on the way")
    assert re.fullmatch(r"the data's behaviours score \d+\.\d on average \(each route: \d+ and "
                        r"\d+\); 0 = random, 100 = the better behaviour's reference return, "
                        r"above 100 a shorter path to the goal than the data's", lines[2])
    assert lines[3].startswith("our committed runs reach 240.2 ± 25.3 at 20000 steps, N = 64 "
                               "(6 seeds, lowest 203; experiments/RESULTS.md")
    assert lines[4] == (f"learning curve: {tmp_path / 'learning_curve.png'}; numbers: "
                        f"{tmp_path / 'summary.json'}, per evaluation {tmp_path / 'eval.csv'}")


def test_the_committed_scores_are_those_of_the_results_files():
    import demo_report

    scores = demo_report.committed_scores(20000, 64)
    assert [round(s) for s in scores] == [243, 203, 241, 285, 220, 248]
    assert demo_report.committed_scores(12345, 64) is None


@pytest.mark.slow
def test_the_demo_command_with_three_seeds_clears_the_threshold(tmp_path):
    """The Makefile's demo command, workdir moved, 3 seeds in one program (the same seeds
    0, 1, 2 a user gets with --seed); its own data (the full nav2d build, ~10 s)."""
    train, report = demo_commands()
    workdir = tmp_path / "runs" / "demo"
    args = [a if not a.startswith("--workdir=") else f"--workdir={workdir}" for a in train]
    env = {"MINARI_DATASETS_PATH": str(tmp_path / "minari"),
           "GEM_JAX_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    import os

    env = {**os.environ, **env}
    done = subprocess.run([*args, "--num_seeds=3", "--noprogress"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((workdir / "summary.json").read_text())
    scores = [s["normalized_score"] for s in summary["per_seed"]]
    assert len(scores) == 3 and min(scores) >= THRESHOLD, scores
    shown = subprocess.run([*report[:2], f"--workdir={workdir}"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.startswith("final score after 20000 steps: ")
