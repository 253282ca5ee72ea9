"""IDQL in the shared framework (method §9): the diffusion model trains beside IQL's critic,
and the select step ranks its samples (`source="diffusion"`, no anchor, no support term)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import toy

from gem_jax import presets
from gem_jax.harness import checkpoint as ckpt
from gem_jax.harness import learners
from gem_jax.method import gmm as G
from gem_jax.method.config import GEMConfig
from gem_jax.method.select import (
    SelectKnobs,
    candidate_set,
    make_policy,
    policy_params,
    seed_params,
)

SMALL = GEMConfig(hidden_dims=(32, 32), batch_size=128, diffusion_hidden=64,
                  diffusion_blocks=2, diffusion_dropout=0.0, diffusion_lr=1e-3)


def idql_config(**changes) -> GEMConfig:
    return presets.idql(SMALL).replace(**{"num_candidates": 16, **changes}).validate()


def test_idql_picks_the_better_mode_of_a_two_mode_bandit():
    """Modes at +-0.6 with rewards 1 and 0: the diffusion model proposes both, the critic's
    argmax keeps the + mode (a Gaussian's mean would fall between them)."""
    data = toy.two_mode_bandit(jax.random.PRNGKey(0), 4096, minus_reward=0.0)
    config = idql_config(diffusion_ema_rate=0.05)
    state = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    state, metrics = jax.jit(learners.make_train_loop(config, 2500))(state, data)
    assert bool(jnp.all(metrics["train/finite"] == 1))
    loss = metrics["diffusion/loss"]
    assert float(loss[-200:].mean()) < float(loss[:50].mean())
    obs = jax.random.uniform(jax.random.PRNGKey(2), (200, 2), minval=-1, maxval=1)
    policy = make_policy(config)
    actions, info = policy(policy_params(state), obs, jax.random.PRNGKey(3), 0,
                           SelectKnobs.from_config(config))
    assert actions.shape == (200, 1)
    # every state takes the rewarded side (the data's are half and half); what the argmax
    # keeps is the best-scored of 16 samples, which may sit inside the + mode's spread
    assert float(jnp.mean(actions[:, 0] > 0.1)) > 0.97 and float(jnp.mean(actions)) > 0.3
    # the samples themselves hold both modes: the choice, not the proposal, finds +0.6
    from gem_jax.method import diffusion

    samples = diffusion.propose(config, state.diffusion_ema, obs[:8], jax.random.PRNGKey(4), 64,
                                1)  # [64, 8, 1]
    assert 0.2 < float(jnp.mean(samples > 0)) < 0.8


def test_diffusion_samples_fill_the_set_without_an_anchor():
    actor = G.GMM(logits=jnp.zeros(1), means=jnp.array([[0.3]]), log_stds=jnp.zeros((1, 1)))
    samples = jnp.array([[0.5], [-1.5], [0.1]])
    with_anchor = candidate_set(actor, actor, jax.random.PRNGKey(0), 3, "diffusion",
                                samples=samples)
    np.testing.assert_allclose(with_anchor[:, 0], [0.3, 0.5, -1.0, 0.1])  # clipped to the box
    alone = candidate_set(actor, actor, jax.random.PRNGKey(0), 3, "diffusion", "no_anchor",
                          samples=samples)
    np.testing.assert_allclose(alone[:, 0], [0.5, -1.0, 0.1])


def test_diffusion_source_needs_a_diffusion_model():
    with pytest.raises(ValueError, match="needs a trained diffusion model"):
        SMALL.replace(source="diffusion").validate()
    with pytest.raises(ValueError, match="anchor=False needs num_candidates >= 1"):
        SMALL.replace(anchor=False, num_candidates=0).validate()
    with pytest.raises(ValueError, match="needs a run trained with a diffusion model"):
        make_policy(SMALL, source="diffusion")


def test_idql_state_round_trips_through_a_checkpoint(tmp_path):
    config = idql_config()
    state = jax.vmap(lambda k: learners.init_state(k, config, 2, 1))(
        jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)]))
    meta = ckpt.make_meta(config, 2, 1, [0, 1], env="toy", action_scale=[1.0])
    ckpt.save(ckpt.make_manager(tmp_path), 5, state, meta)
    restored, _ = ckpt.restore(tmp_path)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    params = seed_params(policy_params(restored), 1)
    assert jax.tree.leaves(params.diffusion)[0].ndim >= 1 and restored.diffusion is not None


