"""Actions on the box edge: the censored likelihood and the soft log-std bound (method §1).

The datasets clip controller + noise to [-1, 1], so many action coordinates sit exactly
on the edge. These tests pin the censored (Tobit) likelihood against scipy, and show on a
tiny fit that the plain density collapses a component onto clipped data at the floor
while the censored likelihood recovers the latent sigma.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from gem_jax.method import gmm as G
from gem_jax.method.config import GEMConfig
from gem_jax.method.networks import GMMPolicy, clamp_log_std
from gem_jax.presets import from_config_dict, iql, to_config_dict


def test_censored_log_prob_matches_scipy():
    rng = np.random.default_rng(0)
    means = rng.uniform(-1.4, 1.4, size=(6, 3)).astype(np.float32)
    log_stds = rng.uniform(-2, 0.5, size=(6, 3)).astype(np.float32)
    actions = rng.uniform(-0.9, 0.9, size=(6, 3)).astype(np.float32)
    actions[:, 0] = 1.0  # upper edge
    actions[:, 1] = np.where(np.arange(6) % 2, -1.0, actions[:, 1])  # lower edge, every other
    got = np.asarray(G.gaussian_log_prob(means, log_stds, actions, censored=True))
    s = np.exp(log_stds.astype(np.float64))
    want = np.zeros(6)
    for j in range(3):
        dens = stats.norm.logpdf(actions[:, j], means[:, j], s[:, j])
        upper = stats.norm.logsf(1.0, means[:, j], s[:, j])  # log P(x >= 1)
        lower = stats.norm.logcdf(-1.0, means[:, j], s[:, j])  # log P(x <= -1)
        want += np.where(actions[:, j] >= 1, upper, np.where(actions[:, j] <= -1, lower, dens))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_censored_equals_density_inside_the_box():
    rng = np.random.default_rng(1)
    g = G.GMM(
        logits=rng.normal(size=(4,)).astype(np.float32),
        means=rng.uniform(-1, 1, size=(4, 2)).astype(np.float32),
        log_stds=rng.uniform(-1, 0, size=(4, 2)).astype(np.float32),
    )
    xs = rng.uniform(-0.99, 0.99, size=(32, 2)).astype(np.float32)
    plain = np.asarray(G.log_prob(g, xs))
    cens = np.asarray(G.log_prob(g.replace(censored=True), xs))
    np.testing.assert_allclose(cens, plain, rtol=1e-6)


def test_censored_edge_likelihood_is_a_probability():
    """An edge coordinate's term is log P(.) <= 0 for any sigma: no reward for shrinking."""
    log_stds = jnp.linspace(-5.0, 2.0, 50)[:, None]  # [50, 1]
    means = jnp.full((50, 1), 0.999)
    terms = G.gaussian_log_prob(means, log_stds, jnp.ones((50, 1)), censored=True)
    assert float(terms.max()) <= 0.0
    dens = G.gaussian_log_prob(means, log_stds, jnp.ones((50, 1)), censored=False)
    assert float(dens[0]) > 3.0  # the plain density grows without bound as sigma shrinks


def fit_one_state(censored: bool, steps: int = 1500) -> np.ndarray:
    """Max-likelihood GMM (K = 2, one fixed state) on N(0.8, 0.5^2) clipped to [-1, 1]."""
    rng = np.random.default_rng(0)
    data = np.clip(rng.normal(0.8, 0.5, size=(2048, 1)), -1, 1).astype(np.float32)
    assert np.mean(data == 1.0) > 0.3  # a third of the data sit on the edge
    model = GMMPolicy(
        (16,), 2, 1, log_std_clamp="hard", censored=censored, mean_bound=1.5 if censored else 1
    )
    obs = jnp.zeros((1, 3))
    params = model.init(jax.random.PRNGKey(0), obs)
    tx = optax.adam(3e-2)
    opt = tx.init(params)

    def loss(p):
        dist = model.apply(p, obs)  # logits [1, K], means [1, K, A], log_stds [K, A]
        dist = dist.replace(logits=dist.logits[0], means=dist.means[0])
        return -G.log_prob(dist, data).mean()

    @jax.jit
    def step(p, o):
        g = jax.grad(loss)(p)
        u, o = tx.update(g, o)
        return optax.apply_updates(p, u), o

    for _ in range(steps):
        params, opt = step(params, opt)
    return np.exp(np.clip(np.asarray(params["params"]["log_stds"]), -5.0, 2.0))[:, 0]  # [K]


