"""Phase I training: the state, one jitted train step and a fused `lax.scan` loop.

Order of the sub-updates inside one step (method §2): value, critic, actor, behavior,
target. The value update uses the *target* ensemble minimum; the critic target and the
actor advantage use the freshly updated value net, as in IQL.

During `gmm_pretrain_steps` only the behavior model trains; afterwards everything
trains and, if `gmm_freeze_after_pretrain`, the behavior model stops.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from gem_jax.method import diffusion as diffusion_lib
from gem_jax.method import losses
from gem_jax.method.config import GEMConfig
from gem_jax.method.networks import Networks, make_networks
from gem_jax.method.types import Batch


@struct.dataclass
class ModelState:
    """One model's parameters and optimiser state."""

    params: Any
    opt_state: Any


@struct.dataclass
class ObsNorm:
    """Observation normalisation `(s - mean) / std`, saved with the state (identity by default)."""

    mean: jax.Array  # [obs_dim]
    std: jax.Array  # [obs_dim]


@struct.dataclass
class GEMState:
    """Everything training carries; all fields are arrays (nothing static)."""

    actor: ModelState
    behavior: ModelState
    critic: ModelState  # params with leading E axis
    value: ModelState
    target_critic_params: Any  # Qbar, leading E axis, a visible field of its own
    obs_norm: ObsNorm
    key: jax.Array
    step: jax.Array  # int32 scalar: gradient steps taken
    hyper_q: ModelState | None = None  # LOM's Q_H over behavior modes (method §8); else None
    diffusion: ModelState | None = None  # the DDPM of actions (method §9), diffusion_model only
    diffusion_ema: Any = None  # its EMA parameters, what selection samples with
    returns: Any = None  # [M] the critic's regression targets per dataset transition, where
    # SfBC's in-sample planning replaces the data's Monte-Carlo returns (method §9); else None


def make_optimizers(config: GEMConfig) -> dict[str, optax.GradientTransformation]:
    """One optimiser per model; the diffusion model's only where the config trains one."""
    txs = {
        "actor": optax.adam(config.actor_lr),
        "behavior": optax.adam(config.behavior_lr),
        "critic": optax.adam(config.critic_lr),
        "value": optax.adam(config.value_lr),
    }
    if config.diffusion_model:
        txs["diffusion"] = optax.adam(config.diffusion_lr)
    return txs


def init_state(
    key: jax.Array,
    config: GEMConfig,
    obs_dim: int,
    action_dim: int,
    obs_norm: ObsNorm | None = None,
) -> GEMState:
    """Fresh `GEMState` for observations `[obs_dim]` and actions in `[-1, 1]^action_dim`.

    One compiled program (config and dims static): built op by op, the four models and
    their optimiser states cost hundreds of small compiles (seconds on a CPU)."""
    config.validate()
    if obs_norm is None:
        obs_norm = ObsNorm(jnp.zeros((obs_dim,), jnp.float32), jnp.ones((obs_dim,), jnp.float32))
    return _init_state(key, obs_norm, config=config, obs_dim=obs_dim, action_dim=action_dim)


@functools.partial(jax.jit, static_argnames=("config", "obs_dim", "action_dim"))
def _init_state(
    key: jax.Array, obs_norm: ObsNorm, *, config: GEMConfig, obs_dim: int, action_dim: int
) -> GEMState:
    init_key, state_key = jax.random.split(key)
    params = make_networks(config, action_dim).init(init_key, obs_dim, action_dim)
    txs = make_optimizers(config)
    models = {name: ModelState(p, txs[name].init(p)) for name, p in params.items()}
    extra = {}
    if config.diffusion_model:  # its own key: the other models' draws stay as they were
        p = diffusion_lib.init_params(config, jax.random.fold_in(init_key, 9), obs_dim,
                                      action_dim)
        extra = {"diffusion": ModelState(p, txs["diffusion"].init(p)),
                 "diffusion_ema": jax.tree.map(jnp.copy, p)}
    return GEMState(
        **models,
        target_critic_params=jax.tree.map(jnp.copy, params["critic"]),  # own buffers
        obs_norm=obs_norm,
        key=state_key,
        step=jnp.zeros((), jnp.int32),
        **extra,
    )


def apply_gradients(tx: optax.GradientTransformation, model: ModelState, grads) -> ModelState:
    updates, opt_state = tx.update(grads, model.opt_state, model.params)
    return ModelState(optax.apply_updates(model.params, updates), opt_state)


def _select(pred: jax.Array, new, old):
    return jax.tree.map(lambda n, o: jnp.where(pred, n, o), new, old)


