"""gem_jax/method/select.py: z-score, LCB, schedule, top-k and the jitted select step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gem_jax import GEMConfig, SelectKnobs, init_state, make_policy, policy_params
from gem_jax.method.select import beta_schedule, lcb, pick_top_k, top_k_mean, zscore

floats = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(floats, min_size=2, max_size=32),
    shift=st.floats(-1e3, 1e3, allow_nan=False),
    scale=st.floats(1e-2, 1e2),
)
def test_zscore_shift_and_scale_invariant(values, shift, scale):
    x = np.asarray(values, np.float64)
    if x.std() < 1e-2:  # below the floor the map is intentionally not scale invariant
        return
    z = np.asarray(zscore(jnp.asarray(x)))
    z2 = np.asarray(zscore(jnp.asarray(x * scale + shift)))
    np.testing.assert_allclose(z2, z, atol=2e-3)


def test_zscore_population_std_by_hand():
    # mean 2, population std sqrt(2/3) -> z = (-1, 0, 1) / sqrt(2/3)
    z = np.asarray(zscore(jnp.array([1.0, 2.0, 3.0])))
    np.testing.assert_allclose(z, np.array([-1.0, 0.0, 1.0]) / np.sqrt(2 / 3), rtol=1e-6)


def test_zscore_finite_when_all_equal():
    z = np.asarray(zscore(jnp.full((17,), -3.25)))
    assert np.all(np.isfinite(z)) and np.all(z == 0.0)


def test_lcb_uses_population_std():
    q = jnp.array([[1.0, 3.0], [2.0, 2.0]])  # [C=2, E=2]
    # candidate 0: mean 2, population std 1 (sample std would be sqrt 2)
    np.testing.assert_allclose(lcb(q, 0.5, axis=-1), [2.0 - 0.5, 2.0])


def test_beta_schedule_endpoints_and_midpoint():
    b = lambda t: float(beta_schedule(t, 2.0, 0.5, 100.0))
    assert b(0) == pytest.approx(2.0)
    assert b(50) == pytest.approx(1.25)
    assert b(100) == pytest.approx(0.5)
    assert b(10_000) == pytest.approx(0.5)  # min(t, T)


def test_top_k_one_is_argmax_and_k_averages():
    cands = jnp.array([[0.0], [1.0], [2.0], [3.0]])
    scores = jnp.array([0.1, 0.9, 0.5, -1.0])
    a1, idx = top_k_mean(cands, scores, 1)
    assert int(idx[0]) == int(jnp.argmax(scores)) and float(a1[0]) == 1.0
    a2, _ = top_k_mean(cands, scores, 2)
    assert float(a2[0]) == pytest.approx(1.5)


def test_pick_sample_draws_each_of_the_top_k_uniformly():
    """top_k_pick="sample" (ours): the action is one of the k best candidates exactly, each
    drawn about 1/k of the time; "mean" is top_k_mean with the top-1 audited."""
    cands = jnp.arange(6.0)[:, None]  # [C=6, A=1]
    scores = jnp.array([0.3, 2.0, -1.0, 1.5, 0.9, -2.0])  # top-3: indices 1, 3, 4
    keys = jax.random.split(jax.random.PRNGKey(0), 3000)
    actions, chosen = jax.vmap(lambda k: pick_top_k(cands, scores, 3, k, "sample"))(keys)
    np.testing.assert_array_equal(np.asarray(actions)[:, 0], np.asarray(chosen, np.float32))
    counts = np.bincount(np.asarray(chosen), minlength=6)
    assert set(np.flatnonzero(counts)) == {1, 3, 4}
    # binomial(3000, 1/3): std ~26, so 5 std either side
    assert np.all(np.abs(counts[[1, 3, 4]] - 1000) < 130), counts
    a_mean, best = pick_top_k(cands, scores, 3, keys[0], "mean")
    assert int(best) == 1 and float(a_mean[0]) == pytest.approx((1 + 3 + 4) / 3)


@pytest.fixture(scope="module")
def small():
    cfg = GEMConfig(hidden_dims=(16,), num_critics=3, num_components=3, behavior_num_components=2)
    state = init_state(jax.random.PRNGKey(0), cfg, obs_dim=4, action_dim=2)
    obs = jax.random.normal(jax.random.PRNGKey(1), (6, 4))
    return cfg, policy_params(state), obs


@pytest.mark.parametrize(
    "variant",
    [
        "gem",
        "no_pw",
        "no_lcb",
        "no_anchor",
        "anchor_bary",
        "behavior_only_cands",
        "unimodal_actor_cands",
        "raw",
    ],
)
def test_every_variant_runs_in_box(small, variant):
    cfg, params, obs = small
    policy = make_policy(cfg, num_candidates=8, top_k=2, variant=variant)
    actions, info = policy(params, obs, jax.random.PRNGKey(2), 3, SelectKnobs.from_config(cfg))
    assert actions.shape == (6, 2)
    assert np.all(np.abs(np.asarray(actions)) <= 1.0)
    for v in info.values():
        assert v.shape == (6,) and np.all(np.isfinite(np.asarray(v)))


def test_anchor_only_returns_top_component_mean(small):
    cfg, params, obs = small
    from gem_jax.method import gmm as G
    from gem_jax.method.networks import make_networks

    policy = make_policy(cfg, num_candidates=0, top_k=1, candidate_means=False)  # the paper
    actions, info = policy(params, obs, jax.random.PRNGKey(0), 0, SelectKnobs.from_config(cfg))
    anchor = G.top_component_mean(make_networks(cfg, 2).actor_apply(params.actor, obs))
    # Censored components may centre past the edge; every candidate is clipped (method §3).
    np.testing.assert_allclose(actions, np.clip(anchor, -1.0, 1.0), atol=1e-6)
    np.testing.assert_allclose(info["support_z"], 0.0)
    # BehaviorZ is not degenerate for a one-action policy: it matches the pure function on
    # the state's behavior mixture with the key the step folds for it.
    from gem_jax.method.select import behavior_z

    nets = make_networks(cfg, 2)
    keys = jax.random.split(jax.random.PRNGKey(0), obs.shape[0])
    for i in range(obs.shape[0]):
        mu = nets.behavior_apply(params.behavior, obs[i])
        want = behavior_z(mu, actions[i], jax.random.fold_in(keys[i], 3))
        np.testing.assert_allclose(info["behavior_z"][i], want, rtol=1e-5, atol=1e-5)
    assert np.ptp(np.asarray(info["behavior_z"])) > 0


def test_behavior_z_against_numpy_and_a_gaussian():
    """Against NumPy on the same reference draws; and for one 1-D Gaussian (sigma 0.1, far
    from the box edge) the mode's z is E[u^2/2] / std(u^2/2) = 0.5 / sqrt(0.5) = 0.707."""
    from scipy import stats

    from gem_jax.method import gmm as G
    from gem_jax.method.select import behavior_z

    mu = G.GMM(jnp.array([0.0, 1.0]), jnp.array([[0.2], [-0.5]]), jnp.log(jnp.array([[0.1],
                                                                                    [0.2]])))
    key = jax.random.PRNGKey(4)
    ref = np.clip(np.asarray(G.sample(mu, key, 64)), -1, 1)[:, 0]  # [M]
    w = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    log_mu = lambda a: np.log(w[0] * stats.norm(0.2, 0.1).pdf(a)
                              + w[1] * stats.norm(-0.5, 0.2).pdf(a))
    want = (log_mu(0.9) - log_mu(ref).mean()) / log_mu(ref).std()
    assert float(behavior_z(mu, jnp.array([0.9]), key)) == pytest.approx(want, rel=1e-4)
    assert want < -2  # far outside the behavior's support

    gauss = G.GMM(jnp.zeros(1), jnp.array([[0.1]]), jnp.log(jnp.array([[0.1]])))
    z = float(behavior_z(gauss, jnp.array([0.1]), jax.random.PRNGKey(0), num_samples=200_000))
    assert z == pytest.approx(np.sqrt(0.5), abs=0.01)