def test_idql_and_sfbc_policies_load_and_export_as_their_select_step(tmp_path):
    """`load_policy` / `export_policy` (method §5) serve a diffusion run as they serve GEM:
    the loaded policy is the select step with `source="diffusion"` (N = 16 samples of the
    EMA model), and the exported artifact gives the same actions for the same key."""
    import gem_jax

    for name, config in (("idql", idql_config()), ("sfbc", presets.sfbc(SMALL))):
        state = jax.vmap(lambda k, c=config: learners.init_state(k, c, 3, 2))(
            jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)]))
        extra = {}
        if config.planning_iterations > 0:  # SfBC's state carries its planned returns [S, M]
            state = state.replace(returns=jnp.zeros((2, 7), jnp.float32))
            extra = {"num_transitions": 7}
        workdir = tmp_path / name
        meta = ckpt.make_meta(config, 3, 2, [0, 1], env="toy", action_scale=[0.5, 2.0],
                              **extra)
        ckpt.save(ckpt.make_manager(workdir), 5, state, meta)
        obs = jax.random.normal(jax.random.PRNGKey(4), (4, 3))  # [B, obs]
        key = jax.random.PRNGKey(9)
        want, _ = make_policy(config)(seed_params(policy_params(state), 1), obs, key, 0,
                                      SelectKnobs.from_config(config))  # [B, A] in [-1, 1]
        policy = gem_jax.load_policy(workdir, seed_index=1)
        got = policy(obs, key)  # [B, A] env units
        np.testing.assert_allclose(got, np.asarray(want) * np.array([0.5, 2.0]), rtol=1e-5,
                                   atol=1e-6)
        # Not the anchor's action in disguise: another key draws other diffusion samples.
        assert not np.allclose(got, policy(obs, jax.random.PRNGKey(10)))
        exported = gem_jax.export_policy(workdir, tmp_path / f"{name}.bin", batch_size=None,
                                         seed_index=1, platforms=("cpu",))
        np.testing.assert_allclose(exported.call(obs, key), got, rtol=1e-5, atol=1e-6)


def test_sfbc_regresses_on_returns_and_draws_the_better_mode():
    """SfBC: the critic fits the MC return (here the one-step reward), the softmax draw over
    diffusion samples keeps the rewarded mode."""
    data = toy.two_mode_bandit(jax.random.PRNGKey(0), 4096, minus_reward=0.0)
    data = data.replace(returns=data.rewards)  # one-step episodes: G = r
    config = presets.sfbc(SMALL).replace(num_candidates=16, diffusion_ema_rate=0.05).validate()
    state = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    state, metrics = jax.jit(learners.make_train_loop(config, 2500))(state, data)
    # standardised targets (SfBC's code): r in {0, 1}, half and half -> +-1, mean about 0
    assert float(metrics["critic/target_mean"][-1]) == pytest.approx(0.0, abs=0.2)
    obs = jax.random.uniform(jax.random.PRNGKey(2), (200, 2), minval=-1, maxval=1)
    actions, _ = make_policy(config)(policy_params(state), obs, jax.random.PRNGKey(3), 0,
                                     SelectKnobs.from_config(config))
    assert float(jnp.mean(actions[:, 0] > 0.1)) > 0.95
    with pytest.raises(ValueError, match="needs the dataset's returns"):
        jax.jit(learners.make_train_loop(config, 2))(state, data.replace(returns=None))


