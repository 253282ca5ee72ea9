"""gem_jax/related/lom.py: LOM's hyper-Q targets, mode choice, weight clip and imitation loss
against hand-computed numbers (method §8)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import toy

from gem_jax import presets
from gem_jax.harness import checkpoint as ckpt
from gem_jax.harness import learners
from gem_jax.harness.runner import next_actions
from gem_jax.method import gmm as G
from gem_jax.method import learner
from gem_jax.method.config import GEMConfig
from gem_jax.method.networks import make_networks
from gem_jax.method.types import Batch
from gem_jax.related import lom


def two_mode_behavior() -> G.GMM:
    """Two states, two modes each: at +0.5 and -0.5 in a 1-D action box, narrow (sigma e^-6)."""
    means = jnp.array([[[0.5], [-0.5]], [[0.5], [-0.5]]])  # [B=2, K=2, A=1]
    return G.GMM(logits=jnp.array([[2.0, 0.0], [0.0, 2.0]]), means=means,
                 log_stds=jnp.full((2, 1), -6.0))


def test_hyper_q_targets_are_the_critics_value_of_each_mode():
    # Q(s, a) = c_s * a: state 0 prefers +a (c = 2), state 1 prefers -a (c = -3). With
    # sigma ~ 0, mode +0.5 is worth 1.0 / -1.5 and mode -0.5 is worth -1.0 / +1.5.
    c = jnp.array([2.0, -3.0])
    q_fn = lambda actions: c[:, None] * actions[..., 0]  # [S, B, K, A] -> [S, B, K]
    targets = lom.hyper_q_targets(q_fn, two_mode_behavior(), jax.random.PRNGKey(0), 64)
    np.testing.assert_allclose(targets, [[1.0, -1.0], [-1.5, 1.5]], atol=1e-2)
    # the greedy mode is the better one, whatever the gating prefers (state 1 weights mode 1)
    np.testing.assert_array_equal(lom.choose_mode(targets), [0, 1])


def test_mode_choice_is_the_argmax_and_its_actions_come_from_that_component():
    q_h = jnp.array([[0.1, 0.7, -2.0], [3.0, 2.9, 0.0]])
    np.testing.assert_array_equal(lom.choose_mode(q_h), [1, 0])
    actions = lom.chosen_mode_actions(two_mode_behavior(), jnp.array([1, 0]),
                                      jax.random.PRNGKey(1))
    np.testing.assert_allclose(actions, [[-0.5], [0.5]], atol=0.02)
    noisy = lom.mode_samples(two_mode_behavior(), jax.random.PRNGKey(2), 4096, noise_std=2.0)
    assert noisy.shape == (4096, 2, 2, 1) and float(jnp.abs(noisy).max()) <= 1.0  # clipped


def test_hyper_q_loss_is_the_mean_squared_error():
    q_h, targets = jnp.array([[1.0, 2.0], [0.0, -1.0]]), jnp.array([[0.0, 2.0], [2.0, -1.0]])
    assert float(lom.hyper_q_loss(q_h, targets)) == pytest.approx((1 + 0 + 4 + 0) / 4)


def test_imitation_weight_is_clipped_and_has_no_gradient():
    q_mode, q_pi = jnp.array([1.0, 0.0, 5.0]), jnp.array([0.0, 1.0, 0.0])
    w = lom.imitation_weight(q_mode, q_pi, beta=2.0, clip=50.0)
    # exp(2) = 7.389, exp(-2) = 0.135, exp(10) = 22026 -> clipped to 50
    np.testing.assert_allclose(w, [np.exp(2.0), np.exp(-2.0), 50.0], rtol=1e-6)
    grad = jax.grad(lambda q: lom.imitation_weight(q, q_pi, 2.0, 50.0).sum())(q_mode)
    np.testing.assert_array_equal(grad, 0.0)


def test_imitation_loss_by_hand_and_its_gradient_pulls_toward_the_mode():
    pi, mode, w = jnp.array([[0.0, 0.0], [1.0, 1.0]]), jnp.array([[1.0, 0.0], [1.0, -1.0]]), \
        jnp.array([2.0, 0.5])
    # squared errors averaged over A: (1 + 0) / 2 = 0.5 and (0 + 4) / 2 = 2, so
    # (2 * 0.5 + 0.5 * 2) / 2 = 1
    assert float(lom.imitation_loss(pi, mode, w)) == pytest.approx(1.0)
    grad = jax.grad(lom.imitation_loss)(pi, mode, w)
    assert float(grad[0, 0]) < 0 and float(grad[1, 1]) > 0  # descent moves pi toward the mode


def test_hyper_q_network_scores_every_mode():
    net = lom.HyperQNetwork(hidden_dims=(16, 16), num_modes=3)
    obs = jnp.ones((4, 5))
    params = net.init(jax.random.PRNGKey(0), obs)
    out = net.apply(params, obs)
    assert out.shape == (4, 3) and bool(jnp.all(jnp.isfinite(out)))
    assert float(jnp.std(out[0])) > 0  # the one-hot changes the value


# --- LOM in the shared learner ---

SMALL = GEMConfig(hidden_dims=(32, 32), behavior_num_components=2, batch_size=128)


def lom_config(**changes) -> GEMConfig:
    return presets.lom(SMALL).replace(**{"gmm_pretrain_steps": 400, **changes}).validate()


def test_lom_moves_toward_the_better_mode_of_a_two_mode_bandit():
    """Modes at +-0.6 with rewards 1 and 0: the frozen behavior GMM holds both, Q_H ranks the
    + mode higher, and the deterministic policy sits on it (not in the gap between)."""
    data = toy.two_mode_bandit(jax.random.PRNGKey(0), 4096, minus_reward=0.0)
    config = lom_config()
    state = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    state, metrics = jax.jit(learners.make_train_loop(config, 2400))(state, data)
    assert bool(jnp.all(metrics["train/finite"] == 1))
    obs = jax.random.uniform(jax.random.PRNGKey(2), (256, 2), minval=-1, maxval=1)
    nets = make_networks(config, 1)
    policy = nets.actor_apply(state.actor.params, obs).means[:, 0, 0]  # [256]
    assert float(jnp.mean(policy)) == pytest.approx(0.6, abs=0.12)
    assert float(jnp.min(policy)) > 0.3
    # Q_H's chosen mode is the behavior component centred on +0.6
    behavior = nets.behavior_apply(state.behavior.params, obs)
    q_h = lom.hyper_q_network(config).apply(state.hyper_q.params, obs)  # [256, 2]
    chosen = jnp.take_along_axis(behavior.means[..., 0], lom.choose_mode(q_h)[:, None], 1)
    assert float(jnp.mean(chosen > 0.4)) > 0.95
    # the behavior model trains only during pretraining, the policy and Q_H only after it
    initial = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    pretrained, _ = jax.jit(learners.make_train_loop(config, 400))(initial, data)
    same = lambda a, b: all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in
                            zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    assert same(state.behavior.params, pretrained.behavior.params)
    fresh = learners.init_state(jax.random.PRNGKey(1), config, 2, 1)
    assert same(pretrained.actor.params, fresh.actor.params)
    assert same(pretrained.hyper_q.params, fresh.hyper_q.params)
    assert not same(pretrained.behavior.params, fresh.behavior.params)


def test_lom_needs_its_preset():
    with pytest.raises(ValueError, match="actor_objective='lom' and num_components=1"):
        lom.make_policy_step(SMALL)
    with pytest.raises(ValueError, match="actor_objective must be one of"):
        SMALL.replace(actor_objective="diffusion").validate()


def test_build_config_applies_loms_published_dataset_settings():
    argv = ["train.py", "--algo=lom"]
    hopper = presets.build_config("hopper-medium-v2", presets.to_config_dict(GEMConfig()), argv,
                                  algo="lom")
    cheetah = presets.build_config("halfcheetah-medium", presets.to_config_dict(GEMConfig()),
                                   argv, algo="lom")
    assert (hopper.actor_objective, hopper.num_components, hopper.num_candidates) == ("lom", 1, 0)
    assert (hopper.behavior_num_components, hopper.lom_clip) == (5, 50.0)
    assert (hopper.num_critics, hopper.sarsa_noise, hopper.lom_beta) == (3, 0.2, 5.0)  # K = 3
    assert (cheetah.behavior_num_components, cheetah.lom_clip, cheetah.lom_action_noise) == \
        (2, 100.0, 0.4)
    expert = presets.build_config("hopper-medium-expert", presets.to_config_dict(GEMConfig()),
                                  argv, algo="lom")
    assert (expert.num_critics, expert.sarsa_noise, expert.lom_beta) == (6, 0.0, 0.1)
    # a --config override beats the table, and the algorithm's fixed fields beat the override
    given = presets.to_config_dict(GEMConfig().replace(behavior_num_components=7,
                                                       num_components=3))
    custom = presets.build_config("hopper-medium", given, argv + [
        "--config.behavior_num_components=7", "--config.num_components=3"], algo="lom")
    assert (custom.behavior_num_components, custom.num_components) == (7, 1)


def test_sarsa_bootstrap_by_hand():
    """`critic_target="sarsa"`: y = r + gamma (1 - d) min_e Qbar_e(s', clip(a' + eps)); with
    no smoothing noise and a' past the box edge, the clip puts a' on the edge."""
    config = SMALL.replace(num_critics=2, critic_target="sarsa", sarsa_noise=0.0)
    nets = make_networks(config, 1)
    params = nets.init(jax.random.PRNGKey(0), 2, 1)
    batch = Batch(observations=jnp.zeros((3, 2)), actions=jnp.zeros((3, 1)),
                  rewards=jnp.zeros(3), next_observations=jnp.array([[0.1, 0.2]] * 3),
                  dones=jnp.zeros(3), next_actions=jnp.array([[0.3], [-0.2], [1.7]]))
    got = learner.bootstrap(config, nets, params["critic"], None, batch, jax.random.PRNGKey(1))
    edge = jnp.array([[0.3], [-0.2], [1.0]])
    want = nets.critic_apply(params["critic"], batch.next_observations, edge).min(axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # noise is clipped to +-0.5: with a huge std every a' moves by exactly +-0.5 (then the box)
    noisy = learner.bootstrap(config.replace(sarsa_noise=1e6), nets, params["critic"], None,
                              batch.replace(next_actions=jnp.zeros((3, 1))), jax.random.PRNGKey(2))
    candidates = nets.critic_apply(params["critic"], batch.next_observations[:2],
                                   jnp.array([[-0.5], [0.5]])).min(axis=0)  # [2]
    assert all(bool(jnp.any(jnp.isclose(v, candidates, rtol=1e-5))) for v in noisy)
    with pytest.raises(ValueError, match="needs the dataset's next actions"):
        learner.bootstrap(config, nets, params["critic"], None,
                          batch.replace(next_actions=None), jax.random.PRNGKey(1))


def test_next_actions_stay_inside_each_episode():
    actions = np.arange(10, dtype=np.float32).reshape(5, 2)  # rows 0..4
    episode_ids = np.array([0, 0, 0, 1, 1])
    np.testing.assert_array_equal(next_actions(actions, episode_ids),
                                  actions[[1, 2, 2, 4, 4]])


def test_lom_with_the_sarsa_critic_trains_and_its_checkpoint_round_trips(tmp_path):
    data = toy.two_mode_bandit(jax.random.PRNGKey(0), 512, minus_reward=0.0)
    data = data.replace(next_actions=data.actions)
    config = lom_config(critic_target="sarsa", gmm_pretrain_steps=20)
    keys = jnp.stack([jax.random.PRNGKey(3), jax.random.PRNGKey(4)])
    state = jax.vmap(lambda k: learners.init_state(k, config, 2, 1))(keys)
    loop = jax.jit(jax.vmap(learners.make_train_loop(config, 50), in_axes=(0, None)))
    state, metrics = loop(state, data)
    assert bool(jnp.all(metrics["train/finite"] == 1))
    meta = ckpt.make_meta(config, 2, 1, [3, 4], env="toy", action_scale=[1.0])
    ckpt.save(ckpt.make_manager(tmp_path), 50, state, meta)
    restored, got_meta = ckpt.restore(tmp_path)
    assert got_meta["config"]["actor_objective"] == "lom"
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert restored.hyper_q is not None


def test_a_gem_state_has_no_hyper_q_so_older_checkpoints_still_restore(tmp_path):
    """GEM's state keeps exactly the leaves it had before LOM existed (hyper_q is None)."""
    config = SMALL.replace(num_critics=2)
    state = learners.init_state(jax.random.PRNGKey(0), config, 2, 1)
    assert state.hyper_q is None
    names = {jax.tree_util.keystr(path).split(".")[1].split("[")[0]
             for path, _ in jax.tree_util.tree_leaves_with_path(state)}
    assert names == {"actor", "behavior", "critic", "value", "target_critic_params",
                     "obs_norm", "key", "step"}


