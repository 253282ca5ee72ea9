"""gem_jax/related/lom.py: LOM's hyper-Q targets, mode choice, weight clip and imitation loss
against hand-computed numbers (method §8)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gem_jax.method import gmm as G
from gem_jax.related import lom


def two_mode_behavior() -> G.GMM:
    """Two states, two modes each: at +0.5 and -0.5 in a 1-D action box, narrow (sigma e^-6)."""
    means = jnp.array([[[0.5], [-0.5]], [[0.5], [-0.5]]])  # [B=2, K=2, A=1]
    return G.GMM(logits=jnp.array([[2.0, 0.0], [0.0, 2.0]]), means=means,
                 log_stds=jnp.full((2, 1), -6.0))


def test_hyper_q_targets_are_the_critics_value_of_each_mode():
    # Q(s, a) = c_s * a: state 0 prefers +a (c = 2), state 1 prefers -a (c = -3). With
    # sigma ~ 0, mode +0.5 is worth 1.0 / -1.5 and mode -0.5 is worth -1.0 / +1.5.
    c = jnp.array([2.0, -3.0])
    q_fn = lambda actions: c[:, None] * actions[..., 0]  # [S, B, K, A] -> [S, B, K]
    targets = lom.hyper_q_targets(q_fn, two_mode_behavior(), jax.random.PRNGKey(0), 64)
    np.testing.assert_allclose(targets, [[1.0, -1.0], [-1.5, 1.5]], atol=1e-2)
    # the greedy mode is the better one, whatever the gating prefers (state 1 weights mode 1)
    np.testing.assert_array_equal(lom.choose_mode(targets), [0, 1])


def test_mode_choice_is_the_argmax_and_its_actions_come_from_that_component():
    q_h = jnp.array([[0.1, 0.7, -2.0], [3.0, 2.9, 0.0]])
    np.testing.assert_array_equal(lom.choose_mode(q_h), [1, 0])
    actions = lom.chosen_mode_actions(two_mode_behavior(), jnp.array([1, 0]),
                                      jax.random.PRNGKey(1))
    np.testing.assert_allclose(actions, [[-0.5], [0.5]], atol=0.02)
    noisy = lom.mode_samples(two_mode_behavior(), jax.random.PRNGKey(2), 4096, noise_std=2.0)
    assert noisy.shape == (4096, 2, 2, 1) and float(jnp.abs(noisy).max()) <= 1.0  # clipped


def test_hyper_q_loss_is_the_mean_squared_error():
    q_h, targets = jnp.array([[1.0, 2.0], [0.0, -1.0]]), jnp.array([[0.0, 2.0], [2.0, -1.0]])
    assert float(lom.hyper_q_loss(q_h, targets)) == pytest.approx((1 + 0 + 4 + 0) / 4)


def test_imitation_weight_is_clipped_and_has_no_gradient():
    q_mode, q_pi = jnp.array([1.0, 0.0, 5.0]), jnp.array([0.0, 1.0, 0.0])
    w = lom.imitation_weight(q_mode, q_pi, beta=2.0, clip=50.0)
    # exp(2) = 7.389, exp(-2) = 0.135, exp(10) = 22026 -> clipped to 50
    np.testing.assert_allclose(w, [np.exp(2.0), np.exp(-2.0), 50.0], rtol=1e-6)
    grad = jax.grad(lambda q: lom.imitation_weight(q, q_pi, 2.0, 50.0).sum())(q_mode)
    np.testing.assert_array_equal(grad, 0.0)


def test_imitation_loss_by_hand_and_its_gradient_pulls_toward_the_mode():
    pi, mode, w = jnp.array([[0.0, 0.0], [1.0, 1.0]]), jnp.array([[1.0, 0.0], [1.0, -1.0]]), \
        jnp.array([2.0, 0.5])
    # (2 * 1 + 0.5 * 4) / 2 = 2
    assert float(lom.imitation_loss(pi, mode, w)) == pytest.approx(2.0)
    grad = jax.grad(lom.imitation_loss)(pi, mode, w)
    assert float(grad[0, 0]) < 0 and float(grad[1, 1]) > 0  # descent moves pi toward the mode


def test_hyper_q_network_scores_every_mode():
    net = lom.HyperQNetwork(hidden_dims=(16, 16), num_modes=3)
    obs = jnp.ones((4, 5))
    params = net.init(jax.random.PRNGKey(0), obs)
    out = net.apply(params, obs)
    assert out.shape == (4, 3) and bool(jnp.all(jnp.isfinite(out)))
    assert float(jnp.std(out[0])) > 0  # the one-hot changes the value
