"""EMPO support mixture `log sum_z q(z|s) beta_z(a|s)`: NumPy reference, normalisation, fit."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from gem_jax.empo.clustering import EMPOConfig
from gem_jax.empo.model import classifier_log_probs, cluster_gaussians, init_model
from gem_jax.empo.support import (
    empo_gmm,
    empo_log_prob,
    fit_empo_support,
    load_support,
    save_support,
)
from gem_jax.method.types import Batch


def _model(action_dim: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    obs = rng.normal(0.0, 5.0, (50, 3)).astype(np.float32)
    act = rng.uniform(-0.2, 0.2, (50, action_dim)).astype(np.float32)
    return init_model(jax.random.key(seed), obs, act, num_clusters=3, hidden_dims=(8,)), obs, act


def test_log_prob_matches_numpy_logsumexp():
    model, obs, act = _model()
    means, log_stds = (np.asarray(x, np.float64) for x in cluster_gaussians(model, obs))
    log_q = np.asarray(classifier_log_probs(model, obs), np.float64)  # [50, 3]
    z = (act[:, None, :] - means) / np.exp(log_stds)  # [50, 3, 2]
    log_beta = np.sum(-0.5 * z**2 - log_stds - 0.5 * np.log(2 * np.pi), axis=-1)  # [50, 3]
    expected = logsumexp(log_q + log_beta, axis=-1)
    np.testing.assert_allclose(empo_log_prob(model, obs, act), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.exp(log_q).sum(-1), 1.0, rtol=1e-5)


def test_one_state_scores_many_candidates():
    model, obs, act = _model()
    one = empo_log_prob(model, obs[0], act)  # [O], [N, A] -> [N]
    many = empo_log_prob(model, np.repeat(obs[:1], 50, axis=0), act)  # [N, O], [N, A]
    assert one.shape == (50,)
    np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-5)
    batched = jax.jit(empo_log_prob)(model, obs[:4], np.broadcast_to(act[:7, None], (7, 4, 2)))
    assert batched.shape == (7, 4)  # [N, B, A] candidates against [B, O] states


def test_save_load_roundtrip(tmp_path):
    model, obs, act = _model()
    save_support(tmp_path / "support.msgpack", model)
    loaded = load_support(tmp_path / "support.msgpack")
    assert loaded.hidden_dims == model.hidden_dims and loaded.num_clusters == 3
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(model), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        empo_log_prob(loaded, obs, act), empo_log_prob(model, obs, act), rtol=1e-5, atol=1e-5
    )


def test_mixture_density_integrates_to_one():
    model, obs, _ = _model(action_dim=1, seed=3)
    gmm = empo_gmm(model, obs[0])
    lo = float(jnp.min(gmm.means - 8 * jnp.exp(gmm.log_stds)))
    hi = float(jnp.max(gmm.means + 8 * jnp.exp(gmm.log_stds)))
    grid = np.linspace(lo, hi, 20001, dtype=np.float32)[:, None]  # [G, 1]
    density = np.exp(np.asarray(empo_log_prob(model, obs[0], grid), np.float64))
    integral = np.sum(0.5 * (density[1:] + density[:-1]) * np.diff(grid[:, 0]))  # trapezoid
    assert abs(integral - 1.0) < 1e-3


def test_fit_support_is_bimodal_where_behaviors_overlap():
    # Behavior 0 moves right at x in [-1, 0.4], behavior 1 moves up at x in [-0.4, 1]:
    # q(z|s) must learn each behavior's region, and mu must keep both modes where the
    # regions overlap (what a unimodal behavior model cannot do).
    rng = np.random.default_rng(0)
    num, length = 30, 20
    labels = rng.integers(0, 2, num)[:, None]  # [E, 1]
    x = np.where(
        labels == 0, rng.uniform(-1, 0.4, (num, length)), rng.uniform(-0.4, 1, (num, length))
    )
    obs = np.stack([x, rng.uniform(-1, 1, (num, length))], -1).reshape(-1, 2)
    mean = np.where(labels[..., None] == 0, [0.15, 0.0], [0.0, 0.15])  # [E, 1, 2]
    act = (mean + 0.02 * rng.normal(size=(num, length, 2))).reshape(-1, 2)
    batch = Batch(obs, act, np.zeros(len(obs)), obs, np.zeros(len(obs)))
    config = EMPOConfig(hidden_dims=(32, 32), batch_size=64)
    support = fit_empo_support(batch, np.repeat(np.arange(num), length), config, progress=False)

    left, right_side, middle = (np.array(p, np.float32) for p in ([-0.8, 0], [0.8, 0], [0, 0]))
    q = np.exp(classifier_log_probs(support, np.stack([left, right_side])))  # [2, K]
    assert q[0].argmax() != q[1].argmax() and q.max(axis=1).min() > 0.85
    right, up, back = (np.array(a, np.float32) for a in ([0.15, 0], [0, 0.15], [-0.1, -0.1]))
    log_mu = lambda s, a: float(empo_log_prob(support, s, a))
    assert log_mu(left, right) > log_mu(left, up) + 2.0
    assert log_mu(right_side, up) > log_mu(right_side, right) + 2.0
    assert min(log_mu(middle, right), log_mu(middle, up)) > log_mu(middle, back) + 10.0
    assert abs(log_mu(middle, right) - log_mu(middle, up)) < 2.0
