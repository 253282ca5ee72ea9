"""Tests for gem_jax/data/behavior/sac.py and sac_loop.py (what tools/train_sac.py runs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gem_jax.data.behavior import sac
from gem_jax.method.types import Batch


def _load_train_script():
    """The loop `tools/train_sac.py` runs (its module, without the script's absl flags)."""
    from gem_jax.data.behavior import sac_loop

    return sac_loop


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    mean = jnp.array([[0.3, -1.2], [0.0, 2.0]])
    log_std = jnp.array([[-0.5, 0.1], [0.4, -2.0]])
    actions, log_prob = sac.tanh_gaussian_sample(mean, log_std, jax.random.PRNGKey(3))
    # Reference: u = atanh(a); log p(a) = sum log N(u; m, s) - log(1 - a^2).
    a = np.asarray(actions, np.float64)
    u = np.arctanh(a)
    ref = stats.norm.logpdf(u, np.asarray(mean), np.exp(np.asarray(log_std))) - np.log1p(-a**2)
    np.testing.assert_allclose(log_prob, ref.sum(-1), rtol=1e-4, atol=1e-4)
    assert actions.shape == (2, 2) and np.all(np.abs(a) < 1)


def _tiny_config(**kw) -> sac.SACConfig:
    return sac.SACConfig(hidden_dims=(32, 32), batch_size=16, **kw)


def _batch(key, n=16, obs_dim=3, action_dim=2) -> Batch:
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return Batch(
        observations=jax.random.normal(k1, (n, obs_dim)),
        actions=jax.random.uniform(k2, (n, action_dim), minval=-0.9, maxval=0.9),
        rewards=jax.random.normal(k3, (n,)),
        next_observations=jax.random.normal(k4, (n, obs_dim)),
        dones=jnp.zeros((n,)),
    )


@pytest.fixture(scope="module")
def one_step():
    """A fresh state and the state after one jitted update (shared: one compile)."""
    config = _tiny_config()
    state = sac.init_sac_state(jax.random.PRNGKey(0), config, 3, 2)
    update = jax.jit(sac.make_sac_update(config, 2))
    new_state, metrics = update(state, _batch(jax.random.PRNGKey(1)))
    return config, state, new_state, metrics


def test_first_temperature_step_moves_log_alpha_by_lr(one_step):
    # At init the policy is near-uniform: log pi(a|s) + H_target = log pi - |A| < 0, so
    # dL/dlog_alpha = -mean(log pi + H_target) > 0 and Adam's first step is exactly -lr.
    config, _, new_state, metrics = one_step
    assert float(metrics["actor/entropy"]) > -2.0  # i.e. log pi + H_target < 0
    np.testing.assert_allclose(new_state.log_alpha.params, -config.alpha_lr, atol=1e-7)
    assert int(new_state.step) == 1


def test_critic_regresses_rewards_when_discount_is_zero():
    # gamma = 0 makes y = r, so both critics fit r(s, a) on a fixed batch.
    config = _tiny_config(discount=0.0, critic_lr=3e-3)
    state = sac.init_sac_state(jax.random.PRNGKey(0), config, 3, 2)
    batch = _batch(jax.random.PRNGKey(1))
    batches = jax.tree.map(lambda x: jnp.broadcast_to(x, (400, *x.shape)), batch)
    state, metrics = sac.make_sac_update_many(config, 2)(state, batches)
    q = sac.make_sac_networks(config, 2).critic_apply(
        state.critic.params, batch.observations, batch.actions)  # [E, B]
    assert q.shape == (2, 16)
    np.testing.assert_allclose(q, np.broadcast_to(batch.rewards, q.shape), atol=0.1)
    assert metrics["critic/loss"].shape == (400,)
    assert float(metrics["critic/loss"][-1]) < 0.01 * float(metrics["critic/loss"][0])


def test_target_critic_is_polyak_average(one_step):
    config, state, new_state, _ = one_step
    expected = jax.tree.map(lambda q, t: config.tau * q + (1 - config.tau) * t,
                            new_state.critic.params, state.target_critic_params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-7),
                 new_state.target_critic_params, expected)
    # The critic moved, so the target moved by exactly tau of that.
    moved = jax.tree.map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(),
                         new_state.critic.params, state.critic.params)
    assert max(jax.tree.leaves(moved)) > 0


