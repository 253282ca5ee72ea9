"""docs/walkthrough.md cannot rot: its commands run, at tiny sizes, and write what it names.

* every ```bash line is either a setup line (clone, venv, pip, the TensorBoard viewer) or an
  `experiments/` script whose flags all parse (`--only_check_args`, at the doc's sizes);
* every table the page shows has the header `evaluate.py` writes today;
* every picture it shows is in `docs/img/`, named as the file the commands wrote;
* (slow, `make test-slow`, a few minutes on 2 cores) run in order in a temporary directory,
  with sizes shrunk (`shrink`), every command and the ```python block exit 0, every
  `runs/walkthrough/...` path the page names exists, each table's header is the header of
  the file it shows, each output the page shows starts as the command's output does, and
  the dataset step run again (after `make demo` built the data) succeeds.

`python tests/test_walkthrough.py --regenerate DIR` runs the page's commands at the page's
sizes in DIR and copies the plots it shows into `docs/img/walkthrough/`.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "walkthrough.md"
PYTHON = ".venv/bin/python"
SETUP = ("git clone ", "python3 -m venv ", ".venv/bin/pip install ")
# Flags set to tiny values (added when the page does not give them); comma lists cut to 2.
TINY = {
    "make_dataset": {"--num_steps": "20000", "--reference_episodes": "20"},
    "train": {"--steps": "100", "--eval_every": "100", "--checkpoint_every": "50",
              "--eval_episodes": "1", "--config.hidden_dims": "(16,16)",
              "--config.num_candidates": "4", "--config.steps_per_call": "50",
              "--config.log_every": "50", "--config.batch_size": "64",
              "--config.num_critics": "2", "--config.num_components": "2",
              "--config.behavior_num_components": "2"},
    "evaluate": {"--eval_episodes": "1"},
    "tune": {"--eval_episodes": "1"},
    "export_policy": {},
}
NO_PROGRESS = ("make_dataset", "train", "evaluate", "tune")


def fenced(text: str, lang: str) -> list[str]:
    """The bodies of the ```lang blocks."""
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def bash_lines(text: str) -> list[str]:
    """Every command of the ```bash blocks: continuations joined, comments dropped."""
    lines = []
    for block in fenced(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(" ".join(line.split()))
    return lines


def script_commands(text: str) -> list[tuple[str, list[str]]]:
    """`(script, args)` of each `.venv/bin/python experiments/<script>.py ...` line."""
    out = []
    for line in bash_lines(text):
        if line.startswith(f"{PYTHON} experiments/"):
            words = shlex.split(line)
            script = pathlib.Path(words[1]).stem
            out.append((script, words[2:]))
    return out


def shrink(script: str, args: list[str]) -> list[str]:
    """`args` at tiny sizes: the values of `TINY[script]` replace or join the page's, list
    values are cut to their first two items, progress bars are off."""
    tiny = dict(TINY[script])
    out = []
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in tiny:
            value = tiny.pop(name)
        elif eq and "," in value and not value.startswith("("):
            value = ",".join(value.split(",")[:2])
        out.append(f"{name}={value}" if eq else name)
    out += [f"{k}={v}" for k, v in tiny.items()]
    return out + (["--noprogress"] if script in NO_PROGRESS else [])


def named_paths(text: str) -> list[str]:
    """Every `runs/walkthrough/...` path the page names."""
    found = re.findall(r"runs/walkthrough(?:/[\w.\-]+)*/?", text)
    return sorted({p.rstrip(".") for p in found})


def images(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def source_of(text: str, image: str) -> str:
    """The one `runs/walkthrough/...` file the page names that `image` is a copy of."""
    (source,) = [p for p in named_paths(text) if p.endswith("/" + pathlib.PurePath(image).name)]
    return source


def env_for(workdir: pathlib.Path) -> dict:
    return {**os.environ, "MINARI_DATASETS_PATH": str(workdir / "minari"),
            "GEM_JAX_CACHE": str(workdir / "cache"), "MPLBACKEND": "Agg",
            "WANDB_MODE": "offline"}


def run(cmd: list[str], cwd: pathlib.Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env_for(cwd), capture_output=True, text=True,
                          timeout=timeout)


def script_cmd(script: str, args: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "experiments" / f"{script}.py"), *args]


def run_page(workdir: pathlib.Path, tiny: bool) -> list[subprocess.CompletedProcess]:
    """The page's commands in `workdir`, in order, then its python blocks. The sweeps that
    only read the run (before `tune.py`, which changes the run's default knobs) run side by
    side."""
    text = DOC.read_text()
    commands = [(s, shrink(s, a) if tiny else a) for s, a in script_commands(text)]
    done = []
    first = [c for c in commands if c[0] in ("make_dataset", "train")]
    rest = [c for c in commands if c[0] not in ("make_dataset", "train")]
    tune_at = next((i for i, c in enumerate(rest) if c[0] == "tune"), len(rest))
    for script, args in first:
        done.append(run(script_cmd(script, args), workdir))
        assert done[-1].returncode == 0, (script, args, done[-1].stderr)
    with ThreadPoolExecutor(max_workers=2 if tiny else 1) as pool:
        done += list(pool.map(lambda c: run(script_cmd(*c), workdir), rest[:tune_at]))
    done += [run(script_cmd(*c), workdir) for c in rest[tune_at:]]
    for result, (script, args) in zip(done[len(first):], rest):
        assert result.returncode == 0, (script, args, result.stderr)
    for code in fenced(text, "python"):
        done.append(run([sys.executable, "-c", code], workdir))
        assert done[-1].returncode == 0, (code, done[-1].stderr)
    return done


def test_every_command_is_setup_or_a_script_whose_flags_parse():
    text = DOC.read_text()
    lines = bash_lines(text)
    scripts = script_commands(text)
    assert [s for s, _ in scripts] == ["make_dataset", "train", "evaluate", "evaluate", "tune",
                                       "export_policy"]
    assert all(line.startswith(SETUP) or line.startswith(f"{PYTHON} experiments/")
               for line in lines), lines
    for script, args in scripts:  # also the flags the tiny run adds
        assert set(TINY[script]) - {a.partition("=")[0] for a in args} <= {
            "--num_steps", "--reference_episodes", "--config.steps_per_call",
            "--config.batch_size", "--config.num_critics", "--config.num_components",
            "--config.behavior_num_components"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        checks = list(pool.map(
            lambda c: run(script_cmd(c[0], [*c[1], *shrink(*c), "--only_check_args"]), ROOT,
                          timeout=300), scripts))
    for (script, args), done in zip(scripts, checks):
        assert done.returncode == 0, (script, args, done.stderr[-2000:])


def tables(text: str) -> list[tuple[str, str]]:
    """`(file, header line)` of each markdown table on the page: the file is the last
    `runs/walkthrough/....md` the page names before the table."""
    out = []
    for match in re.finditer(r"^\| .* \|\n\|(?:---\|)+\n", text, flags=re.M):
        before = re.findall(r"runs/walkthrough(?:/[\w.\-]+)*\.md", text[:match.start()])
        out.append((before[-1], match.group(0).splitlines()[0]))
    return out


def outputs(text: str) -> list[tuple[str, list[str]]]:
    """`(script, lines)` of each plain ``` block that directly follows a block running a
    script (its output as the page shows it); "python" for the python block's output."""
    blocks = list(re.finditer(r"^```(\w*)\n(.*?)^```\n", text, flags=re.S | re.M))
    out = []
    for prev, block in zip(blocks, blocks[1:]):
        if block.group(1) or text[prev.end():block.start()].strip():
            continue
        if prev.group(1) == "python":
            out.append(("python", block.group(2).splitlines()))
        elif prev.group(1) == "bash":
            scripts = script_commands(prev.group(0))
            if scripts:
                out.append((scripts[-1][0], block.group(2).splitlines()))
    return out


def prefix(line: str) -> str:
    """The words of an output line before its first number."""
    return re.match(r"[^\d]*", line).group(0)


def test_every_table_has_the_header_evaluate_writes():
    from gem_jax.analysis import sweep_report

    row = dict(variant="gem", num_candidates=64, top_k=1, source="actor", mode="zscore",
               lcb_lambda=1.0, beta_start=1.0, beta_end=0.1, horizon=1000.0, mass_scale=1.0,
               support_model="gmm", normalized_score=1.0, normalized_score_seed_std=0.0,
               support_z=0.0, violation=0.0, collapse_dist=0.0)
    header = sweep_report.to_markdown([row]).splitlines()[0]
    shown = tables(DOC.read_text())
    assert [f for f, _ in shown] == ["runs/walkthrough/sweep/sweep.md",
                                     "runs/walkthrough/ablation/sweep.md"]
    assert all(h == header for _, h in shown), (header, shown)
    assert header.count("|") == 20  # 19 columns


def test_pictures_are_in_docs_img_named_as_the_files_the_commands_write():
    text = DOC.read_text()
    shown = images(text)
    assert len(shown) == 4
    for image in shown:
        path = DOC.parent / image
        assert path.is_file() and path.stat().st_size > 10_000, image
        assert source_of(text, image).startswith("runs/walkthrough/")  # named once, by name


@pytest.mark.slow  # a few minutes on 2 cores; `make test-slow` runs it
def test_walkthrough_runs_at_tiny_sizes(tmp_path):
    done = run_page(tmp_path, tiny=True)
    text = DOC.read_text()
    missing = [p for p in named_paths(text) if not (tmp_path / p).exists()]
    assert not missing
    run_dir = tmp_path / "runs" / "walkthrough"
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    for image in images(text):  # each picture's file was written again
        assert (tmp_path / source_of(text, image)).stat().st_size > 10_000, image
    table = (run_dir / "ablation" / "sweep.md").read_text()
    assert table.count("\n| ") == 3  # header + the two variants of the tiny run
    for path, header in tables(text):  # each table as the file it shows begins
        assert header in (tmp_path / path).read_text().splitlines(), (path, header)
    stdout = {}
    scripts = [s for s, _ in script_commands(text)] + ["python"] * len(fenced(text, "python"))
    for script, result in zip(scripts, done):
        stdout.setdefault(script, []).extend(result.stdout.splitlines())
    shown = outputs(text)
    assert [s for s, _ in shown] == ["make_dataset", "train", "tune", "export_policy", "python"]
    for script, lines in shown:  # each line shown begins as a line the command printed
        for line in lines:
            assert any(out.startswith(prefix(line)) for out in stdout[script]), (script, line)
    again = run(script_cmd("make_dataset", shrink(*script_commands(text)[0])), tmp_path)
    assert again.returncode == 0, again.stderr  # after `make demo` built it: a success
    assert again.stdout.startswith("gem/nav2d-v0 already built at "), again.stdout


def regenerate(workdir: pathlib.Path) -> None:
    """Run the page at its own sizes in `workdir`; copy the plots it shows to docs/img."""
    workdir.mkdir(parents=True, exist_ok=True)
    for result in run_page(workdir, tiny=False):
        print("$", " ".join(result.args[1:]), "\n", result.stdout[-3000:], flush=True)
    copy_pictures(workdir)


def copy_pictures(workdir: pathlib.Path) -> None:
    text = DOC.read_text()
    for image in images(text):
        source = workdir / source_of(text, image)
        shutil.copyfile(source, DOC.parent / image)
        print(f"{source} -> {DOC.parent / image}")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--regenerate"] or len(sys.argv) != 3:
        sys.exit("usage: python tests/test_walkthrough.py --regenerate DIR")
    regenerate(pathlib.Path(sys.argv[2]).resolve())
