"""Tests for gem_jax/data/locomotion.py: deterministic builds from the shipped policies."""

from __future__ import annotations

import numpy as np
import pytest

from gem_jax.data import locomotion as loco


@pytest.fixture
def minari_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    return tmp_path


def _arrays(dataset) -> dict[str, np.ndarray]:
    eps = list(dataset.iterate_episodes())
    return {
        "observations": np.concatenate([e.observations for e in eps]),
        "actions": np.concatenate([e.actions for e in eps]),
        "rewards": np.concatenate([e.rewards for e in eps]),
        "terminations": np.concatenate([e.terminations for e in eps]),
        "truncations": np.concatenate([e.truncations for e in eps]),
    }


def test_names_and_scores():
    assert loco.parse_name("hopper-medium-replay") == ("hopper", "medium-replay")
    assert loco.dataset_id("walker2d-medium-expert") == "gem/walker2d/medium-expert-v0"
    with pytest.raises(ValueError, match="hopper-medium"):
        loco.parse_name("hopper-mediocre")
    # D4RL: hopper random -20.27 -> 0, expert 3234.3 -> 100; 1607.0 is the midpoint.
    np.testing.assert_allclose(loco.normalized_score("hopper", [-20.272305, 3234.3, 1607.013848]),
                               [0.0, 100.0, 50.0], atol=1e-6)
    assert "hopper-medium" in loco.LOCOMOTION_LOCAL_NAMES  # the shipped policy
    assert "hopper-medium-replay" in loco.LOCOMOTION_LOCAL_NAMES


def test_build_from_shipped_policy_is_deterministic(minari_dir):
    import minari

    ids = [loco.build_locomotion_dataset("hopper-medium", 5_000, seed=0, progress=False,
                                         dataset_id_override=f"gem/hopper/test{i}-v0")
           for i in range(2)]
    first, second = (minari.load_dataset(i) for i in ids)
    assert first.total_steps == second.total_steps == 5_000
    a, b = _arrays(first), _arrays(second)
    for field in a:
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)
    assert first.storage.metadata["ref_min_score"] == pytest.approx(-20.272305)
    assert first.storage.metadata["ref_max_score"] == pytest.approx(3234.3)
    # Actions come from the tanh policy; episodes end by falling (terminal) or by the cut.
    assert np.all(np.abs(a["actions"]) <= 1.0)
    ends = a["terminations"] | a["truncations"]
    assert ends.sum() == first.total_episodes
    # A different seed gives different data.
    other = loco.generate_episodes("hopper-medium", 2_000, seed=1)
    assert not np.allclose(other[0]["actions"][:50], a["actions"][:50])


def test_medium_replay_segments_follow_the_snapshots(minari_dir):
    policy = loco.load_policy("hopper", "medium-replay")
    episodes = loco.generate_episodes("hopper-medium-replay", 6_000, seed=0)
    steps = np.concatenate([ep["infos"]["policy_step"][:-1] for ep in episodes])
    assert len(steps) == 6_000
    # Buffer order: the uniform warm-up (-1) first, then the snapshots in training order.
    assert steps[0] == -1 and np.all(np.diff(steps) >= 0)
    assert set(np.unique(steps)) <= {-1, *policy["snapshot_steps"].tolist()}
    medium = loco.load_policy("hopper", "medium")
    assert policy["total_steps"] == policy["snapshot_steps"].max() == medium["snapshot_steps"][0]


def test_replay_budgets_split_the_buffer_midpoint_to_midpoint():
    # Snapshots at 0, 10k, 20k; warm-up 5k; stop at 20k. Warm-up [0, 5k); snapshot 0 gets
    # [5k, 5k) (empty); 10k gets [5k, 15k); 20k gets [15k, 20k).
    budgets = loco.replay_budgets(np.array([0, 10_000, 20_000]), 5_000, 20_000)
    np.testing.assert_array_equal(budgets, [5_000, 0, 10_000, 5_000])
    # Sparse snapshots: 0 and 30k with warm-up 5k; 0 gets [5k, 15k), 30k gets [15k, 30k).
    np.testing.assert_array_equal(loco.replay_budgets(np.array([0, 30_000]), 5_000, 30_000),
                                  [5_000, 10_000, 15_000])


