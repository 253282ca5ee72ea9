"""gem_jax/method/losses.py against hand-computed numbers (arithmetic in the comments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gem_jax import GEMConfig, init_state
from gem_jax.method import gmm as G
from gem_jax.method import losses
from gem_jax.method.networks import make_networks
from gem_jax.method.types import Batch


def test_expectile_loss_by_hand():
    # tau = 0.7: u = 2 -> 0.7 * 4 = 2.8; u = -1 -> 0.3 * 1 = 0.3; u = 0 -> 0
    got = losses.expectile_loss(jnp.array([2.0, -1.0, 0.0]), 0.7)
    np.testing.assert_allclose(got, [2.8, 0.3, 0.0], rtol=1e-6)


def test_advantage_weight_clamp_by_hand():
    # beta_adv = 3: A = 0 -> 1; A = 0.5 -> e^1.5 = 4.4817; A = 10 -> e^30 clamped to 100
    got = losses.advantage_weight(jnp.array([0.0, 0.5, 10.0]), 3.0, 100.0)
    np.testing.assert_allclose(got, [1.0, np.exp(1.5), 100.0], rtol=1e-6)


def test_advantage_weight_has_no_gradient():
    g = jax.grad(lambda a: losses.advantage_weight(a, 3.0, 100.0).sum())(jnp.array([0.1, 0.2]))
    np.testing.assert_allclose(g, 0.0)


@pytest.fixture(scope="module")
def setup():
    cfg = GEMConfig(hidden_dims=(8,), num_critics=3, num_components=2, behavior_num_components=2)
    state = init_state(jax.random.PRNGKey(0), cfg, obs_dim=3, action_dim=2)
    nets = make_networks(cfg, 2)
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    batch = Batch(
        observations=jax.random.normal(k[0], (5, 3)),
        actions=jax.random.uniform(k[1], (5, 2), minval=-1, maxval=1),
        rewards=jnp.array([1.0, 0.0, -1.0, 0.5, 2.0]),
        next_observations=jax.random.normal(k[2], (5, 3)),
        dones=jnp.array([0.0, 1.0, 0.0, 0.0, 1.0]),
    )
    return cfg, state, nets, batch


def test_critic_loss_matches_numpy(setup):
    cfg, state, nets, batch = setup
    next_v = jnp.array([0.5, 9.0, -0.2, 1.0, 3.0])
    loss, _ = losses.critic_loss(state.critic.params, nets, batch, next_v, 0.9)
    q = np.asarray(
        nets.critic_apply(state.critic.params, batch.observations, batch.actions)
    )  # [E, B]
    # y = r + 0.9 (1 - d) V': the done rows (1 and 4) ignore V'.
    y = np.array([1 + 0.45, 0.0, -1 - 0.18, 0.5 + 0.9, 2.0])
    assert float(loss) == pytest.approx(np.mean((q - y) ** 2), rel=1e-5)


def test_value_loss_matches_numpy(setup):
    cfg, state, nets, batch = setup
    target_q = jnp.array([1.0, -1.0, 0.0, 2.0, 0.5])
    loss, _ = losses.value_loss(state.value.params, nets, batch.observations, target_q, 0.9)
    u = np.asarray(target_q) - np.asarray(nets.value_apply(state.value.params, batch.observations))
    want = np.mean(np.where(u < 0, 0.1, 0.9) * u**2)
    assert float(loss) == pytest.approx(want, rel=1e-5)


def test_actor_loss_matches_numpy(setup):
    cfg, state, nets, batch = setup
    adv = jnp.array([0.0, 0.3, -0.5, 2.0, 0.1])
    loss, info = losses.actor_loss(
        state.actor.params, nets, batch.observations, batch.actions, adv, 3.0, 100.0, 1e-3
    )
    dist = nets.actor_apply(state.actor.params, batch.observations)
    lj = np.asarray(G.component_log_joint(dist, batch.actions))  # [B, K]
    resp = np.exp(lj - lj.max(-1, keepdims=True))
    resp /= resp.sum(-1, keepdims=True)
    s_em = (resp * lj).sum(-1)
    w = np.minimum(np.exp(3.0 * np.asarray(adv)), 100.0)
    logw = np.asarray(jax.nn.log_softmax(dist.logits))
    ent = -(np.exp(logw) * logw).sum(-1)
    want = -(w * s_em).mean() - 1e-3 * ent.mean()
    assert float(loss) == pytest.approx(want, rel=1e-5)


def test_detached_responsibilities_give_the_m_step_gradient(setup):
    """With gamma detached, grad S_EM = sum_k gamma_k grad l_k = grad log p (EM identity)."""
    cfg, state, nets, batch = setup
    ones = jnp.zeros(5)  # A = 0 -> omega = 1

    def loss_fn(p, detach):
        return losses.actor_loss(
            p, nets, batch.observations, batch.actions, ones, 1.0, 100.0, 0.0, detach
        )[0]

    def nll(p):
        return -G.log_prob(nets.actor_apply(p, batch.observations), batch.actions).mean()

    g_em = jax.grad(loss_fn)(state.actor.params, True)
    g_nll = jax.grad(nll)(state.actor.params)
    for a, b in zip(jax.tree.leaves(g_em), jax.tree.leaves(g_nll)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_behavior_loss_is_mean_nll(setup):
    cfg, state, nets, batch = setup
    loss, _ = losses.behavior_loss(state.behavior.params, nets, batch.observations, batch.actions)
    dist = nets.behavior_apply(state.behavior.params, batch.observations)
    assert float(loss) == pytest.approx(-float(G.log_prob(dist, batch.actions).mean()), rel=1e-6)