def target_min(target_q: jax.Array, key: jax.Array, subset: int) -> jax.Array:
    """Min over `subset` target critics drawn without replacement (one draw per batch).

    `target_q` is `[E, B]`; returns `[B]`. With `subset = E` it is the method §2 min over all.
    """
    chosen = jax.random.permutation(key, target_q.shape[0])[:subset]  # [M]
    return target_q[chosen].min(axis=0)  # [B]


def bootstrap(config: GEMConfig, nets: Networks, target_critic_params, value_params,
              batch: Batch, key: jax.Array) -> jax.Array:
    """The critic's stopped bootstrap at s', `[B]` (method §2; `critic_target`, method §8).

    "value": `V(s')`, IQL's. "sarsa": `min_e Qbar_e(s', clip(a' + eps, -1, 1))`, a' the
    dataset's next action, `eps ~ clip(N(0, sarsa_noise²), -0.5, 0.5)` (TD3+BC, LOM's paper)."""
    if config.critic_target == "value":
        return nets.value_apply(value_params, batch.next_observations)  # [B]
    if config.critic_target == "returns":
        raise ValueError("critic_target='returns' has no bootstrap: the critic regresses on "
                         "batch.returns (make_update does this).")
    if batch.next_actions is None:
        raise ValueError("critic_target='sarsa' needs the dataset's next actions: build the "
                         "device dataset with next actions (harness.runner.device_dataset).")
    noise = config.sarsa_noise * jax.random.normal(key, batch.next_actions.shape)  # [B, A]
    next_actions = jnp.clip(batch.next_actions + jnp.clip(noise, -0.5, 0.5), -1.0, 1.0)
    next_q = nets.critic_apply(target_critic_params, batch.next_observations, next_actions)
    return jax.lax.stop_gradient(next_q.min(axis=0))  # [B]


def guided_em_step(config: GEMConfig):
    """GEM's (and IQL's, BC's) policy step: the guided EM actor on the stopped advantage
    `min_e Qbar_e(s,a) - V(s)` (method §2). A policy step maps `(state, nets, batch,
    value_params, target_q [B])` to `(changes, metrics)`: the state fields it updates."""
    tx = make_optimizers(config)["actor"]

    def step(state: GEMState, nets: Networks, batch: Batch, value_params, target_q):
        advantages = target_q - nets.value_apply(value_params, batch.observations)  # [B]
        g, info = jax.grad(losses.actor_loss, has_aux=True)(
            state.actor.params,
            nets,
            batch.observations,
            batch.actions,
            advantages,
            config.adv_temperature,
            config.exp_adv_max,
            config.entropy_coef,
            config.detach_responsibilities,
        )
        return {"actor": apply_gradients(tx, state.actor, g)}, info

    return step


def critics_update(config: GEMConfig, txs: dict, state: GEMState, nets: Networks, batch: Batch):
    """The value, then the critic ensemble, one step (method §2): `(state with its key
    advanced, value, critic, target_q [B], value metrics, critic metrics)`."""
    grad = lambda fn: jax.grad(fn, has_aux=True)
    # Value: expectile regression on the target-ensemble minimum (all E, or M of them).
    target_q = nets.critic_apply(state.target_critic_params, batch.observations, batch.actions)
    if config.target_subset > 0:  # min over a random M-subset (REDQ), fresh each step
        key, subset_key = jax.random.split(state.key)
        state = state.replace(key=key)
        target_q = target_min(target_q, subset_key, config.target_subset)  # [B]
    else:
        target_q = target_q.min(axis=0)  # [B]
    g, value_info = grad(losses.value_loss)(
        state.value.params, nets, batch.observations, target_q, config.expectile
    )
    value = apply_gradients(txs["value"], state.value, g)

    # Critic ensemble: TD regression to r + gamma (1 - d) V(s') (or the SARSA bootstrap).
    if config.critic_target == "returns":  # SfBC: y = the MC return, no bootstrap
        if batch.returns is None:
            raise ValueError("critic_target='returns' needs the dataset's returns: build "
                             "the device dataset with them (harness.runner.device_dataset).")
        g, critic_info = grad(losses.critic_loss)(
            state.critic.params, nets, batch.replace(rewards=batch.returns),
            jnp.zeros_like(batch.returns), 0.0)  # y = returns + 0 * 0
    else:
        noise_key = None
        if config.critic_target == "sarsa":
            key, noise_key = jax.random.split(state.key)
            state = state.replace(key=key)
        next_v = bootstrap(config, nets, state.target_critic_params, value.params, batch,
                           noise_key)  # [B]
        g, critic_info = grad(losses.critic_loss)(
            state.critic.params, nets, batch, next_v, config.discount
        )
    critic = apply_gradients(txs["critic"], state.critic, g)
    return state, value, critic, target_q, value_info, critic_info


