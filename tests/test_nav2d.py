"""The nav2d task of the EMPO paper, App. A: dynamics, rewards, episode ends, behaviors, dataset."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gem_jax  # noqa: F401  (registers gem_jax/Nav2D-v0)
from gem_jax.data import nav2d_build
from gem_jax.envs import nav2d


def _state(x, y, t=0):
    return nav2d.Nav2DState(jnp.array([x, y], jnp.float32), jnp.int32(t))


def test_reset_is_uniform_in_the_start_square():
    _, obs = jax.vmap(nav2d.reset)(jax.random.split(jax.random.PRNGKey(0), 4096))  # [4096, 2]
    assert obs.shape == (4096, 2) and obs.dtype == jnp.float32
    assert float(obs.min()) >= 0.0 and float(obs.max()) < 0.1
    np.testing.assert_allclose(obs.mean(axis=0), [0.05, 0.05], atol=0.003)  # U[0,0.1]


def test_actions_are_clipped_and_states_stay_in_the_box():
    state, obs, *_ = nav2d.step(_state(5.0, 5.0), jnp.array([1.0, -0.05]))
    np.testing.assert_array_equal(obs, np.float32([5.2, 4.95]))  # 1.0 -> 0.2
    _, obs, *_ = nav2d.step(_state(29.9, 0.1), jnp.array([0.2, -0.2]))
    np.testing.assert_array_equal(obs, [30.0, 0.0])  # clip(s + a, 0, 30)


@pytest.mark.parametrize(
    "landing, reward",
    [((5.0, 5.0), -1.0), ((15.0, 0.0), -2.0), ((30.0, 10.0), -2.0), ((22.0, 5.0), -2.0),
     ((14.9, 5.0), -1.0), ((22.0, 10.1), -1.0), ((29.95, 29.95), 0.0), ((29.85, 30.0), -1.0)],
)  # fmt: skip
def test_reward_matches_app_a(landing, reward):
    _, obs, r, terminated, _ = nav2d.step(_state(*landing), jnp.zeros(2))  # s' = landing
    np.testing.assert_array_equal(obs, np.float32(landing))
    assert float(r) == reward
    assert bool(terminated) == (reward == 0.0)  # terminal exactly when the goal is reached


def test_truncation_after_1000_steps_and_not_before():
    state, _ = nav2d.reset(jax.random.PRNGKey(0))

    def step(state, _):
        state, _, _, terminated, truncated = nav2d.step(state, jnp.full(2, 0.01))
        return state, (terminated, truncated)

    _, (terminated, truncated) = jax.lax.scan(step, state, None, length=1000)  # [1000] each
    assert not terminated.any()
    np.testing.assert_array_equal(np.flatnonzero(truncated), [999])  # the 1000th step
    # reaching the goal on the last step is a termination, not a truncation
    _, _, _, terminated, truncated = nav2d.step(_state(29.9, 30.0, 999), jnp.array([0.1, 0.0]))
    assert bool(terminated) and not bool(truncated)


def test_subgoal_policy_is_eq_15():
    key = jax.random.PRNGKey(3)
    eps = np.asarray(jax.random.normal(key, (2,), jnp.float32))
    position, subgoal = jnp.array([10.0, 0.05]), jnp.array([10.0, 15.0])
    expected = np.clip(np.clip([0.0, 14.95], -0.2, 0.2) + 0.1 * eps, -0.2, 0.2)
    np.testing.assert_allclose(nav2d.subgoal_action(key, position, subgoal), expected, rtol=1e-6)


def test_behavior_advances_to_the_next_subgoal_within_0_1():
    key = jax.random.PRNGKey(0)
    _, index = nav2d.behavior_action(key, jnp.array([9.95, 0.05]), jnp.int32(0), jnp.int32(1))
    assert int(index) == 1  # (10, 0) reached -> head for (10, 15)
    _, index = nav2d.behavior_action(key, jnp.array([9.8, 0.0]), jnp.int32(0), jnp.int32(1))
    assert int(index) == 0
    _, index = nav2d.behavior_action(key, jnp.array([30.0, 30.0]), jnp.int32(5), jnp.int32(0))
    assert int(index) == 5  # the goal is the last target


def test_jax_env_agrees_step_for_step_with_gymnasium():
    env = gym.make("gem_jax/Nav2D-v0")
    rng = np.random.default_rng(0)
    jax_step, behavior = jax.jit(nav2d.step), jax.jit(nav2d.behavior_action)
    for seed, steer in [(0, False), (1, True)]:  # random walk to truncation; behavior to goal
        obs, _ = env.reset(seed=seed)
        state, jax_obs = nav2d.reset(jax.random.PRNGKey(seed))
        np.testing.assert_array_equal(obs, jax_obs)
        index, key, done, t = jnp.int32(0), jax.random.PRNGKey(seed), False, 0
        while not done:
            key, k = jax.random.split(key)
            if steer:
                action, index = behavior(k, state.position, index, jnp.int32(1))
                action = np.asarray(action)
            else:
                action = rng.uniform(-0.3, 0.3, 2).astype(np.float32)  # some need clipping
            obs, r, terminated, truncated, _ = env.step(action)
            state, jax_obs, jr, jterm, jtrunc = jax_step(state, jnp.asarray(action))
            np.testing.assert_array_equal(obs, jax_obs)
            assert (r, terminated, truncated) == (float(jr), bool(jterm), bool(jtrunc))
            done, t = terminated or truncated, t + 1
        assert (t == 1000 and truncated) if not steer else (terminated and t < 1000)


def test_env_is_vmappable_over_thousands():
    states, _ = jax.vmap(nav2d.reset)(jax.random.split(jax.random.PRNGKey(1), 4096))
    actions = jnp.full((4096, 2), 0.2)
    step = jax.jit(jax.vmap(nav2d.step))
    states, obs, rewards, terminated, truncated = step(states, actions)
    assert obs.shape == (4096, 2) and rewards.shape == terminated.shape == (4096,)
    np.testing.assert_allclose(obs, jnp.clip(states.position, 0, 30))
    assert bool((rewards == -1).all()) and int(states.step[0]) == 1


@pytest.fixture(scope="module")
def flat():
    return nav2d_build.generate(6000, seed=0, progress=False)


def test_dataset_follows_algorithm_3(flat):
    obs, next_obs, ids = flat["observations"], flat["next_observations"], flat["episode_ids"]
    ends = flat["terminals"] | flat["timeouts"]
    starts = np.concatenate([[True], ends[:-1]])
    assert (np.diff(ids) >= 0).all() and ids[0] == 0 and (np.diff(ids) <= 1).all()
    np.testing.assert_array_equal(np.flatnonzero(np.diff(ids)) + 1, np.flatnonzero(starts)[1:])
    assert ends[-1] and (obs[starts] < 0.1).all() and (obs[starts] >= 0).all()
    np.testing.assert_array_equal(next_obs[~ends][:, :], obs[1:][~ends[:-1]])  # continuity
    np.testing.assert_array_equal(flat["rewards"], nav2d.reward_fn(jnp.asarray(next_obs)))
    for b in (0, 1):  # labels constant per trajectory; >= half the steps each
        mask = flat["labels"] == b
        assert mask.sum() >= 3000
        assert all(len(np.unique(flat["labels"][ids == i])) == 1 for i in np.unique(ids))
    # behavior 0 visits (0, 30) first; behavior 1 never goes above y = 15.2 before x = 30
    assert (obs[flat["labels"] == 0][:, 1] > 29).any()
    b1 = obs[(flat["labels"] == 1) & (obs[:, 0] < 29.5)]
    assert b1[:, 1].max() < 15.5
    assert np.abs(flat["actions"]).max() <= 0.2


def test_generation_is_deterministic(flat):
    again = nav2d_build.generate(6000, seed=0, progress=False)
    for k in flat:
        np.testing.assert_array_equal(flat[k], again[k])
    other = nav2d_build.generate(6000, seed=1, progress=False)
    assert not np.array_equal(other["observations"][:100], flat["observations"][:100])


def test_reference_scores_match_the_route_lengths():
    # Per axis a saturated step moves E[min(0.2 + 0.1 eps, 0.2)] = 0.2 - 0.1 / sqrt(2 pi)
    speed = 0.2 - 0.1 / np.sqrt(2 * np.pi)
    # route 0: 120 units, 15 of them in S_p; route 1: 90 units, 30 in S_p
    expected = {"behavior0": -(120 + 15) / speed, "behavior1": -(90 + 30) / speed}
    scores = nav2d_build.reference_scores(seed=0, num_episodes=50)
    for k, v in expected.items():
        assert scores[k] == pytest.approx(v, rel=0.01)
    assert scores["ref_max_score"] == scores["behavior1"]
    assert -2000.0 <= scores["random"] <= -1000.0  # never reaches the goal in 1000 steps
    assert scores["ref_min_score"] == scores["random"]
