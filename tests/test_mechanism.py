"""The paper's mechanism T1 on a two-mode toy: mixtures keep both modes, K = 1 blurs them,
and the select step returns an action near a mode, not in the gap between them."""

import jax
import numpy as np
import pytest
from toy import two_mode_bandit

from gem_jax import GEMConfig, SelectKnobs, init_state, make_policy, policy_params
from gem_jax.method.learner import make_fused_train_step
from gem_jax.method.networks import make_networks

MODE = 0.6


def train(num_components, steps=1500):
    cfg = GEMConfig(hidden_dims=(32, 32), num_critics=2, num_components=num_components,
                    behavior_num_components=2, batch_size=256, steps_per_call=steps, actor_lr=3e-3,
                    behavior_lr=3e-3)
    data = two_mode_bandit(jax.random.PRNGKey(0), 4096, mode=MODE)
    state, _ = make_fused_train_step(cfg)(init_state(jax.random.PRNGKey(1), cfg, 2, 1), data)
    return cfg, state


@pytest.fixture(scope="module")
def trained():
    return {k: train(k) for k in (1, 2)}


def actor_gmm(cfg, state, obs):
    return make_networks(cfg, 1).actor_apply(state.actor.params, obs)


def test_mixture_actor_fits_both_modes(trained):
    cfg, state = trained[2]
    obs = jax.random.uniform(jax.random.PRNGKey(9), (64, 2), minval=-1, maxval=1)
    g = actor_gmm(cfg, state, obs)
    means = np.sort(np.asarray(g.means[..., 0]), axis=-1)  # [64, 2]
    np.testing.assert_allclose(means[:, 0], -MODE, atol=0.1)
    np.testing.assert_allclose(means[:, 1], MODE, atol=0.1)
    w = np.asarray(jax.nn.softmax(g.logits))
    assert np.all(w.min(-1) > 0.25)  # both components keep mass


def test_unimodal_actor_mean_falls_between_modes(trained):
    cfg, state = trained[1]
    obs = jax.random.uniform(jax.random.PRNGKey(9), (64, 2), minval=-1, maxval=1)
    means = np.asarray(actor_gmm(cfg, state, obs).means[..., 0, 0])
    assert np.all(np.abs(means) < 0.2)


def test_select_returns_actions_near_a_mode(trained):
    cfg, state = trained[2]
    policy = make_policy(cfg, num_candidates=64)
    obs = jax.random.uniform(jax.random.PRNGKey(3), (128, 2), minval=-1, maxval=1)
    actions, info = policy(policy_params(state), obs, jax.random.PRNGKey(4), 0,
                           SelectKnobs.create(1.0, 1.0, 0.1, 1000))
    dist_to_mode = np.abs(np.abs(np.asarray(actions[:, 0])) - MODE)
    assert np.all(dist_to_mode < 0.1)  # near a mode; the gap centre is 0.6 away
    assert np.mean(np.asarray(info["collapse_dist"])) < 0.05


def test_behavior_model_keeps_both_modes(trained):
    cfg, state = trained[2]
    obs = jax.random.uniform(jax.random.PRNGKey(9), (64, 2), minval=-1, maxval=1)
    g = make_networks(cfg, 1).behavior_apply(state.behavior.params, obs)
    means = np.sort(np.asarray(g.means[..., 0]), axis=-1)
    np.testing.assert_allclose(means, np.broadcast_to([-MODE, MODE], means.shape), atol=0.1)