def test_act_is_deterministic_given_key_and_in_range():
    config = _tiny_config()
    state = sac.init_sac_state(jax.random.PRNGKey(0), config, 3, 2)
    act = sac.make_act(config, 2)
    obs = jnp.ones((5, 3))
    a1 = act(state.actor.params, obs, jax.random.PRNGKey(7))
    a2 = act(state.actor.params, obs, jax.random.PRNGKey(7))
    a3 = act(state.actor.params, obs, jax.random.PRNGKey(8))
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, a3) and a1.shape == (5, 2) and np.all(np.abs(a1) <= 1)
    mean = act(state.actor.params, obs, jax.random.PRNGKey(7), deterministic=True)
    np.testing.assert_allclose(mean, np.broadcast_to(mean[:1], mean.shape))  # same obs


def test_train_script_resumes_from_checkpoint(tmp_path):
    train_sac = _load_train_script()
    config = _tiny_config(start_steps=200)
    train_sac.train("InvertedPendulum-v5", 400, 0, str(tmp_path), save_every=200,
                    snapshot_every=200, config=config)
    with pytest.raises(ValueError, match="--resume"):
        train_sac.train("InvertedPendulum-v5", 600, 0, str(tmp_path), config=config)
    train_sac.train("InvertedPendulum-v5", 600, 0, str(tmp_path), resume=True, save_every=200,
                    snapshot_every=200, config=config)
    meta = train_sac.load_meta(str(tmp_path / "checkpoint"))
    assert meta["env_steps"] == 600 and meta["resumes"] == 1
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [
        f"actor_{s:08d}.msgpack" for s in (0, 200, 400)]
    steps = np.loadtxt(tmp_path / "episodes.csv", delimiter=",", skiprows=1, ndmin=2)[:, 0]
    assert steps[-1] <= 600 and np.all(np.diff(steps) > 0)


@pytest.mark.slow
def test_short_sac_run_improves_return(tmp_path):
    # InvertedPendulum (reward 1 per balanced step): random ~5-10; 7k updates reach > 60.
    train_sac = _load_train_script()
    config = sac.SACConfig(hidden_dims=(64, 64), start_steps=1000)
    train_sac.train("InvertedPendulum-v5", 8000, 0, str(tmp_path), save_every=1000,
                    config=config)
    returns = np.loadtxt(tmp_path / "episodes.csv", delimiter=",", skiprows=1, ndmin=2)[:, 1]
    first, last = returns[:20].mean(), returns[-5:].mean()
    assert first < 20 and last > 60, (first, last)  # random: ~5-10 steps per episode


def test_vectorised_run_counts_updates_and_continues_from_the_compact_snapshot(tmp_path):
    """4 envs, UTD 1/4: each call of 5 vector steps (20 env steps) runs 5 updates; a run whose
    workdir is gone continues from the compact snapshot (no buffer) at its step count."""
    train_sac = _load_train_script()
    config = _tiny_config(start_steps=100)
    compact = str(tmp_path / "snap" / "ant.msgpack")
    state = train_sac.train("InvertedPendulum-v5", 300, 0, str(tmp_path / "a"), save_every=100,
                            snapshot_every=100, update_every=5, config=config, num_envs=4,
                            utd=0.25, compact=compact)
    # updates start once 100 env steps are in: calls end at 100, 120, ..., 300 -> 11 calls
    assert int(state.step) == 11 * 5
    meta = train_sac.load_meta(str(tmp_path / "a" / "checkpoint"))
    assert meta["env_steps"] == 300
    resumed = train_sac.train("InvertedPendulum-v5", 380, 0, str(tmp_path / "gone"),
                              resume=True, save_every=100, update_every=5, config=config,
                              num_envs=4, utd=0.25, compact=compact)
    # refilling 300 -> 380 of the 100 (max(start_steps, batch)) fresh env steps it needs
    # before updating again: no update yet, the same state
    assert int(resumed.step) == int(state.step)
    np.testing.assert_array_equal(np.asarray(jax.tree.leaves(resumed.actor.params)[0]),
                                  np.asarray(jax.tree.leaves(state.actor.params)[0]))
    assert train_sac.load_meta(str(tmp_path / "gone" / "checkpoint"))["resumes"] == 1
    with pytest.raises(ValueError, match="num_envs >= 1"):
        train_sac.train("InvertedPendulum-v5", 10, 0, str(tmp_path / "b"), num_envs=0)
