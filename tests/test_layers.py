"""Imports flow one way: every module of gem_jax imports only its own layer and the layers
below it (read from the source with `ast`, as tests/test_quiet_imports.py reads imports by
running them).

    method  <  envs, empo, related  <  data  <  presets  <  harness  <  analysis

* `method/` (the model, losses, learner, selection, audits) imports only jax, flax, optax,
  numpy, chex, the standard library and itself;
* `envs/` (the nav2d and ant-goal environments), `empo/` (clustering, the EMPO support) and
  `related/` (the seed papers' related systems, e.g. LOM) share a rank and do not import
  each other;
* `data/` builds and loads datasets (its SAC under `data/behavior/` makes them);
* `presets.py` assembles a run's config (it reads the dataset registry for the suite);
* `harness/` runs, checkpoints, evaluates and exports;
* `analysis/` sweeps, compares and diagnoses trained runs.

`gem_jax/__init__.py` is the public API over all of them and is no layer; no module imports
from it. Scripts in experiments/, tools/ and benchmarks/ may import anything.
"""

from __future__ import annotations

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gem_jax"

RANK = {"method": 0, "envs": 1, "empo": 1, "related": 1, "data": 2, "presets": 3, "harness": 4,
        "analysis": 5}
METHOD_THIRD_PARTY = {"jax", "flax", "optax", "numpy", "chex"}


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name of gem_jax (`gem_jax.method.gmm` -> "method");
    None for the facade `gem_jax` itself."""
    parts = module.split(".")
    assert parts[0] == "gem_jax", module
    return parts[1] if len(parts) > 1 else None


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module an import statement of `source` names (relative imports resolved;
    `from gem_jax import x` names `gem_jax.x` when x is a module or package of gem_jax,
    else the facade `gem_jax`)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            if base == "gem_jax":
                for alias in node.names:
                    sub = PACKAGE / alias.name
                    found.add(f"gem_jax.{alias.name}" if sub.is_dir()
                              or sub.with_suffix(".py").is_file() else "gem_jax")
            else:
                found.add(base)
    return found


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Layering errors of `{module: (source, is_package)}`, one line each."""
    errors = []
    for module, (source, is_package) in sorted(sources.items()):
        layer = layer_of(module)
        if layer is None:
            continue  # the facade
        if layer not in RANK:
            errors.append(f"{module}: layer {layer!r} has no place in RANK (add it)")
            continue
        for target in sorted(imported_modules(source, module, is_package)):
            top = target.split(".")[0]
            if top != "gem_jax":
                if (layer == "method" and top not in METHOD_THIRD_PARTY
                        and top not in sys.stdlib_module_names and top != "__future__"):
                    errors.append(f"{module} imports {target}: method/ imports only "
                                  f"{sorted(METHOD_THIRD_PARTY)} and the standard library")
                continue
            other = layer_of(target)
            if other is None:
                errors.append(f"{module} imports from the facade gem_jax: import the module")
            elif other == layer:
                continue
            elif other not in RANK or RANK[other] >= RANK[layer]:
                errors.append(f"{module} ({layer}) imports {target} ({other}): an import "
                              f"upward or sideways")
    return errors


def package_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(), p.name == "__init__.py")
            for p in PACKAGE.rglob("*.py")}


def test_imports_flow_one_way():
    sources = package_sources()
    assert len(sources) > 40 and {layer_of(m) for m in sources} >= set(RANK)
    assert violations(sources) == []


def test_every_module_sits_in_a_layer():
    top = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir()
                                                     if (p / "__init__.py").is_file()}
    assert top - {"__init__"} == set(RANK)


def test_an_upward_import_is_caught():
    """The check can fail: synthetic modules that import upward, sideways, from the facade
    or a third-party package in method/ are each reported; an allowed import is not."""
    synthetic = {
        "gem_jax.method.bad": ("from gem_jax.harness import runner\n", False),
        "gem_jax.method.bad_lazy": ("def f():\n    import gem_jax.empo.support\n", False),
        "gem_jax.method.bad_relative": ("from ..data import load_dataset\n", False),
        "gem_jax.method.bad_dep": ("import orbax.checkpoint\n", False),
        "gem_jax.envs.bad": ("from gem_jax.empo import model\n", False),
        "gem_jax.data.bad": ("from gem_jax import presets\n", False),
        "gem_jax.harness.bad": ("from gem_jax.analysis.sweep import sweep\n", False),
        "gem_jax.harness.bad_facade": ("from gem_jax import GEMConfig\n", False),
        "gem_jax.somewhere": ("import numpy\n", False),
        "gem_jax.analysis.good": ("import numpy\nfrom gem_jax.harness import runner\n"
                                  "from gem_jax.method.gmm import GMM\nfrom . import sweep\n",
                                  False),
    }
    errors = violations(synthetic)
    flagged = {line.split(" ")[0].rstrip(":") for line in errors}
    assert flagged == set(synthetic) - {"gem_jax.analysis.good"}, errors
    assert any("somewhere" in line and "no place" in line for line in errors), errors
