"""load_params / load_policy / export_policy on a checkpoint written from a fresh 2-seed state."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gem_jax
from gem_jax.harness import checkpoint as ckpt
from gem_jax.harness.runner import init_seeds
from gem_jax.method import gmm
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import ObsNorm
from gem_jax.method.networks import make_networks
from gem_jax.method.select import SelectKnobs, make_policy, policy_params

OBS_DIM, ACTION_DIM, BATCH = 3, 2, 5
SCALE = np.array([0.5, 2.0], np.float32)  # per-dimension env half-widths
CONFIG = GEMConfig(hidden_dims=(16, 16), num_components=2, behavior_num_components=2,
                   num_critics=2, num_candidates=16, top_k=2, seed=7)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory holding one checkpoint of a 2-seed state (non-trivial obs norm)."""
    workdir = tmp_path_factory.mktemp("export_run")
    norm = ObsNorm(jnp.array([0.1, -0.2, 0.3]), jnp.array([2.0, 0.5, 1.0]))
    state = init_seeds(CONFIG, [7, 8], OBS_DIM, ACTION_DIM, norm)
    meta = ckpt.make_meta(CONFIG, OBS_DIM, ACTION_DIM, [7, 8], env="toy",
                          action_scale=SCALE.tolist())
    ckpt.save(ckpt.make_manager(workdir), 40, state, meta)
    return workdir, state


@pytest.fixture(scope="module")
def observations():
    return jax.random.normal(jax.random.PRNGKey(11), (BATCH, OBS_DIM)) * 2.0  # [B, obs]


def seed_params(state, i):
    return jax.tree.map(lambda x: x[i], policy_params(state))


