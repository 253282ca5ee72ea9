"""Dataset names: D4RL names, Minari ids and the short names of local builds.

`resolve_name` turns any accepted name into a `DatasetSpec` that says which Minari
dataset(s) to read, the suite (== `GEMConfig` preset name), which reference scores
normalise returns, and which local builder can stand in when the data is missing.
An official name only ever resolves to official data: a local rebuild has its own
namespace (`gem/...`) and its own short name (`nav2d`, `pointmaze-<maze>[-dense]`,
`antmaze-umaze-fixture`, `antmaze-<task>` for the Minari-recipe AntMaze builds,
`<env>-<level>` for the SAC-recipe locomotion builds), and is never substituted silently:
`antmaze-umaze-v2` is Minari's `D4RL/antmaze/umaze-v1`, `antmaze-umaze` our rebuild
`gem/antmaze/umaze-v0`.

D4RL locomotion levels map to Minari's `mujoco/<env>/{simple,medium,expert}-v0`:
`random` -> simple, `medium-expert` -> medium + expert (D4RL's own construction),
`medium-replay` -> simple + medium, `full-replay` -> all three; every such load warns that
the data is not byte-identical to D4RL.

Reference scores: a D4RL name uses D4RL's published `REF_MIN_SCORE/REF_MAX_SCORE`
(`d4rl/infos.py`), so scores sit on the paper's scale (method §5); a Minari id or a
local build uses the scores stored in the dataset's metadata. AntMaze is scored by
success (min 0, max 1), as in D4RL.
"""

from __future__ import annotations

import dataclasses
import difflib
import re

SUITES = ("nav2d", "maze2d", "antmaze", "locomotion")
MAZES = ("umaze", "medium", "large")
LOCOMOTION_ENVS = ("hopper", "halfcheetah", "walker2d")

# D4RL maze2d timeouts, also the Minari pointmaze evaluation horizon.
MAZE2D_MAX_STEPS = {"umaze": 300, "medium": 600, "large": 800}
ANTMAZE_MAX_STEPS = {"umaze": 700, "medium": 1000, "large": 1000}

# d4rl/infos.py
D4RL_MAZE2D_REF = {
    "umaze": (23.85, 161.86),
    "medium": (13.13, 277.39),
    "large": (6.7, 273.99),
    "umaze-dense": (68.537689, 193.66285642381482),
    "medium-dense": (44.264742, 297.4552547777125),
    "large-dense": (30.569041, 303.4857382709002),
}
D4RL_LOCOMOTION_REF = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
}
ANTMAZE_REF = (0.0, 1.0)  # success rate

# Minari's mujoco namespace has simple / medium / expert policies only. D4RL levels map
# to the closest level or, where D4RL itself concatenated datasets, to the union.
LOCOMOTION_LEVELS = {
    "medium": ("medium",),
    "expert": ("expert",),
    "random": ("simple",),
    "medium-expert": ("medium", "expert"),
    "medium-replay": ("simple", "medium"),
    "full-replay": ("simple", "medium", "expert"),
}
LOCAL_LOCOMOTION_LEVELS = ("medium", "medium-replay", "expert", "medium-expert")
ANTMAZE_D4RL = {
    "umaze": "umaze",
    "umaze-diverse": "umaze-diverse",
    "medium-play": "medium-play",
    "medium-diverse": "medium-diverse",
    "large-play": "large-play",
    "large-diverse": "large-diverse",
}