CRITIC_METRICS = ("critic/loss", "critic/q_mean", "critic/q_ensemble_std", "critic/target_mean")


PHASES = (None, "pretrain", "main")


def make_update(config: GEMConfig, policy_step=None, phase: str | None = None):
    """The pure (un-jitted) train step `(state, batch) -> (state, metrics)`; vmappable.

    `policy_step` (default `guided_em_step(config)`) updates the policy side; LOM passes
    its own (`related.lom.make_policy_step`). The value, critic, behavior and target
    updates are the same for every algorithm.

    `phase` (with `gmm_pretrain_steps > 0`): None reads the phase from `state.step` inside
    the program (every update computed, the idle ones discarded); "pretrain" / "main" fix
    it when the program is built, so that XLA drops the discarded work: the pretraining
    program computes only the behavior update (its other metrics read 0), the main one
    skips a frozen behavior's gradient. Same numbers as None step for step, up to float32
    rounding (XLA fuses the programs differently), where the caller keeps each program on
    its side of `gmm_pretrain_steps` (`harness.runner.next_chunk`). At LOM's hopper sizes
    XLA counts 5% of the traced program's flops for pretraining, 96% after it."""
    config.validate()
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}.")
    if phase is not None and config.gmm_pretrain_steps <= 0:
        raise ValueError(f"phase={phase!r} needs gmm_pretrain_steps > 0; use phase=None.")
    txs = make_optimizers(config)
    policy_step = policy_step or guided_em_step(config)

    def update(state: GEMState, batch: Batch):
        nets: Networks = make_networks(config, batch.actions.shape[-1])
        grad = lambda fn: jax.grad(fn, has_aux=True)

        if config.train_critics:
            state, value, critic, target_q, value_info, critic_info = critics_update(
                config, txs, state, nets, batch)
        else:  # BC (train_critics=False): weights exp(0 * A) = 1 need no critic
            value, critic = state.value, state.critic
            target_q = jnp.zeros(batch.rewards.shape, batch.rewards.dtype)  # [B]
            value_info = {"value/loss": jnp.float32(0), "value/v_mean": jnp.float32(0)}
            critic_info = {name: jnp.float32(0) for name in CRITIC_METRICS}

        # Policy side: GEM's guided EM actor (or the algorithm's own step).
        changes, policy_info = policy_step(state, nets, batch, value.params, target_q)
        if not config.train_critics and "actor/advantage_mean" in policy_info:
            policy_info = {**policy_info, "actor/advantage_mean": jnp.float32(0)}  # no critic
        changes = dict(changes)
        key = changes.pop("key", state.key)

        # Behavior density: plain maximum likelihood.
        g, behavior_info = grad(losses.behavior_loss)(
            state.behavior.params, nets, batch.observations, batch.actions
        )
        behavior = apply_gradients(txs["behavior"], state.behavior, g)

        # Diffusion action model (method §9): the denoising loss on (s, a), then its EMA.
        # A behavior model like mu_phi: it trains from the first step, pretraining or not.
        diffusion_changes = {}
        if config.diffusion_model:
            key, noise_key = jax.random.split(key)
            net = diffusion_lib.network(config, batch.actions.shape[-1])
            g, diffusion_info = jax.grad(diffusion_lib.denoising_loss, has_aux=True)(
                state.diffusion.params, net.apply,
                diffusion_lib.vp_schedule(config.diffusion_steps), batch.observations,
                batch.actions, noise_key)
            diffusion_model = apply_gradients(txs["diffusion"], state.diffusion, g)
            diffusion_changes["diffusion"] = diffusion_model
            diffusion_changes["diffusion_ema"] = diffusion_lib.ema_update(
                state.diffusion_ema, diffusion_model.params, config.diffusion_ema_rate)
            behavior_info = {**behavior_info, "diffusion/loss": diffusion_info["denoising_loss"]}

        # Target: Polyak averaging.
        target = state.target_critic_params
        if config.train_critics:
            target = optax.incremental_update(critic.params, target, config.target_update_rate)

        if config.gmm_pretrain_steps > 0:
            main_phase = (state.step >= config.gmm_pretrain_steps if phase is None
                          else phase == "main")  # a Python bool: XLA drops the unused side
            value = _select(main_phase, value, state.value)
            critic = _select(main_phase, critic, state.critic)
            changes = {name: _select(main_phase, new, getattr(state, name))
                       for name, new in changes.items()}
            target = _select(main_phase, target, state.target_critic_params)
            if config.gmm_freeze_after_pretrain:
                behavior = _select(jnp.logical_not(main_phase), behavior, state.behavior)
        elif config.gmm_freeze_after_pretrain:
            behavior = state.behavior  # no pretraining phase: frozen from the start

        metrics = {**value_info, **critic_info, **policy_info, **behavior_info}
        if phase == "pretrain":  # nothing but the behavior trains: keep no idle loss alive
            metrics = {name: value if name.startswith(("behavior/", "diffusion/"))
                       else jnp.zeros_like(value) for name, value in metrics.items()}
        loss_names = ("value/loss", "critic/loss", "actor/loss", "behavior/nll")
        finite = jnp.all(jnp.stack([jnp.isfinite(metrics[n]) for n in loss_names]))
        # Divergence guard (cheap, no host sync): one reduction over the updated parameters;
        # any inf/NaN leaf makes the sum non-finite.
        updated = (value.params, critic.params, behavior.params,
                   *(model.params for model in changes.values()),
                   *diffusion_changes.values())
        params_finite = jnp.isfinite(sum(jnp.sum(x) for x in jax.tree.leaves(updated)))
        metrics["train/params_finite"] = params_finite.astype(jnp.float32)
        metrics["train/finite"] = (finite & params_finite).astype(jnp.float32)
        new_state = state.replace(
            **changes,
            **diffusion_changes,
            behavior=behavior,
            critic=critic,
            value=value,
            target_critic_params=target,
            key=key,
            step=state.step + 1,
        )
        return new_state, metrics

    return update


