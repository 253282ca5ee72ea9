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


def test_sfbc_regresses_on_returns_and_draws_the_better_mode():
    """SfBC: the critic fits the MC return (here the one-step reward), the softmax draw over
    diffusion samples keeps the rewarded mode."""
    data = toy.two_mode_bandit(jax.random.PRNGKey(0), 4096, minus_reward=0.0)
    data = data.replace(returns=data.rewards)  # one-step episodes: G = r
    config = presets.sfbc(SMALL).replace(num_candidates=16, diffusion_ema_rate=0.05).validate()
    state = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    state, metrics = jax.jit(learners.make_train_loop(config, 2500))(state, data)
    assert float(metrics["critic/target_mean"][-1]) == pytest.approx(0.5, abs=0.1)
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
    dataset = SimpleNamespace(batch=batch, episode_ids=np.array([0, 0, 1, 1, 1]))
    got = dataset_returns(dataset, 0.5)
    # episode 0 (cut after 2 steps): 1 + 0.5 * 2 = 2, 2; episode 1: 3 + 0.5 (4 + 0.5 * 5), ...
    np.testing.assert_allclose(got, [2.0, 2.0, 6.25, 6.5, 5.0])


def _constant_critic(params, value: float):
    """Critic params whose every member outputs `value` everywhere: all weights zero, the
    output layer's bias (the leaf of shape [E, 1]) set to `value`."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    return jax.tree.map(lambda x: x + value if x.ndim == 2 and x.shape[-1] == 1 else x, zeros)


def test_planning_step_values_each_next_state_and_replans_the_returns():
    """With Q = c everywhere, every planning value is c, so the planned returns are
    `planned_returns(r, d, ends, c)`: checked on 5 transitions (two episodes, the first cut)
    in chunks of 2 (one padded), for c below and above the data's returns."""
    from types import SimpleNamespace

    from gem_jax.related import sfbc

    config = presets.sfbc(SMALL).replace(num_candidates=4, planning_samples=3,
                                         planning_chunk=2).validate()
    state = learners.init_state(jax.random.PRNGKey(0), config, 2, 1)
    rewards = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    dones = jnp.array([0.0, 0.0, 0.0, 0.0, 1.0])
    ends = sfbc.episode_ends(np.array([0, 0, 1, 1, 1]))
    np.testing.assert_array_equal(ends, [False, True, False, False, True])
    data = SimpleNamespace(rewards=rewards, dones=dones,
                           next_observations=jax.random.normal(jax.random.PRNGKey(1), (5, 2)))
    plan = sfbc.make_planning_step(config, 1)
    for c in (0.0, 10.0):
        critic = state.critic.replace(params=_constant_critic(state.critic.params, c))
        out = plan(state.replace(critic=critic), data, ends)
        want = sfbc.planned_returns(rewards, dones, ends, jnp.full(5, c), config.discount)
        np.testing.assert_allclose(out.returns, want, rtol=1e-6)
        assert not np.array_equal(np.asarray(out.key), np.asarray(state.key))
    # c = 10 by hand (gamma = 0.99): R4 = 5 (terminal); R3 = 4 + g max(5, 10) = 13.9;
    # R2 = 3 + g max(13.9, 10) = 16.761; R1 = 2 + g 10 = 11.9 (cut: only V);
    # R0 = 1 + g max(11.9, 10) = 12.781
    np.testing.assert_allclose(out.returns, [12.781, 11.9, 16.761, 13.9, 5.0], rtol=1e-5)


def test_planning_schedule_and_its_config_checks():
    from gem_jax.related import sfbc

    assert sfbc.planning_steps(3000, 1) == [1500]
    assert sfbc.planning_steps(3000, 2) == [1000, 2000]
    assert sfbc.planning_steps(3000, 0) == []
    assert presets.sfbc().planning_iterations == 1 and presets.idql().planning_iterations == 0
    with pytest.raises(ValueError, match="needs critic_target='returns'"):
        presets.idql(SMALL).replace(planning_iterations=1).validate()


def test_the_loop_regresses_on_the_states_own_returns():
    """A state carrying `returns` [M] trains its critic on them, not on the data's."""
    data = toy.two_mode_bandit(jax.random.PRNGKey(0), 1024, minus_reward=0.0)
    data = data.replace(returns=data.rewards)
    config = presets.sfbc(SMALL).replace(num_candidates=4).validate()
    state = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    state = state.replace(returns=jnp.full((1024,), 3.0))
    state, metrics = jax.jit(learners.make_train_loop(config, 50))(state, data)
    np.testing.assert_allclose(metrics["critic/target_mean"], 3.0, rtol=1e-6)


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
    assert summary["steps"] == 40
    state, meta = ckpt.restore(workdir)
    assert state.returns.shape == (2, meta["num_transitions"])
    dataset = runner.open_dataset("nav2d", progress=False)  # the MC returns it started from
    mc = np.asarray(runner.dataset_returns(dataset, config.discount))
    planned = np.asarray(state.returns)
    assert np.all(np.isfinite(planned)) and not np.allclose(planned[0], mc)
    assert not np.allclose(planned[0], planned[1])  # each seed plans with its own models
    runner.run_training("nav2d", config.replace(num_steps=60), workdir, num_seeds=2,
                        resume=True, progress=False)
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
    data = SimpleNamespace(rewards=jax.random.uniform(jax.random.PRNGKey(1), (m,)),
                           dones=jnp.zeros(m).at[-1].set(1.0),
                           next_observations=jax.random.normal(jax.random.PRNGKey(2), (m, 2)))
    ends = sfbc.episode_ends(np.array([0] * 5 + [1] * 6))
    got = runner.plan_seeds(config, 1, states, data, ends)
    plan = sfbc.make_planning_step(config, 1)
    for i in range(2):
        want = plan(jax.tree.map(lambda x, i=i: x[i], states), data, ends)
        np.testing.assert_allclose(got.returns[i], want.returns, rtol=1e-5)
        np.testing.assert_array_equal(got.key[i], want.key)
    assert not np.allclose(got.returns[0], got.returns[1])
