"""gem_jax/method/audits.py and the config's validation, against hand-computed numbers."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gem_jax import GEMConfig
from gem_jax.method import audits
from gem_jax.method import gmm as G
from gem_jax.presets import from_config_dict, preset, to_config_dict


def test_support_violation_collapse_by_hand():
    z = jnp.array([0.5, -2.5, 1.0, -3.0])
    assert float(audits.support_z(z)) == pytest.approx(-1.0)
    assert float(audits.violation(z, -2.0)) == pytest.approx(0.5)  # -2.5 and -3.0
    assert float(audits.violation(z, -2.75)) == pytest.approx(0.25)
    out = audits.summarize({"support_z": z, "collapse_dist": jnp.array([0.1, 0.3, 0.2, 0.0])})
    assert out == pytest.approx({"support_z": -1.0, "violation": 0.5, "collapse_dist": 0.15})
    ref = jnp.array([0.0, -2.1, 0.3, 0.6])  # BehaviorZ (ours): the same two on its own scale
    out = audits.summarize({"support_z": z, "collapse_dist": jnp.zeros(4), "behavior_z": ref})
    assert out["behavior_z"] == pytest.approx(-0.3) and out["behavior_violation"] == 0.25


def test_nll_gap_against_scipy():
    # One state, two equal components at -1 and +1 (sigma 0.5); top-1 is component 0 (argmax
    # of equal logits). Actions at +1: the mixture explains them, the top-1 Gaussian does not.
    g = G.GMM(jnp.zeros((1, 2)), jnp.array([[[-1.0], [1.0]]]), jnp.log(jnp.full((2, 1), 0.5)))
    a = jnp.array([[1.0]])
    out = audits.nll_gap(g, a)
    n0, n1 = stats.norm(-1, 0.5).pdf(1.0), stats.norm(1, 0.5).pdf(1.0)
    nll_mix = -np.log(0.5 * n0 + 0.5 * n1)
    nll_top1 = -np.log(n0)
    assert float(out["nll_mix"]) == pytest.approx(nll_mix, rel=1e-5)
    assert float(out["nll_top1"]) == pytest.approx(nll_top1, rel=1e-5)
    assert (
        float(out["gap"]) == pytest.approx(nll_top1 - nll_mix, rel=1e-5) and float(out["gap"]) > 0
    )


@pytest.mark.parametrize(
    "changes",
    [
        dict(num_critics=0),
        dict(num_candidates=-1),
        dict(top_k=3, num_candidates=1),
        dict(horizon=0),
        dict(num_steps=-5),
        dict(mode="x"),
        dict(source="x"),
        dict(expectile=1.0),
    ],
)
def test_invalid_config_raises(changes):
    with pytest.raises(ValueError, match="Invalid GEMConfig"):
        GEMConfig(**changes).validate()


def test_presets_and_config_dict_round_trip():
    assert (preset("antmaze").expectile, preset("antmaze").adv_temperature) == (0.9, 10.0)
    assert (preset("locomotion").expectile, preset("locomotion").adv_temperature) == (0.7, 3.0)
    cfg = preset("maze2d").replace(hidden_dims=(64, 64), num_candidates=7)
    assert from_config_dict(to_config_dict(cfg)) == cfg
    with pytest.raises(ValueError, match="Unknown GEMConfig field"):
        from_config_dict({"nonsense": 1})
    with pytest.raises(ValueError, match="Unknown preset"):
        preset("mujoco")
