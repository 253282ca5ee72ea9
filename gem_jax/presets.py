"""How a run's `GEMConfig` is put together: presets, the layers in order, tuned knobs.

`gem_jax.method.config.GEMConfig` holds every default. A training run's config is those
defaults with these layers applied, in this order (`build_config`):

1. the suite preset of the dataset (`locomotion`, `maze2d`, `antmaze`, `nav2d`);
2. the dataset's episode length as the beta schedule's horizon T, where it is known;
3. the algorithm preset (`gem`, `iql`, `bc`, `lom`, `idql`, `sfbc`: `ALGORITHMS`; LOM adds
   its paper's per-dataset settings, `LOM_DATASETS`);
4. the `--config.<field>=` overrides named on the command line;
5. the named flags (`--steps`, `--seed`, ...); a `top_k` given there or in 4 without a
   `top_k_frac` sets `top_k_frac = 0` (a fixed k, not the preset's share);
6. `ALGORITHM_FIXED`: the fields that define an algorithm, re-applied last.

After training, `with_tuned_knobs` applies the selection knobs `experiments/tune.py` chose
(`tuned_knobs.json` in the run directory); `load_policy` and `experiments/evaluate.py`
read a run's config through it. A config saved before a field existed reads with that
field's `LEGACY_DEFAULTS` value (`from_config_dict`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import TYPE_CHECKING

from gem_jax.method.config import GEMConfig

if TYPE_CHECKING:  # imported where the bridge is used: training needs no ml_collections
    import ml_collections

# --- suite presets (IQL's expectile / temperature per suite) ---


def locomotion(config: GEMConfig | None = None) -> GEMConfig:
    return (config or GEMConfig()).replace(expectile=0.7, adv_temperature=3.0, horizon=1000)


def maze2d(config: GEMConfig | None = None) -> GEMConfig:
    """Selection knobs chosen by experiments/tune.py on validation episodes (all *ours*):
    a support weight rising over the episode, beta 0 -> 3, and a uniform draw from the
    score's top quarter instead of its argmax. Evidence: experiments/RESULTS.md, "A support
    weight that rises over the episode", "maze2d-medium at 2e5 with LayerNorm critics" and
    "The top quarter"; the paper's forms: docs/method.md §6."""
    return (config or GEMConfig()).replace(
        expectile=0.7, adv_temperature=3.0, horizon=800, beta_start=0.0, beta_end=3.0,
        top_k_frac=0.25, top_k_pick="sample",
    )


def antmaze(config: GEMConfig | None = None) -> GEMConfig:
    """IQL's AntMaze expectile and temperature; the argmax, lambda = 1, and beta 1 -> 3
    (beta_end *ours*; GEMConfig's 0.1 with `--config.beta_end=0.1`). Evidence: over the two tasks'
    pooled validation scores (experiments/tune.py, 3 seeds each, 56 settings), N = 1024,
    argmax, lambda = 1, beta 1 -> 3 has the best mean (antmaze-umaze 96.7, -umaze-diverse
    90.0; with beta_end = 0.1: 100.0 and 60.0), and umaze-diverse chose it (test 86.7); the
    maze2d preset's top-quarter draw trailed the argmax on both
    (experiments/results/antmaze/README.md, "antmaze-umaze, GEM", "antmaze-umaze-diverse, GEM")."""
    return (config or GEMConfig()).replace(
        expectile=0.9, adv_temperature=10.0, horizon=1000, beta_end=3.0,
    )


def nav2d(config: GEMConfig | None = None) -> GEMConfig:
    """Positions in [0, 30]^2 standardised, and a Polyak rate of 0.02 instead of the paper's
    0.005 (both *ours*): with 0.005 the critic is still settling along nav2d's 450-750-step
    routes at 2e4 steps and score-guided selection traps meanwhile (experiments/RESULTS.md,
    "nav2d: the collapse is an unsettled critic"; the paper's form: docs/method.md §6)."""
    return (config or GEMConfig()).replace(
        expectile=0.7, adv_temperature=3.0, horizon=1000, normalize_observations=True,
        target_update_rate=0.02,
    )


PRESETS = {"locomotion": locomotion, "maze2d": maze2d, "antmaze": antmaze, "nav2d": nav2d}


def preset(name: str, config: GEMConfig | None = None) -> GEMConfig:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name](config)