def test_plain_density_collapses_on_clipped_data_censored_does_not():
    plain = fit_one_state(censored=False)
    cens = fit_one_state(censored=True)
    assert plain.min() < 0.02  # one component became a spike on the edge point mass
    assert cens.min() > 0.2  # both components stay broad: the edge is a tail mass
    assert np.any(np.abs(cens - 0.5) < 0.15)  # and one recovers the latent sigma 0.5


def test_soft_clamp_bounds_and_recovers():
    x = jnp.linspace(-20.0, 20.0, 401)
    y = clamp_log_std(x, -5.0, 2.0, "soft")
    assert float(y.min()) >= -5.0 and float(y.max()) <= 2.0 + 1e-3  # softplus overshoot
    np.testing.assert_allclose(clamp_log_std(jnp.array(-1.0), -5.0, 2.0, "soft"), -1.0, atol=0.2)
    # Below the floor the hard clip has zero gradient, the soft bound does not.
    grad_hard = jax.grad(lambda v: clamp_log_std(v, -5.0, 2.0, "hard"))(-6.0)
    grad_soft = jax.grad(lambda v: clamp_log_std(v, -5.0, 2.0, "soft"))(-6.0)
    assert float(grad_hard) == 0.0 and float(grad_soft) > 0.2
    with pytest.raises(ValueError, match="clamp"):
        clamp_log_std(x, -5.0, 2.0, "tanh")


def test_component_at_the_floor_recovers_with_the_soft_bound():
    """A log-std parameter stuck below the floor widens again only under the soft bound."""
    target = 0.5  # the data want sigma 0.5
    data = jnp.asarray(np.random.default_rng(0).normal(0.0, target, 512), jnp.float32)

    def sigma_after(mode):
        raw = jnp.array(-7.0)  # already below log_std_min = -5
        for _ in range(300):
            nll = lambda r: -jax.scipy.stats.norm.logpdf(
                data, 0.0, jnp.exp(clamp_log_std(r, -5.0, 2.0, mode))).mean()
            raw = raw - 0.05 * jnp.clip(jax.grad(nll)(raw), -10, 10)
        return float(jnp.exp(clamp_log_std(raw, -5.0, 2.0, mode)))

    assert sigma_after("hard") == pytest.approx(np.exp(-5.0))  # dead at the clamp
    assert sigma_after("soft") == pytest.approx(target, rel=0.2)


def test_defaults_and_legacy_configs():
    assert GEMConfig().action_boundary == "censored" and GEMConfig().log_std_clamp == "soft"
    assert iql().action_boundary == "density" and iql().log_std_clamp == "hard"
    saved = to_config_dict(GEMConfig()).to_dict()
    del saved["action_boundary"], saved["log_std_clamp"]  # a run saved before the fields
    old = from_config_dict(saved)
    assert (old.action_boundary, old.log_std_clamp) == ("density", "hard")
    with pytest.raises(ValueError, match="action_boundary"):
        GEMConfig(action_boundary="tobit").validate()


def test_collapse_dist_of_censored_components_uses_the_clipped_mean():
    g = G.GMM(logits=jnp.zeros((2,)), means=jnp.array([[1.4, 0.0], [-0.5, -0.5]]),
              log_stds=jnp.zeros((2, 2)))
    a = jnp.array([1.0, 0.0])  # the action the first (latent, past the edge) mean stands for
    assert float(G.nearest_mean_distance(g, a)) == pytest.approx(0.4)
    assert float(G.nearest_mean_distance(g.replace(censored=True), a)) == pytest.approx(0.0)