def test_a_checkpoint_saved_before_lom_existed_restores(tmp_path):
    """Before LOM, the saved tree was the dataclass of the eight fields below; it restores."""
    import orbax.checkpoint as ocp
    from flax import struct

    @struct.dataclass
    class OldGEMState:  # learner.GEMState as it was, field for field
        actor: Any
        behavior: Any
        critic: Any
        value: Any
        target_critic_params: Any
        obs_norm: Any
        key: Any
        step: Any

    config = SMALL.replace(num_critics=2)
    state = jax.vmap(lambda k: learners.init_state(k, config, 2, 1))(
        jnp.stack([jax.random.PRNGKey(5)]))
    old = OldGEMState(**ckpt.on_disk(state))
    meta = ckpt.make_meta(config, 2, 1, [5], env="toy", action_scale=[1.0])
    manager = ckpt.make_manager(tmp_path)
    manager.save(10, args=ocp.args.Composite(state=ocp.args.StandardSave(old),
                                             meta=ocp.args.JsonSave(meta)), force=True)
    manager.wait_until_finished()
    restored, _ = ckpt.restore(tmp_path)
    assert restored.hyper_q is None
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_loms_pretraining_is_capped_at_a_sixth_of_a_short_run():
    """A 2e4-step run with the preset's 5e4 pretraining steps would never train the policy
    (nav2d, first side-by-side: LOM scored -232 that way)."""
    argv = ["compare.py"]
    short = presets.build_config("nav2d", presets.to_config_dict(GEMConfig()), argv,
                                 algo="lom", num_steps=20_000)
    assert short.gmm_pretrain_steps == 20_000 // 6
    full = presets.build_config("hopper-medium", presets.to_config_dict(GEMConfig()), argv,
                                algo="lom", num_steps=300_000)
    assert full.gmm_pretrain_steps == 50_000
    with pytest.raises(ValueError, match="covers the whole run"):
        presets.lom(SMALL).replace(num_steps=1000, gmm_pretrain_steps=1000).validate()