# --- algorithms in the same framework (no second copy of any network or loss) ---


def iql(config: GEMConfig | None = None) -> GEMConfig:
    """IQL: a Gaussian actor (K = 1, state-independent log-std, tanh mean) trained by
    advantage-weighted regression (the guided loss with K = 1 is exactly AWR), two critics
    with the min reducer, the same value and critic losses; acts with the mean (N = 0).
    Its likelihood is the published one (plain density, hard log-std clip); override
    `action_boundary` / `log_std_clamp` to give IQL GEM's edge handling. Its critic and
    value nets are the default's (LayerNorm, ours), so GEM and IQL compare on one kind of
    critic; `layer_norm=False` is the published IQL critic."""
    return (config or GEMConfig()).replace(
        num_components=1,
        num_critics=2,
        entropy_coef=0.0,
        num_candidates=0,
        top_k=1,
        action_boundary="density",
        log_std_clamp="hard",
    )


def bc(config: GEMConfig | None = None) -> GEMConfig:
    """Gaussian behavior cloning: IQL's actor with every weight 1 (beta_adv = 0). It trains
    no critic or value net (`train_critics=False`, ours, compute only: their updates could
    not reach its actor; `--config.train_critics=true` trains them as before)."""
    return iql(config).replace(adv_temperature=0.0, train_critics=False)


def lom(config: GEMConfig | None = None) -> GEMConfig:
    """LOM (method §8): the behavior GMM pretrained alone for `gmm_pretrain_steps` (ours: 50k, a
    sixth of a 3e5 budget, and `build_config` caps it at a sixth of shorter runs; LOM's code
    200k before its 1M) then frozen, the hyper-Q over its modes and a deterministic policy (our
    actor with K = 1, acting with its mean) imitating the best mode with weight `clip(exp(5 ΔQ),
    0, 50)` (paper). Two critics with the min, as IQL; the critic bootstraps on IQL's value
    (ours; `critic_target="sarsa"` is the paper's TD3+BC critic; evidence, nav2d at 2e4 steps, 3
    seeds: 226.0 +- 35.7 against 0.0 +- 0.0, every SARSA episode stalled,
    experiments/results/lom/README.md). Policy and hyper-Q learn at 1e-3 (LOM's code), on the
    dataset's rewards as they are (`reward_scaling=False`, LOM's code: its beta acts on that
    scale). `LOM_DATASETS` holds the paper's per-dataset settings (critics, mixture sizes, beta,
    C, noises). Ours: the behavior GMM is our `GMMPolicy` (one state-independent log-std per
    component and GEM's censored likelihood, the run's `hidden_dims`), where LOM's MDN has per-
    state log-stds clamped to (-15, 0), tanh means and 512-512 layers."""
    return (config or GEMConfig()).replace(
        actor_objective="lom",
        reward_scaling=False,
        num_components=1,
        num_critics=2,
        entropy_coef=0.0,
        num_candidates=0,
        top_k=1,
        gmm_pretrain_steps=50_000,
        gmm_freeze_after_pretrain=True,
        actor_lr=1e-3,
    )


def idql(config: GEMConfig | None = None) -> GEMConfig:
    """IDQL (method §9): IQL's critic and value, a diffusion model of the data's actions
    (T = 5, VP schedule, EMA 0.001 for sampling: IDQL's actor_tau), and at deployment the
    argmax of the critic over N = 64 diffusion samples (no anchor, no support term:
    beta = 0). The argmax is of the ensemble mean (lambda = 0; IDQL's code: the min of its
    two critics), and the model takes one step per critic step (IDQL: two) (ours, both).
    IQL's Gaussian actor still trains beside it (cheap) so the anchor ablations have an
    anchor."""
    return _diffusion_candidates(iql(config), 64)


def _diffusion_candidates(config: GEMConfig, num_candidates: int) -> GEMConfig:
    """IDQL's and SfBC's selection: N diffusion samples alone (no anchor), ranked by the
    critic ensemble's mean (lambda = 0) with no support term (beta = 0)."""
    return config.replace(diffusion_model=True, source="diffusion", anchor=False,
                          num_candidates=num_candidates, top_k=1, top_k_frac=0.0,
                          lcb_lambda=0.0, beta_start=0.0, beta_end=0.0)


