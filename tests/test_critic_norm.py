"""Layer-normalised critics (`GEMConfig.layer_norm`, ours, on by default; method §1 / 2).

A ReLU critic without normalisation is asymptotically linear along any ray, so its value of
an action far from the data grows without bound; with LayerNorm before every ReLU the last
hidden layer has norm at most max|scale| sqrt(H) + |bias|, which bounds Q for every input,
and the first layer's normalisation makes Q scale-invariant far out. Both facts by hand.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gem_jax.method.config import GEMConfig
from gem_jax.method.networks import make_networks

HIDDEN = (32, 32)
SCALES = (1.0, 1e2, 1e3, 1e4)


def q_along_a_ray(config):
    """Q of every critic at s * a for the scales above, one observation: [len(SCALES), E]."""
    nets = make_networks(config, action_dim=2)
    params = nets.init(jax.random.PRNGKey(0), obs_dim=3, action_dim=2)["critic"]
    obs = jnp.array([[0.3, -0.2, 0.5]])  # [1, 3]
    ray = jnp.array([[0.6, -0.8]])  # [1, 2], unit norm
    q = np.stack([np.asarray(nets.critic_apply(params, obs, s * ray))[:, 0] for s in SCALES])
    return q, params


def layer_norm_bound(params) -> np.ndarray:
    """|Q| <= |W_out|_2 (max|scale| sqrt(H) + |bias|_2) + |b_out|, per critic: [E]."""
    mlp = params["params"]["MLP_0"]
    last_norm = mlp[f"LayerNorm_{len(HIDDEN) - 1}"]
    out = mlp[f"Dense_{len(HIDDEN)}"]
    scale, bias = np.asarray(last_norm["scale"]), np.asarray(last_norm["bias"])  # [E, H]
    w, b = np.asarray(out["kernel"])[..., 0], np.asarray(out["bias"])[..., 0]  # [E, H], [E]
    hidden = np.abs(scale).max(-1) * np.sqrt(HIDDEN[-1]) + np.linalg.norm(bias, axis=-1)
    return np.linalg.norm(w, axis=-1) * hidden + np.abs(b)


def test_the_default_critic_is_layer_normalised_and_bounded_far_from_the_box():
    config = GEMConfig(hidden_dims=HIDDEN, num_critics=3)
    assert config.layer_norm  # the default (ours): the paper's IQL critic has none
    q, params = q_along_a_ray(config)
    bound = layer_norm_bound(params)  # [E]
    assert np.all(np.abs(q) <= bound[None] + 1e-5), (q, bound)
    # 10^3 and 10^4 times the action: the first layer's normalisation removes the scale
    np.testing.assert_allclose(q[-1], q[-2], atol=1e-3 * bound.max())


def test_without_layer_norm_the_critic_grows_linearly_along_the_ray():
    """The paper's IQL critic (`layer_norm=False`): Q(10^4 a) ~ 10 Q(10^3 a), past any bound
    of the normalised critic of the same size."""
    q, _ = q_along_a_ray(GEMConfig(hidden_dims=HIDDEN, num_critics=3, layer_norm=False))
    _, params = q_along_a_ray(GEMConfig(hidden_dims=HIDDEN, num_critics=3))
    np.testing.assert_allclose(q[-1] / q[-2], 10.0, rtol=0.05)
    assert np.all(np.abs(q[-1]) > layer_norm_bound(params))
