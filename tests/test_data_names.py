"""Dataset names: D4RL -> Minari mapping, local short names, suggestions, no silent rebuilds."""

import pytest

from gem_jax import presets
from gem_jax.data import build_dataset, list_datasets, names, resolve_name


@pytest.mark.parametrize(
    "name, minari_id, suite",
    [
        ("maze2d-umaze-v1", "D4RL/pointmaze/umaze-v2", "maze2d"),
        ("maze2d-medium-v1", "D4RL/pointmaze/medium-v2", "maze2d"),
        ("maze2d-large-v1", "D4RL/pointmaze/large-v2", "maze2d"),
        ("maze2d-umaze-dense-v1", "D4RL/pointmaze/umaze-dense-v2", "maze2d"),
        ("maze2d-large-dense-v1", "D4RL/pointmaze/large-dense-v2", "maze2d"),
        ("antmaze-umaze-v2", "D4RL/antmaze/umaze-v1", "antmaze"),
        ("antmaze-umaze-diverse-v2", "D4RL/antmaze/umaze-diverse-v1", "antmaze"),
        ("antmaze-medium-play-v2", "D4RL/antmaze/medium-play-v1", "antmaze"),
        ("antmaze-medium-diverse-v2", "D4RL/antmaze/medium-diverse-v1", "antmaze"),
        ("antmaze-large-play-v2", "D4RL/antmaze/large-play-v1", "antmaze"),
        ("antmaze-large-diverse-v2", "D4RL/antmaze/large-diverse-v1", "antmaze"),
        ("hopper-medium-v2", "mujoco/hopper/medium-v0", "locomotion"),
        ("walker2d-expert-v2", "mujoco/walker2d/expert-v0", "locomotion"),
        ("halfcheetah-random-v2", "mujoco/halfcheetah/simple-v0", "locomotion"),
        ("nav2d", "gem/nav2d-v0", "nav2d"),
        ("pointmaze-umaze", "gem/pointmaze/umaze-v0", "maze2d"),
        ("pointmaze-large-dense", "gem/pointmaze/large-dense-v0", "maze2d"),
        ("maze2d-umaze", "gem/maze2d/umaze-v0", "maze2d"),  # D4RL's recipe, local build
        ("maze2d-medium-dense", "gem/maze2d/medium-dense-v0", "maze2d"),
        ("gem/maze2d/large-v0", "gem/maze2d/large-v0", "maze2d"),
        ("antmaze-umaze-fixture", "gem/antmaze/umaze-fixture-v0", "antmaze"),
    ],
)
def test_name_mapping(name, minari_id, suite):
    spec = resolve_name(name)
    assert spec.dataset_id == minari_id
    assert spec.suite == suite
    assert suite in presets.PRESETS  # the suite is a GEMConfig preset name


def test_official_names_never_point_at_local_builds():
    for name in list_datasets():
        spec = resolve_name(name)
        is_gem = all(i.startswith("gem/") for i in spec.dataset_ids)
        assert spec.local == is_gem, name
    # maze2d names know their local stand-in, but only as a builder hint
    spec = resolve_name("maze2d-medium-v1")
    assert not spec.local and spec.builder == "pointmaze-medium"
    assert spec.dataset_ids == ("D4RL/pointmaze/medium-v2",)


def test_medium_expert_is_the_union_of_medium_and_expert():
    spec = resolve_name("hopper-medium-expert-v2")
    assert spec.dataset_ids == ("mujoco/hopper/medium-v0", "mujoco/hopper/expert-v0")
    assert spec.approximate and "not byte-identical" in spec.approximate


def test_reference_scores_follow_d4rl_for_d4rl_names():
    assert resolve_name("hopper-medium-v2").ref_scores == (-20.272305, 3234.3)
    assert resolve_name("maze2d-umaze-v1").ref_scores == (23.85, 161.86)
    assert resolve_name("antmaze-large-play-v2").ref_scores == (0.0, 1.0)
    # a Minari id uses its own metadata, a local build too
    assert resolve_name("D4RL/pointmaze/umaze-v2").ref_scores is None
    assert resolve_name("pointmaze-umaze").ref_scores is None


def test_minari_ids_are_accepted_directly():
    assert resolve_name("D4RL/pointmaze/medium-dense-v2").suite == "maze2d"
    assert resolve_name("D4RL/antmaze/umaze-v1").suite == "antmaze"
    assert resolve_name("mujoco/hopper/medium-v0").suite == "locomotion"
    assert resolve_name("mujoco/ant/medium-v0").suite == "locomotion"
    assert resolve_name("gem/pointmaze/umaze-v0").local


@pytest.mark.parametrize(
    "typo, expected",
    [("maze2d-umaze-v2", "maze2d-umaze-v1"), ("antmaze-umaze-v1", "antmaze-umaze-v2"),
     ("nav2", "nav2d"), ("hoper-medium-v2", "hopper-medium-v2")],
)  # fmt: skip
def test_unknown_names_suggest_the_closest(typo, expected):
    with pytest.raises(ValueError, match="Unknown dataset name") as error:
        resolve_name(typo)
    assert repr(expected) in str(error.value)


def test_list_datasets_contains_every_family():
    listed = set(list_datasets())
    assert {"nav2d", "pointmaze-umaze", "maze2d-umaze-v1", "antmaze-umaze-v2"} <= listed
    assert "hopper-medium-replay-v2" in listed and "antmaze-umaze-fixture" in listed
    assert all(resolve_name(n).name == n for n in listed)


def test_build_refuses_official_names():
    with pytest.raises(ValueError, match="pointmaze-umaze"):
        build_dataset("maze2d-umaze-v1")
    with pytest.raises(ValueError, match="official"):
        build_dataset("antmaze-umaze-v2")


def test_locomotion_local_names_are_separate_from_d4rl():
    assert names.LOCAL["hopper-medium"].dataset_ids == ("gem/hopper/medium-v0",)
    assert resolve_name("hopper-medium-v2").builder == "hopper-medium"


def test_make_dataset_list_marks_locomotion_builds_without_a_shipped_policy():
    import pathlib
    import subprocess
    import sys

    from gem_jax.data.locomotion import LOCOMOTION_LOCAL_NAMES

    root = pathlib.Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "experiments" / "make_dataset.py"), "--list"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "hopper-medium" in LOCOMOTION_LOCAL_NAMES  # shipped in the repository
    local = [n for n, line in rows.items() if "locomotion" in line and "local build" in line]
    assert len(local) == 12  # 3 envs x (medium, medium-replay, expert, medium-expert)
    for name in local:
        assert ("not shipped" in rows[name]) == (name not in LOCOMOTION_LOCAL_NAMES), rows[name]
    assert "not shipped" not in rows["nav2d"] and "official" in rows["hopper-medium-v2"]