def make_train_step(config: GEMConfig):
    """Jitted `(state, batch) -> (state, metrics)` updating all models; state donated."""
    return jax.jit(make_update(config), donate_argnums=0)


def sample_batch(key: jax.Array, dataset: Batch, batch_size: int,
                 returns: jax.Array | None = None) -> Batch:
    """Uniform minibatch (with replacement) from a device-resident flat dataset; with
    `returns` [M] (a state's own targets, SfBC's planned returns) its rows replace the
    dataset's `returns`."""
    idx = jax.random.randint(key, (batch_size,), 0, dataset.rewards.shape[0])  # [B]
    batch = jax.tree.map(lambda x: jnp.take(x, idx, axis=0), dataset)
    return batch if returns is None else batch.replace(returns=jnp.take(returns, idx, axis=0))


RETURN_STD_FLOOR = 0.1  # SfBC's code: std = max(std(returns), 0.1)


def return_stats(returns: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(mean, max(std, 0.1))` of the critic's targets `[M]` (SfBC's `normalise_return`)."""
    return jnp.mean(returns), jnp.maximum(jnp.std(returns), RETURN_STD_FLOOR)


def regression_targets(config: GEMConfig, state_returns, data_returns):
    """The critic's targets `[M]` where it regresses on returns (SfBC, method §9): the state's
    own (planned) returns, else the data's Monte-Carlo ones, standardised with their mean
    and max(std, 0.1) under `normalize_returns` (SfBC's code). None where it bootstraps."""
    returns = state_returns if state_returns is not None else data_returns
    if config.critic_target != "returns" or returns is None or not config.normalize_returns:
        return state_returns
    mean, std = return_stats(returns)
    return (returns - mean) / std


def make_train_loop(config: GEMConfig, num_steps: int | None = None, update=None,
                    phase: str | None = None):
    """Pure `(state, dataset) -> (state, metrics [K])` running K fused steps under `lax.scan`.

    Each step draws its minibatch on device from `dataset` (a flat `Batch` already on the
    device) with a key split off `state.key`. K defaults to `config.steps_per_call`.
    Metrics come back stacked per step, `[K]` each, so a host can log and guard them.
    `update` defaults to `make_update(config, phase=phase)` (LOM passes its own,
    `related.lom`).
    """
    update = update or make_update(config, phase=phase)
    num_steps = config.steps_per_call if num_steps is None else num_steps

    def loop(state: GEMState, dataset: Batch):
        returns = regression_targets(config, state.returns, dataset.returns)  # [M] or None

        def body(state, _):
            key, batch_key = jax.random.split(state.key)
            batch = sample_batch(batch_key, dataset, config.batch_size, returns)
            return update(state.replace(key=key), batch)

        return jax.lax.scan(body, state, None, length=num_steps)

    return loop


@functools.lru_cache(maxsize=32)
def _jitted_loop(config: GEMConfig, num_steps: int | None):
    return jax.jit(make_train_loop(config, num_steps), donate_argnums=0)


def make_fused_train_step(config: GEMConfig, num_steps: int | None = None):
    """Jitted fused loop (see `make_train_loop`), state donated, cached per config."""
    return _jitted_loop(config, num_steps)
