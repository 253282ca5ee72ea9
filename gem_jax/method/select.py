"""Phase II: the action-selection interface (method §3; paper App. B, G).

For one state: anchor + N candidates, score = LCB_lambda + beta_t * z(behavior log-lik),
output the mean of the top-k (or, `top_k_pick="sample"`, ours, one of them drawn
uniformly). With `candidate_means` (ours, off by default) the set also holds the actor's
other K - 1 component means, so the score ranks the actor's modes as well as its samples.
Written for one observation, vmapped over the batch and jitted. Shape-changing knobs
(N, k or top_k_frac, source, mode, variant, candidate_means, top_k_pick) are static; numeric knobs
(`SelectKnobs`) are traced, so a lambda/beta sweep never recompiles.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from gem_jax.method import diffusion as diffusion_lib
from gem_jax.method import gmm as gmm_lib
from gem_jax.method.config import MODES, PICKS, SOURCES, VARIANTS, GEMConfig
from gem_jax.method.learner import GEMState, ObsNorm
from gem_jax.method.networks import Networks, make_networks

Z_STD_FLOOR = 1e-6


@struct.dataclass
class SelectKnobs:
    """Numeric selection knobs, traced scalars (change freely without recompiling)."""

    lcb_lambda: jax.Array
    beta_start: jax.Array
    beta_end: jax.Array
    horizon: jax.Array
    anchor_bonus: jax.Array  # delta on the anchors' scores (ours; 0 = the paper)
    pick_temperature: jax.Array  # alpha of top_k_pick="softmax" (SfBC: 100)

    @classmethod
    def create(cls, lcb_lambda=1.0, beta_start=1.0, beta_end=0.1, horizon=1000,
               anchor_bonus=0.0, pick_temperature=100.0) -> SelectKnobs:
        f = lambda x: jnp.asarray(x, jnp.float32)
        return cls(f(lcb_lambda), f(beta_start), f(beta_end), f(horizon), f(anchor_bonus),
                   f(pick_temperature))

    @classmethod
    def from_config(cls, config: GEMConfig, **overrides) -> SelectKnobs:
        values = dict(
            lcb_lambda=config.lcb_lambda,
            beta_start=config.beta_start,
            beta_end=config.beta_end,
            horizon=config.horizon,
            anchor_bonus=config.anchor_bonus,
            pick_temperature=config.pick_temperature,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.create(**values)


@struct.dataclass
class PolicyParams:
    """Only what selection needs: actor, behavior, online critic ensemble, obs norm."""

    actor: Any
    behavior: Any
    critic: Any  # leading E axis
    obs_norm: ObsNorm
    # The behavior support model of config.support_model == "empo" (method §7): any pytree
    # with `behavior_gmm(raw_observations) -> GMM`, e.g. the fitted EMPO cluster mixture
    # (gem_jax.empo.support). Selection takes it as an argument: the method imports no EMPO.
    support: Any = None
    # The diffusion model's EMA parameters (source="diffusion", method §9); None otherwise.
    diffusion: Any = None


def policy_params(state: GEMState, support: Any = None) -> PolicyParams:
    """Selection parameters of a state; `support` is the behavior support model (the
    fitted EMPO support, or None)."""
    return PolicyParams(
        actor=state.actor.params,
        behavior=state.behavior.params,
        critic=state.critic.params,
        obs_norm=state.obs_norm,
        support=support,
        diffusion=state.diffusion_ema,
    )


def seed_params(params: PolicyParams, index: int) -> PolicyParams:
    """One seed of seed-stacked `[S, ...]` params; the (dataset-level) support is shared."""
    sliced = jax.tree.map(lambda x: x[index], params.replace(support=None))
    return sliced.replace(support=params.support)


def zscore(values: jax.Array, axis: int = -1, floor: float = Z_STD_FLOOR) -> jax.Array:
    """Candidate-set standardisation `(l - mean) / max(std, floor)`, population std (method §3)."""
    mean = values.mean(axis=axis, keepdims=True)
    std = values.std(axis=axis, keepdims=True)  # ddof = 0
    return (values - mean) / jnp.maximum(std, floor)


BEHAVIOR_REF_SAMPLES = 64  # draws of mu(.|s) behind BehaviorZ (ours, method §4)


def behavior_z(behavior: gmm_lib.GMM, action: jax.Array, key: jax.Array,
               num_samples: int = BEHAVIOR_REF_SAMPLES) -> jax.Array:
    """BehaviorZ (ours, method §4): the executed action's behavior log-lik, standardised
    against `num_samples` draws `b_j ~ mu(.|s)` clipped to the box,
    `(log mu(a|s) - mean_j log mu(b_j|s)) / max(std_j, floor)`.

    SupportZ standardises within the candidate set, so it is 0 for a one-action policy (BC,
    IQL, LOM, N = 0); BehaviorZ puts every system on the behavior's own scale (about 0 for
    an action drawn from mu itself). behavior: one state's GMM [Kb, A]; action: [A] -> [].
    """
    ref = jnp.clip(gmm_lib.sample(behavior, key, num_samples), -1.0, 1.0)  # [M, A]
    ref_log_mu = gmm_lib.log_prob(behavior, ref)  # [M]
    log_mu = gmm_lib.log_prob(behavior, action)  # []
    return (log_mu - ref_log_mu.mean()) / jnp.maximum(ref_log_mu.std(), Z_STD_FLOOR)


def lcb(q_values: jax.Array, lcb_lambda: jax.Array, axis: int = -1) -> jax.Array:
    """`LCB = mean_e Q_e - lambda * std_e Q_e`, population std (method §3). Reduces `axis`."""
    return q_values.mean(axis=axis) - lcb_lambda * q_values.std(axis=axis)


def beta_schedule(t: jax.Array, beta_start, beta_end, horizon) -> jax.Array:
    """Cosine `beta_t = beta_end + (beta_0 - beta_end) * (1 + cos(pi min(t,T)/T)) / 2`
    (method §3)."""
    frac = jnp.minimum(jnp.asarray(t, jnp.float32), horizon) / horizon
    return beta_end + (beta_start - beta_end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))


def top_k_mean(candidates: jax.Array, scores: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """Mean of the `k` best-scoring candidates (paper Eq. 78). [C, A], [C] -> [A], idx [k]."""
    _, idx = jax.lax.top_k(scores, k)
    return candidates[idx].mean(axis=0), idx


def pick_top_k(
    candidates: jax.Array, scores: jax.Array, k: int, key: jax.Array, pick: str = "mean",
    temperature: jax.Array | float = 100.0,
) -> tuple[jax.Array, jax.Array]:
    """a_out from the `k` best candidates: their mean (method §3) or one drawn uniformly (ours);
    or, "softmax" (SfBC's selection, method §9), the mean of `k` distinct candidates drawn
    from `softmax(temperature * score)` over the whole set without replacement, as SfBC's code
    draws (Gumbel top-k; k = 1: one draw).

    Returns `(action [A], audited index [])`: the top-1 for "mean" (method §4 audits a*), the
    drawn candidate for "sample" and the first draw for "softmax" (the action executed). k = 1
    gives a* for "mean" and "sample".
    """
    if pick == "softmax":
        gumbel = jax.random.gumbel(key, scores.shape)  # [C]
        _, drawn = jax.lax.top_k(temperature * scores + gumbel, k)  # [k] distinct
        return candidates[drawn].mean(axis=0), drawn[0]
    action, idx = top_k_mean(candidates, scores, k)  # [A], [k]
    if pick == "mean":
        return action, idx[0]
    chosen = idx[jax.random.randint(key, (), 0, k)]
    return candidates[chosen], chosen


def set_size(num_candidates: int, variant: str = "gem") -> int:
    """Candidates the score ranks: N samples plus the anchor (none for `no_anchor`)."""
    return num_candidates + (0 if variant == "no_anchor" else 1)


def resolve_top_k(num_candidates: int, top_k: int, top_k_frac: float = 0.0,
                  variant: str = "gem") -> int:
    """The static k: `top_k`, or with `top_k_frac > 0` (ours) that share of the candidate
    set, `max(1, round(top_k_frac * (N + 1)))`, halves rounded up (N without the anchor for
    `no_anchor`)."""
    if not 0.0 <= top_k_frac <= 1.0:
        raise ValueError(f"top_k_frac must lie in [0, 1] (0 = use top_k), got {top_k_frac}.")
    if top_k_frac == 0:
        return int(top_k)
    return max(1, int(top_k_frac * set_size(num_candidates, variant) + 0.5))  # half up


CPU_CHUNK_CANDIDATES = 2048  # about this many candidates per chunk on a CPU


def auto_state_chunk(num_candidates: int, backend: str) -> int:
    """`state_chunk=-1`: on a CPU, chunks of about 2048 candidates; elsewhere 0 (no chunks).

    Measured on 2 CPU cores (benchmarks/RESULTS.md): chunks of 1-2k candidates were the
    fastest at N = 64 to 8192, e.g. 16 states at N = 1024 took 51 ms in pairs, 83 ms at once.
    """
    if backend != "cpu":
        return 0
    return max(1, round(CPU_CHUNK_CANDIDATES / (num_candidates + 1)))


def check_select_args(num_candidates: int, top_k: int, source: str, mode: str, variant: str,
                      pick: str = "mean"):
    """Raise `ValueError` saying what is wrong with static selection arguments."""
    if pick not in PICKS:
        raise ValueError(f"Unknown top_k_pick {pick!r}; choose one of {list(PICKS)}.")
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; choose one of {list(VARIANTS)}.")
    if source not in SOURCES:
        raise ValueError(f"Unknown candidate source {source!r}; choose one of {list(SOURCES)}.")
    if mode not in MODES:
        raise ValueError(f"Unknown normalisation mode {mode!r}; choose one of {list(MODES)}.")
    if num_candidates < 0:
        raise ValueError(f"num_candidates must be >= 0 (0 = anchor only), got {num_candidates}.")
    size = set_size(num_candidates, variant)
    if size < 1:
        raise ValueError("variant 'no_anchor' needs num_candidates >= 1 (the set would be empty).")
    if not 1 <= top_k <= size:
        raise ValueError(
            f"top_k={top_k} must lie in [1, {size}] (the candidate-set size); "
            "lower top_k or raise num_candidates."
        )


def score_candidates(
    nets: Networks,
    params: PolicyParams,
    obs: jax.Array,
    candidates: jax.Array,
    behavior: gmm_lib.GMM,
    t,
    knobs: SelectKnobs,
    mode: str = "zscore",
    variant: str = "gem",
    anchors: int | None = None,
):
    """`score(a) = LCB_lambda(s,a) + beta_t z(a)` for one state's candidates (method §3).

    obs: [obs] (already normalised); candidates: [C, A]; behavior: mu_phi(.|s), GMM [Kb, A].
    One vmap over candidates evaluates the critic ensemble and the behavior log-lik.
    Returns scores [C] and the parts: `lcb` [C], `support_z` [C] (always the z-score,
    for audits), `behavior_log_prob` [C], `beta` [].

    Anchor bonus (ours, `knobs.anchor_bonus` = delta >= 0, 0 = the paper): the first
    `anchors` candidates (the anchor a_0, and with `candidate_means` the actor's other
    component means; see `num_anchors`; None: 1, or 0 for `no_anchor`) score `+ delta`, so
    a sampled candidate replaces the actor's modes only where it beats them by delta.
    """

    def score_inputs(action):  # one candidate -> (Q_e [E], log mu(a|s) [])
        return nets.critic_apply(params.critic, obs, action), gmm_lib.log_prob(behavior, action)

    q, log_mu = jax.vmap(score_inputs)(candidates)  # [C, E], [C]
    lam = 0.0 if variant == "no_lcb" else knobs.lcb_lambda
    value = lcb(q, lam, axis=-1)  # [C]
    z = zscore(log_mu)  # [C]
    support = z if mode == "zscore" else log_mu
    beta = beta_schedule(t, knobs.beta_start, knobs.beta_end, knobs.horizon)
    beta = 0.0 * beta if variant == "no_pw" else beta
    parts = {"lcb": value, "support_z": z, "behavior_log_prob": log_mu, "beta": beta}
    score = value + beta * support  # [C]
    if anchors is None:
        anchors = 0 if variant == "no_anchor" else 1
    score = score.at[:anchors].add(knobs.anchor_bonus)
    return score, parts


def num_anchors(variant: str, candidate_means: bool, num_components: int) -> int:
    """How many leading entries of `candidate_set` are the actor's modes (not samples)."""
    if variant == "no_anchor":
        return 0
    return num_components if candidate_means and variant != "anchor_bary" else 1


def candidate_set(
    actor: gmm_lib.GMM,
    behavior: gmm_lib.GMM,
    key: jax.Array,
    num_candidates: int,
    source: str = "actor",
    variant: str = "gem",
    candidate_means: bool = False,
    samples: jax.Array | None = None,
) -> jax.Array:
    """`C(s)`: the anchor `a_0(s)` and N samples from the source, clipped to the box (method §3).

    `samples` [N, A]: the N candidates when they come from outside the mixtures (the
    diffusion model's, `source="diffusion"`, method §9).

    actor, behavior: one state's mixtures, GMM [K, A]. A `variant` changes one factor
    (no_anchor, anchor_bary, unimodal_actor_cands). Returns [C, A], the anchor first.

    `candidate_means` (ours; False = the paper's set): the anchor is followed by the
    actor's other K - 1 component means, in order of gating weight, so the set is
    `{m_1..m_K} u {N samples}` and N = 0 ranks the actor's modes by the score instead of
    taking the most probable one. The actor's gating tracks where the data's behavior
    modes are, not which mode the critic prefers: on maze2d-umaze the top-weight mode
    flipped to a near-zero action at the start state between checkpoints while the other
    modes held the data's action (experiments/RESULTS.md, "Why the anchor degrades").
    No effect for anchor_bary (its anchor is one point) or no_anchor.
    """
    if variant == "no_anchor":
        parts = []
    elif variant == "anchor_bary":
        parts = [gmm_lib.barycentre(actor)[None]]  # [1, A]
    elif candidate_means:
        order = jnp.argsort(-actor.logits)  # [K], the top component first (ties as argmax)
        parts = [actor.means[order]]  # [K, A]
    else:
        parts = [gmm_lib.top_component_mean(actor)[None]]  # [1, A]
    if num_candidates > 0 and samples is not None:
        parts.append(samples)  # [N, A]
    elif num_candidates > 0:
        proposal = behavior if source == "behavior" else actor
        if variant == "unimodal_actor_cands":
            proposal = gmm_lib.moment_matched(actor)
        parts.append(gmm_lib.sample(proposal, key, num_candidates))  # [N, A]
    return jnp.clip(jnp.concatenate(parts, axis=0), -1.0, 1.0)  # [C, A]


def candidates_with_anchors(
    actor: gmm_lib.GMM,
    behavior: gmm_lib.GMM,
    key: jax.Array,
    num_candidates: int,
    source: str = "actor",
    variant: str = "gem",
    candidate_means: bool = False,
    samples: jax.Array | None = None,
) -> tuple[jax.Array, int]:
    """`candidate_set` [C, A] and how many of its leading entries are anchors (`num_anchors`),
    the pair `score_candidates` needs."""
    cands = candidate_set(actor, behavior, key, num_candidates, source, variant, candidate_means,
                          samples)
    return cands, num_anchors(variant, candidate_means, actor.num_components)


def make_policy(
    config: GEMConfig,
    num_candidates: int | None = None,
    top_k: int | None = None,
    source: str | None = None,
    mode: str | None = None,
    variant: str = "gem",
    state_chunk: int | None = None,
    candidate_means: bool | None = None,
    top_k_pick: str | None = None,
    top_k_frac: float | None = None,
):
    """Jitted `policy(params, observations [B, obs], key, t, knobs) -> (actions [B, A], info)`.

    `params = policy_params(state)`; `t` is the episode step, a scalar or `[B]`;
    `knobs` a `SelectKnobs`. Static arguments default to the config's values; a
    `variant` from method §3's ablation table changes exactly one factor. `info` holds,
    per observation, the audit quantities of the top-1 candidate: `support_z`
    (candidate-set z-score of its behavior log-lik), `lcb`, `behavior_log_prob`,
    `collapse_dist` (distance to the nearest behavior component mean) and `beta`; and
    `behavior_z` of the executed action (ours, `behavior_z`).
    `state_chunk` (default `config.state_chunk`; -1 = `auto_state_chunk`) only changes
    how a batch is computed: `lax.map` over groups of that many vmapped states.
    `candidate_means` (default `config.candidate_means`): see `candidate_set`.
    `top_k_pick` (default `config.top_k_pick`): "mean" of the top-k (method §3) or one of them
    drawn uniformly ("sample", ours), audited on the drawn one. `top_k_frac` (default
    `config.top_k_frac`, or 0 when `top_k` is given; ours): when > 0, k is that share of
    the candidate set (`resolve_top_k`) and `top_k` is ignored.
    """
    n = config.num_candidates if num_candidates is None else int(num_candidates)
    if n > 0 and not config.train_critics:
        raise ValueError(f"num_candidates={n} needs trained critics to rank the candidates, "
                         "and this run trained none (train_critics=False, BC): use "
                         "num_candidates=0, or retrain with --config.train_critics=true.")
    k = config.top_k if top_k is None else int(top_k)
    source = config.source if source is None else source
    mode = config.mode if mode is None else mode
    if variant == "behavior_only_cands":
        source = "behavior"
    if variant == "raw":
        mode = "raw"
    if not config.anchor and variant == "gem":  # IDQL's and SfBC's set: the samples alone
        variant = "no_anchor"
    if source == "diffusion" and not config.diffusion_model:
        raise ValueError("source='diffusion' needs a run trained with a diffusion model "
                         "(diffusion_model=True, e.g. --algo=idql).")
    chunk = config.state_chunk if state_chunk is None else int(state_chunk)
    means = config.candidate_means if candidate_means is None else bool(candidate_means)
    pick = config.top_k_pick if top_k_pick is None else top_k_pick
    if top_k_frac is None:  # a k named here is a fixed k; otherwise the config's rule
        frac = 0.0 if top_k is not None else config.top_k_frac
    else:
        frac = float(top_k_frac)
    k = resolve_top_k(n, k, frac, variant)
    check_select_args(n, k, source, mode, variant, pick)
    if chunk < -1:
        raise ValueError(f"state_chunk must be >= -1 (0 = no chunking, -1 = auto), got {chunk}.")
    if chunk == -1:
        chunk = auto_state_chunk(n, jax.default_backend())

    def select_one(params: PolicyParams, obs: jax.Array, key: jax.Array, t, knobs: SelectKnobs):
        nets = make_networks(config, params.actor["params"]["log_stds"].shape[-1])
        raw_obs = obs
        obs = (obs - params.obs_norm.mean) / params.obs_norm.std  # [obs]
        actor = nets.actor_apply(params.actor, obs)  # GMM [K, A]
        if config.support_model == "empo":  # method §7: sum_z q(z|s) beta_z(a|s), raw obs
            if params.support is None:
                raise ValueError(
                    "support_model='empo' needs PolicyParams.support (a fitted "
                    "EMPO support: gem_jax.empo.support.fit_empo_support)."
                )
            behavior = params.support.behavior_gmm(raw_obs)  # GMM [Z, A]
        else:
            behavior = nets.behavior_apply(params.behavior, obs)  # GMM [Kb, A]

        samples = None
        if source == "diffusion" and n > 0:  # method §9: the DDPM chain, its own key
            samples = diffusion_lib.propose(config, params.diffusion, obs,
                                            jax.random.fold_in(key, 2), n,
                                            actor.means.shape[-1])  # [N, A]
        candidates, anchors = candidates_with_anchors(
            actor, behavior, key, n, source, variant, means, samples)  # [C, A], anchors first
        scores, parts = score_candidates(
            nets, params, obs, candidates, behavior, t, knobs, mode, variant, anchors
        )  # [C]
        # a fold of the key (not a split), so "mean" keeps the candidates it always drew
        action, best = pick_top_k(candidates, scores, k, jax.random.fold_in(key, 1), pick,
                                  knobs.pick_temperature)
        info = {
            "support_z": parts["support_z"][best],
            "lcb": parts["lcb"][best],
            "behavior_log_prob": parts["behavior_log_prob"][best],
            "collapse_dist": gmm_lib.nearest_mean_distance(behavior, candidates[best]),
            "beta": parts["beta"],
            # a fold of its own, so the candidates and the pick stay those of the paper's step
            "behavior_z": behavior_z(behavior, action, jax.random.fold_in(key, 3)),
        }
        return action, info

    select_many = jax.vmap(select_one, in_axes=(None, 0, 0, 0, None))

    def policy(params: PolicyParams, observations: jax.Array, key: jax.Array, t, knobs):
        batch = observations.shape[0]
        keys = jax.random.split(key, batch)  # [B]
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), (batch,))  # [B]
        if chunk == 0 or not isinstance(batch, int) or batch <= chunk:  # symbolic B: vmap
            return select_many(params, observations, keys, t, knobs)
        # Chunked: lax.map over groups of `chunk` vmapped states (the remainder vmapped
        # apart). Each state keeps its own key, so the actions equal the unchunked ones.
        return jax.lax.map(
            lambda xs: select_one(params, *xs, knobs), (observations, keys, t), batch_size=chunk
        )

    return jax.jit(policy)
