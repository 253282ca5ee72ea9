"""gem_jax/method/learner.py: compile once, losses go down, phases, fused loop, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from toy import two_mode_bandit

from gem_jax import GEMConfig, init_state, make_train_step, sample_batch
from gem_jax.method.learner import make_fused_train_step, make_train_loop

CFG = GEMConfig(
    hidden_dims=(32, 32),
    num_critics=2,
    num_components=2,
    behavior_num_components=2,
    batch_size=128,
    steps_per_call=50,
)


@pytest.fixture(scope="module")
def data():
    return two_mode_bandit(jax.random.PRNGKey(0), 2048)


def test_second_call_does_not_recompile(data):
    step = make_train_step(CFG)
    state = init_state(jax.random.PRNGKey(0), CFG, 2, 1)
    batch = sample_batch(jax.random.PRNGKey(1), data, CFG.batch_size)
    state, _ = step(state, batch)
    n = step._cache_size()
    state, _ = step(state, sample_batch(jax.random.PRNGKey(2), data, CFG.batch_size))
    assert step._cache_size() == n == 1
    assert int(state.step) == 2


def test_train_lowers_losses(data):
    loop = make_fused_train_step(CFG)
    state = init_state(jax.random.PRNGKey(0), CFG, 2, 1)
    state, first = loop(state, data)
    for _ in range(5):
        state, last = loop(state, data)
    assert int(state.step) == 6 * CFG.steps_per_call
    assert float(last["behavior/nll"][-10:].mean()) < float(first["behavior/nll"][:10].mean()) - 0.1
    assert float(last["critic/loss"][-10:].mean()) < 0.5 * float(first["critic/loss"][:10].mean())
    assert float(last["actor/loss"][-10:].mean()) < float(first["actor/loss"][:10].mean())
    assert np.all(np.asarray(last["train/finite"]) == 1.0)


def test_fused_loop_equals_step_by_step(data):
    """The scan loop is exactly K single steps on the minibatches its keys draw."""
    step = jax.jit(__import__("gem_jax.method.learner", fromlist=["make_update"]).make_update(CFG))
    loop = jax.jit(make_train_loop(CFG, num_steps=3))
    s0 = init_state(jax.random.PRNGKey(5), CFG, 2, 1)
    fused, _ = loop(s0, data)  # not donated: s0 stays valid
    manual = s0
    for _ in range(3):
        key, batch_key = jax.random.split(manual.key)
        manual, _ = step(manual.replace(key=key), sample_batch(batch_key, data, CFG.batch_size))
    for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(manual)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_same_seed_is_bitwise_deterministic(data):
    loop = make_fused_train_step(CFG)
    runs = []
    for _ in range(2):
        s, _ = loop(init_state(jax.random.PRNGKey(7), CFG, 2, 1), data)
        runs.append(jax.tree.leaves(s))
    for a, b in zip(*runs):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_pretrain_then_freeze_behavior(data):
    cfg = CFG.replace(gmm_pretrain_steps=20, gmm_freeze_after_pretrain=True, steps_per_call=20)
    loop = make_fused_train_step(cfg)
    s0 = init_state(jax.random.PRNGKey(0), cfg, 2, 1)
    snap = lambda s: jax.tree.map(np.array, s)  # host copies: the loop donates its input
    s0_host = snap(s0)
    s1, _ = loop(s0, data)  # steps 0..19: behavior only
    s0 = s0_host
    s1_host = snap(s1)
    same = lambda a, b: all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )
    assert same(s1.actor.params, s0.actor.params) and same(s1.critic.params, s0.critic.params)
    assert same(s1.target_critic_params, s0.target_critic_params)
    assert not same(s1.behavior.params, s0.behavior.params)
    s2, _ = loop(s1, data)  # steps 20..39: everything but the frozen behavior
    assert same(s2.behavior.params, s1_host.behavior.params)
    assert not same(s2.actor.params, s1_host.actor.params)


def test_target_is_polyak_average(data):
    cfg = CFG.replace(target_update_rate=0.25)
    step = make_train_step(cfg)
    s0 = init_state(jax.random.PRNGKey(0), cfg, 2, 1)
    old_target = jax.tree.map(np.asarray, s0.target_critic_params)
    s0 = jax.tree.map(jnp.copy, s0)
    s1, _ = step(s0, sample_batch(jax.random.PRNGKey(1), data, cfg.batch_size))
    for t_new, t_old, q in zip(
        jax.tree.leaves(s1.target_critic_params),
        jax.tree.leaves(old_target),
        jax.tree.leaves(s1.critic.params),
    ):
        np.testing.assert_allclose(t_new, 0.75 * t_old + 0.25 * np.asarray(q), rtol=1e-5, atol=1e-7)


def test_nonfinite_loss_is_flagged(data):
    bad = data.replace(rewards=data.rewards.at[:].set(jnp.nan))
    _, m = make_fused_train_step(CFG)(init_state(jax.random.PRNGKey(0), CFG, 2, 1), bad)
    assert np.all(np.asarray(m["train/finite"]) == 0.0)


def test_target_min_over_a_subset():
    """`target_min` is the min over M distinct critics; M = E is the method §2 min over all."""
    from gem_jax.method.learner import target_min

    q = jnp.array([[5.0, 1.0], [2.0, 7.0], [9.0, 3.0], [4.0, 8.0], [6.0, 0.5]])  # [E=5, B=2]
    np.testing.assert_array_equal(target_min(q, jax.random.PRNGKey(0), 5), [2.0, 0.5])
    seen = set()
    for i in range(200):
        key = jax.random.PRNGKey(i)
        out = np.asarray(target_min(q, key, 2))
        chosen = np.asarray(jax.random.permutation(key, 5)[:2])
        assert len(set(chosen.tolist())) == 2
        np.testing.assert_array_equal(out, np.asarray(q)[chosen].min(axis=0))
        seen.add(tuple(sorted(chosen.tolist())))
    assert len(seen) == 10  # every pair of the 5 critics is drawn


def test_target_subset_lifts_the_value_level(data):
    """With E = 5, the min over a random pair is less pessimistic than the min over all five:
    the value net trained on it sits higher on the same data; M beyond E is refused."""
    cfg5 = CFG.replace(num_critics=5, steps_per_call=100, hidden_dims=(16,))
    values = {}
    for m in (0, 2):
        cfg = cfg5.replace(target_subset=m)
        loop = make_fused_train_step(cfg)
        state = init_state(jax.random.PRNGKey(3), cfg, 2, 1)
        for _ in range(2):
            state, metrics = loop(state, data)
        assert np.all(np.asarray(metrics["train/finite"]) == 1.0)
        values[m] = float(np.asarray(metrics["value/v_mean"])[-50:].mean())
    assert values[2] > values[0] + 0.01
    with pytest.raises(ValueError, match="target_subset"):
        CFG.replace(target_subset=3).validate()


def test_bc_without_critics_trains_the_same_actor_and_no_critic(data):
    """BC's actor weights every pair by exp(0 * A) = 1: skipping the value and critic updates
    (its preset's train_critics=False) leaves the actor and behavior updates as they were,
    and the critic, value and target parameters at their initialisation."""
    from gem_jax import presets
    from gem_jax.method.select import make_policy

    bc = presets.algorithm("bc", CFG)
    assert not bc.train_critics
    s0 = init_state(jax.random.PRNGKey(3), bc, 2, 1)
    fast, m = jax.jit(make_train_loop(bc, num_steps=20))(s0, data)
    full, _ = jax.jit(make_train_loop(bc.replace(train_critics=True), num_steps=20))(s0, data)
    for name in ("actor", "behavior"):
        for a, b in zip(jax.tree.leaves(getattr(fast, name).params),
                        jax.tree.leaves(getattr(full, name).params)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for name in ("critic", "value"):
        for a, b in zip(jax.tree.leaves(getattr(fast, name).params),
                        jax.tree.leaves(getattr(s0, name).params)):
            assert np.array_equal(np.asarray(a), np.asarray(b))
        assert not all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
            jax.tree.leaves(getattr(full, name).params), jax.tree.leaves(getattr(s0, name).params)))
    for a, b in zip(jax.tree.leaves(fast.target_critic_params),
                    jax.tree.leaves(s0.target_critic_params)):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert float(np.asarray(m["critic/loss"]).max()) == 0.0
    assert float(np.abs(np.asarray(m["actor/advantage_mean"])).max()) == 0.0  # no critic: none
    assert np.all(np.asarray(m["train/finite"]) == 1.0)
    assert float(np.asarray(m["actor/weight_mean"]).min()) == 1.0
    with pytest.raises(ValueError, match="num_candidates=64 needs trained critics"):
        make_policy(bc, num_candidates=64)
    make_policy(bc)  # N = 0: its mean, no critic needed
    with pytest.raises(ValueError, match="train_critics=False is for BC alone"):
        CFG.replace(train_critics=False).validate()


def _cost(loop, state, data) -> float:
    cost = jax.jit(loop).lower(state, data).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def test_phase_programs_match_the_traced_phase_and_drop_idle_work(data):
    """`phase="pretrain"` / `"main"` (built for one side of gmm_pretrain_steps) give the
    numbers of the program that reads the phase from state.step, and XLA drops the idle
    updates: the pretraining program costs a fraction of the traced one."""
    cfg = CFG.replace(gmm_pretrain_steps=20, gmm_freeze_after_pretrain=True, steps_per_call=20)
    s0 = init_state(jax.random.PRNGKey(0), cfg, 2, 1)
    traced = jax.jit(make_train_loop(cfg, 20))
    pre = make_train_loop(cfg, 20, phase="pretrain")
    main = make_train_loop(cfg, 20, phase="main")
    a1, ma1 = traced(s0, data)
    a2, ma2 = traced(a1, data)
    b1, mb1 = jax.jit(pre)(s0, data)
    b2, mb2 = jax.jit(main)(b1, data)
    close = lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5,
                                                    atol=1e-6)
    jax.tree.map(close, a1, b1)
    jax.tree.map(close, a2, b2)
    close(ma1["behavior/nll"], mb1["behavior/nll"])
    assert np.all(np.asarray(mb1["critic/loss"]) == 0)  # nothing but the behavior trained
    assert np.all(np.asarray(mb1["train/finite"]) == 1)
    for name in ("critic/loss", "actor/loss", "value/loss", "behavior/nll"):
        close(ma2[name], mb2[name])
    full = _cost(make_train_loop(cfg, 20), s0, data)
    assert _cost(pre, s0, data) < 0.5 * full
    assert _cost(main, s0, data) < full


def test_phase_needs_a_pretraining_and_a_known_name():
    with pytest.raises(ValueError, match="gmm_pretrain_steps > 0"):
        make_train_loop(CFG, 5, phase="main")
    with pytest.raises(ValueError, match="phase must be one of"):
        make_train_loop(CFG.replace(gmm_pretrain_steps=5), 5, phase="warmup")