def test_lom_trains_on_the_datasets_own_rewards():
    """LOM's code uses D4RL's rewards as they are (its beta acts on that scale): the lom
    preset undoes the locomotion convention's 1000 / (max - min return) scale."""
    from types import SimpleNamespace

    from gem_jax.data import conventions
    from gem_jax.harness.runner import device_dataset

    rewards, ids = np.array([1.0, 9.0, 10.0, 20.0], np.float32), np.array([0, 0, 1, 1])
    assert conventions.reward_scale(rewards, ids, "locomotion") == 1000.0 / (30.0 - 10.0)
    assert conventions.reward_scale(rewards, ids, "maze2d") == 1.0
    np.testing.assert_allclose(conventions.transform_rewards(rewards, ids, "locomotion"),
                               rewards * 50.0)
    obs = np.zeros((4, 3), np.float32)
    batch = SimpleNamespace(observations=obs, actions=np.zeros((4, 2), np.float32),
                            rewards=rewards * 50.0, next_observations=obs,
                            dones=np.zeros(4, np.float32))
    data = SimpleNamespace(batch=batch, reward_scale=50.0, episode_ids=ids, suite="locomotion")
    scaled = device_dataset(data, np.ones(2, np.float32))
    raw = device_dataset(data, np.ones(2, np.float32), reward_scaling=False)
    np.testing.assert_allclose(scaled.rewards, rewards * 50.0)
    np.testing.assert_allclose(raw.rewards, rewards, rtol=1e-6)
    config = presets.build_config("hopper-medium", presets.to_config_dict(GEMConfig()),
                                  ["train.py", "--algo=lom"], algo="lom")
    assert not config.reward_scaling and presets.iql().reward_scaling


def test_runner_calls_never_span_the_pretraining_boundary():
    from gem_jax.harness.runner import next_chunk

    config = lom_config(gmm_pretrain_steps=2500).replace(steps_per_call=1000, num_steps=5200)
    step, calls = 0, []
    while step < config.num_steps:
        chunk, phase = next_chunk(config, step)
        calls.append((step, chunk, phase))
        step += chunk
    assert calls == [(0, 1000, "pretrain"), (1000, 1000, "pretrain"), (2000, 500, "pretrain"),
                     (2500, 1000, "main"), (3500, 1000, "main"), (4500, 700, "main")]
    assert next_chunk(config.replace(gmm_pretrain_steps=0), 4500) == (700, None)
