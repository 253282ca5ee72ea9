"""docs/method.md names real code and real tests: every `package.module.function` it cites
exists in gem_jax, and every `test_file.py::test_name` (or a `::test_name` continuing the same row's
file) is a test of that file."""

from __future__ import annotations

import importlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "method.md").read_text()


def cited_functions() -> set[tuple[str, str]]:
    """`(module, name)` for every `package.module.name` (or `module.name`) the doc cites
    whose module is a file of gem_jax, e.g. `method.learner.make_update` ->
    `("method.learner", "make_update")`; `lax.scan` or `test_gmm.py` are not."""
    cited = set(re.findall(r"`((?:[a-z_]+\.)*[a-z_]+)\.([A-Za-z_]+)(?:\(|`)", DOC))
    return {(m, f) for m, f in cited
            if f != "py" and (ROOT / "gem_jax" / f"{m.replace('.', '/')}.py").is_file()}


def test_every_cited_function_exists():
    cited = cited_functions()
    assert len(cited) >= 25, cited  # the tables cite the method's functions
    assert {m for m, _ in cited} >= {"method.learner", "method.select", "presets"}
    missing = [f"{m}.{f}" for m, f in sorted(cited)
               if not hasattr(importlib.import_module(f"gem_jax.{m}"), f)]
    assert not missing, f"docs/method.md cites functions that do not exist: {missing}"


def test_no_citation_drops_its_package():
    """A module cited without its package (`gmm.log_prob` for `method.gmm.log_prob`) names
    no file, so the check above would skip it: every such citation is an error here."""
    stems = {p.stem for p in (ROOT / "gem_jax").rglob("*.py")} - {"__init__"}
    cited = re.findall(r"`([a-z_]+)\.([A-Za-z_]+)(?:\(|`)", DOC)
    bare = sorted({f"{m}.{f}" for m, f in cited if f != "py" and m in stems
                   and not (ROOT / "gem_jax" / f"{m}.py").is_file()})
    assert not bare, f"cite these with their package (method.gmm.log_prob): {bare}"


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