def test_candidate_means_rank_the_actors_modes_by_the_score(small):
    """candidate_means (ours): at N = 0 the set is the K component means, and the action is
    the one with the best LCB + beta_0 z, computed here by hand in NumPy (method §3)."""
    cfg, params, obs = small
    from gem_jax.method import gmm as G
    from gem_jax.method.networks import make_networks

    nets = make_networks(cfg, 2)
    knobs = SelectKnobs.create(lcb_lambda=1.0, beta_start=0.5, beta_end=0.5, horizon=10)
    actions, _ = make_policy(cfg, num_candidates=0, candidate_means=True)(
        params, obs, jax.random.PRNGKey(0), 0, knobs)
    actor = nets.actor_apply(params.actor, obs)
    means = np.clip(np.asarray(actor.means), -1.0, 1.0)  # [B, K, A]
    want = []
    for b in range(obs.shape[0]):
        q = np.stack([np.asarray(nets.critic_apply(params.critic, obs[b], jnp.asarray(m)))
                      for m in means[b]])  # [K, E]
        beh_b = nets.behavior_apply(params.behavior, obs[b])  # GMM [Kb, A]
        ll = np.array([float(G.log_prob(beh_b, jnp.asarray(m))) for m in means[b]])  # [K]
        score = q.mean(1) - q.std(1) + 0.5 * (ll - ll.mean()) / max(ll.std(), 1e-6)
        want.append(means[b, np.argmax(score)])
    np.testing.assert_allclose(actions, np.stack(want), atol=1e-5)
    top = np.clip(np.asarray(G.top_component_mean(actor)), -1.0, 1.0)  # the paper's anchor
    assert np.any(np.abs(np.asarray(actions) - top).max(-1) > 1e-3), "no state tells them apart"