NAV2D_ID = "gem/nav2d-v0"
ANTMAZE_FIXTURE_ID = "gem/antmaze/umaze-fixture-v0"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a dataset name means.

    `dataset_ids` has more than one entry when the dataset is the union of several
    Minari datasets (D4RL's `medium-expert` = medium + expert); the component index is
    then the behavior label of each transition.
    """

    name: str
    dataset_ids: tuple[str, ...]
    suite: str
    local: bool  # a gem-jax build (namespace gem/), never an official dataset
    builder: str | None = None  # short name of a local builder for this data, if any
    ref_scores: tuple[float, float] | None = None  # None: use the dataset metadata
    max_episode_steps: int | None = None  # None: from the evaluation env spec
    approximate: str | None = None  # warning text when the data only approximates D4RL

    @property
    def dataset_id(self) -> str:
        return "+".join(self.dataset_ids)


def _local_specs() -> dict[str, DatasetSpec]:
    specs = {
        "nav2d": DatasetSpec(
            "nav2d", (NAV2D_ID,), "nav2d", local=True, builder="nav2d", max_episode_steps=1000
        ),
        "antmaze-umaze-fixture": DatasetSpec(
            "antmaze-umaze-fixture", (ANTMAZE_FIXTURE_ID,), "antmaze", local=True,
            builder="antmaze-umaze-fixture", ref_scores=ANTMAZE_REF,
            max_episode_steps=ANTMAZE_MAX_STEPS["umaze"],
        ),
    }  # fmt: skip
    for task in ANTMAZE_D4RL:  # built by gem_jax.data.antmaze_sac_build (Minari's recipe)
        short = f"antmaze-{task}"
        specs[short] = DatasetSpec(
            short, (f"gem/antmaze/{task}-v0",), "antmaze", local=True, builder=short,
            ref_scores=ANTMAZE_REF, max_episode_steps=ANTMAZE_MAX_STEPS[task.split("-")[0]],
        )  # fmt: skip
    for maze in MAZES:
        for dense in ("", "-dense"):
            short = f"pointmaze-{maze}{dense}"
            specs[short] = DatasetSpec(
                short, (f"gem/pointmaze/{maze}{dense}-v0",), "maze2d", local=True,
                builder=short, max_episode_steps=MAZE2D_MAX_STEPS[maze],
            )  # fmt: skip
            short = f"maze2d-{maze}{dense}"  # D4RL's maze2d recipe (pointmaze_build)
            specs[short] = DatasetSpec(
                short, (f"gem/maze2d/{maze}{dense}-v0",), "maze2d", local=True,
                builder=short, max_episode_steps=MAZE2D_MAX_STEPS[maze],
            )  # fmt: skip
    for env in LOCOMOTION_ENVS:  # built by gem_jax.data.locomotion (D4RL's recipe, SAC)
        for level in LOCAL_LOCOMOTION_LEVELS:
            short = f"{env}-{level}"
            specs[short] = DatasetSpec(
                short, (f"gem/{env}/{level}-v0",), "locomotion", local=True, builder=short,
                max_episode_steps=1000,
            )  # fmt: skip
    return specs


def _d4rl_specs() -> dict[str, DatasetSpec]:
    specs = {}
    for maze in MAZES:
        for dense in ("", "-dense"):
            name = f"maze2d-{maze}{dense}-v1"
            specs[name] = DatasetSpec(
                name, (f"D4RL/pointmaze/{maze}{dense}-v2",), "maze2d", local=False,
                builder=f"pointmaze-{maze}{dense}", ref_scores=D4RL_MAZE2D_REF[maze + dense],
                max_episode_steps=MAZE2D_MAX_STEPS[maze],
            )  # fmt: skip
    for task, minari_task in ANTMAZE_D4RL.items():
        name = f"antmaze-{task}-v2"
        specs[name] = DatasetSpec(
            name, (f"D4RL/antmaze/{minari_task}-v1",), "antmaze", local=False,
            builder=f"antmaze-{task}", ref_scores=ANTMAZE_REF,
            max_episode_steps=ANTMAZE_MAX_STEPS[task.split("-")[0]],
        )  # fmt: skip
    for env in LOCOMOTION_ENVS:
        for level, minari_levels in LOCOMOTION_LEVELS.items():
            name = f"{env}-{level}-v2"
            ids = tuple(f"mujoco/{env}/{lvl}-v0" for lvl in minari_levels)
            warning = (
                f"{name} maps to {' + '.join(ids)}: Minari's MuJoCo v5 data, "
                "not byte-identical to D4RL's v2 data"
            )
            specs[name] = DatasetSpec(
                name, ids, "locomotion", local=False,
                builder=f"{env}-{level}" if level in LOCAL_LOCOMOTION_LEVELS else None,
                ref_scores=D4RL_LOCOMOTION_REF[env], max_episode_steps=1000, approximate=warning,
            )  # fmt: skip
    return specs


LOCAL = _local_specs()
D4RL = _d4rl_specs()
_MINARI_ID = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*-v\d+$")


def list_datasets() -> list[str]:
    """Every short (local build) and D4RL name `load_dataset` accepts (Minari ids aside)."""
    return sorted(LOCAL) + sorted(D4RL)


def _suite_of_minari_id(dataset_id: str) -> str | None:
    if dataset_id.startswith("gem/nav2d"):
        return "nav2d"
    if dataset_id.startswith(("D4RL/pointmaze/", "gem/pointmaze/", "gem/maze2d/")):
        return "maze2d"
    if dataset_id.startswith(("D4RL/antmaze/", "gem/antmaze/")):
        return "antmaze"
    if dataset_id.startswith(("mujoco/", *(f"gem/{env}/" for env in LOCOMOTION_ENVS))):
        return "locomotion"
    return None


def resolve_name(name: str) -> DatasetSpec:
    """Map a D4RL name, a local short name or a Minari id to its `DatasetSpec`.

    Raises `ValueError` for unknown names, listing the closest valid ones.
    """
    if name in LOCAL:
        return LOCAL[name]
    if name in D4RL:
        return D4RL[name]
    for spec in (*LOCAL.values(), *D4RL.values()):  # a Minari id given directly
        if spec.dataset_ids == (name,):
            return dataclasses.replace(
                spec,
                name=name,
                ref_scores=spec.ref_scores if spec.suite == "antmaze" else None,
                approximate=None,
            )
    suite = _suite_of_minari_id(name) if _MINARI_ID.match(name) else None
    if suite is not None:
        ref = ANTMAZE_REF if suite == "antmaze" else None
        return DatasetSpec(name, (name,), suite, name.startswith("gem/"), None, ref)
    known = list_datasets() + [s.dataset_id for s in (*LOCAL.values(), *D4RL.values())]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown dataset name {name!r}.{hint} Accepted: D4RL names (e.g. 'maze2d-umaze-v1', "
        "'antmaze-umaze-v2', 'hopper-medium-v2'), Minari ids under D4RL/pointmaze, "
        "D4RL/antmaze, mujoco/<env> or gem/, and the local builds "
        f"{sorted(LOCAL)}; `gem_jax.data.list_datasets()` lists them all."
    )
