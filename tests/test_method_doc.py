"""docs/method.md names real code and real tests: every `module.function` it cites exists in
gem_jax, and every `test_file.py::test_name` (or a `::test_name` continuing the same row's
file) is a test of that file."""

from __future__ import annotations

import importlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "method.md").read_text()
MODULES = {p.stem for p in (ROOT / "gem_jax").glob("*.py")} - {"__init__"}


def test_every_cited_function_exists():
    cited = set(re.findall(r"`([a-z_]+)\.([A-Za-z_]+)(?:\(|`)", DOC))
    cited = {(m, f) for m, f in cited if m in MODULES and f != "py"}
    assert len(cited) >= 25, cited  # the tables cite the method's functions
    missing = [f"{m}.{f}" for m, f in sorted(cited)
               if not hasattr(importlib.import_module(f"gem_jax.{m}"), f)]
    assert not missing, f"docs/method.md cites functions that do not exist: {missing}"


def test_every_cited_test_exists():
    cited = []
    for line in DOC.splitlines():
        current = None
        for file, name in re.findall(r"(test_[a-z_]+\.py)?::(test_[a-z0-9_]+)", line):
            current = file or current
            assert current, f"a ::{name} with no file before it: {line}"
            cited.append((current, name))
    assert len(cited) >= 20
    missing = [f"{f}::{n}" for f, n in cited
               if not re.search(rf"^def {n}\(", (ROOT / "tests" / f).read_text(), re.M)]
    assert not missing, f"docs/method.md cites tests that do not exist: {missing}"
