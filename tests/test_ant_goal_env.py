"""gem_jax/AntGoal-v0: the goal-reaching ant that drives the AntMaze data (Minari's recipe)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import gem_jax.envs  # noqa: F401  (registration)
from gem_jax.envs.ant_goal import goal_reward, upright


@pytest.fixture
def env():
    env = gym.make("gem_jax/AntGoal-v0")
    yield env
    env.close()


def test_goal_reward_formula():
    # unit direction (3, 4) / 5 = (0.6, 0.8); v . u = 0.6 * 1 + 0.8 * 0.5 = 1.0
    assert goal_reward([1.0, 0.5], [0.0, 0.0], [3.0, 4.0], -0.1, 1.0) == pytest.approx(10.9)
    assert goal_reward([1.0, 0.0], [2.0, 2.0], [2.0, 1.0], -0.2, 1.0) == pytest.approx(0.8)
    assert goal_reward([1.0, 0.0], [1.0, 1.0], [1.0, 1.0], -0.2, 1.0) == pytest.approx(0.8)


def test_max_speed_caps_only_the_paid_speed_toward_the_goal():
    # v . u = 1.0 m/s toward the goal: a 0.6 cap pays 10 * 0.6; a 2.0 cap pays it all
    assert goal_reward([1.0, 0.5], [0.0, 0.0], [3.0, 4.0], -0.1, 1.0, max_speed=0.6) == \
        pytest.approx(6.9)
    assert goal_reward([1.0, 0.5], [0.0, 0.0], [3.0, 4.0], -0.1, 1.0, max_speed=2.0) == \
        pytest.approx(10.9)
    # across (3, 4) / 5: |1 * 0.8 - 0.5 * 0.6| = 0.5 m/s; a penalty of 1 charges 10 * 0.5
    assert goal_reward([1.0, 0.5], [0.0, 0.0], [3.0, 4.0], -0.1, 1.0, lateral_penalty=1.0) == \
        pytest.approx(5.9)
    assert goal_reward([-0.5, 1.0], [0.0, 0.0], [3.0, 4.0], 0.0, 1.0, lateral_penalty=2.0) == \
        pytest.approx(10 * (0.5 - 2.0 * 1.0) + 1.0)  # v . d = 0.5, |v x d| = 1.0
    # moving away is not capped: still -10 * 1.0
    assert goal_reward([-1.0, -0.5], [0.0, 0.0], [3.0, 4.0], 0.0, 1.0, max_speed=0.6) == \
        pytest.approx(-9.0)


def test_directional_ant_with_max_speed_pays_the_capped_speed():
    from gem_jax.envs.ant_goal import AntGoalEnv

    capped = AntGoalEnv(command="direction", max_speed=0.5)
    capped.reset(seed=0, options={"direction": [1.0, 0.0]})
    sim = capped.ant_env
    qpos, qvel = sim.data.qpos.copy(), np.zeros(14)
    qvel[0] = 3.0  # torso sliding at 3 m/s along the command
    sim.set_state(qpos, qvel)
    _, reward, _, _, info = capped.step(np.zeros(8))
    speed = min(info["x_velocity"], 0.5)
    assert info["x_velocity"] > 0.5
    assert reward == pytest.approx(10.0 * speed + info["reward_ctrl"] + info["reward_survive"])
    with pytest.raises(ValueError, match="max_speed must be > 0"):
        AntGoalEnv(max_speed=0.0)
    with pytest.raises(ValueError, match="lateral_penalty must be >= 0"):
        AntGoalEnv(lateral_penalty=-1.0)
    capped.close()


def test_observation_is_maze_observation_plus_goal_vector(env):
    obs, info = env.reset(seed=3)
    sim = env.unwrapped.ant_env
    assert obs.shape == (29,) and env.observation_space.shape == (29,)
    qpos, qvel = sim.data.qpos.copy(), sim.data.qvel.copy()  # [15], [14]
    np.testing.assert_allclose(obs[:27], np.concatenate([qpos[2:], qvel]))
    np.testing.assert_allclose(obs[27:], info["goal"] - qpos[:2])
    assert 0.0 < np.linalg.norm(info["goal"]) <= 10.0
    assert env.action_space.shape == (8,)


def test_reward_on_a_hand_set_velocity(env):
    env.reset(seed=0, options={"goal": [3.0, 4.0]})
    sim = env.unwrapped.ant_env
    qpos, qvel = sim.data.qpos.copy(), np.zeros(14)
    qpos[:2] = 0.0
    qvel[:2] = [2.0, 1.0]  # torso sliding at (2, 1) m/s
    sim.set_state(qpos, qvel)
    action = np.full(8, 0.5)
    obs, reward, terminated, _, info = env.step(action)
    velocity = np.array([info["x_velocity"], info["y_velocity"]])
    assert velocity[0] > 1.0 and velocity[1] > 0.4  # the set velocity carries over one step
    xy = sim.data.qpos[:2]  # after the step (x, y are not in the observation)
    np.testing.assert_allclose(obs[27:], [3.0, 4.0] - xy)
    unit = (np.array([3.0, 4.0]) - xy) / np.linalg.norm(np.array([3.0, 4.0]) - xy)
    expected = 10.0 * velocity @ unit - 0.5 * np.sum(action**2) + 1.0  # ctrl 0.5 |a|^2, alive 1
    assert reward == pytest.approx(expected, rel=1e-9)
    assert reward > 15.0 and not terminated


def test_goal_resampled_within_threshold_only(env):
    env.reset(seed=1)
    xy = env.unwrapped.ant_env.data.qpos[:2].copy()
    env.reset(seed=1, options={"goal": xy + [5.0, 0.0]})  # same seed: same start
    obs, _, _, _, info = env.step(np.zeros(8))
    assert not info["goal_reached"]
    np.testing.assert_allclose(info["goal"], xy + [5.0, 0.0])
    env.reset(seed=1, options={"goal": xy + [0.05, 0.0]})
    obs, _, _, _, info = env.step(np.zeros(8))
    assert info["goal_reached"] and info["goals_reached"] == 1
    assert np.linalg.norm(info["goal"] - (xy + [0.05, 0.0])) > 0.2
    assert np.linalg.norm(info["goal"]) <= 10.0
    np.testing.assert_allclose(obs[27:], info["goal"] - env.unwrapped.ant_env.data.qpos[:2])


def test_goals_fill_the_radius_10_disk(env):
    env.reset(seed=0)
    goals = np.array([env.unwrapped._generate_goal() for _ in range(2000)])  # [N, 2]
    radius = np.linalg.norm(goals, axis=1)
    assert radius.max() <= 10.0 and radius.max() > 9.5
    assert abs(np.median(radius) - 5.0) < 0.5  # radius = 10 U: median 5 (Minari's draw)


def test_flipped_ant_terminates_unless_disabled():
    for flag in (True, False):
        env = gym.make("gem_jax/AntGoal-v0", terminate_when_flipped=flag)
        env.reset(seed=0)
        sim = env.unwrapped.ant_env
        qpos = sim.data.qpos.copy()
        qpos[2], qpos[3:7] = 0.5, [0.0, 1.0, 0.0, 0.0]  # upside down, healthy height
        assert upright(qpos) == pytest.approx(-1.0)
        sim.set_state(qpos, np.zeros(14))
        _, _, terminated, _, _ = env.step(np.zeros(8))
        assert terminated == flag
        env.close()


def test_same_body_and_layout_as_antmaze():
    from gem_jax.data.antmaze_build import make_envs

    maze_env, _ = make_envs()
    obs, _ = maze_env.reset(seed=0)
    assert obs["observation"].shape == (27,) and obs["achieved_goal"].shape == (2,)
    maze_ant = maze_env.unwrapped.ant_env
    goal_env = gym.make("gem_jax/AntGoal-v0")
    ant = goal_env.unwrapped.ant_env
    assert (maze_ant.model.nq, maze_ant.model.nv, maze_ant.model.nu) == (15, 14, 8)
    assert (ant.model.nq, ant.model.nv, ant.model.nu) == (15, 14, 8)
    np.testing.assert_allclose(maze_ant.model.actuator_gear, ant.model.actuator_gear)
    assert maze_ant.dt == ant.dt == pytest.approx(0.05)
    goal_env.close()


def test_directional_ant_sees_a_unit_direction_and_is_paid_for_velocity_along_it():
    env = gym.make("gem_jax/AntDirection-v0")
    obs, info = env.reset(seed=0, options={"direction": [3.0, 4.0]})
    np.testing.assert_allclose(obs[27:], [0.6, 0.8])  # normalised
    np.testing.assert_allclose(info["direction"], [0.6, 0.8])
    sim = env.unwrapped.ant_env
    qpos, qvel = sim.data.qpos.copy(), np.zeros(14)
    qvel[:2] = [2.0, 1.0]
    sim.set_state(qpos, qvel)
    action = np.full(8, 0.5)
    obs, reward, _, _, info = env.step(action)
    velocity = np.array([info["x_velocity"], info["y_velocity"]])
    expected = 10.0 * velocity @ [0.6, 0.8] - 0.5 * np.sum(action**2) + 1.0
    assert reward == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(obs[27:], [0.6, 0.8])
    env.close()


def test_directional_ant_redraws_its_direction_every_k_steps():
    from gem_jax.envs.ant_goal import AntGoalEnv

    env = AntGoalEnv(command="direction", direction_every=3)
    obs, _ = env.reset(seed=4)
    seen = [obs[27:].copy()]
    for _ in range(6):
        obs, *_ = env.step(np.zeros(8))
        seen.append(obs[27:].copy())
    np.testing.assert_allclose(np.linalg.norm(seen, axis=1), 1.0)
    same = [bool(np.allclose(a, b)) for a, b in zip(seen[:-1], seen[1:], strict=True)]
    assert same == [True, True, False, True, True, False]  # new directions after steps 3, 6
    with pytest.raises(ValueError, match="command must be one of"):
        AntGoalEnv(command="velocity")
    env.close()


def test_maze_observation_carries_the_unit_direction_for_the_directional_ant():
    from gem_jax.envs.ant_goal import maze_policy_observation

    maze_obs = {"observation": np.arange(27.0), "achieved_goal": np.array([1.0, 1.0])}
    raw = maze_policy_observation(maze_obs, np.array([4.0, 5.0]))
    unit = maze_policy_observation(maze_obs, np.array([4.0, 5.0]), unit_command=True)
    np.testing.assert_allclose(raw[27:], [3.0, 4.0])
    np.testing.assert_allclose(unit[27:], [0.6, 0.8])
    np.testing.assert_array_equal(unit[:27], np.arange(27.0))


def test_action_noise_moves_the_body_differently_from_the_same_command():
    from gem_jax.envs.ant_goal import AntGoalEnv

    quiet, noisy = AntGoalEnv(command="direction"), AntGoalEnv(command="direction",
                                                                action_noise=0.2)
    a, _ = quiet.reset(seed=2)
    b, _ = noisy.reset(seed=2)
    np.testing.assert_array_equal(a, b)  # same start
    for _ in range(5):
        a, *_ = quiet.step(np.zeros(8))
        b, *_ = noisy.step(np.zeros(8))
    assert not np.allclose(a[:27], b[:27])
    with pytest.raises(ValueError, match="action_noise must be >= 0"):
        AntGoalEnv(action_noise=-1.0)
