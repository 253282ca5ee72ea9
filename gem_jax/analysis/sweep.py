"""Retrain-free sweeps of the selection knobs over one trained run (method §3-5).

A `Setting` is one point of the grid: the static knobs that change the selection
program (variant, N, k, source, mode, support model, candidate means), the traced `SelectKnobs`
(lambda, beta_0, beta_end, T) and the test-time `mass_scale`. `run_sweep` compiles one
policy per distinct static key and re-uses it for every numeric setting, so a lambda /
beta / T sweep never recompiles. Each setting is scored with the same evaluation keys and
env seeds (common random numbers), so differences between rows are the knobs' effect.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import pathlib
from collections.abc import Callable, Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from gem_jax.harness import runlog
from gem_jax.harness.evaluation import RESULT_KEYS, evaluate
from gem_jax.method.config import MODES, PICKS, SOURCES, SUPPORT_MODELS, VARIANTS, GEMConfig
from gem_jax.method.select import (
    PolicyParams,
    SelectKnobs,
    check_select_args,
    make_policy,
    resolve_top_k,
    seed_params,
    set_size,
)

STATIC = ("variant", "num_candidates", "top_k", "source", "mode", "support_model",
          "candidate_means", "top_k_pick", "top_k_frac")
TRACED = ("lcb_lambda", "beta_start", "beta_end", "horizon", "anchor_bonus")
RESULTS = RESULT_KEYS  # each setting's mean over seeds


@dataclasses.dataclass(frozen=True)
class Setting:
    """One grid point; `source`/`mode` are the effective ones (a variant may force them)."""

    variant: str
    num_candidates: int
    top_k: int
    source: str
    mode: str
    lcb_lambda: float
    beta_start: float
    beta_end: float
    horizon: float
    mass_scale: float = 1.0
    support_model: str = "gmm"  # behavior support in the score: gmm | empo (method §7)
    anchor_bonus: float = 0.0  # delta on the anchor's score (ours; 0 = the paper)
    candidate_means: bool = False  # all K actor means in the set (ours; False = the paper)
    top_k_pick: str = "mean"  # a_out from the top-k: mean (the paper) | sample (ours)
    top_k_frac: float = 0.0  # > 0: top_k is this share of the set (ours; 0 = the fixed k)

    @property
    def static_key(self) -> tuple:
        return tuple(getattr(self, name) for name in STATIC)

    def knobs(self) -> SelectKnobs:
        return SelectKnobs.create(self.lcb_lambda, self.beta_start, self.beta_end, self.horizon,
                                  self.anchor_bonus)


def _check_values(name: str, values: Sequence, ok: Callable, rule: str) -> list:
    values = list(values)
    if not values:
        raise ValueError(f"--{name} is empty; give at least one value.")
    bad = [v for v in values if not ok(v)]
    if bad:
        raise ValueError(f"--{name}={bad[0]!r} is invalid: {rule}.")
    return values


def make_grid(
    config: GEMConfig,
    variants: Sequence[str] | None = None,
    num_candidates: Sequence[int] | None = None,
    top_k: Sequence[int] | None = None,
    source: Sequence[str] | None = None,
    mode: Sequence[str] | None = None,
    lcb_lambda: Sequence[float] | None = None,
    beta_start: Sequence[float] | None = None,
    beta_end: Sequence[float] | None = None,
    horizon: Sequence[float] | None = None,
    mass_scale: Sequence[float] | None = None,
    support_model: Sequence[str] | None = None,
    anchor_bonus: Sequence[float] | None = None,
    candidate_means: Sequence[bool] | None = None,
    top_k_pick: Sequence[str] | None = None,
    top_k_frac: Sequence[float] | None = None,
) -> tuple[list[Setting], list[str]]:
    """Cartesian grid of settings; an unset knob takes the run's config value.

    Returns `(settings, skipped)`: duplicates (after a variant forces its source or mode)
    are dropped (the anchor bonus at N = 0, candidate means for anchor_bary / no_anchor
    have nothing to act on), and `no_anchor` at N = 0 (an empty candidate set) is skipped
    with a note, as is a top_k larger than an N's candidate set when a smaller top_k of the
    grid runs at that N (so `top_k=[1, 256]` crosses `num_candidates=[1, 1024]`).
    Any other invalid value or combination raises `ValueError` naming it.
    """
    finite = lambda v: math.isfinite(v)
    axes = {
        "variant": _check_values("variants", variants or ["gem"], lambda v: v in VARIANTS,
                                 f"choose from {list(VARIANTS)}"),
        "num_candidates": _check_values(
            "num_candidates", num_candidates or [config.num_candidates], lambda v: v >= 0,
            "N must be >= 0 (0 = anchor only)"),
        "top_k": _check_values("top_k", top_k or [config.top_k], lambda v: v >= 1,
                               "top_k must be >= 1"),
        "source": _check_values("source", source or [config.source], lambda v: v in SOURCES,
                                f"choose from {list(SOURCES)}"),
        "mode": _check_values("mode", mode or [config.mode], lambda v: v in MODES,
                              f"choose from {list(MODES)}"),
        "lcb_lambda": _check_values("lcb_lambda", lcb_lambda or [config.lcb_lambda], finite,
                                    "lambda must be a finite number"),
        "beta_start": _check_values("beta_start", beta_start or [config.beta_start], finite,
                                    "beta_start must be a finite number"),
        "beta_end": _check_values("beta_end", beta_end or [config.beta_end], finite,
                                  "beta_end must be a finite number"),
        "horizon": _check_values("horizon", horizon or [config.horizon],
                                 lambda v: math.isfinite(v) and v > 0, "horizon T must be > 0"),
        "anchor_bonus": _check_values(
            "anchor_bonus", anchor_bonus or [config.anchor_bonus],
            lambda v: math.isfinite(v) and v >= 0, "the anchor bonus must be >= 0"),
        "candidate_means": _check_values(
            "candidate_means",
            [config.candidate_means] if candidate_means is None else candidate_means,
            lambda v: isinstance(v, bool), "candidate_means must be true or false"),
        "top_k_pick": _check_values(
            "top_k_pick", top_k_pick or [config.top_k_pick], lambda v: v in PICKS,
            f"choose from {list(PICKS)}"),
        "top_k_frac": _check_values(
            # a top_k grid without shares is a fixed-k grid, whatever the run's own rule
            "top_k_frac", top_k_frac or [0.0 if top_k else config.top_k_frac],
            lambda v: 0.0 <= v <= 1.0,
            "top_k_frac must lie in [0, 1] (0 = use top_k)"),
        "mass_scale": _check_values("mass_scale", mass_scale or [1.0],
                                    lambda v: math.isfinite(v) and v > 0,
                                    "mass scales must be > 0"),
        "support_model": _check_values(
            "support_model", support_model or [config.support_model],
            lambda v: v in SUPPORT_MODELS, f"choose from {list(SUPPORT_MODELS)}"),
    }
    settings, skipped, seen = [], [], set()
    for values in itertools.product(*axes.values()):
        s = dict(zip(axes, values))
        if s["variant"] == "behavior_only_cands":
            s["source"] = "behavior"
        if s["variant"] == "raw":
            s["mode"] = "raw"
        if s["num_candidates"] == 0 or s["variant"] == "no_anchor":
            s["anchor_bonus"] = 0.0  # nothing for the bonus to act on: one setting, not many
        if s["variant"] in ("anchor_bary", "no_anchor"):
            s["candidate_means"] = False  # no component means in these sets (candidate_set)
        if s["top_k_frac"] > 0:  # k is that share of this N's set: record the k it gives
            s["top_k"] = resolve_top_k(s["num_candidates"], 1, s["top_k_frac"], s["variant"])
        if s["top_k"] == 1 and s["top_k_pick"] != "softmax":
            # one candidate: drawing it is taking it, whatever rule gave k (a softmax draw
            # of one, SfBC's pick, is a draw over the whole set: a rule of its own)
            s["top_k_pick"], s["top_k_frac"] = "mean", 0.0
        setting = Setting(**s)
        if setting in seen:
            continue
        seen.add(setting)
        if setting.variant == "no_anchor" and setting.num_candidates == 0:
            note = "no_anchor at N=0 (empty candidate set)"
            if note not in skipped:
                skipped.append(note)
            continue
        size = set_size(setting.num_candidates, setting.variant)
        if setting.top_k > size and min(axes["top_k"]) <= size:
            # A grid crossing several top_k with several N: a k larger than this N's set is
            # skipped where a smaller k of the grid runs at this N (one k alone still raises).
            note = f"top_k={setting.top_k} at N={setting.num_candidates} (set of {size})"
            if note not in skipped:
                skipped.append(note)
            continue
        try:
            check_select_args(*setting.static_key[1:5], setting.variant)
        except ValueError as err:
            raise ValueError(f"Invalid setting {describe(setting)}: {err}") from None
        settings.append(setting)
    return settings, skipped


CURVE_KEYS = ("num_candidates", "top_k", "top_k_pick", "top_k_frac")  # what an N curve varies


def on_curves_of(setting: Setting, chosen: Setting) -> bool:
    """Whether `setting` differs from `chosen` at most in the budget N and the top-k rule:
    a point of the N curves drawn at the chosen knobs (`experiments/fidelity_table.py`)."""
    return dataclasses.replace(setting, **{k: getattr(chosen, k) for k in CURVE_KEYS}) == chosen


def describe(setting: Setting) -> str:
    return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(setting).items())


def mujoco_model(env):
    """The `mujoco.MjModel` behind a gymnasium env (locomotion, PointMaze, AntMaze)."""
    inner = env.unwrapped
    for candidate in (inner, getattr(inner, "point_env", None), getattr(inner, "ant_env", None)):
        model = getattr(candidate, "model", None)
        if model is not None and hasattr(model, "body_mass"):
            return model
    raise ValueError(
        f"{type(inner).__name__} has no MuJoCo body masses; --mass_scale needs a MuJoCo env."
    )


def mass_scaled(make_env: Callable, scale: float) -> Callable:
    """A factory whose envs have every body mass multiplied by `scale` (method §5, MassScale)."""

    def make(**kwargs):
        env = make_env(**kwargs)
        mujoco_model(env).body_mass[:] *= scale
        return env

    return make


class _MassScaledDataset:
    """The same dataset whose `make_env` builds mass-scaled envs."""

    def __init__(self, dataset, scale: float):
        self._dataset, self.make_env = dataset, mass_scaled(dataset.make_env, scale)

    def __getattr__(self, name):
        return getattr(self._dataset, name)


def check_mass_scale(suite: str, scales: Sequence[float]) -> None:
    """Raise `ValueError` for a mass scale other than 1 on an env without MuJoCo bodies."""
    if suite == "nav2d" and any(s != 1.0 for s in scales):
        raise ValueError(
            "nav2d is a point mass without MuJoCo bodies; --mass_scale needs a MuJoCo env "
            "(maze2d, antmaze or locomotion datasets)."
        )


def with_mass_scale(dataset, scale: float):
    """`dataset` whose evaluation envs have their body masses scaled (1.0: unchanged)."""
    check_mass_scale(dataset.suite, [scale])
    return dataset if scale == 1.0 else _MassScaledDataset(dataset, scale)


def evaluate_setting(
    dataset,
    policy,
    params: PolicyParams,
    setting: Setting,
    num_episodes: int,
    z_thresh: float,
    seed: int = 0,
) -> dict:
    """Score one setting for every seed of `params` (leading seed axis `[S, ...]`)."""
    env_data = with_mass_scale(dataset, setting.mass_scale)
    num_seeds = jax.tree.leaves(params.actor)[0].shape[0]
    per_seed = []
    for i in range(num_seeds):  # a handful of seeds, at the edge
        p_i = seed_params(params, i)
        key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        per_seed.append(evaluate(env_data, policy, p_i, setting.knobs(), key, num_episodes,
                                 z_thresh, seed=10_000 + seed + i))
    row = {**dataclasses.asdict(setting)}
    row.update({k: float(np.mean([r[k] for r in per_seed])) for k in RESULTS if k in per_seed[0]})
    scores = [r["normalized_score"] for r in per_seed]
    row["normalized_score_seed_std"] = float(np.std(scores))
    row["normalized_score_episode_std"] = float(
        np.std([s for r in per_seed for s in r["episode_scores"]]))
    row["seed_scores"] = scores
    row["num_seeds"], row["episodes"] = num_seeds, num_episodes
    return row


def policy_for(config: GEMConfig, setting: Setting):
    """The jitted selection program of `setting`'s static knobs (its traced ones go in as
    `setting.knobs()` at each call)."""
    variant, n, k, source, mode, support_model, means, pick, _ = setting.static_key
    return make_policy(
        config.replace(support_model=support_model), n, k, source, mode, variant,
        candidate_means=means, top_k_pick=pick, top_k_frac=0.0,  # k is resolved
    )


def run_sweep(
    dataset,
    config: GEMConfig,
    params: PolicyParams,
    settings: Sequence[Setting],
    num_episodes: int,
    seed: int = 0,
    progress: bool = True,
    journal: str | pathlib.Path | None = None,
    context: dict | None = None,
) -> list[dict]:
    """One row per setting (in grid order); one compiled policy per static key.

    A `support_model="empo"` setting scores with `params.support` (method §7), which must
    hold a fitted EMPO support (`runner.empo_support`).

    `journal`: a JSONL file that gets each finished row at once, keyed by the setting, the
    episodes, the seed and `context` (what else fixes the row: the checkpoint step, ...). A
    sweep killed midway and run again reads its finished rows back instead of re-evaluating
    them; evaluation is deterministic, so the rows equal an uninterrupted sweep's.
    """
    if num_episodes < 1:
        raise ValueError(f"eval_episodes must be >= 1, got {num_episodes}.")
    if params.support is None and any(s.support_model == "empo" for s in settings):
        raise ValueError(
            "support_model='empo' settings need a fitted EMPO support in params.support "
            "(gem_jax.harness.runner.empo_support fits one from the dataset)."
        )
    check_mass_scale(dataset.suite, [s.mass_scale for s in settings])  # before any rollout
    policies = {}
    rows = []
    row_key = lambda setting: json.dumps({**dataclasses.asdict(setting), "episodes": num_episodes,
                                          "seed": seed, **(context or {})}, sort_keys=True)
    done = {e["key"]: e["row"] for e in runlog.read_jsonl(journal)} if journal else {}
    for setting in tqdm(settings, desc="sweep", unit="setting", disable=not progress):
        key = row_key(setting)
        if journal and key in done:
            rows.append(done[key])
            continue
        if setting.static_key not in policies:
            policies[setting.static_key] = policy_for(config, setting)
        policy = policies[setting.static_key]
        row = evaluate_setting(dataset, policy, params, setting, num_episodes, config.z_thresh,
                               seed)
        if journal:  # the row as a resumed sweep would read it back
            row = runlog.append_jsonl(journal, {"key": key, "row": row})["row"]
        rows.append(row)
    return rows
