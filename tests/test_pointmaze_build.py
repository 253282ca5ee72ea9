"""Local pointmaze rebuild: planner, controller, a small real Minari dataset, determinism."""

from collections import deque

import minari
import numpy as np
import pytest

from gem_jax.data import build_dataset, load_dataset, storage
from gem_jax.data.maze_controller import MOVES, WaypointController, free_cells, next_cell_table
from gem_jax.data.pointmaze_build import EVAL_MAPS, make_envs

U_MAZE = [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 1, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]]
NUM_STEPS = 1500


def _walk(table, start, goal):
    path = [start]
    while path[-1] != goal and len(path) < 100:
        path.append(tuple(int(v) for v in table[goal][path[-1]]))
    return path


def test_value_iteration_path_on_the_u_maze():
    table = next_cell_table(free_cells(U_MAZE))
    assert _walk(table, (3, 1), (1, 1)) == [(3, 1), (3, 2), (3, 3), (2, 3), (1, 3), (1, 2), (1, 1)]


def _bfs(free, goal):
    dist = {goal: 0}
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES:
            nxt = (r + dr, c + dc)
            if free[nxt] and nxt not in dist:
                dist[nxt] = dist[(r, c)] + 1
                queue.append(nxt)
    return dist


def test_value_iteration_gives_shortest_paths_on_the_large_maze():
    free = free_cells(EVAL_MAPS["large"])
    table = next_cell_table(free)
    cells = list(zip(*np.nonzero(free), strict=True))
    for goal in cells[::5]:
        dist = _bfs(free, goal)
        for start in cells:
            assert len(_walk(table, start, goal)) - 1 == dist[start]


def test_controller_is_the_pd_law_toward_the_next_cell():
    env, _ = make_envs("umaze", dense=False)
    maze = env.unwrapped.maze
    controller = WaypointController(maze, np.random.default_rng(0))
    pos, vel = maze.cell_rowcol_to_xy(np.array([3, 1])) + 0.05, np.array([0.3, -0.2])
    goal = maze.cell_rowcol_to_xy(np.array([1, 1]))
    obs = {"observation": np.concatenate([pos, vel]), "achieved_goal": pos, "desired_goal": goal}
    target = maze.cell_rowcol_to_xy(np.array([3, 2]))  # first waypoint: the bare cell centre
    np.testing.assert_allclose(controller(obs), 10.0 * (target - pos) - 1.0 * vel)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("minari")))
        mp.setenv("GEM_JAX_CACHE", str(tmp_path_factory.mktemp("cache")))
        dataset_id = build_dataset("pointmaze-umaze", NUM_STEPS, seed=0, progress=False,
                                   reference_episodes=3)  # fmt: skip
        yield dataset_id, minari.load_dataset(dataset_id), load_dataset("pointmaze-umaze")


def test_build_is_a_real_minari_dataset(built):
    dataset_id, dataset, _ = built
    assert dataset_id == "gem/pointmaze/umaze-v0"
    assert dataset.total_steps == NUM_STEPS
    env = dataset.recover_environment()
    assert env.spec.id == "PointMaze_UMaze-v3"
    assert env.spec.kwargs["continuing_task"] and env.spec.kwargs["reset_target"]
    eval_env = dataset.recover_environment(eval_env=True)
    assert eval_env.spec.max_episode_steps == 300
    assert eval_env.unwrapped.maze.maze_map == EVAL_MAPS["umaze"]
    obs, _ = eval_env.reset(seed=0)
    assert obs["observation"].shape == (4,)


def test_episodes_end_on_reaching_the_goal(built):
    _, dataset, _ = built
    episodes = list(dataset.iterate_episodes())
    assert len(episodes) > 5  # ~80 steps per goal on the U-maze
    for k, ep in enumerate(episodes):
        assert not ep.terminations.any()
        np.testing.assert_array_equal(np.flatnonzero(ep.truncations), [len(ep.rewards) - 1])
        if k < len(episodes) - 1:  # success (sparse reward 1) ends the episode
            assert ep.rewards[-1] == 1.0 and ep.rewards[:-1].sum() == 0
            nxt = episodes[k + 1].observations["observation"][0]
            np.testing.assert_array_equal(ep.observations["observation"][-1], nxt)
    actions = np.concatenate([ep.actions for ep in episodes])
    assert np.abs(actions).max() <= 1.0 and (np.abs(actions) == 1.0).any()  # clipped


def test_load_and_normalised_scores(built):
    _, dataset, loaded = built
    assert loaded.suite == "maze2d" and loaded.obs_dim == 4 and loaded.action_dim == 2
    assert len(loaded.batch) == NUM_STEPS and loaded.max_episode_steps == 300
    assert loaded.batch.dones.sum() == 0 and loaded.timeouts.sum() == dataset.total_episodes
    ref_min, ref_max = dataset.storage.metadata["ref_min_score"], dataset.storage.metadata[
        "ref_max_score"]  # fmt: skip
    assert (loaded.ref_min_score, loaded.ref_max_score) == (ref_min, ref_max)
    assert ref_max > ref_min
    np.testing.assert_allclose(loaded.normalized_score([ref_min, ref_max]), [0.0, 100.0])
    np.testing.assert_allclose(
        loaded.normalized_score(np.array([150.0])),
        100 * minari.get_normalized_score(dataset, np.array([150.0])),
    )
    env = loaded.make_env()
    obs, _ = env.reset(seed=1)
    assert obs.shape == (4,) and obs.dtype == np.float32


