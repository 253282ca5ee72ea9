"""Seeds in one program: S vmapped seeds equal S runs alone; sharded over 4 CPU devices."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
import toy

from gem_jax.harness import parallel
from gem_jax.harness.runner import init_seeds, make_seed_loop
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import init_state, make_train_loop

CONFIG = GEMConfig(hidden_dims=(16,), num_components=2, behavior_num_components=2,
                   num_critics=2, batch_size=16)
STEPS = 12
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    "seeds,devices,all_devices,want",
    [(4, 4, False, (4, 4)), (8, 4, False, (4, 8)), (6, 4, False, (3, 6)),
     (7, 4, False, (4, 8)), (3, 4, False, (3, 3)), (1, 4, False, (1, 1)),
     (11, 8, False, (6, 12)), (6, 4, True, (4, 8)), (5, 1, False, (1, 5))],
)
def test_seed_layout(seeds, devices, all_devices, want):
    """Each device takes ceil(S/D) seeds; padding is fewer than that (unless all devices
    must be used)."""
    assert parallel.seed_layout(seeds, devices, all_devices) == want
    used, padded = want
    per = -(-seeds // devices)
    assert padded == used * per and used <= devices
    assert all_devices or padded - seeds < per


def test_layout_errors_and_single_device_passthrough():
    with pytest.raises(ValueError, match="num_seeds >= 1"):
        parallel.seed_layout(0, 4)
    assert parallel.seed_mesh(5, jax.devices()[:1]) is None
    tree = {"x": np.zeros((3, 2))}
    assert parallel.shard_seeds(tree, None) is tree and parallel.replicate(tree, None) is tree
    assert parallel.padded_seeds(3, None) == 3


def test_pad_and_unpad_seeds():
    tree = {"w": np.arange(6.0).reshape(3, 2), "k": np.array([5, 6, 7], np.uint32)}
    padded = parallel.pad_seeds(tree, 5)
    np.testing.assert_array_equal(padded["w"], [[0, 1], [2, 3], [4, 5], [0, 1], [0, 1]])
    np.testing.assert_array_equal(padded["k"], [5, 6, 7, 5, 5])
    assert padded["k"].dtype == np.uint32
    back = parallel.unpad_seeds(padded, 3)
    np.testing.assert_array_equal(back["w"], tree["w"])
    assert parallel.pad_seeds(tree, 3) is tree


def assert_trees_close(a, b, rtol=2e-5, atol=2e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_vmapped_seeds_equal_each_seed_trained_alone():
    """One program over S = 3 seeds gives each seed's lone run (own init, own minibatches)."""
    data = toy.two_mode_bandit(jax.random.PRNGKey(1), 512)
    seeds = [3, 4, 5]
    together, metrics = make_seed_loop(CONFIG, STEPS)(init_seeds(CONFIG, seeds, 2, 1, None), data)
    alone_loop = jax.jit(make_train_loop(CONFIG, STEPS))
    alone_init = jax.jit(lambda key: init_state(key, CONFIG, 2, 1))
    for i, seed in enumerate(seeds):
        alone, alone_metrics = alone_loop(alone_init(jax.random.PRNGKey(seed)), data)
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], together), alone)
        assert_trees_close({k: v[i] for k, v in metrics.items()}, alone_metrics)
    assert int(together.step[0]) == STEPS
    # The seeds really differ: their own keys, inits and minibatches.
    np.testing.assert_array_less(1e-4, np.abs(np.diff(np.asarray(metrics["critic/loss"][:, -1]))))



def test_vmap_seeds_drops_a_size_one_axis_and_matches_vmap():
    """`vmap_seeds` is `jax.vmap` for S > 1; for S = 1 it calls `fn` unbatched (no vmap in
    the program) and gives the same values with the seed axis kept."""
    traced = []

    def fn(tree, shared):
        traced.append(isinstance(tree["w"], jax.core.Tracer))  # vmap's tracer, or the array
        return {"y": tree["w"] @ shared + tree["b"]}, tree["b"].sum()

    shared = np.array([1.0, -2.0])  # [2]
    for seeds in (3, 1):
        tree = {"w": np.arange(seeds * 6.0).reshape(seeds, 3, 2),  # [S, 3, 2]
                "b": np.arange(seeds * 3.0).reshape(seeds, 3) / 7}  # [S, 3]
        want = jax.vmap(fn, in_axes=(0, None))(tree, shared)
        got = parallel.vmap_seeds(fn, in_axes=(0, None))(tree, shared)
        assert_trees_close(got, want)
        assert got[0]["y"].shape == (seeds, 3) and got[1].shape == (seeds,)
        np.testing.assert_allclose(got[0]["y"][-1], tree["w"][-1] @ shared + tree["b"][-1])
    assert traced == [True, True, True, False]  # S = 3 vmapped both times; S = 1 unbatched


def test_one_seed_loop_equals_that_seed_alone():
    """A one-seed state (a `--seed_shards` shard) runs the loop unvmapped: same as alone."""
    data = toy.two_mode_bandit(jax.random.PRNGKey(1), 512)
    one, metrics = make_seed_loop(CONFIG, STEPS)(init_seeds(CONFIG, [4], 2, 1, None), data)
    alone, alone_metrics = jax.jit(make_train_loop(CONFIG, STEPS))(
        init_state(jax.random.PRNGKey(4), CONFIG, 2, 1), data)
    assert_trees_close(jax.tree.map(lambda x: x[0], one), alone)
    assert_trees_close({k: v[0] for k, v in metrics.items()}, alone_metrics)
    assert metrics["critic/loss"].shape == (1, STEPS)


