"""EMPO clustering: E-step vs NumPy, heuristics by hand, recovery of two synthetic behaviors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gem_jax.empo.clustering import (
    EMPOConfig,
    check_episode_ids,
    e_step,
    fit_empo,
    heuristic_ablation,
    m_step_loss,
    make_posterior,
    momentum_update,
    random_hard_responsibilities,
)
from gem_jax.empo.metrics import adjusted_rand_index, rand_index
from gem_jax.empo.model import cluster_log_probs, init_model


def two_behaviors(seed: int, num_trajectories: int = 40, length: int = 25):
    """Trajectories of `a = clip(0.2 tanh(3 (g_z - s)) + 0.05 eps, +-0.2)`, g_0 = (1, 0),
    g_1 = (0, 1), states uniform in [-1, 1]^2 (both behaviors everywhere: they conflict)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num_trajectories)  # [E]
    goals = np.array([[1.0, 0.0], [0.0, 1.0]])
    states = rng.uniform(-1, 1, (num_trajectories, length, 2))
    mean = 0.2 * np.tanh(3 * (goals[labels][:, None] - states))
    actions = np.clip(mean + 0.05 * rng.normal(size=mean.shape), -0.2, 0.2)
    ids = np.repeat(np.arange(num_trajectories), length)
    flat = lambda x: x.reshape(-1, 2).astype(np.float32)
    return flat(states), flat(actions), ids, np.repeat(labels, length)


def numpy_log_normal(x, mean, log_std):
    z = (x - mean) / np.exp(log_std)
    return np.sum(-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi), axis=-1)


def test_e_step_by_hand_in_log_space():
    # Trajectory 0 = transitions 0 and 2, trajectory 1 = transition 1 (not contiguous).
    # Sums: tau_0 = [-1100, -1103], tau_1 = [-7, -7]; exp(-1100) underflows, the softmax not.
    ll = jnp.array([[-500.0, -502.0], [-7.0, -7.0], [-600.0, -601.0]])
    q = e_step(ll, jnp.array([0, 1, 0]), num_episodes=2)
    p = 1.0 / (1.0 + np.exp(-3.0))
    np.testing.assert_allclose(q, [[p, 1 - p], [0.5, 0.5]], rtol=1e-6)


def test_posterior_matches_numpy_reference():
    rng = np.random.default_rng(0)
    obs = rng.normal(3.0, 2.0, (30, 3)).astype(np.float32)
    act = rng.uniform(-0.2, 0.2, (30, 2)).astype(np.float32)
    raw_ids = rng.choice([4, 11, 17, 30], size=30)  # arbitrary, shuffled trajectory ids
    model = init_model(jax.random.key(1), obs, act, num_clusters=3, hidden_dims=(8,))
    ids, num_episodes = check_episode_ids(raw_ids, 30)
    q = make_posterior(EMPOConfig(estep_chunk=7), num_episodes)(model, obs, act, jnp.array(ids))

    # Reference: apply each cluster's network separately, Gaussian in NumPy (float64),
    # sum per trajectory with a Python loop, softmax via max-shift.
    norm = jax.tree.map(np.asarray, model.norm)
    ll = np.zeros((30, 3))
    for z in range(3):
        params_z = jax.tree.map(lambda p, z=z: p[z], model.policies)
        mean, log_std = model.policy_module().apply(params_z, (obs - norm.obs_mean) / norm.obs_std)
        mean = norm.act_mean + norm.act_std * np.asarray(mean, np.float64)
        log_std = np.log(norm.act_std) + np.asarray(log_std, np.float64)
        ll[:, z] = numpy_log_normal(act, mean, log_std)
    np.testing.assert_allclose(cluster_log_probs(model, obs, act), ll, rtol=1e-4, atol=1e-4)
    expected = []
    for episode in np.unique(raw_ids):
        total = ll[raw_ids == episode].sum(axis=0)
        w = np.exp(total - total.max())
        expected.append(w / w.sum())
    np.testing.assert_allclose(q, np.array(expected), rtol=1e-4, atol=1e-6)


def test_momentum_and_hard_assignment():
    q = momentum_update(jnp.array([[0.5, 0.5]]), jnp.array([[1.0, 0.0]]), 0.9)
    np.testing.assert_allclose(q, [[0.55, 0.45]], rtol=1e-6)  # 0.9*0.5 + 0.1*1
    hard = np.asarray(random_hard_responsibilities(jax.random.key(0), 1000, 3))
    np.testing.assert_array_equal(hard.sum(axis=1), 1.0)
    assert set(np.unique(hard)) == {0.0, 1.0}
    assert np.all(np.abs(hard.mean(axis=0) - 1 / 3) < 0.06)  # uniform over clusters


def test_m_step_loss_weights_clusters():
    obs, act, _, _ = two_behaviors(0, num_trajectories=2, length=8)
    model = init_model(jax.random.key(0), obs, act, num_clusters=2, hidden_dims=(8,))
    weights = jnp.tile(jnp.array([[1.0, 0.0]]), (16, 1))  # all mass on cluster 0
    loss, grads = jax.value_and_grad(m_step_loss)(model.policies, model, obs, act, weights)
    log_probs = cluster_log_probs(model, obs, act)  # [16, 2]
    np.testing.assert_allclose(loss, -log_probs[:, 0].mean(), rtol=1e-6)
    for leaf in jax.tree.leaves(grads):
        assert np.any(leaf[0] != 0) and np.all(leaf[1] == 0)  # cluster 1 untouched


def test_clustering_recovers_two_synthetic_behaviors():
    obs, act, ids, labels = two_behaviors(0)
    config = EMPOConfig(hidden_dims=(32, 32), batch_size=64, train_classifier=False)
    result = fit_empo(obs, act, ids + 100, config, jax.random.key(0), progress=False)
    assert rand_index(labels, result.assignments) >= 0.95
    assert adjusted_rand_index(labels, result.assignments) >= 0.9
    # One assignment per trajectory (Eq. 9 is constant along a trajectory).
    per_traj = result.assignments.reshape(40, 25)
    assert np.all(per_traj == per_traj[:, :1])
    np.testing.assert_allclose(result.posterior.sum(axis=1), 1.0, rtol=1e-5)
    assert [h["phase"] for h in result.history].count("em") == config.em_epochs


def test_heuristic_ablation_columns():
    columns = heuristic_ablation(EMPOConfig())
    assert list(columns) == ["none", "I", "I+II", "I+II+III"]
    summary = {k: (c.momentum, c.pretrain_epochs, c.bias_epochs) for k, c in columns.items()}
    assert summary == {
        "none": (0.0, 0, 0),
        "I": (0.9, 0, 0),
        "I+II": (0.9, 20, 0),
        "I+II+III": (0.9, 20, 3),
    }


def test_bad_input_raises():
    with pytest.raises(ValueError, match="one trajectory id per transition"):
        check_episode_ids(np.zeros(5, np.int32), 6)
    with pytest.raises(ValueError, match="integers"):
        check_episode_ids(np.zeros(6), 6)
    with pytest.raises(ValueError, match="momentum"):
        EMPOConfig(momentum=1.0).validate()
    with pytest.raises(ValueError, match="equal M"):
        fit_empo(np.zeros((5, 2)), np.zeros((4, 2)), np.zeros(5, int), EMPOConfig(), None)