def test_dataset_returns_stop_at_each_episode_end():
    from types import SimpleNamespace

    from gem_jax.harness.runner import dataset_returns

    batch = SimpleNamespace(rewards=np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
                            dones=np.array([0.0, 0.0, 0.0, 0.0, 1.0]))
    dataset = SimpleNamespace(batch=batch, episode_ids=np.array([0, 0, 1, 1, 1]),
                              suite="locomotion")
    got = dataset_returns(dataset, 0.5)
    # episode 0 (cut after 2 steps): 1 + 0.5 * 2 = 2, 2; episode 1: 3 + 0.5 (4 + 0.5 * 5), ...
    np.testing.assert_allclose(got, [2.0, 2.0, 6.25, 6.5, 5.0])
    # AntMaze: the loader's r - 1 is undone, so a failed, cut episode is worth 0, not what a
    # state next to the goal is worth (episode 1 reaches the goal at its last step)
    batch = SimpleNamespace(rewards=np.array([-1.0, -1.0, -1.0, -1.0, 0.0]), dones=batch.dones)
    ant = SimpleNamespace(batch=batch, episode_ids=dataset.episode_ids, suite="antmaze")
    np.testing.assert_allclose(dataset_returns(ant, 0.5), [0.0, 0.0, 0.25, 0.5, 1.0])