def test_knobs_do_not_recompile(small):
    cfg, params, obs = small
    policy = make_policy(cfg, num_candidates=8)
    key = jax.random.PRNGKey(0)
    policy(params, obs, key, 0, SelectKnobs.create(1.0, 1.0, 0.0, 100))
    n = policy._cache_size()
    policy(params, obs, key, 5, SelectKnobs.create(0.0, 3.0, 0.5, 50))
    assert policy._cache_size() == n


@pytest.mark.parametrize(
    "mode,variant", [("zscore", "gem"), ("raw", "gem"), ("zscore", "no_lcb"), ("zscore", "no_pw")]
)
def test_score_candidates_against_numpy(mode, variant):
    """score = mean_e Q - lam std_e Q + beta_t z(log mu), recomputed in NumPy from the nets."""
    from gem_jax.method import gmm as G
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import score_candidates

    cfg = GEMConfig(hidden_dims=(8,), num_critics=4, num_components=2, behavior_num_components=3)
    params = policy_params(init_state(jax.random.PRNGKey(3), cfg, obs_dim=2, action_dim=2))
    nets = make_networks(cfg, 2)
    obs = jnp.array([0.3, -0.7])
    cands = jax.random.uniform(jax.random.PRNGKey(4), (9, 2), minval=-1, maxval=1)
    behavior = nets.behavior_apply(params.behavior, obs)
    knobs = SelectKnobs.create(lcb_lambda=0.7, beta_start=2.0, beta_end=0.0, horizon=10)
    scores, parts = score_candidates(
        nets, params, obs, cands, behavior, 5, knobs, mode=mode, variant=variant
    )
    q = np.asarray(nets.critic_apply(params.critic, jnp.broadcast_to(obs, (9, 2)), cands))  # [E, C]
    ll = np.asarray(G.log_prob(behavior, cands))  # [C]
    lam = 0.0 if variant == "no_lcb" else 0.7
    beta = 0.0 if variant == "no_pw" else 1.0  # cosine at t = T/2 between 2 and 0
    support = (ll - ll.mean()) / ll.std() if mode == "zscore" else ll
    want = q.mean(0) - lam * q.std(0) + beta * support
    np.testing.assert_allclose(np.asarray(scores), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "variant,means,anchors",
    [("gem", False, 1), ("no_anchor", False, 0), ("no_anchor", True, 0), ("gem", True, 2),
     ("anchor_bary", True, 1)],
)
def test_anchor_bonus_adds_delta_to_the_anchors_only(variant, means, anchors):
    """score(delta) - score(0) = delta on the leading anchors (a_0, or all K = 2 component
    means with candidate_means) and 0 elsewhere; `no_anchor` has none, so nothing changes."""
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import num_anchors, score_candidates

    cfg = GEMConfig(hidden_dims=(8,), num_critics=3, num_components=2, behavior_num_components=2)
    params = policy_params(init_state(jax.random.PRNGKey(5), cfg, obs_dim=2, action_dim=2))
    nets = make_networks(cfg, 2)
    obs = jnp.array([0.1, 0.4])
    cands = jax.random.uniform(jax.random.PRNGKey(6), (7, 2), minval=-1, maxval=1)
    behavior = nets.behavior_apply(params.behavior, obs)
    assert num_anchors(variant, means, cfg.num_components) == anchors
    score = lambda delta: np.asarray(score_candidates(
        nets, params, obs, cands, behavior, 0,
        SelectKnobs.create(1.0, 1.0, 0.1, 10, anchor_bonus=delta), variant=variant,
        anchors=anchors)[0])
    want = np.zeros(7)
    want[:anchors] = 2.5
    np.testing.assert_allclose(score(2.5) - score(0.0), want, atol=1e-5)
    if not means:  # the default count: the paper's set has one anchor, no_anchor none
        plain = lambda delta: np.asarray(score_candidates(
            nets, params, obs, cands, behavior, 0,
            SelectKnobs.create(1.0, 1.0, 0.1, 10, anchor_bonus=delta), variant=variant)[0])
        np.testing.assert_allclose(plain(2.5) - plain(0.0), want, atol=1e-5)


