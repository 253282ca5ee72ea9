"""The experiment queues (experiments/queues/*.sh): each parses, and `resume_flag` asks for
`--resume` only where a run has a finished checkpoint."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

QUEUES = pathlib.Path(__file__).resolve().parent.parent / "experiments" / "queues"


@pytest.mark.parametrize("script", sorted(p.name for p in QUEUES.glob("*.sh")))
def test_queue_script_parses(script):
    done = subprocess.run(["bash", "-n", str(QUEUES / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_resume_flag_needs_a_finished_checkpoint(tmp_path):
    runs = {"saved": "checkpoints/20000", "torn": "checkpoints/20000.orbax-checkpoint-tmp-3",
            "empty": "checkpoints", "new": None}
    for name, sub in runs.items():
        (tmp_path / name / sub if sub else tmp_path / name).mkdir(parents=True)
    script = f"source {QUEUES / 'common.sh'}; " + "; ".join(
        f'echo "{name}=$(resume_flag {tmp_path / name})"' for name in runs)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["saved=--resume", "torn=", "empty=", "new="]


def test_kept_suite_outputs_are_not_git_ignored():
    """The suite's kept copies (experiments/results/<suite>/runs/) are committed with the table:
    an ignore rule for run folders must not cover them (only the top-level runs/ is scratch)."""
    root = QUEUES.parent.parent
    kept = "experiments/results/locomotion/runs/hopper-medium/bc/summary.json"
    ignored = lambda path: subprocess.run(["git", "check-ignore", "-q", path], cwd=root,
                                          capture_output=True).returncode == 0
    assert ignored("runs/demo/summary.json")  # the scratch folder stays ignored
    assert not ignored(kept)