def test_medium_expert_labels_sources(minari_dir, monkeypatch):
    # Stand the medium policy in for the expert one: only the labelling is under test.
    real = loco.policy_path
    monkeypatch.setattr(loco, "policy_path", lambda env, level: real(env, "medium"))
    episodes = loco.generate_episodes("hopper-medium-expert", 4_000, seed=0)
    sources = np.concatenate([ep["infos"]["source"][:-1] for ep in episodes])
    assert len(sources) == 4_000 and (sources == 0).sum() == (sources == 1).sum() == 2_000
    assert np.all(np.diff(sources) >= 0)  # medium episodes, then expert episodes


@pytest.mark.parametrize("env", [n.split("-")[0] for n in loco.LOCOMOTION_LOCAL_NAMES
                                 if n.endswith("-medium")])
def test_shipped_medium_policy_is_in_the_medium_band(env):
    policy = loco.load_policy(env, "medium")
    params = loco.take_snapshot(policy["actor_params"])
    returns = loco.evaluate(env, params, num_episodes=20, seed=123)
    score = loco.normalized_score(env, returns.mean())
    low, high = loco.MEDIUM_BAND
    assert low <= score <= high, (env, returns.mean(), score)


@pytest.mark.parametrize("env", [n.split("-")[0] for n in loco.LOCOMOTION_LOCAL_NAMES
                                 if n.endswith("-expert") and "medium" not in n])
def test_shipped_expert_policy_scores_like_an_expert(env):
    """Shipped experts score >= EXPERT_MIN normalised (D4RL's experts: ~108 to ~110)."""
    policy = loco.load_policy(env, "expert")
    returns = loco.evaluate(env, loco.take_snapshot(policy["actor_params"]), 10, seed=123)
    assert loco.normalized_score(env, returns.mean()) >= loco.EXPERT_MIN, (env, returns)


def test_save_and_load_policy_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setattr(loco, "POLICY_DIR", tmp_path)
    snaps = [{"w": np.full((2, 3), 0.1 * k, np.float32), "b": np.arange(3.0) + k} for k in (1, 2)]
    loco.save_policy(loco.policy_path("hopper", "medium-replay"), snaps, [0, 10_000], 5_000,
                     20_000, dtype=np.float16)
    policy = loco.load_policy("hopper", "medium-replay")
    assert policy["actor_params"]["w"].shape == (2, 2, 3)
    assert policy["actor_params"]["w"].dtype == np.float32  # float16 on disk, float32 loaded
    np.testing.assert_allclose(policy["actor_params"]["w"][1], 0.2, rtol=1e-3)  # fp16 rounding
    np.testing.assert_array_equal(loco.take_snapshot(policy["actor_params"], 1)["b"], [2, 3, 4])
    np.testing.assert_array_equal(policy["snapshot_steps"], [0, 10_000])
    assert (policy["uniform_steps"], policy["total_steps"]) == (5_000, 20_000)
    with pytest.raises(FileNotFoundError, match="train_sac.py"):
        loco.load_policy("walker2d", "expert")


def test_interrupted_build_leaves_nothing_that_loads_and_a_rebuild_completes(minari_dir,
                                                                            monkeypatch):
    """The dataset is staged (`minari_io.write_dataset`): killed after Minari wrote it but
    before it was moved into place, nothing is at its path; the next build completes, and
    Minari's metadata nags (no e-mail, no permalink) stay quiet."""
    import warnings

    import minari

    from gem_jax.data import storage

    ds_id = "gem/hopper/staged-v0"
    real_create = minari.create_dataset_from_buffers

    def create_then_die(*args, **kwargs):
        real_create(*args, **kwargs)
        assert storage.datasets_root() != minari_dir / "datasets"  # writing to the stage
        raise KeyboardInterrupt

    monkeypatch.setattr(minari, "create_dataset_from_buffers", create_then_die)
    with pytest.raises(KeyboardInterrupt):
        loco.build_locomotion_dataset("hopper-medium", 1_000, progress=False,
                                      dataset_id_override=ds_id)
    assert not storage.dataset_dir(ds_id).exists() and not storage.is_on_disk(ds_id)
    assert not list((minari_dir / "datasets").glob(".gem_jax_staging_*"))

    monkeypatch.setattr(minari, "create_dataset_from_buffers", real_create)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loco.build_locomotion_dataset("hopper-medium", 1_000, progress=False,
                                      dataset_id_override=ds_id)
    assert not [w for w in caught if "highly recommended" in str(w.message)]
    assert minari.load_dataset(ds_id).total_steps == 1_000
