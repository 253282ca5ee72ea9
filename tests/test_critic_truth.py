"""Ground truth for the critic (experiments/probes/critic_truth.py): Monte-Carlo returns of one-step
deviations from set states of a PointMaze, and the predicted-vs-true report, by hand."""

import numpy as np
import pytest

from gem_jax.analysis import diagnostics as diag


def test_deviation_report_by_hand():
    critic = np.array([1.0, -1.0, 2.0, 0.5])
    truth = np.array([0.5, 0.3, 0.0, -0.2])  # the third is a tie in truth
    out = diag.deviation_report(critic, truth)
    assert out["critic_gain"] == pytest.approx(0.625)
    assert out["true_gain"] == pytest.approx(0.15)
    assert out["true_better"] == 0.5 and out["true_worse"] == 0.25
    assert out["sign_right"] == pytest.approx(1 / 3)  # right on the first only
    assert out["corr"] == pytest.approx(np.corrcoef(critic, truth)[0, 1])
    assert diag.deviation_report(np.ones(3), truth[:3])["corr"] == 0.0  # constant: no corr


def point_maze():
    import gymnasium as gym

    from gem_jax.data import storage
    from gem_jax.data.envs import register_robotics

    register_robotics()
    env = gym.make("PointMaze_UMaze-v3", continuing_task=True, reset_target=False,
                   max_episode_steps=100)
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    return gym.wrappers.TransformObservation(
        env, lambda obs: storage.flat_observation("maze2d", obs), space)


def test_returns_from_set_states_by_hand():
    """At the goal at rest, pushing nothing, every step pays 1: the return is the discounted
    sum; from a far cell nothing is reached; moving through the goal, a first step that
    brakes stays in the disc longer than one that pushes."""
    import jax
    import jax.numpy as jnp

    from gem_jax.data.envs import maze2d_set_state
    from gem_jax.harness.evaluation import returns_from_states

    env = point_maze()
    env.reset(seed=0)
    goal = np.asarray(env.unwrapped.goal, np.float32)
    env.close()
    calls = []

    def still(params, obs, key, t, knobs):  # the continuation: zero force, records t
        calls.append(t)
        return jnp.zeros((obs.shape[0], 2)), {}

    starts = np.array([[*goal, 0.0, 0.0], [*(goal + np.array([0.0, 4.0])), 0.0, 0.0],
                       [*goal, 2.0, 0.0], [*goal, 2.0, 0.0]], np.float32)  # [4, 4]
    firsts = np.array([[0.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [1.0, 0.0]], np.float32)
    ret = returns_from_states(point_maze, maze2d_set_state, starts, firsts, still, None, None,
                              jax.random.PRNGKey(0), np.ones(2, np.float32), 40, 0.9)
    assert ret[0] == pytest.approx(sum(0.9**t for t in range(40)))
    assert ret[1] == 0.0
    assert 0.0 < ret[3] < ret[2] < ret[0]  # both leave the disc; the braked one later
    assert calls == list(range(1, 40))  # the policy acts after the given first action


def test_rollout_records_the_observations_acted_on():
    """`step_obs`: one [E_alive, O] array per step, the first the reset observations, each
    the one the policy saw (a still point stays where it was reset)."""
    import jax
    import jax.numpy as jnp

    from gem_jax.harness.evaluation import rollout_gym

    seen = []

    def still(params, obs, key, t, knobs):
        seen.append(np.asarray(obs).copy())
        zeros = jnp.zeros(obs.shape[0])
        return jnp.zeros((obs.shape[0], 2)), {"support_z": zeros, "collapse_dist": zeros}

    visited = []
    rollout_gym(point_maze, still, None, None, jax.random.PRNGKey(0), 2, np.ones(2), seed=5,
                max_steps=3, step_obs=visited)
    resets = np.stack([point_maze().reset(seed=5 + i)[0] for i in range(2)])
    assert [v.shape for v in visited] == [(2, 4)] * 3
    np.testing.assert_allclose(visited[0], resets, atol=1e-6)
    for v, s in zip(visited, seen):
        np.testing.assert_array_equal(v, s)
    np.testing.assert_allclose(visited[2][:, :2], resets[:, :2], atol=1e-3)