def sfbc(config: GEMConfig | None = None) -> GEMConfig:
    """SfBC (method §9): a diffusion model of the data's actions, a critic regressed on the
    dataset's discounted Monte-Carlo returns (standardised, as SfBC's code), and at
    deployment one draw from softmax(100 Q) over M = 32 diffusion samples (no anchor,
    beta = 0, the ensemble mean). One in-sample planning iteration halfway through the run
    (16 samples, alpha = 20, SfBC's code's recursion) refits a fresh critic on the planned
    returns (`planning_iterations`; 0 keeps the MC returns). Ours: DDPM with T = 5 (SfBC: a
    15-step DPM-Solver); one pick (SfBC averages 4 distinct ones on locomotion: top_k=4)."""
    return _diffusion_candidates(iql(config), 32).replace(
        critic_target="returns", top_k_pick="softmax", pick_temperature=100.0,
        planning_iterations=1)


# LOM's published per-dataset settings (its code's `hyperparams`, D4RL -v2 names): critics K,
# mixture size, beta, clip C, action noise and the SARSA smoothing noise; anything not listed
# keeps `lom`'s defaults.
def _lom(k, mixtures, beta, noise, smooth, clip):
    return dict(num_critics=k, behavior_num_components=mixtures, lom_beta=beta,
                lom_action_noise=noise, sarsa_noise=smooth, lom_clip=clip)


LOM_DATASETS = {
    "halfcheetah-medium-replay": _lom(1, 5, 5.0, 0.4, 0.2, 100.0),
    "hopper-medium-replay": _lom(1, 5, 5.0, 0.0, 0.2, 50.0),
    "walker2d-medium-replay": _lom(1, 10, 5.0, 0.0, 0.2, 50.0),
    "halfcheetah-medium": _lom(1, 2, 5.0, 0.4, 0.2, 100.0),
    "hopper-medium": _lom(3, 5, 5.0, 0.0, 0.2, 50.0),
    "walker2d-medium": _lom(1, 2, 5.0, 0.0, 0.2, 50.0),
    "halfcheetah-medium-expert": _lom(2, 1, 0.1, 0.0, 0.0, 50.0),
    "hopper-medium-expert": _lom(6, 2, 0.1, 0.0, 0.0, 50.0),
    "walker2d-medium-expert": _lom(3, 5, 0.1, 0.2, 0.0, 50.0),
    "halfcheetah-expert": _lom(1, 2, 0.1, 0.0, 0.0, 50.0),
    "hopper-expert": _lom(1, 2, 0.1, 0.0, 0.2, 50.0),
    "walker2d-expert": _lom(1, 5, 0.1, 0.2, 0.0, 50.0),
}


ALGORITHMS = {"gem": lambda config=None: config or GEMConfig(), "iql": iql, "bc": bc,
              "lom": lom, "idql": idql, "sfbc": sfbc}
# Fields that define an algorithm: re-applied after any user override.
ALGORITHM_FIXED = {
    "gem": {},
    "iql": dict(num_components=1, num_candidates=0, top_k=1),
    "bc": dict(num_components=1, num_candidates=0, top_k=1, adv_temperature=0.0),
    "lom": dict(actor_objective="lom", num_components=1, num_candidates=0, top_k=1),
    "idql": dict(num_components=1, diffusion_model=True, source="diffusion", anchor=False),
    "sfbc": dict(num_components=1, diffusion_model=True, source="diffusion", anchor=False,
                 critic_target="returns"),
}


def algorithm(name: str, config: GEMConfig | None = None) -> GEMConfig:
    if name not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}; choose one of {sorted(ALGORITHMS)}.")
    return ALGORITHMS[name](config)


# --- ml_collections bridge for `--config.<field>=` overrides ---

# A saved config without these fields was trained before they existed, with these values.
LEGACY_DEFAULTS = {"action_boundary": "density", "log_std_clamp": "hard",
                   # SfBC and IDQL runs saved before SfBC's code was followed (2026-12-05)
                   "normalize_returns": False, "planning_target": "paper",
                   "planning_reset_critic": False, "reward_scaling": True}


def to_config_dict(config: GEMConfig) -> ml_collections.ConfigDict:
    """`config` as an `ml_collections.ConfigDict` (the `--config.<field>=` flag's value)."""
    import ml_collections  # only the CLI's flag bridge needs it

    return ml_collections.ConfigDict(dataclasses.asdict(config))


