"""load_dataset: missing data, nav2d auto-build, flat cache, conventions, unions, sampling."""

import contextlib
import subprocess
import time
import warnings

import gymnasium as gym
import jax
import minari
import numpy as np
import pytest

from gem_jax.data import builders, conventions, load, load_dataset, storage
from gem_jax.method.learner import sample_batch


@pytest.fixture(autouse=True)
def empty_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("GEM_JAX_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "name, minari_id, hint",
    [("maze2d-medium-v1", "D4RL/pointmaze/medium-v2", "--dataset=pointmaze-medium"),
     ("antmaze-large-diverse-v2", "D4RL/antmaze/large-diverse-v1",
      "--dataset=antmaze-large-diverse"),
     ("walker2d-medium-v2", "mujoco/walker2d/medium-v0", "--dataset=walker2d-medium")],
)  # fmt: skip
def test_missing_dataset_fails_fast_naming_id_path_and_command(name, minari_id, hint, tmp_path):
    approximate = pytest.warns(UserWarning, match="not byte-identical")
    start = time.perf_counter()
    with (
        pytest.raises(FileNotFoundError) as error,
        approximate if "walker" in name else contextlib.nullcontext(),
    ):
        load_dataset(name)
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert minari_id in message and f"minari download {minari_id}" in message
    assert "MINARI_DATASETS_PATH" in message and str(tmp_path / "minari") in message
    assert hint in message


def test_missing_local_build_names_its_builder():
    with pytest.raises(FileNotFoundError, match="make_dataset.py --dataset=pointmaze-large"):
        load_dataset("pointmaze-large")


def test_download_is_only_tried_when_asked_and_is_bounded(monkeypatch):
    calls = []
    monkeypatch.setattr(load, "download_minari", lambda i, t: calls.append((i, t)))
    with pytest.raises(FileNotFoundError):
        load_dataset("maze2d-umaze-v1")
    assert calls == []
    with pytest.raises(FileNotFoundError):  # the stub fetched nothing
        load_dataset("maze2d-umaze-v1", download=True, download_timeout=7.0)
    assert calls == [("D4RL/pointmaze/umaze-v2", 7.0)]


def test_download_timeout_raises_with_the_command(monkeypatch):
    def run(*args, timeout, **kwargs):
        raise subprocess.TimeoutExpired(args[0], timeout)

    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(TimeoutError, match="minari download D4RL/antmaze/umaze-v1"):
        load.download_minari("D4RL/antmaze/umaze-v1", timeout=0.1)


@pytest.fixture
def nav2d(monkeypatch):
    monkeypatch.setitem(builders.DEFAULT_NUM_STEPS, "nav2d", 4000)
    return load_dataset("nav2d", progress=False)  # nothing on disk: builds it


def test_nav2d_builds_itself_once_and_is_reused(nav2d, monkeypatch):
    assert nav2d.dataset_id == "gem/nav2d-v0" and nav2d.suite == "nav2d"
    assert len(nav2d.batch) >= 4000 and nav2d.obs_dim == 2 and nav2d.action_dim == 2
    assert set(np.unique(nav2d.labels)) == {0, 1}
    assert nav2d.max_episode_steps == 1000 and nav2d.ref_max_score > nav2d.ref_min_score
    np.testing.assert_array_equal(nav2d.batch.dones, nav2d.batch.rewards == 0.0)  # goal
    monkeypatch.setattr(builders, "_run_builder", lambda *a: pytest.fail("rebuilt"))
    monkeypatch.setattr(minari, "load_dataset", lambda *a: pytest.fail("flattened again"))
    again = load_dataset("nav2d", progress=False)  # from the flat cache
    np.testing.assert_array_equal(again.batch.observations, nav2d.batch.observations)
    assert isinstance(nav2d.make_env().unwrapped, gym.Env)