def test_a_large_anchor_bonus_returns_the_anchor(small):
    """delta above any score gap: the N-candidate policy acts exactly like N = 0; delta = 0
    reproduces the paper's selection (the config default)."""
    cfg, params, obs = small
    key = jax.random.PRNGKey(3)
    anchor, _ = make_policy(cfg, num_candidates=0)(params, obs, key, 0,
                                                   SelectKnobs.from_config(cfg))
    policy = make_policy(cfg, num_candidates=32)
    big, info = policy(params, obs, key, 0, SelectKnobs.from_config(cfg, anchor_bonus=1e6))
    np.testing.assert_allclose(np.asarray(big), np.asarray(anchor), atol=1e-6)
    plain, _ = policy(params, obs, key, 0, SelectKnobs.from_config(cfg))
    paper, _ = policy(params, obs, key, 0, SelectKnobs.from_config(cfg, anchor_bonus=0.0))
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(paper))
    assert not np.allclose(np.asarray(plain), np.asarray(anchor))  # selection does act here
    with pytest.raises(ValueError, match="anchor_bonus must be >= 0"):
        cfg.replace(anchor_bonus=-1.0).validate()


def test_large_beta_picks_the_behavior_likeliest_candidate():
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import score_candidates

    cfg = GEMConfig(hidden_dims=(8,), num_critics=2, num_components=2, behavior_num_components=1)
    params = policy_params(init_state(jax.random.PRNGKey(3), cfg, obs_dim=2, action_dim=1))
    nets = make_networks(cfg, 1)
    obs = jnp.zeros(2)
    behavior = nets.behavior_apply(params.behavior, obs)
    cands = jnp.linspace(-1, 1, 21)[:, None]
    knobs = SelectKnobs.create(lcb_lambda=0.0, beta_start=1e4, beta_end=1e4, horizon=10)
    scores, _ = score_candidates(nets, params, obs, cands, behavior, 0, knobs)
    nearest = jnp.argmin(jnp.abs(cands[:, 0] - behavior.means[0, 0]))
    assert int(jnp.argmax(scores)) == int(nearest)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_candidates=-1),
        dict(num_candidates=3, top_k=5),
        dict(variant="bogus"),
        dict(num_candidates=0, variant="no_anchor"),
        dict(source="critic"),
        dict(mode="softmax"),
        dict(state_chunk=-2),
    ],
)
def test_invalid_static_knobs_raise(kwargs):
    with pytest.raises(ValueError):
        make_policy(GEMConfig(), **kwargs)


@pytest.fixture(scope="module")
def unchunked(small):
    """Actions and audits of 7 states with every state vmapped at once (state_chunk = 0)."""
    cfg, params, _ = small
    obs = jax.random.normal(jax.random.PRNGKey(4), (7, 4))
    knobs = SelectKnobs.create(1.0, 1.0, 0.1, 100)
    t = jnp.arange(7.0)
    args = (params, obs, jax.random.PRNGKey(5), t, knobs)
    return args, make_policy(cfg, num_candidates=8, state_chunk=0)(*args)


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_state_chunk_gives_the_unchunked_actions(small, unchunked, chunk):
    """lax.map over chunks of vmapped states (padding 7 states up to a multiple) changes
    the layout only: every state keeps its key, so actions and audits match vmap-all."""
    args, (want, want_info) = unchunked
    got, info = make_policy(small[0], num_candidates=8, state_chunk=chunk)(*args)
    assert got.shape == want.shape == (7, 2)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for name in want_info:
        np.testing.assert_allclose(info[name], want_info[name], rtol=1e-4, atol=1e-4)