def from_config_dict(config_dict: ml_collections.ConfigDict | dict) -> GEMConfig:
    values = dict(config_dict.to_dict() if hasattr(config_dict, "to_dict") else config_dict)
    fields = {f.name for f in dataclasses.fields(GEMConfig)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"Unknown GEMConfig field(s) {unknown}; valid fields: {sorted(fields)}.")
    for name, legacy in LEGACY_DEFAULTS.items():  # configs saved before the field existed
        values.setdefault(name, legacy)
    return GEMConfig(**values)


# --- a run's config, its layers in order ---


def _d4rl_stem(env: str) -> str:
    """`hopper-medium-v2` -> `hopper-medium` (the key of per-dataset tables)."""
    stem = env.rsplit("/", 1)[-1]
    parts = stem.split("-")
    return "-".join(parts[:-1]) if parts[-1][:1] == "v" and parts[-1][1:].isdigit() else stem


def explicit_overrides(argv: list[str]) -> set[str]:
    """Names of the `--config.<field>` flags given on the command line."""
    names = set()
    for arg in argv:
        if arg.startswith("--config."):
            names.add(arg[len("--config."):].split("=", 1)[0].split(".")[0])
    return names


def build_config(
    env: str, config_dict, argv: list[str], algo: str = "gem", **fields
) -> GEMConfig:
    """The config of a training run on `env`: the layers of this module's docstring in
    order. `config_dict` is the `--config` flag's value (`to_config_dict` of the defaults,
    with the command line's overrides), `argv` the command line (only the `--config.`
    fields it names override), `fields` the named flags (None = not given)."""
    from gem_jax.data import resolve_name

    spec = resolve_name(env)
    base = algorithm(algo, preset(spec.suite))  # 1. suite preset, 3. algorithm preset
    if algo == "lom":  # 3. and its published per-dataset settings
        base = base.replace(**LOM_DATASETS.get(_d4rl_stem(env), {}))
    if spec.max_episode_steps:  # 2. method §3: T is the episode length (e.g. 300, U-maze)
        base = base.replace(horizon=int(spec.max_episode_steps))
    given = from_config_dict(config_dict)
    overrides = {name: getattr(given, name) for name in explicit_overrides(argv)}  # 4.
    overrides.update({k: v for k, v in fields.items() if v is not None})  # 5. named flags
    if "top_k" in overrides and "top_k_frac" not in overrides:
        overrides["top_k_frac"] = 0.0  # a k the user names is a fixed k, not the preset's share
    overrides.update(ALGORITHM_FIXED[algo])  # 6. e.g. IQL stays a Gaussian acting with its mean
    config = base.replace(**overrides)
    if algo == "lom" and "gmm_pretrain_steps" not in overrides:  # ours: a sixth of the run
        config = config.replace(gmm_pretrain_steps=min(config.gmm_pretrain_steps,
                                                       config.num_steps // 6))
    return config.validate()


# --- after training: the knobs experiments/tune.py chose ---

TUNED_FILE = "tuned_knobs.json"  # written by experiments/tune.py
TUNED_KEYS = ("num_candidates", "top_k", "source", "lcb_lambda", "beta_start", "beta_end",
              "anchor_bonus", "candidate_means", "top_k_pick", "top_k_frac")


def with_tuned_knobs(config, workdir: str | pathlib.Path,
                     path: str | pathlib.Path | None = None):
    """`config` with the selection knobs `experiments/tune.py` chose for this run (chosen on
    validation episodes), or unchanged when the run was never tuned. `path`: a tuned-knobs
    file to use instead of the run's own (e.g. the knobs chosen over pooled seeds,
    `experiments/pool_seeds.py`); it must exist."""
    if path is not None and not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"{path} does not exist: name a tuned_knobs.json written by "
                                "experiments/tune.py or experiments/pool_seeds.py.")
    path = pathlib.Path(path) if path is not None else pathlib.Path(workdir) / TUNED_FILE
    if not path.is_file():
        return config
    try:
        tuned = json.loads(path.read_text())
        changes = {k: type(getattr(config, k))(tuned[k]) for k in TUNED_KEYS if k in tuned}
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path} is not a valid tuned-knobs file ({err}); delete it or "
                         "rerun experiments/tune.py.") from None
    return config.replace(**changes).validate()