def test_flat_cache_round_trips_exactly(nav2d):
    cached = storage.read_flat_cache("gem/nav2d-v0", "nav2d")
    dataset = minari.load_dataset("gem/nav2d-v0")
    fresh = storage.flatten_episodes(dataset.iterate_episodes(), "nav2d", dataset.total_episodes)
    assert set(cached) == set(fresh) == {*storage.FLAT_KEYS, "labels"}
    for k in fresh:
        assert cached[k].dtype == fresh[k].dtype
        np.testing.assert_array_equal(cached[k], fresh[k])
    for path in storage.dataset_dir("gem/nav2d-v0").glob(".gem_jax_flat/*.npz"):
        path.unlink()  # drop the cache: load_flat flattens again and re-caches
    assert storage.read_flat_cache("gem/nav2d-v0", "nav2d") is None
    reloaded = storage.load_flat("gem/nav2d-v0", "nav2d", progress=False)
    for k in fresh:
        np.testing.assert_array_equal(reloaded[k], fresh[k])
    assert storage.read_flat_cache("gem/nav2d-v0", "nav2d") is not None


def test_observation_normalisation(nav2d):
    normed = load_dataset("nav2d", normalize_observations=True, progress=False)
    raw = nav2d.batch.observations
    np.testing.assert_allclose(normed.obs_mean, raw.mean(0), rtol=1e-5)
    np.testing.assert_allclose(normed.obs_std, raw.std(0) + conventions.OBS_STD_EPS, rtol=1e-5)
    np.testing.assert_allclose(normed.batch.observations * normed.obs_std + normed.obs_mean, raw,
                               atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(normed.batch.observations.mean(0), 0.0, atol=1e-4)
    assert (nav2d.obs_mean == 0).all() and (nav2d.obs_std == 1).all()


def test_reward_conventions():
    rewards = np.array([1.0, 2.0, 0.5, 0.5], np.float32)
    episode_ids = np.array([0, 0, 1, 1], np.int32)  # returns 3 and 1: spread 2
    np.testing.assert_allclose(
        conventions.transform_rewards(rewards, episode_ids, "locomotion"), rewards * 500.0
    )
    np.testing.assert_array_equal(
        conventions.transform_rewards(rewards, episode_ids, "antmaze"), rewards - 1
    )
    for suite in ("nav2d", "maze2d"):
        np.testing.assert_array_equal(
            conventions.transform_rewards(rewards, episode_ids, suite), rewards
        )
    with pytest.raises(ValueError, match="different returns"):
        conventions.transform_rewards(rewards, np.zeros(4, np.int32), "locomotion")


def test_maze2d_rewards_by_hand():
    """D4RL's relabelling: the eval env's reward toward its one goal, on s'."""
    positions = np.array([[1.0, 2.0], [1.45, 2.0], [1.0, 2.46], [4.0, 6.0]])  # dist 0, .45, .46, 5
    goal = np.array([1.0, 2.0])
    np.testing.assert_array_equal(conventions.maze2d_rewards(positions, goal, "sparse"),
                                  [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(conventions.maze2d_rewards(positions, goal, "dense"),
                               np.exp(-np.array([0.0, 0.45, 0.46, 5.0])), rtol=1e-6)
    with pytest.raises(ValueError, match="reward_type"):
        conventions.maze2d_rewards(positions, goal, "shaped")


def _fake_mujoco(dataset_id, returns, terminal_last):
    """A tiny Minari dataset with hopper's spaces: one 5-step episode per return."""
    buffers = []
    rng = np.random.default_rng(len(dataset_id))
    for k, ret in enumerate(returns):
        terms = np.zeros(5, bool)
        terms[-1] = terminal_last
        buffers.append(minari.data_collector.EpisodeBuffer(
            id=k, observations=rng.normal(size=(6, 11)), actions=rng.uniform(-1, 1, (5, 3)),
            rewards=np.full(5, ret / 5.0), terminations=terms, truncations=~terms,
        ))  # fmt: skip
    with warnings.catch_warnings():  # no env, author, description: fine for a fake
        warnings.simplefilter("ignore", UserWarning)
        minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=gym.spaces.Box(-np.inf, np.inf, (11,)),
            action_space=gym.spaces.Box(-1, 1, (3,)),
        )  # fmt: skip


def test_locomotion_union_labels_and_scaling():
    _fake_mujoco("mujoco/hopper/medium-v0", [100.0, 300.0], terminal_last=True)
    _fake_mujoco("mujoco/hopper/expert-v0", [500.0], terminal_last=False)
    with pytest.warns(UserWarning, match="not byte-identical"):
        ds = load_dataset("hopper-medium-expert-v2", progress=False)
    assert ds.dataset_id == "mujoco/hopper/medium-v0+mujoco/hopper/expert-v0"
    np.testing.assert_array_equal(ds.labels, [0] * 10 + [1] * 5)
    np.testing.assert_array_equal(ds.episode_ids, np.repeat([0, 1, 2], 5))
    np.testing.assert_allclose(ds.batch.rewards[[0, 5, 10]], np.array([20, 60, 100]) * 2.5)
    np.testing.assert_array_equal(ds.batch.dones, np.tile([0, 0, 0, 0, 1.0], 3) * (ds.labels == 0))
    assert ds.timeouts[-1] and (ds.ref_min_score, ds.ref_max_score) == (-20.272305, 3234.3)
    np.testing.assert_allclose(ds.normalized_score(3234.3), 100.0)


def test_antmaze_fixture_end_to_end():
    dataset_id = builders.build_dataset("antmaze-umaze-fixture", 600, progress=False)
    ds = load_dataset("antmaze-umaze-fixture", progress=False)
    raw = list(minari.load_dataset(dataset_id).iterate_episodes())
    first = raw[0].observations
    np.testing.assert_allclose(
        ds.batch.observations[0],
        np.concatenate([first["achieved_goal"][0], first["observation"][0]]), rtol=1e-6,
    )  # fmt: skip
    assert ds.obs_dim == 29 and ds.action_dim == 8 and ds.num_episodes == 2
    # D4RL's relabelling: reward and terminal = the next position within 0.45 of the
    # evaluation goal, the centre of the eval maze's goal cell (not each episode's own goal)
    nxt = np.concatenate([e.observations["achieved_goal"][1:] for e in raw])  # [M, 2]
    goal = np.asarray(ds.make_env().unwrapped.maze.unique_goal_locations[0])
    reached = np.hypot(*(nxt - goal).T) <= 0.45
    np.testing.assert_array_equal(ds.batch.rewards, reached - 1.0)
    np.testing.assert_array_equal(ds.batch.dones, reached)
    assert ds.timeouts.sum() == 2
    np.testing.assert_allclose(ds.normalized_score([0.0, 0.5, 1.0]), [0.0, 50.0, 100.0])
    env = ds.make_env()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (29,) and env.unwrapped.continuing_task is False
    assert env.spec.max_episode_steps == ds.max_episode_steps == 700


def test_antmaze_evaluation_has_one_fixed_goal_and_ends_on_reaching_it():
    """gymnasium-robotics moves the goal up to ±1 around its cell at each reset; D4RL's task
    (and our relabelled rewards) has one goal: the cell's centre. Reaching it ends the episode
    with reward 1; 0.6 away (inside the old noise) does not."""
    builders.build_dataset("antmaze-umaze-fixture", 600, progress=False)
    env = load_dataset("antmaze-umaze-fixture", progress=False).make_env()
    inner = env.unwrapped
    centre = np.asarray(inner.maze.unique_goal_locations[0])
    starts = []
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        np.testing.assert_array_equal(inner.goal, centre)
        assert not info["success"]
        starts.append(obs[:2])
    assert np.ptp(np.array(starts), axis=0).min() > 0  # the start keeps its noise

    def step_from(xy):
        env.reset(seed=0)
        qpos, qvel = inner.ant_env.data.qpos.copy(), inner.ant_env.data.qvel.copy()
        qpos[:2] = xy
        inner.ant_env.set_state(qpos, qvel * 0)
        return env.step(np.zeros(8, np.float32))

    _, reward, terminated, _, info = step_from(centre)
    assert (reward, terminated, info["success"]) == (1.0, True, True)
    _, reward, terminated, _, _ = step_from(centre + [0.6, 0.0])
    assert (reward, terminated) == (0.0, False)


def test_sample_batch_shapes_and_determinism(nav2d):
    device = jax.device_put(nav2d.batch)
    batch = sample_batch(jax.random.PRNGKey(0), device, 256)
    assert batch.observations.shape == (256, 2) and batch.actions.shape == (256, 2)
    assert batch.rewards.shape == batch.dones.shape == (256,)
    again = sample_batch(jax.random.PRNGKey(0), device, 256)
    other = sample_batch(jax.random.PRNGKey(1), device, 256)
    np.testing.assert_array_equal(batch.observations, again.observations)
    assert not np.array_equal(batch.observations, other.observations)
    # every sampled row is a dataset row
    rows = {tuple(r) for r in np.asarray(nav2d.batch.observations)}
    assert all(tuple(r) in rows for r in np.asarray(batch.observations))