def test_auto_state_chunk():
    from gem_jax.method.select import auto_state_chunk

    assert auto_state_chunk(1024, "cpu") == 2  # 2 * 1025 candidates a chunk
    assert auto_state_chunk(8192, "cpu") == 1
    assert auto_state_chunk(63, "cpu") == 32
    assert auto_state_chunk(255, "cpu") == 8
    assert auto_state_chunk(1024, "gpu") == 0  # accelerators: vmap all states


@pytest.fixture(scope="module")
def small_policy8(small):
    return make_policy(small[0], num_candidates=8)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    scale=st.floats(0.0, 50.0),
    lam=st.floats(0, 10),
    beta=st.floats(0, 10),
)
def test_select_fuzz_no_nan(small, small_policy8, seed, scale, lam, beta):
    cfg, params, _ = small
    policy = small_policy8  # one compiled policy for every example
    obs = scale * jax.random.normal(jax.random.PRNGKey(seed), (3, 4))
    actions, info = policy(
        params, obs, jax.random.PRNGKey(seed), seed % 1000, SelectKnobs.create(lam, beta, 0.0, 1000)
    )
    assert np.all(np.isfinite(np.asarray(actions)))
    assert all(np.all(np.isfinite(np.asarray(v))) for v in info.values())


def test_empo_support_model_scores_with_the_cluster_mixture():
    """support_model='empo': the top-1's behavior log-lik is log sum_z q(z|s) beta_z(a|s)."""
    from toy import two_mode_bandit

    from gem_jax.empo.clustering import EMPOConfig
    from gem_jax.empo.support import empo_log_prob, fit_empo_support

    data = jax.tree.map(np.asarray, two_mode_bandit(jax.random.PRNGKey(0), 256))
    episodes = np.arange(256) // 8
    support = fit_empo_support(
        data,
        episodes,
        EMPOConfig(em_epochs=1, pretrain_epochs=1, bias_epochs=0, hidden_dims=(8,)),
        key=jax.random.PRNGKey(0),
        progress=False,
    )
    cfg = GEMConfig(hidden_dims=(8,), num_critics=2, num_components=2, support_model="empo")
    params = policy_params(init_state(jax.random.PRNGKey(1), cfg, 2, 1), support)
    obs = jnp.asarray(data.observations[:5])
    actions, info = make_policy(cfg, num_candidates=8)(
        params, obs, jax.random.PRNGKey(2), 0, SelectKnobs.from_config(cfg)
    )
    want = empo_log_prob(support, obs, actions)  # k = 1: the action is the top-1 candidate
    np.testing.assert_allclose(info["behavior_log_prob"], want, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="support"):
        make_policy(cfg, num_candidates=8)(
            policy_params(init_state(jax.random.PRNGKey(1), cfg, 2, 1)),
            obs,
            jax.random.PRNGKey(2),
            0,
            SelectKnobs.from_config(cfg),
        )


def test_top_k_pick_sample_policy(small):
    """In the jitted policy: k = 1 sample equals the argmax; with k = N + 1 the drawn actions
    differ across keys while the "mean" policy's do not depend on the pick key."""
    cfg, params, obs = small
    knobs = SelectKnobs.from_config(cfg)
    key = jax.random.PRNGKey(3)
    argmax = make_policy(cfg, num_candidates=8, top_k=1)(params, obs, key, 0, knobs)[0]
    one = make_policy(cfg, num_candidates=8, top_k=1, top_k_pick="sample")(
        params, obs, key, 0, knobs)[0]
    np.testing.assert_array_equal(one, argmax)
    sample = make_policy(cfg, num_candidates=8, top_k=9, top_k_pick="sample")
    draws = np.stack([np.asarray(sample(params, obs, jax.random.PRNGKey(i), 0, knobs)[0])
                      for i in range(4)])  # [4, B, A]
    assert np.abs(draws - draws[0]).max() > 1e-3
    with pytest.raises(ValueError, match="top_k_pick"):
        make_policy(cfg, num_candidates=8, top_k=2, top_k_pick="median")
    with pytest.raises(ValueError, match="top_k_pick"):
        GEMConfig(top_k_pick="median").validate()