def test_loaded_rewards_are_relabelled_to_the_evaluation_goal(built):
    """The data chase goals that move after each success; the loaded rewards are the eval
    env's sparse reward toward its one goal (U-maze: the cell centre (-1, 1)), as D4RL."""
    dataset_id, dataset, loaded = built
    flat = storage.read_flat_cache(dataset_id, "maze2d")
    dist = np.linalg.norm(flat["next_observations"][:, :2] - np.array([-1.0, 1.0]), axis=1)
    np.testing.assert_array_equal(loaded.batch.rewards, (dist <= 0.45).astype(np.float32))
    assert loaded.batch.rewards.sum() > 0  # the controller passes by the eval goal
    stored = np.concatenate([ep.rewards for ep in dataset.iterate_episodes()])
    assert not np.array_equal(stored, loaded.batch.rewards)  # collection goals differ
    env = loaded.make_env()  # the eval episode's goal: that centre, +-0.25 of noise
    env.reset(seed=0)
    assert np.abs(env.unwrapped.goal - np.array([-1.0, 1.0])).max() <= 0.25


def test_build_is_deterministic(built, tmp_path, monkeypatch):
    dataset_id, _, first = built
    first_flat = storage.read_flat_cache(dataset_id, "maze2d")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "again"))
    build_dataset("pointmaze-umaze", NUM_STEPS, seed=0, progress=False, reference_episodes=3)
    again = load_dataset("pointmaze-umaze")
    for k, v in storage.read_flat_cache(dataset_id, "maze2d").items():
        np.testing.assert_array_equal(v, first_flat[k])
    assert (again.ref_min_score, again.ref_max_score) == (first.ref_min_score, first.ref_max_score)
    with pytest.raises(FileExistsError, match="force"):
        build_dataset("pointmaze-umaze", NUM_STEPS, progress=False)


def test_official_name_does_not_fall_back_to_the_local_build(built):
    with pytest.raises(FileNotFoundError, match="pointmaze-umaze"):
        load_dataset("maze2d-umaze-v1")


def test_dense_rewards_are_exp_minus_distance(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    dataset_id = build_dataset("pointmaze-umaze-dense", 300, progress=False, reference_episodes=1)
    for ep in minari.load_dataset(dataset_id).iterate_episodes():
        obs = ep.observations
        dist = np.linalg.norm(obs["achieved_goal"][1:] - obs["desired_goal"][1:], axis=-1)
        np.testing.assert_allclose(ep.rewards, np.exp(-dist), rtol=1e-6)


def test_d4rl_recipe_moves_the_goal_only_within_0_1_and_slows_there(tmp_path, monkeypatch):
    """`maze2d-umaze` (D4RL's collector): a goal ends only within 0.1 of it (or after the
    300-step horizon); the env itself never moves it. Minari's recipe turns away at 0.45."""
    from gem_jax.data import pointmaze_build

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("GEM_JAX_CACHE", str(tmp_path / "cache"))
    dataset_id = build_dataset("maze2d-umaze", 3000, progress=False, reference_episodes=1)
    assert dataset_id == "gem/maze2d/umaze-v0"
    dataset = minari.load_dataset(dataset_id)
    assert not dataset.recover_environment().spec.kwargs["reset_target"]
    episodes = list(dataset.iterate_episodes())
    assert len(episodes) > 5
    for ep in episodes[:-1]:
        obs = ep.observations
        goal = obs["desired_goal"][0]
        same_goal = np.broadcast_to(goal, (len(ep.rewards), 2))
        np.testing.assert_array_equal(obs["desired_goal"][:-1], same_goal)
        final = np.linalg.norm(obs["achieved_goal"][-1] - goal)
        assert final <= pointmaze_build.D4RL_SOLVE_THRESHOLD or len(ep.rewards) == 300
        before = np.linalg.norm(obs["achieved_goal"][1:-1] - goal, axis=1)
        assert np.all(before > pointmaze_build.D4RL_SOLVE_THRESHOLD)  # the first arrival ends it
    loaded = load_dataset("maze2d-umaze")
    assert loaded.suite == "maze2d" and loaded.max_episode_steps == 300
    collect_env, _ = pointmaze_build.make_envs("umaze", False, "minari")
    minari_run = pointmaze_build.collect(collect_env, 3000, seed=0, progress=False)
    ends = np.flatnonzero(minari_run["success"])
    at_end = np.linalg.norm(minari_run["observations"]["achieved_goal"][ends + 1]
                            - minari_run["observations"]["desired_goal"][ends], axis=1)
    assert np.all(at_end <= 0.45) and np.median(at_end) > pointmaze_build.D4RL_SOLVE_THRESHOLD
    with pytest.raises(ValueError, match="recipe"):
        pointmaze_build.collect(collect_env, 10, seed=0, progress=False, recipe="d5rl")
