"""README.md and docs/guide.md run as written.

* every ```python block of README.md runs, in a directory where a (tiny) `make demo` run is
  `runs/demo` and nav2d is built (a small build, as everywhere in the tests);
* every command of both files' ```bash blocks names a script that exists and only flags that the
  script defines (`--config.<field>`: a `GEMConfig` field, for the scripts that take them),
  `make` targets of the Makefile and extras of pyproject.toml. Read from the sources, so
  this part costs no process.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from gem_jax.method.config import GEMConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide.md"  # the details README.md points to
PYTHON = ".venv/bin/python"
# absl's own flags, accepted by every script
ABSL = {"only_check_args", "help", "helpfull", "helpshort", "flagfile", "undefok"}
# commands of other programs that the README shows (the viewers, W&B's uploader)
OTHER = ("tensorboard ", "wandb ")
TINY_DEMO = [
    "--steps=100", "--eval_every=100", "--eval_episodes=1", "--checkpoint_every=50",
    "--config.steps_per_call=50", "--config.log_every=50", "--config.hidden_dims=(16,16)",
    "--config.num_critics=2", "--config.num_components=2", "--config.behavior_num_components=2",
    "--config.num_candidates=4", "--config.batch_size=64", "--noprogress",
]


def fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def commands(text: str) -> list[str]:
    """Every command of the ```bash blocks: continuations joined, comments dropped."""
    out = []
    for block in fenced(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(" ".join(line.split()))
    return out


def defined_flags(script: pathlib.Path) -> set[str]:
    """Flags a script defines (absl `DEFINE_*`), its sibling modules' included; `--noX` for
    its booleans; `config.` when it takes `--config.<field>`."""
    sources = [script.read_text()]
    modules = re.findall(r"^(?:from|import) (?:benchmarks\.|experiments\.)?(\w+)", sources[0],
                         flags=re.M)
    modules += re.findall(r"^from (?:benchmarks|experiments) import (\w+)", sources[0], flags=re.M)
    for module in modules:
        sibling = script.parent / f"{module}.py"
        if sibling.is_file() and sibling != script:
            sources.append(sibling.read_text())
    names = set(ABSL)
    for source in sources:
        for kind, name in re.findall(r"DEFINE_(\w+)\(\s*\"(\w+)\"", source):
            names.add(name)
            if kind in ("bool", "boolean"):
                names.add(f"no{name}")
        if "define_config_flag()" in source:
            names.add("config.")
    return names


def check_command(line: str, targets: set[str], extras: set[str]) -> list[str]:
    """What in `line` names a file, flag, target or extra that does not exist."""
    words = shlex.split(line)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes
        words = words[1:]
    line = " ".join(words)
    if line.startswith("make "):
        return [f"make target {w!r}" for w in words[1:] if w not in targets]
    if line.startswith(".venv/bin/pip install"):
        found = re.findall(r"\.\[([\w,]+)\]", line)
        return [f"extra {e!r}" for group in found for e in group.split(",") if e not in extras]
    if line.startswith(OTHER):
        return []
    if not line.startswith(f"{PYTHON} "):
        return [f"unknown command {line!r}"]
    if words[1] == "-m":  # `python -m benchmarks.select_latency`: the module's file
        words = [words[0], f"{words[2].replace('.', '/')}.py", *words[3:]]
    script = ROOT / words[1]
    if not script.is_file():
        return [f"script {words[1]}"]
    names = defined_flags(script)
    fields = {f.name for f in dataclasses.fields(GEMConfig)}
    problems = []
    for word in words[2:]:
        if not word.startswith("--"):
            problems.append(f"{words[1]}: stray argument {word!r}")
            continue
        name = word[2:].split("=", 1)[0]
        if name.startswith("config."):
            if "config." not in names or name[len("config."):] not in fields:
                problems.append(f"{words[1]}: --{name}")
        elif name not in names:
            problems.append(f"{words[1]}: --{name}")
    return problems


def test_every_shell_command_names_existing_scripts_flags_targets_and_extras():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.M))
    pyproject = (ROOT / "pyproject.toml").read_text()  # tomllib is 3.11+; the project is 3.10+
    section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([\w-]+) = ", section, flags=re.M))
    assert {"test", "tensorboard", "wandb"} <= extras
    lines = commands(README.read_text()) + commands(GUIDE.read_text())
    assert len(commands(README.read_text())) >= 5 and len(lines) > 25
    problems = [p for line in lines for p in check_command(line, targets, extras)]
    assert not problems


def test_the_checker_catches_a_wrong_flag_a_missing_script_and_a_config_field():
    targets, extras = {"demo", "test"}, {"test"}
    assert check_command(f"{PYTHON} experiments/train.py --env=nav2d --steps=5", targets,
                         extras) == []
    assert check_command(f"{PYTHON} experiments/train.py --stepz=5 --config.lcb_lambda=2",
                         targets, extras) == ["experiments/train.py: --stepz"]
    assert check_command(f"{PYTHON} experiments/train.py --config.lcb_lamda=2", targets,
                         extras) == ["experiments/train.py: --config.lcb_lamda"]
    assert check_command(f"{PYTHON} experiments/evaluate.py --config.lcb_lambda=2", targets,
                         extras) == ["experiments/evaluate.py: --config.lcb_lambda"]
    assert check_command(f"{PYTHON} experiments/nope.py", targets, extras) == [
        "script experiments/nope.py"]
    assert check_command("make demo", targets, extras) == []
    assert check_command("make bench-nope", targets, extras) == ["make target 'bench-nope'"]
    assert check_command('.venv/bin/pip install -e ".[tensorbord]"', targets, extras) == [
        "extra 'tensorbord'"]
    assert check_command(f"{PYTHON} experiments/make_dataset.py --noprogress --list", targets,
                         extras) == []


@pytest.fixture(scope="module")
def demo_dir(tiny_nav2d, tmp_path_factory):
    """A directory whose `runs/demo` is a tiny run of `make demo`'s kind."""
    root = tmp_path_factory.mktemp("readme")
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "train.py"),
                           f"--workdir={root / 'runs' / 'demo'}", *TINY_DEMO],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def test_every_python_block_runs(demo_dir):
    blocks = fenced(README.read_text(), "python")
    assert len(blocks) == 1
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for code in blocks:
        done = subprocess.run([sys.executable, "-c", code], cwd=demo_dir, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (code, done.stderr[-2000:])
    assert (demo_dir / "policy.jaxexport").stat().st_size > 10_000  # the export block's file