def _constant_critic(params, value: float):
    """Critic params whose every member outputs `value` everywhere: all weights zero, the
    output layer's bias (the leaf of shape [E, 1]) set to `value`."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    return jax.tree.map(lambda x: x + value if x.ndim == 2 and x.shape[-1] == 1 else x, zeros)


def test_planning_step_values_each_state_and_replans_the_returns():
    """With Q = c everywhere, every planning value is c, so the planned returns are `replan`
    with V = c: checked on 5 transitions (two episodes, the first cut) in chunks of 2 (one
    padded), for c below and above the data's returns, in both forms; by hand at c = 10.
    Standardised (SfBC's code), the critic's c maps back to returns as c * std + mean."""
    from types import SimpleNamespace

    from gem_jax.related import sfbc

    rewards = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    dones = jnp.array([0.0, 0.0, 0.0, 0.0, 1.0])
    ends = sfbc.episode_ends(np.array([0, 0, 1, 1, 1]))
    np.testing.assert_array_equal(ends, [False, True, False, False, True])
    obs = jax.random.normal(jax.random.PRNGKey(1), (6, 2))
    data = SimpleNamespace(rewards=rewards, dones=dones, observations=obs[:5],
                           next_observations=obs[1:])
    # c = 10 by hand (gamma = 0.99). The paper's form: R4 = 5 (terminal);
    # R3 = 4 + g max(5, 10) = 13.9; R2 = 3 + g max(13.9, 10) = 16.761; R1 = 2 + g 10 = 11.9
    # (cut: only V); R0 = 1 + g max(11.9, 10) = 12.781. The code's: U4 = max(5, 10) = 10;
    # U3 = max(4 + g 10, 10) = 13.9; U2 = max(3 + g 13.9, 10) = 16.761; U1 = max(2, 10) = 10
    # (an end: no bootstrap); U0 = max(1 + g 10, 10) = 10.9
    by_hand = {"paper": [12.781, 11.9, 16.761, 13.9, 5.0], "code": [10.9, 10.0, 16.761, 13.9,
                                                                     10.0]}
    for target, want_10 in by_hand.items():
        config = presets.sfbc(SMALL).replace(
            num_candidates=4, planning_samples=3, planning_chunk=2, planning_target=target,
            normalize_returns=False).validate()
        state = learners.init_state(jax.random.PRNGKey(0), config, 2, 1)
        plan = sfbc.make_planning_step(config, 1)
        for c in (0.0, 10.0):
            critic = state.critic.replace(params=_constant_critic(state.critic.params, c))
            out = plan(state.replace(critic=critic), data, ends)
            want = sfbc.replan(config, data, ends, jnp.full(5, c))
            np.testing.assert_allclose(out.returns, want, rtol=1e-6)
            assert not np.array_equal(np.asarray(out.key), np.asarray(state.key))
        np.testing.assert_allclose(out.returns, want_10, rtol=1e-5)

    config = presets.sfbc(SMALL).replace(num_candidates=4, planning_samples=3,
                                         planning_chunk=2).validate()  # standardised, code
    assert config.normalize_returns and config.planning_target == "code"
    state = learners.init_state(jax.random.PRNGKey(0), config, 2, 1)
    state = state.replace(returns=jnp.array([0.0, 2.0, 4.0, 6.0, 8.0]))  # mean 4, std 2.83
    critic = state.critic.replace(params=_constant_critic(state.critic.params, 0.5))
    out = sfbc.make_planning_step(config, 1)(state.replace(critic=critic), data, ends)
    v = 0.5 * np.std([0.0, 2.0, 4.0, 6.0, 8.0]) + 4.0
    np.testing.assert_allclose(out.returns, sfbc.planned_returns_code(rewards, ends,
                                                                      jnp.full(5, v), 0.99),
                               rtol=1e-5)


def test_reset_critic_gives_a_fresh_ensemble_and_keeps_the_rest():
    from gem_jax.related import sfbc

    config = presets.sfbc(SMALL).replace(num_candidates=4).validate()
    state = learners.init_state(jax.random.PRNGKey(0), config, 2, 1)
    critic = state.critic.replace(params=_constant_critic(state.critic.params, 3.0))
    state = state.replace(critic=critic, target_critic_params=critic.params,
                          returns=jnp.arange(4.0))
    out = sfbc.reset_critic(config, state, 2, 1)
    fresh = jax.tree.leaves(out.critic.params)
    assert any(np.abs(np.asarray(x)).max() > 0 for x in fresh if x.ndim > 2)  # new weights
    jax.tree.map(np.testing.assert_array_equal, out.target_critic_params, out.critic.params)
    for name in ("actor", "behavior", "value", "diffusion", "diffusion_ema", "returns"):
        jax.tree.map(np.testing.assert_array_equal, getattr(out, name), getattr(state, name))
    assert not np.array_equal(np.asarray(out.key), np.asarray(state.key))


def test_planning_schedule_and_its_config_checks():
    from gem_jax.related import sfbc

    assert sfbc.planning_steps(3000, 1) == [1500]
    assert sfbc.planning_steps(3000, 2) == [1000, 2000]
    assert sfbc.planning_steps(3000, 0) == []
    assert presets.sfbc().planning_iterations == 1 and presets.idql().planning_iterations == 0
    with pytest.raises(ValueError, match="needs critic_target='returns'"):
        presets.idql(SMALL).replace(planning_iterations=1).validate()


def test_the_loop_regresses_on_the_states_own_returns():
    """A state carrying `returns` [M] trains its critic on them, not on the data's; under
    `normalize_returns` standardised by their own mean and max(std, 0.1)."""
    from gem_jax.method.learner import regression_targets

    data = toy.two_mode_bandit(jax.random.PRNGKey(0), 1024, minus_reward=0.0)
    data = data.replace(returns=data.rewards)
    config = presets.sfbc(SMALL).replace(num_candidates=4, normalize_returns=False).validate()
    state = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    state = state.replace(returns=jnp.full((1024,), 3.0))
    _, metrics = jax.jit(learners.make_train_loop(config, 50))(state, data)
    np.testing.assert_allclose(metrics["critic/target_mean"], 3.0, rtol=1e-6)
    config = config.replace(normalize_returns=True)
    _, metrics = jax.jit(learners.make_train_loop(config, 50))(state, data)
    np.testing.assert_allclose(metrics["critic/target_mean"], 0.0, atol=1e-6)  # std floored
    got = regression_targets(config, jnp.array([1.0, 2.0, 3.0, 4.0]), None)
    np.testing.assert_allclose(got, (np.arange(1.0, 5.0) - 2.5) / np.sqrt(1.25), rtol=1e-6)
    got = regression_targets(config, None, jnp.array([0.0, 0.1]))  # std 0.05 -> 0.1
    np.testing.assert_allclose(got, [-0.5, 0.5], rtol=1e-5)
    assert regression_targets(presets.iql(SMALL), None, jnp.ones(3)) is None  # bootstraps


def test_sfbc_run_plans_once_and_its_checkpoint_resumes(tiny_nav2d, tmp_path):
    """End to end on nav2d: the run plans at step 20 of 40, the planned returns (per seed)
    are saved with the state and restored; resuming to 60 steps continues from them."""
    from gem_jax.harness import runner

    config = presets.sfbc(SMALL).replace(
        hidden_dims=(16,), num_critics=2, batch_size=32, num_candidates=4, num_steps=40,
        steps_per_call=20, eval_every=40, eval_episodes=0, checkpoint_every=20, log_every=20,
        diffusion_hidden=16, diffusion_blocks=1, planning_samples=4,
        planning_chunk=8192).validate()
    workdir = tmp_path / "sfbc"
    summary = runner.run_training("nav2d", config, workdir, num_seeds=2, progress=False)
    assert summary["steps"] == 40 and summary["planning_s"] > 0  # timed apart from steps/s
    state, meta = ckpt.restore(workdir)
    assert state.returns.shape == (2, meta["num_transitions"])
    dataset = runner.open_dataset("nav2d", progress=False)  # the MC returns it started from
    mc = np.asarray(runner.dataset_returns(dataset, config.discount))
    planned = np.asarray(state.returns)
    assert np.all(np.isfinite(planned)) and not np.allclose(planned[0], mc)
    assert not np.allclose(planned[0], planned[1])  # each seed plans with its own models
    again = runner.run_training("nav2d", config.replace(num_steps=60), workdir, num_seeds=2,
                                resume=True, progress=False)
    assert again["planning_s"] == 0.0
    resumed, _ = ckpt.restore(workdir)
    np.testing.assert_array_equal(resumed.returns, planned)  # no planning after step 20
    assert int(np.asarray(resumed.step)[0]) == 60


def test_the_runners_chunked_planning_equals_the_pure_step_per_seed():
    """`runner.plan_seeds` (host loop over chunks, seeds vmapped, a progress bar) gives each
    seed exactly what `make_planning_step` gives it alone: same keys, chunks and values."""
    from types import SimpleNamespace

    from gem_jax.harness import runner
    from gem_jax.related import sfbc

    config = presets.sfbc(SMALL).replace(num_candidates=4, planning_samples=3,
                                         planning_chunk=4).validate()
    states = jax.vmap(lambda k: learners.init_state(k, config, 2, 1))(
        jax.random.split(jax.random.PRNGKey(0), 2))
    m = 11  # three chunks of 4, the last padded by one row
    obs = jax.random.normal(jax.random.PRNGKey(2), (m + 1, 2))
    data = SimpleNamespace(rewards=jax.random.uniform(jax.random.PRNGKey(1), (m,)),
                           dones=jnp.zeros(m).at[-1].set(1.0), observations=obs[:m],
                           next_observations=obs[1:])
    # targets around 10, above the data's returns: the values (each seed's own) decide
    states = states.replace(returns=10 + jax.random.normal(jax.random.PRNGKey(3), (2, m)))
    ends = sfbc.episode_ends(np.array([0] * 5 + [1] * 6))
    got = runner.plan_seeds(config, 1, states, data, ends)
    plan = sfbc.make_planning_step(config, 1)
    for i in range(2):
        want = plan(jax.tree.map(lambda x, i=i: x[i], states), data, ends)
        np.testing.assert_allclose(got.returns[i], want.returns, rtol=1e-5)
        np.testing.assert_array_equal(got.key[i], want.key)
    assert not np.allclose(got.returns[0], got.returns[1])
