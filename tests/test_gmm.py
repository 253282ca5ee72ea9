"""gem_jax/method/gmm.py against scipy references and Monte-Carlo moments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp, softmax

from gem_jax.method import gmm as G


def random_gmm(rng, batch=(), k=3, a=2):
    return G.GMM(
        logits=rng.normal(size=(*batch, k)).astype(np.float32),
        means=rng.uniform(-1, 1, size=(*batch, k, a)).astype(np.float32),
        log_stds=rng.uniform(-1.5, 0.5, size=(k, a)).astype(np.float32),
    )


def scipy_log_prob(g, x):
    """Reference: log sum_k w_k prod_j N(x_j; m_kj, s_kj) for one mixture, one action."""
    w = softmax(g.logits)
    comps = [
        np.log(w[k])
        + stats.multivariate_normal(g.means[k], np.diag(np.exp(2 * g.log_stds[k]))).logpdf(x)
        for k in range(len(w))
    ]
    return logsumexp(comps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_prob_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    g = random_gmm(rng, k=4, a=3)
    xs = rng.uniform(-1.2, 1.2, size=(16, 3)).astype(np.float32)
    got = np.asarray(G.log_prob(g, xs))  # one mixture scores 16 actions: [16]
    want = np.array([scipy_log_prob(g, x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_log_prob_batched_mixtures():
    rng = np.random.default_rng(3)
    g = random_gmm(rng, batch=(5,), k=2, a=2)
    xs = rng.uniform(-1, 1, size=(5, 2)).astype(np.float32)
    got = np.asarray(G.log_prob(g, xs))
    for i in range(5):
        gi = G.GMM(g.logits[i], g.means[i], g.log_stds)
        assert got[i] == pytest.approx(scipy_log_prob(gi, xs[i]), rel=1e-5, abs=1e-4)


def test_log_prob_finite_at_and_beyond_box_edges():
    g = G.GMM(jnp.zeros(2), jnp.array([[0.9, 0.9], [-0.9, -0.9]]), jnp.full((2, 2), -5.0))
    edges = jnp.array([[1.0, 1.0], [-1.0, -1.0], [5.0, -5.0], [1e3, 1e3]])
    assert np.all(np.isfinite(np.asarray(G.log_prob(g, edges))))


def test_responsibilities_sum_to_one_and_match_bayes():
    rng = np.random.default_rng(4)
    g = random_gmm(rng, k=3, a=2)
    xs = rng.uniform(-1, 1, size=(10, 2)).astype(np.float32)
    r = np.asarray(G.responsibilities(g, xs))  # [10, 3]
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-6)
    # Bayes by hand for the first action.
    w = softmax(g.logits)
    dens = [
        w[k] * stats.multivariate_normal(g.means[k], np.diag(np.exp(2 * g.log_stds[k]))).pdf(xs[0])
        for k in range(3)
    ]
    np.testing.assert_allclose(r[0], np.array(dens) / np.sum(dens), rtol=1e-4, atol=1e-6)


def test_sample_moments_match_mixture():
    g = G.GMM(
        logits=jnp.log(jnp.array([0.3, 0.7])),
        means=jnp.array([[-0.5, 0.2], [0.6, -0.1]]),
        log_stds=jnp.log(jnp.array([[0.1, 0.2], [0.3, 0.05]])),
    )
    x = np.asarray(G.sample(g, jax.random.PRNGKey(0), 200_000))  # [n, A]
    assert x.shape == (200_000, 2)
    w = np.array([0.3, 0.7])
    m = np.asarray(g.means)
    s = np.exp(np.asarray(g.log_stds))
    mean = (w[:, None] * m).sum(0)
    var = (w[:, None] * (s**2 + m**2)).sum(0) - mean**2
    np.testing.assert_allclose(x.mean(0), mean, atol=5e-3)
    np.testing.assert_allclose(x.var(0), var, rtol=2e-2)
    # Mixture CDF in dim 0 at 0.05: checks the component frequencies, not just moments.
    want = 0.3 * stats.norm(-0.5, 0.1).sf(0.05) + 0.7 * stats.norm(0.6, 0.3).sf(0.05)
    assert np.mean(x[:, 0] > 0.05) == pytest.approx(want, abs=0.005)


def test_sample_batched_shape():
    rng = np.random.default_rng(5)
    g = random_gmm(rng, batch=(4,), k=3, a=2)
    assert G.sample(g, jax.random.PRNGKey(1), 7).shape == (7, 4, 2)


def test_anchor_barycentre_entropy_top1():
    g = G.GMM(
        logits=jnp.log(jnp.array([0.2, 0.8])),
        means=jnp.array([[-0.5, 0.0], [0.5, 1.0]]),
        log_stds=jnp.zeros((2, 2)),
    )
    np.testing.assert_allclose(G.top_component_mean(g), [0.5, 1.0])
    np.testing.assert_allclose(G.barycentre(g), [0.2 * -0.5 + 0.8 * 0.5, 0.8], atol=1e-6)
    h = -(0.2 * np.log(0.2) + 0.8 * np.log(0.8))
    assert float(G.gating_entropy(g)) == pytest.approx(h, rel=1e-5)
    a = jnp.array([0.0, 0.0])
    want = stats.multivariate_normal([0.5, 1.0], np.eye(2)).logpdf([0.0, 0.0])  # no gating weight
    assert float(G.top1_log_prob(g, a)) == pytest.approx(want, rel=1e-5)
    assert float(G.nearest_mean_distance(g, a)) == pytest.approx(0.5)


def test_moment_matched_single_gaussian():
    g = G.GMM(jnp.zeros(2), jnp.array([[-0.5], [0.5]]), jnp.log(jnp.full((2, 1), 0.1)))
    m = G.moment_matched(g)
    assert m.logits.shape == (1,)
    assert float(m.means[0, 0]) == pytest.approx(0.0, abs=1e-6)
    assert float(jnp.exp(2 * m.log_stds[0, 0])) == pytest.approx(0.01 + 0.25, rel=1e-5)
