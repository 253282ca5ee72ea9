"""`GEMConfig`: the one home of every default (method §1-5).

Values the paper states are marked *paper*; values it lost (method §6 lists them) are marked
*ours*: they are flags, never claims about the paper. Suite presets return modified
copies; the CLI overrides single fields with `--config.<field>=<value>`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where the bridge is used: training needs no ml_collections
    import ml_collections

SOURCES = ("actor", "behavior")
MODES = ("zscore", "raw")
PICKS = ("mean", "sample")  # how a_out comes from the top-k (method §3: mean)
VARIANTS = (
    "gem",
    "no_pw",
    "no_lcb",
    "no_anchor",
    "anchor_bary",
    "behavior_only_cands",
    "unimodal_actor_cands",
    "raw",
)
SUPPORT_MODELS = ("gmm", "empo")
ACTION_BOUNDARIES = ("censored", "density")
LOG_STD_CLAMPS = ("soft", "hard")


@dataclasses.dataclass(frozen=True)
class GEMConfig:
    # --- networks (method §1) ---
    hidden_dims: tuple[int, ...] = (256, 256)  # every MLP trunk (IQL's size)
    num_components: int = 5  # K of the actor GMM (ours)
    behavior_num_components: int = 5  # K of the behavior GMM mu_phi (ours)
    num_critics: int = 5  # E, critic ensemble size (ours)
    # M: the training reducer is the min over a random M-subset of the E target critics,
    # drawn per step (ours, REDQ's in-target minimisation; 0 = all E, method §2). The min of E
    # estimates falls with E, so M = 2 keeps IQL's (E = 2) pessimism while the LCB uses all E.
    target_subset: int = 0
    log_std_min: float = -5.0  # clamp of the state-independent log sigma_k (ours)
    log_std_max: float = 2.0  # (ours)
    # LayerNorm before every ReLU of the critic and value trunks (ours; False = the paper's
    # plain IQL critic). It bounds Q far from the data (tests/test_critic_norm.py). On
    # maze2d-medium (experiments/RESULTS.md, "LayerNorm critics") it lifted every actor and
    # budget: K = 5 anchor 23.7 -> 43.9 (6 seeds), N = 16 13.9 -> 47.3, critic-only (beta = 0)
    # selection ~21 -> 51; the unimodal actor's mean 53.4 -> 61.8.
    layer_norm: bool = True
    # Likelihood of an action coordinate on the box edge +-1 (method §1, boundary clause; ours):
    # "censored" = the latent Gaussian's tail mass beyond the edge (Tobit), "density" = the
    # paper's plain density, under which components collapse onto clipped actions at the
    # log_std_min clamp (experiments/RESULTS.md, issue: GEM vs its IQL backbone).
    action_boundary: str = "censored"
    latent_mean_bound: float = 1.5  # |mean| bound of censored components (ours; density: 1)
    log_std_clamp: str = "soft"  # "soft" (ours: gradient never vanishes) | "hard" (clip)

    # --- Phase I losses (method §2) ---
    discount: float = 0.99  # gamma
    expectile: float = 0.7  # tau of the value expectile regression (IQL; antmaze 0.9)
    adv_temperature: float = 3.0  # beta_adv in omega = exp(beta_adv * A) (IQL; antmaze 10)
    exp_adv_max: float = 100.0  # EXP_ADV_MAX clamp of omega (ours)
    entropy_coef: float = 1e-3  # alpha_ent, gating entropy bonus (ours)
    detach_responsibilities: bool = True  # stop_grad on gamma_k in S_EM (paper default)
    target_update_rate: float = 0.005  # Polyak rho (paper)
    gmm_pretrain_steps: int = 0  # steps where only mu_phi trains, before the rest (ours)
    gmm_freeze_after_pretrain: bool = False  # freeze mu_phi once pretraining ends
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    behavior_lr: float = 3e-4
    batch_size: int = 256

    # --- Phase II selection knobs (method §3), all changeable after training ---
    num_candidates: int = 1024  # N (paper's stress point and default)
    top_k: int = 1  # mean of the top-k candidates; 1 = argmax
    # "mean": a_out = mean of the top-k (method §3, the paper). "sample" (ours, off by default):
    # a_out = one of the top-k drawn uniformly per decision. Where the score's argmax over
    # many candidates loses to the actor's own sample, a wide draw recovers it (maze2d-large,
    # N = 1024: argmax 35.5, top-256 draw 54.0; nav2d at 2e4: 0.0 vs 145.3; RESULTS.md,
    # "maze2d-large, retrained" and "nav2d: the actor holds"); off here (the paper's), on in
    # the maze2d preset with top_k_frac; k = 1 makes the two identical
    top_k_pick: str = "mean"
    # > 0 (ours; 0 = off, the paper's fixed k): k = max(1, round(top_k_frac * set size)), the
    # same share of the candidate set at every N, and top_k is ignored. A fixed k narrows the
    # draw as N grows (maze2d-medium, test: top-256 draw 94.7 at N = 1024, 84.3 at N = 2048;
    # the top quarter 91.9 at N = 2048, 100.0 at N = 64; RESULTS.md, "the top quarter")
    top_k_frac: float = 0.0
    # delta added to the anchor's score before ranking (ours; 0 = the paper): a candidate
    # replaces the actor's mode only if it scores delta higher (method §3, "anchor bonus")
    anchor_bonus: float = 0.0
    # True: the set also holds the actor's other K - 1 component means, ranked like any
    # candidate (ours; False, the default, is the paper's set: top-weight mean + N samples).
    # It rescues N = 0 once the top-weight mode goes bad (maze2d-umaze at 2e5 steps), but
    # validation chose the paper's set with N = 16 at 1e5 and 2e5 (select.candidate_set)
    candidate_means: bool = False
    lcb_lambda: float = 1.0  # lambda in mean - lambda * std (ours, pick by sweep)
    beta_start: float = 1.0  # beta_0 of the cosine support schedule (ours)
    beta_end: float = 0.1  # beta_end (ours)
    horizon: int = 1000  # T of the schedule (episode length)
    mode: str = "zscore"  # candidate-set normalisation: zscore | raw
    source: str = "actor"  # candidate source: actor | behavior
    support_model: str = "gmm"  # behavior support model in selection: gmm | empo
    state_chunk: int = -1  # states per vmapped chunk of a batched select call (speed only,
    # same actions): 0 = all at once; -1 = auto: on a CPU, ~2048 candidates a chunk so
    # the [E, C, H] activations stay in cache (benchmarks/RESULTS.md), elsewhere 0

    # --- audits (method §4) ---
    z_thresh: float = -2.0  # Violation threshold (ours)

    # --- training loop / evaluation (method §5) ---
    num_steps: int = 1_000_000  # gradient steps (paper: 10^6)
    steps_per_call: int = 1000  # train steps fused in one jitted lax.scan call
    normalize_observations: bool = False
    log_every: int = 5000
    eval_every: int = 100_000
    eval_episodes: int = 10
    checkpoint_every: int = 50_000
    keep_checkpoints: int = 3
    seed: int = 0

    def __post_init__(self):
        # A tuple whatever was passed (JSON gives lists): the config is hashable, so it can
        # be a static argument of a compiled function (train.init_state).
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))

    def replace(self, **changes: Any) -> GEMConfig:
        return dataclasses.replace(self, **changes)

    def validate(self) -> GEMConfig:
        """Raise `ValueError` naming the field and the fix for an invalid value."""
        checks = [
            (self.num_critics >= 1, "num_critics must be >= 1"),
            (
                0 <= self.target_subset <= self.num_critics,
                f"target_subset={self.target_subset} must lie in [0, num_critics="
                f"{self.num_critics}] (0 = min over all critics)",
            ),
            (self.num_components >= 1, "num_components must be >= 1"),
            (self.behavior_num_components >= 1, "behavior_num_components must be >= 1"),
            (self.num_candidates >= 0, "num_candidates (N) must be >= 0 (0 = anchor only)"),
            (self.top_k >= 1, "top_k must be >= 1"),
            (0.0 <= self.top_k_frac <= 1.0, "top_k_frac must lie in [0, 1] (0 = use top_k)"),
            (
                self.top_k_frac > 0 or self.top_k <= self.num_candidates + 1,
                f"top_k={self.top_k} exceeds the candidate-set size N + 1 = "
                f"{self.num_candidates + 1}; lower top_k or raise num_candidates",
            ),
            (self.horizon > 0, "horizon (T of the beta schedule) must be > 0"),
            (self.anchor_bonus >= 0, "anchor_bonus must be >= 0 (0 = the paper's selection)"),
            (self.state_chunk >= -1, "state_chunk must be >= -1 (0 = no chunking, -1 = auto)"),
            (self.num_steps >= 0, "num_steps must be >= 0"),
            (self.steps_per_call >= 1, "steps_per_call must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (0.0 < self.expectile < 1.0, "expectile must lie in (0, 1)"),
            (0.0 <= self.discount <= 1.0, "discount must lie in [0, 1]"),
            (self.log_std_min < self.log_std_max, "log_std_min must be < log_std_max"),
            (
                self.action_boundary in ACTION_BOUNDARIES,
                f"action_boundary must be one of {ACTION_BOUNDARIES}",
            ),
            (self.latent_mean_bound >= 1.0, "latent_mean_bound must be >= 1 (the box edge)"),
            (
                self.log_std_clamp in LOG_STD_CLAMPS,
                f"log_std_clamp must be one of {LOG_STD_CLAMPS}",
            ),
            (self.mode in MODES, f"mode must be one of {MODES}"),
            (self.top_k_pick in PICKS, f"top_k_pick must be one of {PICKS}"),
            (self.source in SOURCES, f"source must be one of {SOURCES}"),
            (
                self.support_model in SUPPORT_MODELS,
                f"support_model must be one of {SUPPORT_MODELS}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Invalid GEMConfig: {message}.")
        return self


# --- suite presets (IQL's expectile / temperature per suite) ---


def locomotion(config: GEMConfig | None = None) -> GEMConfig:
    return (config or GEMConfig()).replace(expectile=0.7, adv_temperature=3.0, horizon=1000)


def maze2d(config: GEMConfig | None = None) -> GEMConfig:
    """beta_end = 3 (ours): chosen by experiments/tune.py on maze2d-umaze validation episodes
    at 1e5 and at 2e5 steps (grid lambda {1, 3} x beta_end {0.1, 3} x N {0, 16}); a support
    weight rising over the episode lets selection hold the goal (experiments/RESULTS.md,
    "A support weight that rises over the episode"). beta_start = 0 (ours): chosen by
    tune.py on maze2d-medium validation episodes at 2e5 steps with LayerNorm critics (grid
    beta_0 {0, 1} x beta_end {0, 3}, N = 16: test 88.8 vs 68.1 for beta_0 = 1), and ahead of
    beta_0 = 1 at 1e5 on 6 seeds (63.1 / 67.3 vs 50.3 / 44.2): the critic alone steers toward
    the goal early, the support term holds it late (RESULTS.md, "maze2d-medium at 2e5 with
    LayerNorm critics"); on maze2d-umaze at 2e5 the joint grid N {1, 16, 1024} x beta_0 {0, 1}
    x beta_end {0, 3} chose it too, at N = 1024 (test 94.5 vs 89.3 for beta_0 = 1; RESULTS.md,
    "maze2d-umaze at 2e5 with LayerNorm critics"), and so did the same grid on maze2d-large,
    at N = 1 (test 71.7 vs 66.3 for beta = 0 and 29.5 for beta_0 = 1; RESULTS.md,
    "maze2d-large at 2e5 with LayerNorm critics").
    top_k_frac = 0.25 with top_k_pick = "sample" (ours): execute a uniform draw from the
    score's top quarter of the candidate set instead of its argmax. tune.py (grid N {1, 16,
    1024} x {argmax, top-quarter draw}, validation episodes, 3 retrained runs at 2e5) chose
    the draw on umaze and medium and N = 1 on large; at N = 1024 the draw beat the argmax on
    validation on all three (88.8 / 86.4 / 29.8 vs 88.0 / 48.5 / 11.1), and on test it holds
    the budget curve level from N = 1 to 2048 where the argmax falls (large: 51.0, 55.3,
    54.0, 54.3 at N = 1, 64, 1024, 2048 vs argmax 40.4, 35.5, 30.8; RESULTS.md, "The top
    quarter"). `--config.top_k_frac=0 --config.top_k_pick=mean` is the paper's argmax."""
    return (config or GEMConfig()).replace(
        expectile=0.7, adv_temperature=3.0, horizon=800, beta_start=0.0, beta_end=3.0,
        top_k_frac=0.25, top_k_pick="sample",
    )


def antmaze(config: GEMConfig | None = None) -> GEMConfig:
    return (config or GEMConfig()).replace(expectile=0.9, adv_temperature=10.0, horizon=1000)


def nav2d(config: GEMConfig | None = None) -> GEMConfig:
    """Positions in [0, 30]^2 are standardised (ours).

    target_update_rate = 0.02 (ours; the paper's Polyak rate is 0.005): nav2d's routes are
    450-750 steps long, and with rho = 0.005 the critic's mean Q is still falling at 2e4
    steps (-47 at 1e4, -73 at 2e4, -96 only from 5e4), so score-guided selection traps in the
    meantime (GEM N = 64 on test: 189 at 5e3, 0.0 at 2e4) and recovers once Q settles (246 at
    6e4, 268 at 1e5). With rho = 0.02 Q settles by 1.5e4 and validation episodes at 2e4 give
    N = 64 237.9 against 0.0; test, 6 seeds: 204.1 at 5e3 -> 240.2 at 2e4 (RESULTS.md,
    "nav2d: the collapse is an unsettled critic"). `--config.target_update_rate=0.005` is
    the paper's rate."""
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
    """Gaussian behavior cloning: IQL's actor with every weight 1 (beta_adv = 0)."""
    return iql(config).replace(adv_temperature=0.0)


ALGORITHMS = {"gem": lambda config=None: config or GEMConfig(), "iql": iql, "bc": bc}
# Fields that define an algorithm: re-applied after any user override.
ALGORITHM_FIXED = {
    "gem": {},
    "iql": dict(num_components=1, num_candidates=0, top_k=1),
    "bc": dict(num_components=1, num_candidates=0, top_k=1, adv_temperature=0.0),
}


def algorithm(name: str, config: GEMConfig | None = None) -> GEMConfig:
    if name not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}; choose one of {sorted(ALGORITHMS)}.")
    return ALGORITHMS[name](config)


# --- ml_collections bridge for `--config.<field>=` overrides ---

# A saved config without these fields was trained before they existed, with these values.
LEGACY_DEFAULTS = {"action_boundary": "density", "log_std_clamp": "hard"}


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
