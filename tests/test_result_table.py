"""gem_jax/analysis/result_table.py and experiments/side_by_side.py: a row from each kind of
result file, by hand; published scores; what is missing; the command end to end."""

import json
import pathlib
import subprocess
import sys

import pytest

from gem_jax.analysis import result_table as rt

ROOT = pathlib.Path(__file__).resolve().parent.parent
TUNE = {"step": 200, "chosen": {"num_candidates": 64},
        "chosen_test": {"seed_scores": [10.0, 20.0, 30.0], "normalized_score": 20.0,
                        "support_z": 0.5, "violation": 0.1, "collapse_dist": 0.2,
                        "behavior_z": -0.3, "behavior_violation": 0.05}}
TABLE = {"rows": [{"env": "maze2d-umaze", "algo": "iql", "steps": 300, "seed_scores": [1.0, 3.0],
                   "support_z": 0.0, "violation": 0.0, "collapse_dist": 0.3,
                   "knobs": {"num_candidates": 0}}]}
SWEEP = {"step": 100, "rows": [
    {"variant": "gem", "num_candidates": 16, "seed_scores": [99.0], "support_z": 1.0,
     "violation": 0.0, "collapse_dist": 0.1},
    {"variant": "gem", "num_candidates": 0, "seed_scores": [4.0, 8.0], "support_z": 0.0,
     "violation": 0.0, "collapse_dist": 0.4, "behavior_z": 0.25, "behavior_violation": 0.0}]}


def test_rows_from_each_kind_by_hand():
    row = rt.row_from(TUNE, "hopper-medium", "idql", "t.json")
    assert row["normalized_score"] == 20.0 and row["steps"] == 200
    assert row["normalized_score_std"] == pytest.approx((200 / 3) ** 0.5)  # population std
    assert (row["behavior_z"], row["knobs"]) == (-0.3, {"num_candidates": 64})
    row = rt.row_from(TABLE, "maze2d-umaze", "iql")
    assert (row["normalized_score"], row["normalized_score_std"], row["steps"]) == (2.0, 1.0, 300)
    assert "behavior_z" not in row  # an older file: the column reads "—"
    with pytest.raises(rt.MissingRow, match="no row for maze2d-umaze bc"):
        rt.row_from(TABLE, "maze2d-umaze", "bc")
    row = rt.row_from(SWEEP, "maze2d-umaze", "lom")  # the N = 0 row, not the first
    assert (row["normalized_score"], row["behavior_z"], row["steps"]) == (6.0, 0.25, 100)
    with pytest.raises(ValueError, match="no N = 0 row"):
        rt.row_from({"rows": SWEEP["rows"][:1]}, "maze2d-umaze", "lom")
    with pytest.raises(ValueError, match="neither"):
        rt.row_from({"score": 1}, "x", "y")


def test_published_scores_match_names_case_blind_and_without_version():
    published = {"note": "text", "SfBC": {"antmaze-umaze-v0": 93.3},
                 "IDQL": {"hopper-medium": 65.4}}
    assert rt.published_score(published, "antmaze-umaze", "sfbc") == 93.3
    assert rt.published_score(published, "hopper-medium-v2", "idql") == 65.4
    assert rt.published_score(published, "hopper-medium", "sfbc") is None
    assert rt.published_score(published, "hopper-medium", "note") is None


def test_side_by_side_command(tmp_path):
    (tmp_path / "tune.json").write_text(json.dumps(TUNE))
    (tmp_path / "table.json").write_text(json.dumps(TABLE))
    (tmp_path / "published.json").write_text(json.dumps({"IDQL": {"maze2d-umaze": 50.0}}))
    out = tmp_path / "page"
    cmd = [sys.executable, str(ROOT / "experiments" / "side_by_side.py"), f"--out={out}",
           f"--row=maze2d-umaze:iql:{tmp_path / 'table.json'}",
           f"--row=maze2d-umaze:idql:{tmp_path / 'tune.json'}",
           f"--row=maze2d-umaze:sfbc:{tmp_path / 'not_yet.json'}",
           f"--row=maze2d-umaze:bc:{tmp_path / 'table.json'}",  # the table lacks it so far
           f"--published={tmp_path / 'published.json'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    page = json.loads(out.with_suffix(".json").read_text())
    assert [(r["algo"], r["published"]) for r in page["rows"]] == [("iql", None), ("idql", 50.0)]
    assert [m["algo"] for m in page["missing"]] == ["sfbc", "bc"]
    assert "no row for maze2d-umaze bc" in page["missing"][1]["why"]
    text = out.with_suffix(".md").read_text()
    assert ("| maze2d-umaze | idql | 200 | 20.0 ± 8.2 (10.0, 20.0, 30.0) | 0.50 | 0.100 | -0.30 |"
            in text)
    assert "Not measured yet: maze2d-umaze sfbc" in text
    assert out.with_suffix(".png").stat().st_size > 1000
    bad = subprocess.run(cmd[:3] + ["--row=maze2d-umaze:iql"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "expected ENV:ALGO:FILE" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
