"""The prepared GPU run (`benchmarks/gpu_suite.sh`): its dry run completes with only the GPU
machine's packages importable, writes the expected files, and `gpu_collect.py` turns them
into a loadable run directory. Plus the compact dataset format and the pure helpers.

The restricted interpreter: a `python3` on PATH that is this interpreter with a
`sitecustomize` whose `sys.meta_path` finder refuses gymnasium, minari, mujoco,
ml_collections (and other packages the GPU machine lacks) and logs every attempt; the suite
tries none of them but the guarded gymnasium import of `gem_jax.envs`. Each part's JSON
lists what it imported, which must be a subset of the GPU machine's packages. No timing
assertions.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_collect, gpu_data, gpu_suite  # noqa: E402

BLOCKED = ("gymnasium", "gymnasium_robotics", "minari", "mujoco", "ml_collections",
           "tensorboardX", "wandb", "torch", "farama_notifications", "shimmy")
# Import names of the packages the GPU machine has (jax, flax, optax, chex, orbax, numpy,
# absl, tqdm, matplotlib, h5py, tensorboard and their dependencies there).
GPU_PACKAGES = {
    "absl", "chex", "cloudpickle", "etils", "flatbuffers", "flax", "h5py", "jax", "jaxlib",
    "matplotlib", "ml_dtypes", "msgpack", "numpy", "opt_einsum", "optax", "orbax", "pygments",
    "rich", "scipy", "tensorboard", "tensorstore", "toolz", "tqdm", "treescope",
    "typing_extensions", "yaml", "humanize", "simplejson", "zipp", "packaging", "PIL",
    "nest_asyncio", "importlib_resources", "markdown_it", "mdurl", "psutil", "google",
}

SITECUSTOMIZE = textwrap.dedent("""
    import os, sys
    BLOCKED = set(os.environ["GEM_TEST_BLOCKED"].split(","))
    LOG = os.environ["GEM_TEST_BLOCK_LOG"]

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                with open(LOG, "a") as f:
                    f.write(name + "\\n")
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
""")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """`bash benchmarks/gpu_suite.sh --dry` with only the restricted `python3` on PATH."""
    tmp = tmp_path_factory.mktemp("gpu_dry")
    bin_dir, site_dir, out = tmp / "bin", tmp / "site", tmp / "out"
    bin_dir.mkdir()
    site_dir.mkdir()
    (site_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    log = tmp / "blocked.log"
    env = {k: v for k, v in os.environ.items() if k not in ("GEM_PYTHON", "PYTHONPATH")}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", PYTHONPATH=str(site_dir), OUT=str(out),
               GEM_TEST_BLOCKED=",".join(BLOCKED), GEM_TEST_BLOCK_LOG=str(log))
    proc = subprocess.run(["bash", "benchmarks/gpu_suite.sh", "--dry"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    suite_log = (out / "suite.log").read_text() if (out / "suite.log").exists() else ""
    assert proc.returncode == 0, (proc.stdout + proc.stderr + suite_log)[-4000:]
    return out, log, suite_log


def load(out: pathlib.Path, name: str) -> dict:
    return json.loads((out / name).read_text())


def test_dry_run_completes_with_only_the_gpu_machines_packages(dry_run):
    out, log, suite_log = dry_run
    manifest = load(out, "suite.json")
    assert manifest["dry"] is True
    rcs = {p["part"]: p["rc"] for p in manifest["parts"]}
    assert rcs == dict.fromkeys(gpu_suite.PARTS, 0), suite_log[-3000:]
    # The one attempt allowed: gem_jax.envs tries gymnasium to register its env ids and
    # registers nothing without it. Anything else (a swallowed failure) is an error.
    attempted = set(log.read_text().split()) if log.exists() else set()
    assert attempted <= {"gymnasium"}, f"blocked imports attempted: {attempted}"
    names = sorted(p.name for p in out.iterdir())
    assert len(names) <= 8 and all(p.is_file() for p in out.iterdir()), names
    assert all((out / n).stat().st_size < 16 * 2**20 for n in names)
    for name in gpu_suite.FILES.values():
        if (out / name).exists():
            result = load(out, name)
            assert result["dry"] is True and result["device"]
            extra = set(result["imported_packages"]) - GPU_PACKAGES - {"sitecustomize"}
            assert not extra, f"{name}: imports beyond the GPU machine's packages: {extra}"


def test_dry_run_figures_are_sane(dry_run):
    out, _, _ = dry_run
    select = load(out, "select_latency.json")
    assert [r["num_candidates"] for r in select["results"]] == [1, 8]
    for row in select["results"]:
        assert row["latency_ms"] > 0 and row["batch_latency_ms"] > 0 and row["temp_bytes"] > 0
    assert select["sizes"]["batch_size"] == 4 and "targets" in select

    profile = load(out, "profile.json")
    assert profile["select_parts"]["whole select step"]["ms"] > 0
    (case,) = profile["compiled_cost"].values()
    assert case["gflop"] is None or case["gflop"] > 0
    (ops,) = profile["top_ops"].values()
    assert "skipped" in ops or (ops["ops"] and all(row[1] >= 0 for row in ops["ops"]))

    throughput = load(out, "train_throughput.json")
    assert len(throughput["settings"]) == 2
    for setting in throughput["settings"].values():
        for row in setting["results"]:
            assert row["steps_per_s"] > 0 and row["num_seeds"] == 2
    layer_norms = {s["sizes"]["layer_norm"] for s in throughput["settings"].values()}
    assert layer_norms == {False, True}

    train = load(out, "maze2d_medium_train.json")
    assert train["status"] == "done" and train["steps"] == train["target_steps"] == 40
    assert train["env"] == "maze2d-medium" and train["seeds"] == [0, 1]
    assert train["train_s"] > 0 and train["compile_s"] > 0
    assert all(np.isfinite(v).all() for v in train["final_metrics"].values())
    assert train["state_kind"] == "full" and (out / gpu_suite.STATE_FILE).is_file()


def test_collect_turns_the_dry_run_into_a_loadable_run_dir(dry_run, tmp_path):
    import gem_jax

    out, _, _ = dry_run
    results, gpu_dir, run_dir = tmp_path / "bench" / "results", tmp_path / "gpu", tmp_path / "run"
    with pytest.raises(ValueError, match="dry run"):
        gpu_collect.collect(out, results, gpu_dir, run_dir, evaluate=False)
    report = gpu_collect.collect(out, results, gpu_dir, run_dir, evaluate=False, force=True)
    assert sorted(p.name for p in results.iterdir()) == [
        "diffusion_latency_gpu.json", "diffusion_latency_gpu.md",
        "profile_gpu.json", "profile_gpu.md", "select_latency_gpu.json", "select_latency_gpu.md",
        "train_throughput_gpu.json", "train_throughput_gpu.md"]
    assert "| diffusion | 2 | 8 |" in (results / "diffusion_latency_gpu.md").read_text()
    assert (tmp_path / "bench" / "select_latency_gpu.png").is_file()
    assert (gpu_dir / "maze2d_medium_train.json").is_file() and (gpu_dir / "suite.log").is_file()
    assert report["run"]["step"] == 40 and report["run"]["filled_from_init"] == []
    # the dry run's sizes are the only training differences from the CPU row
    assert set(report["config_differences"]) == {"hidden_dims", "num_steps"}

    leaves, meta = gpu_collect.load_state_file(out / gpu_suite.STATE_FILE)
    params = gem_jax.load_params(run_dir)  # stacked [S, ...]
    for name, leaf in jax.tree_util.tree_flatten_with_path(params.critic)[0]:
        np.testing.assert_array_equal(np.asarray(leaf),
                                      leaves[".critic.params" + jax.tree_util.keystr(name)])
    tuned = json.loads((run_dir / "tuned_knobs.json").read_text())
    assert tuned["num_candidates"] == 16 and tuned["top_k_frac"] == 0.25
    policy = gem_jax.load_policy(run_dir, seed_index=1)
    action = policy(np.zeros((3, meta["obs_dim"]), np.float32), jax.random.PRNGKey(0))
    assert action.shape == (3, meta["action_dim"]) and np.all(np.abs(action) <= 1.0)
    with pytest.raises(FileExistsError, match="--overwrite"):
        gpu_collect.collect(out, results, gpu_dir, run_dir, evaluate=False, force=True)


def test_policy_only_state_files_fill_the_rest_from_init(dry_run, tmp_path):
    out, _, _ = dry_run
    leaves, meta = gpu_collect.load_state_file(out / gpu_suite.STATE_FILE)
    policy = {k: v for k, v in leaves.items() if k.startswith(gpu_suite.POLICY_PREFIXES)}
    state, filled = gpu_collect.rebuild_state(policy, meta)
    assert filled and all(not f.startswith(gpu_suite.POLICY_PREFIXES) for f in filled)
    np.testing.assert_array_equal(np.asarray(state.obs_norm.std), leaves[".obs_norm.std"])
    broken = {k: v for k, v in policy.items() if not k.startswith(".actor.params")}
    with pytest.raises(ValueError, match="actor.params"):
        gpu_collect.rebuild_state(broken, meta)


def test_compact_dataset_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(50, 3)).astype(np.float32)
    nxt = np.concatenate([obs[1:], rng.normal(size=(1, 3))]).astype(np.float32)
    nxt[[9, 30]] = rng.normal(size=(2, 3))  # episode ends: next obs not the following row's
    arrays = {"observations": obs, "actions": rng.uniform(-1, 1, (50, 2)),
              "rewards": (rng.uniform(size=50) < 0.1).astype(np.float32),
              "next_observations": nxt, "dones": np.zeros(50, np.float32)}
    path = str(tmp_path / "d.npz")
    meta = gpu_data.save_compact(path, arrays, {"env": "toy"})
    assert meta["next_fixups"] == 2 and meta["num_transitions"] == 50
    got, got_meta = gpu_data.load_compact(path)
    for name in gpu_data.FIELDS:
        np.testing.assert_array_equal(got[name], np.asarray(arrays[name], np.float32))
    assert got_meta["env"] == "toy"
    with pytest.raises(ValueError, match="rewards has shape"):
        gpu_data.save_compact(path, {**arrays, "rewards": arrays["rewards"][:-1]}, {})
    with pytest.raises(FileNotFoundError, match="make bench-gpu-data"):
        gpu_data.load_compact(str(tmp_path / "missing.npz"))


def test_committed_dataset_is_maze2d_medium_and_small():
    path = pathlib.Path(gpu_data.DEFAULT_PATH)
    assert path.stat().st_size <= 15 * 10**6
    arrays, meta = gpu_data.load_compact(str(path))  # checks every array's digest
    assert meta["env"] == "maze2d-medium" and meta["suite"] == "maze2d"
    assert arrays["observations"].shape == (meta["num_transitions"], 4)
    assert np.abs(arrays["actions"]).max() <= 1.0


def test_gpu_training_config_matches_the_cpu_table_row():
    """Like for like: every training field of the GPU run equals the CPU row's."""
    _, meta = gpu_data.load_compact(gpu_data.DEFAULT_PATH)
    config = gpu_suite.table_config(meta, 200_000, 1000)
    cpu = json.loads((ROOT / gpu_collect.CPU_RUN / "fidelity_quarter" /
                      "gem_train_config.json").read_text())["config"]
    import dataclasses

    assert gpu_collect.config_differences(dataclasses.asdict(config), cpu) == {}


