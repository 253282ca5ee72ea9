import atexit
import os
import shutil
import sys
import tempfile
import types

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _share_compiled_programs():
    """One XLA compilation cache for the whole test session.

    Many tests build the same tiny programs in different processes (pytest-xdist workers,
    the CLI subprocesses of test_cli, ...); JAX's persistent cache compiles each once. The
    directory is fresh per session and removed at its end, so no test sees a stale entry;
    the controller (or a plain run) makes it, workers and subprocesses inherit the variable.
    """
    if "JAX_COMPILATION_CACHE_DIR" in os.environ or "PYTEST_XDIST_WORKER" in os.environ:
        return
    path = tempfile.mkdtemp(prefix="gem-jax-test-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    atexit.register(shutil.rmtree, path, ignore_errors=True)


_share_compiled_programs()


@pytest.fixture(scope="session")
def tiny_nav2d(tmp_path_factory):
    """A small nav2d build (20k transitions) in a session-wide temporary Minari root.

    Sets MINARI_DATASETS_PATH / GEM_JAX_CACHE for the rest of the session's tests that use
    it (and restores them at the end); returns the datasets root.
    """
    from gem_jax.data import build_dataset

    root = tmp_path_factory.mktemp("tiny_nav2d")
    saved = {k: os.environ.get(k) for k in ("MINARI_DATASETS_PATH", "GEM_JAX_CACHE")}
    os.environ["MINARI_DATASETS_PATH"] = str(root / "minari")
    os.environ["GEM_JAX_CACHE"] = str(root / "cache")
    build_dataset("nav2d", num_steps=20_000, progress=False, reference_episodes=20)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class FakeRun:
    def __init__(self, calls: list, **kwargs):
        self.calls, self.init = calls, kwargs
        self.config = types.SimpleNamespace(update=lambda d, **kw: calls.append(("config", d)))

    def log(self, values, step):
        self.calls.append(("log", dict(values), step))

    def finish(self):
        self.calls.append(("finish",))


@pytest.fixture
def fake_wandb(monkeypatch):
    """A `wandb` module recording `init`, `log`, `config.update` and `finish`."""
    module = types.ModuleType("wandb")
    module.runs = []

    def init(**kwargs):
        run = FakeRun([], **kwargs)
        module.runs.append(run)
        return run

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    return module