def test_load_params_is_the_saved_state(run):
    workdir, state = run
    stacked = gem_jax.load_params(workdir)
    assert jax.tree.leaves(stacked)[0].shape[0] == 2
    for got, want in zip(jax.tree.leaves(gem_jax.load_params(workdir, seed_index=1)),
                         jax.tree.leaves(seed_params(state, 1)), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(ValueError, match="seed_index=2 is out of range"):
        gem_jax.load_params(workdir, seed_index=2)


def test_load_policy_is_the_select_step_in_env_units(run, observations):
    workdir, state = run
    policy = gem_jax.load_policy(workdir, seed_index=1)
    key = jax.random.PRNGKey(3)
    want, _ = make_policy(CONFIG)(seed_params(state, 1), observations, key, 0,
                                  SelectKnobs.from_config(CONFIG))  # [B, A] in [-1, 1]
    got = policy(observations, key)
    assert got.shape == (BATCH, ACTION_DIM) and got.dtype == jnp.float32
    np.testing.assert_allclose(got, np.asarray(want) * SCALE, rtol=1e-6, atol=1e-6)
    # Within the env's box, and not a rescaled copy of another seed's policy.
    assert np.all(np.abs(got) <= SCALE + 1e-6)
    other = gem_jax.load_policy(workdir, seed_index=0)(observations, key)
    assert not np.allclose(got, other)
    raw = gem_jax.load_policy(workdir, seed_index=1, env_actions=False)(observations, key)
    np.testing.assert_allclose(raw, want, rtol=1e-6, atol=1e-6)


def test_anchor_only_policy_is_the_top_component_mean(run, observations):
    """N = 0, k = 1: the action is the anchor, deterministic in the key (method §3)."""
    workdir, state = run
    policy = gem_jax.load_policy(workdir, seed_index=0, num_candidates=0, top_k=1)
    a = policy(observations, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(a, policy(observations, jax.random.PRNGKey(1)))
    p = seed_params(state, 0)
    nets = make_networks(CONFIG, ACTION_DIM)
    norm_obs = (observations - p.obs_norm.mean) / p.obs_norm.std  # [B, obs]
    anchor = jax.vmap(lambda o: gmm.top_component_mean(nets.actor_apply(p.actor, o)))(norm_obs)
    np.testing.assert_allclose(a, np.clip(anchor, -1, 1) * SCALE, rtol=1e-5, atol=1e-6)


def test_policy_under_jit_vmap_and_inside_other_jitted_code(run, observations):
    workdir, _ = run
    policy = gem_jax.load_policy(workdir, seed_index=1, lcb_lambda=2.0, beta_start=0.5)
    key = jax.random.PRNGKey(5)
    eager = policy(observations, key, 3)
    np.testing.assert_allclose(jax.jit(policy)(observations, key, 3), eager, rtol=1e-6)

    stacked = jnp.stack([observations, -observations, 0.5 * observations])  # [3, B, obs]
    keys = jax.random.split(key, 3)  # [3, 2]
    batched = jax.vmap(policy)(stacked, keys)  # [3, B, A]
    for i in range(3):
        np.testing.assert_allclose(batched[i], policy(stacked[i], keys[i]), rtol=1e-5, atol=1e-6)

    @jax.jit
    def outer(obs, key):  # the policy as one piece of a larger jitted program
        return jnp.sum(policy(obs, key, 3) ** 2) + 1.0

    np.testing.assert_allclose(outer(observations, key), jnp.sum(eager**2) + 1.0, rtol=1e-5)
    single = policy(observations[0], key)  # one observation -> [A]
    assert single.shape == (ACTION_DIM,)


def test_bad_options_raise_clear_errors(run, tmp_path):
    workdir, _ = run
    with pytest.raises(ValueError, match="Unknown policy option"):
        gem_jax.load_policy(workdir, lcb_lamda=1.0)
    with pytest.raises(ckpt.CheckpointError, match="No checkpoints"):
        gem_jax.load_policy(tmp_path / "empty")
    with pytest.raises(ValueError, match="batch_size"):
        gem_jax.export_policy(workdir, tmp_path / "p.bin", batch_size=0)


CALLER = textwrap.dedent("""
    import json, sys
    import numpy as np
    try:
        import gem_jax  # noqa: F401
    except ImportError as err:
        blocked = str(err)
    else:
        sys.exit("gem_jax was importable")
    import jax
    obs = np.load("obs.npy")
    fixed = jax.export.deserialize(bytearray(open("fixed.bin", "rb").read()))
    timed = jax.export.deserialize(bytearray(open("timed.bin", "rb").read()))
    key = jax.random.PRNGKey(3)
    a = fixed.call(obs, key)
    b = timed.call(obs[:2], key, np.array([0, 900], np.int32))
    np.savez("out.npz", fixed=np.asarray(a), timed=np.asarray(b))
    print(json.dumps({"blocked": blocked, "platforms": list(fixed.platforms)}))
""")


def test_exported_artifact_runs_without_gem_jax(run, observations, tmp_path):
    workdir, _ = run
    exported = gem_jax.export_policy(workdir, tmp_path / "fixed.bin", batch_size=BATCH,
                                     seed_index=1)
    assert exported.in_avals[0].shape == (BATCH, OBS_DIM)
    gem_jax.export_policy(workdir, tmp_path / "timed.bin", batch_size=None, seed_index=1,
                          with_time=True)
    info = json.loads((tmp_path / "fixed.bin.json").read_text())
    assert info["signature"] == "call(observations, key)" and info["obs_dim"] == OBS_DIM

    blocker = tmp_path / "blocker" / "gem_jax"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('gem_jax is blocked here')\n")
    np.save(tmp_path / "obs.npy", np.asarray(observations))
    (tmp_path / "caller.py").write_text(CALLER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "blocker")}
    proc = subprocess.run([sys.executable, "caller.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["blocked"] == "gem_jax is blocked here"
    assert set(report["platforms"]) == {"cpu", "cuda"}

    out = np.load(tmp_path / "out.npz")
    policy = gem_jax.load_policy(workdir, seed_index=1)
    key = jax.random.PRNGKey(3)
    np.testing.assert_allclose(out["fixed"], policy(observations, key), rtol=1e-5, atol=1e-6)
    want = policy(observations[:2], key, jnp.array([0, 900]))
    np.testing.assert_allclose(out["timed"], want, rtol=1e-5, atol=1e-6)