def test_trace_summary_counts_device_streams_only():
    hlo = {"fusion.1": "f32[5,1025,256] fusion", "dot.2": "f32[5,1025,256] dot"}
    events = [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/host:CPU"}},
        {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/device:GPU:0"}},
        {"ph": "X", "pid": 1, "name": "fusion.1", "dur": 500.0},  # host launch: not counted
        {"ph": "X", "pid": 2, "name": "loop_fusion_kernel", "dur": 30.0,
         "args": {"hlo_op": "fusion.1"}},
        {"ph": "X", "pid": 2, "name": "gemm", "dur": 90.0, "args": {"hlo_op": "dot.2"}},
        {"ph": "X", "pid": 2, "name": "memcpy", "dur": 7.0},
    ]
    got = gpu_suite.summarize_trace(events, hlo, calls=2)
    assert got["source"] == "device streams"
    assert [row[0] for row in got["ops"]] == ["dot.2", "fusion.1"]
    np.testing.assert_allclose([row[1] for row in got["ops"]], [0.045, 0.015])
    cpu = gpu_suite.summarize_trace(events[:1] + events[2:3], hlo, calls=1)
    assert cpu["source"] == "all events" and cpu["ops"][0][:2] == ["fusion.1", 0.5]


def test_side_by_side_reads_seed_noise():
    cpu = {"seed_scores": [100.0, 102.0, 98.0], "steps": 200_000, "violation": 0.03}
    gpu = {"seed_scores": [99.0, 101.0, 100.0, 103.0], "violation": 0.02}
    rows = gpu_collect.side_by_side(cpu, {"devices": "cpu:0", "train_s": 2545.0}, gpu,
                                    {"device": "gpu: H200", "train_s": 120.0, "compile_s": 9.0,
                                     "steps": 200_000, "steps_per_s": 1666.0})
    assert rows["within_seed_noise"] and rows["difference"] == pytest.approx(0.75)
    text = gpu_collect.comparison_markdown("maze2d-medium", rows, {"num_candidates": 16})
    assert "Trained on gpu: H200 in 120 s" in text
    far = gpu_collect.side_by_side(cpu, {}, {"seed_scores": [50.0, 52.0, 51.0]}, {})
    assert not far["within_seed_noise"]
