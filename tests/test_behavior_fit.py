"""gem_jax/analysis/behavior_fit.py: seed-vmapped GMM fits and the NLL gap (method §4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gem_jax.analysis.behavior_fit import behavior_model, fit_behavior, nll_gaps
from gem_jax.method import audits
from gem_jax.method.config import GEMConfig


def bimodal(m: int = 4096):
    """Actions at +-0.6 (tiny noise) whatever the state: two equally likely modes."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(m, 2)).astype(np.float32)
    sign = rng.choice([-1.0, 1.0], size=(m, 1))
    actions = (0.6 * sign + 0.02 * rng.normal(size=(m, 1))).astype(np.float32)
    return jnp.asarray(obs), jnp.asarray(actions)


def config(k: int) -> GEMConfig:
    return GEMConfig(hidden_dims=(32, 32), behavior_num_components=k, behavior_lr=3e-3,
                     batch_size=256)


@pytest.fixture(scope="module")
def fits():
    obs, act = bimodal()
    out = {}
    for k in (1, 2):
        state, nll = fit_behavior(config(k), obs, act, seeds=[0, 1], num_steps=1500, chunk=500,
                                  progress=False)
        out[k] = (state, nll, nll_gaps(config(k), state.params, obs, act, chunk=1024))
    return obs, act, out


def test_one_component_has_no_gap(fits):
    _, _, out = fits
    gap = np.asarray(out[1][2]["gap"])
    assert gap.shape == (2,)
    np.testing.assert_allclose(gap, 0.0, atol=1e-5)  # top-1 of a 1-mixture is the mixture


def test_two_modes_open_a_large_gap(fits):
    """With weights ~1/2 each, the top component misses the other half of the data:
    NLL_top1 is far above NLL_mix, while NLL_mix is near the true density's entropy."""
    _, _, out = fits
    gaps, nll = out[2][2], np.asarray(out[2][1])
    assert np.all(np.asarray(gaps["gap"]) > 1.0)
    # true density: 0.5 N(+-0.6, 0.02^2): NLL = log 2 + 0.5 log(2 pi e 0.02^2) = -1.80
    assert np.all(np.asarray(gaps["nll_mix"]) < -1.0)
    assert np.all(nll < out[1][1])  # two components fit better than one


def test_seeds_are_independent_fits(fits):
    _, _, out = fits
    state = out[2][0]
    a, b = (jax.tree.map(lambda x, i=i: x[i], state.params) for i in range(2))
    assert not np.array_equal(jax.tree.leaves(a)[0], jax.tree.leaves(b)[0])


def test_chunked_gap_equals_the_full_batch_audit(fits):
    obs, act, out = fits
    state, _, gaps = out[2]
    params0 = jax.tree.map(lambda x: x[0], state.params)
    whole = audits.nll_gap(behavior_model(config(2), 1).apply(params0, obs), act)
    for name in ("nll_mix", "nll_top1", "gap"):
        assert float(gaps[name][0]) == pytest.approx(float(whole[name]), rel=1e-4, abs=1e-4)


def test_fit_rejects_zero_steps():
    obs, act = bimodal(64)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        fit_behavior(config(1), obs, act, seeds=[0], num_steps=0)