MULTI_DEVICE = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    sys.path[:0] = [sys.argv[1], os.path.join(sys.argv[1], "tests")]  # gem_jax, tests/toy.py
    import jax, numpy as np
    import toy
    from gem_jax.harness import parallel
    from gem_jax.method.config import GEMConfig
    from gem_jax.harness.runner import init_seeds, make_seed_loop
    config = GEMConfig(**json.loads(sys.argv[2]))
    steps = int(sys.argv[3])
    data = toy.two_mode_bandit(jax.random.PRNGKey(1), 512)
    loop = make_seed_loop(config, steps)
    initial = jax.device_get(init_seeds(config, list(range(8)), 2, 1, None))  # seeds 0..7
    first = lambda s: jax.tree.map(lambda x: x[:s], initial)  # seeds 0..s-1
    reference, _ = loop(first(8), data)  # unsharded, one device
    reference = jax.device_get(reference)
    out = {"devices": len(jax.devices())}
    try:
        parallel.shard_seeds(first(3), parallel.seed_mesh(4))
    except ValueError as err:
        out["unpadded_error"] = str(err)
    for s in (6, 7):
        mesh = parallel.seed_mesh(s)
        padded = parallel.padded_seeds(s, mesh)
        state = parallel.shard_seeds(parallel.pad_seeds(first(s), padded), mesh)
        placed = parallel.replicate(data, mesh)
        result, metrics = loop(state, placed)
        leaf = jax.tree.leaves(result)[0]
        got = parallel.unpad_seeds(parallel.fetch(result), s)
        diff = max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b)[:s])))
                   for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(reference)))
        out[str(s)] = {"mesh": mesh.size, "padded": padded, "max_diff": diff,
                       "state_devices": len(leaf.sharding.device_set),
                       "shard_rows": [sh.data.shape[0] for sh in leaf.addressable_shards],
                       "data_devices": len(jax.tree.leaves(placed)[0].sharding.device_set),
                       "metric_rows": int(metrics["critic/loss"].shape[0])}
    print(json.dumps(out))
""")


def test_seeds_sharded_over_four_devices_match_one_device(tmp_path):
    """Seed axis split over 4 forced CPU devices: S = 6 takes the largest mesh that divides it
    (3 devices, 2 rows each); S = 7 is padded to 8 (4 devices, 2 rows each)."""
    script = tmp_path / "multi_device.py"
    script.write_text(MULTI_DEVICE)
    fields = {"hidden_dims": list(CONFIG.hidden_dims), "num_components": 2,
              "behavior_num_components": 2, "num_critics": 2, "batch_size": 16}
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(script), ROOT, json.dumps(fields), str(STEPS)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    assert "do not split over 4 devices" in out["unpadded_error"]
    expected = {"6": (3, 6, [2] * 3), "7": (4, 8, [2] * 4)}
    for s, (mesh, padded, rows) in expected.items():
        case = out[s]
        assert (case["mesh"], case["padded"]) == (mesh, padded), (s, case)
        assert case["state_devices"] == mesh and case["shard_rows"] == rows, (s, case)
        assert case["data_devices"] == mesh and case["metric_rows"] == padded
        assert case["max_diff"] < 1e-5, (s, case)


TRAIN_PROCESS = textwrap.dedent("""
    import json, os, sys
    root, workdir, pid, nproc, port, devices = sys.argv[1:7]
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    sys.path.insert(0, root)
    import jax
    if int(nproc) > 1:
        jax.distributed.initialize(f"localhost:{port}", int(nproc), int(pid))
    from gem_jax.harness import runner
    from gem_jax.method.config import GEMConfig
    config = GEMConfig(hidden_dims=(16,), num_components=2, behavior_num_components=2,
                       num_critics=2, batch_size=16, num_candidates=8, num_steps=40,
                       steps_per_call=20, eval_every=40, eval_episodes=2,
                       checkpoint_every=20, log_every=20)
    summary = runner.run_training("nav2d", config, workdir, num_seeds=3, progress=False)
    print(json.dumps({"seed_devices": summary["seed_devices"],
                      "scores": [r["normalized_score"] for r in summary["per_seed"]]}))
""")


@pytest.mark.slow
def test_two_processes_match_one_process(tiny_nav2d, tmp_path):
    """runner.run_training over 2 processes x 2 CPU devices (jax.distributed) == one process."""
    import socket

    script = tmp_path / "train_process.py"
    script.write_text(TRAIN_PROCESS)
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}

    def run(workdir, pid, nproc, devices):  # output to files: a full pipe would stall a peer
        log = tmp_path / f"{workdir}{pid}.log"
        with open(log, "w") as out, open(f"{log}.err", "w") as err:
            proc = subprocess.Popen(
                [sys.executable, str(script), ROOT, str(tmp_path / workdir), str(pid),
                 str(nproc), str(port), str(devices)], stdout=out, stderr=err, env=env)
        return proc, log

    procs = [run("multi", pid, 2, 2) for pid in (0, 1)] + [run("single", 0, 1, 1)]
    outs = []
    for proc, log in procs:
        assert proc.wait(timeout=900) == 0, open(f"{log}.err").read()[-3000:]
        outs.append(json.loads(log.read_text().strip().splitlines()[-1]))
    multi0, multi1, single = outs
    assert multi0["seed_devices"] == 4 and single["seed_devices"] == 1  # 3 seeds padded to 4
    assert multi0["scores"] == multi1["scores"]  # every process evaluates the same seeds
    np.testing.assert_allclose(multi0["scores"], single["scores"], rtol=1e-4, atol=1e-3)
    assert (tmp_path / "multi" / "summary.json").exists()

    from gem_jax.harness.export import load_params

    assert_trees_close(load_params(tmp_path / "multi"), load_params(tmp_path / "single"),
                       rtol=1e-4, atol=1e-5)