def test_maze2d_preset_draws_from_the_top_quarter(small):
    """The maze2d preset (ours, RESULTS.md "The top quarter"): at N = 64 it executes a
    uniform draw from the top 16 of 65 (the fixed-k policy with k = 16), not the argmax."""
    from gem_jax.presets import preset

    cfg, params, obs = small
    maze = preset("maze2d", cfg)
    assert (maze.top_k_frac, maze.top_k_pick, maze.top_k) == (0.25, "sample", 1)
    knobs = SelectKnobs.from_config(maze)
    keys = [jax.random.PRNGKey(i) for i in range(4)]
    policy = make_policy(maze, num_candidates=64)
    top16 = make_policy(maze.replace(top_k_frac=0.0), num_candidates=64, top_k=16)
    argmax = make_policy(cfg, num_candidates=64)
    got = np.stack([np.asarray(policy(params, obs, k, 0, knobs)[0]) for k in keys])  # [4, B, A]
    want = np.stack([np.asarray(top16(params, obs, k, 0, knobs)[0]) for k in keys])
    best = np.stack([np.asarray(argmax(params, obs, k, 0, knobs)[0]) for k in keys])
    np.testing.assert_array_equal(got, want)
    assert np.abs(got - best).max() > 1e-3 and np.abs(got - got[0]).max() > 1e-3


def test_top_k_frac_policy_is_the_fixed_k_it_resolves_to(small):
    """top_k_frac (ours): the policy equals the fixed-k policy with k = round(frac (N + 1)),
    at the config's N and at an overridden N, and the config's top_k is then ignored."""
    from gem_jax.method.select import resolve_top_k

    assert [resolve_top_k(n, 7, 0.25) for n in (0, 1, 8, 1024)] == [1, 1, 2, 256]
    assert resolve_top_k(8, 7, 0.0) == 7 and resolve_top_k(8, 7, 0.5, "no_anchor") == 4
    with pytest.raises(ValueError, match="top_k_frac"):
        resolve_top_k(8, 1, -0.1)
    cfg, params, obs = small
    knobs = SelectKnobs.from_config(cfg)
    key = jax.random.PRNGKey(5)
    frac_cfg = cfg.replace(top_k_frac=0.5, top_k=100, top_k_pick="sample").validate()
    for n, k in ((8, 5), (16, 9)):  # 0.5 * 9 = 4.5 and 0.5 * 17 = 8.5, halves rounded up
        got = make_policy(frac_cfg, num_candidates=n)(params, obs, key, 0, knobs)[0]
        want = make_policy(cfg, num_candidates=n, top_k=k, top_k_pick="sample")(
            params, obs, key, 0, knobs)[0]
        np.testing.assert_array_equal(got, want)
    named = make_policy(frac_cfg, num_candidates=8, top_k=3)(params, obs, key, 0, knobs)[0]
    fixed3 = make_policy(cfg, num_candidates=8, top_k=3, top_k_pick="sample")(
        params, obs, key, 0, knobs)[0]
    np.testing.assert_array_equal(named, fixed3)  # a k named in the call is a fixed k
    with pytest.raises(ValueError, match="top_k_frac"):
        GEMConfig(top_k_frac=2.0).validate()
    with pytest.raises(ValueError, match="exceeds the candidate-set size"):
        GEMConfig(num_candidates=8, top_k=100).validate()  # without a share, k is checked


def test_softmax_pick_tends_to_the_argmax_and_spreads_at_low_temperature():
    """SfBC's selection (method §9): k draws from softmax(alpha * score) without replacement,
    averaged; one draw follows the softmax's frequencies."""
    cands = jnp.array([[0.0], [0.5], [1.0]])
    scores = jnp.array([0.0, 1.0, 0.2])
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    draw = jax.vmap(lambda k, t: pick_top_k(cands, scores, 1, k, "softmax", t), (0, None))
    _, cold = draw(keys, 1e4)
    assert bool(jnp.all(cold == 1))  # the argmax every time
    _, warm = draw(keys, 1.0)
    freq = np.bincount(np.asarray(warm), minlength=3) / 2000
    want = np.exp([0.0, 1.0, 0.2]) / np.exp([0.0, 1.0, 0.2]).sum()
    np.testing.assert_allclose(freq, want, atol=0.04)
    # k draws without replacement (SfBC's code): at a high temperature the k best, in order
    five = jnp.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    mean3, first = pick_top_k(five, jnp.array([0.0, 0.9, 0.1, 1.0, 0.5]), 3, keys[0],
                              "softmax", 1e4)
    np.testing.assert_allclose(mean3, [(3.0 + 1.0 + 4.0) / 3])
    assert int(first) == 3
    # and at any temperature k distinct ones: k = C takes the whole set
    whole, _ = pick_top_k(five, jnp.zeros(5), 5, keys[1], "softmax", 1.0)
    np.testing.assert_allclose(whole, [2.0], rtol=1e-6)
