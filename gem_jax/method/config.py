"""`GEMConfig`: the one home of every default (method §1-5).

Values the paper states are marked *paper*; values it lost (method §6 lists them) are marked
*ours*: they are flags, never claims about the paper. The suite and algorithm presets
(`gem_jax.presets`) return modified copies; a run's config is put together there
(`presets.build_config`), and the commands override single fields with
`--config.<field>=<value>`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SOURCES = ("actor", "behavior", "diffusion")
MODES = ("zscore", "raw")
PICKS = ("mean", "sample", "softmax")  # how a_out comes from the top-k (method §3: mean)
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
ACTOR_OBJECTIVES = ("guided_em", "lom")  # GEM/IQL/BC's weighted EM | LOM's (method §8)
# r + gamma V(s') (IQL) | r + gamma min Qbar(s', a'~) (LOM, §8) | the MC return (SfBC, §9)
CRITIC_TARGETS = ("value", "sarsa", "returns")


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
    # The critic's bootstrap: "value" = r + gamma (1 - d) V(s') (IQL, method §2); "sarsa" =
    # r + gamma (1 - d) min_e Qbar_e(s', clip(a' + eps)), a' the dataset's next action and eps
    # clipped Gaussian smoothing noise of sarsa_noise std (TD3+BC; LOM's paper, method §8)
    # "returns": the dataset's discounted Monte-Carlo return from (s, a) on, no bootstrap
    # (SfBC's critic before in-sample planning, method §9)
    critic_target: str = "value"
    sarsa_noise: float = 0.2  # std of eps, clipped to +-0.5 (LOM's code)
    # False (BC's preset, ours, compute only): the value and critic nets are not updated. BC's
    # actor weights every pair by exp(0 * A) = 1, so their updates were discarded work (about
    # half of BC's step); the actor and behavior updates are bitwise those of the full step.
    # A run without trained critics cannot rank candidates (make_policy refuses N > 0).
    train_critics: bool = True
    # True: train on the rewards after the suite's scale (IQL's 1000 / return spread on
    # locomotion); False: as the dataset has them (LOM's code: its beta acts on that scale)
    reward_scaling: bool = True

    # --- LOM, a related system (method §8; `--algo=lom` sets actor_objective) ---
    actor_objective: str = "guided_em"  # "lom": weighted imitation of the best behavior mode
    lom_beta: float = 5.0  # beta of w = clip(exp(beta (Q(s,a_u*) - Q(s,pi(s)))), 0, C) (paper)
    lom_clip: float = 50.0  # C (paper: 50; 100 on halfcheetah)
    lom_action_noise: float = 0.0  # Gaussian noise on the mode's actions (paper: 0 or 0.4)
    lom_mode_samples: int = 1  # actions per mode in the hyper-Q target (paper: 1)

    # --- the diffusion action model (method §9; IDQL's and SfBC's proposal, source=diffusion) ---
    diffusion_model: bool = False  # train a conditional DDPM of actions beside the rest
    diffusion_steps: int = 5  # T (IDQL: 5, VP schedule)
    diffusion_hidden: int = 256  # width of IDQL's residual noise network
    diffusion_blocks: int = 3  # its residual blocks
    diffusion_dropout: float = 0.1
    diffusion_lr: float = 3e-4
    diffusion_ema_rate: float = 0.001  # selection samples with this EMA (IDQL's actor_tau)
    # SfBC (method §9; critic_target="returns"): the critic regresses on standardised returns,
    # (R - mean) / max(std, 0.1), as SfBC's code does (normalise_return); its softmax
    # temperatures act on that scale. False: on the returns as they are.
    normalize_returns: bool = True
    # SfBC's in-sample planning: K times, evenly spaced over the run, every dataset state's
    # value under the softmax selection is estimated from `planning_samples` diffusion
    # samples, V = sum softmax(alpha Q) Q with alpha = `planning_temperature`, and the
    # critic's targets are recomputed backwards: "code" U_i = max(r_i + gamma U_{i+1}, V(s_i))
    # (SfBC's code, the form), "paper" R_i = r_i + gamma max(R_{i+1}, V(s_{i+1})).
    planning_iterations: int = 0  # K (0: the critic keeps the Monte-Carlo returns)
    planning_samples: int = 16  # behavior samples per state (SfBC: 16)
    planning_temperature: float = 20.0  # alpha of the planning softmax (SfBC: 20)
    planning_target: str = "code"  # "code" | "paper" (above)
    planning_reset_critic: bool = True  # a fresh critic after each pass (SfBC's reset_critic)
    planning_chunk: int = 4096  # states per batched pass (memory only; not a result)

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
    # alpha of top_k_pick="softmax" (SfBC's selection, method §9): a_out is the mean of top_k
    # draws from softmax(alpha * score) over the set; large alpha tends to the argmax (SfBC: 100)
    pick_temperature: float = 100.0
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
    source: str = "actor"  # candidate source: actor | behavior | diffusion (method §9)
    # The set's anchor a_0 (the actor's top-weight mean; method §3). False: the set is the N
    # samples alone (IDQL's and SfBC's selection)
    anchor: bool = True
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
            (
                self.actor_objective in ACTOR_OBJECTIVES,
                f"actor_objective must be one of {ACTOR_OBJECTIVES}",
            ),
            (
                self.train_critics or (self.adv_temperature == 0.0
                                       and self.actor_objective == "guided_em"
                                       and not self.diffusion_model),
                "train_critics=False is for BC alone (adv_temperature=0, the guided actor, "
                "no diffusion model): every other actor learns from the critic",
            ),
            (
                self.critic_target in CRITIC_TARGETS,
                f"critic_target must be one of {CRITIC_TARGETS}",
            ),
            (self.sarsa_noise >= 0, "sarsa_noise must be >= 0"),
            (self.lom_clip > 0, "lom_clip (C) must be > 0"),
            (self.lom_mode_samples >= 1, "lom_mode_samples must be >= 1"),
            (
                self.actor_objective != "lom" or self.gmm_pretrain_steps < self.num_steps
                or self.num_steps == 0,
                f"LOM's behavior pretraining (gmm_pretrain_steps={self.gmm_pretrain_steps}) "
                f"covers the whole run (num_steps={self.num_steps}): its policy would never "
                "train; lower gmm_pretrain_steps",
            ),
            (self.lom_action_noise >= 0, "lom_action_noise must be >= 0"),
            (self.diffusion_steps >= 1, "diffusion_steps (T) must be >= 1"),
            (
                self.source != "diffusion" or self.diffusion_model,
                "source='diffusion' needs a trained diffusion model (diffusion_model=True, "
                "e.g. --algo=idql)",
            ),
            (
                self.anchor or self.num_candidates >= 1,
                "anchor=False needs num_candidates >= 1 (the set would be empty)",
            ),
            (self.planning_iterations >= 0, "planning_iterations (K) must be >= 0"),
            (
                self.planning_iterations == 0
                or (self.critic_target == "returns" and self.diffusion_model),
                "planning_iterations > 0 (SfBC's in-sample planning) needs critic_target="
                "'returns' and a diffusion model (diffusion_model=True, e.g. --algo=sfbc)",
            ),
            (self.planning_samples >= 1, "planning_samples must be >= 1"),
            (self.planning_temperature >= 0, "planning_temperature (alpha) must be >= 0"),
            (self.planning_chunk >= 1, "planning_chunk must be >= 1"),
            (self.planning_target in ("code", "paper"), "planning_target must be 'code' (SfBC's "
             "released code) or 'paper' (its paper's recursion)"),
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
