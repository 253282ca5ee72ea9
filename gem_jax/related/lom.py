"""LOM's pieces as pure functions (method §8): one mode of the behavior GMM per state.

LOM ("Learning on One Mode", Wang, Jin and Montana) fits a GMM to the behavior policy, learns
a hyper Q-function `Q_H(s, u)` over the mixture's modes `u`, picks the best mode per state,
and trains a deterministic policy by weighted imitation of actions drawn from that mode. GEM
keeps every mode and chooses among candidates at deployment; LOM commits to one at training.

Here: the hyper Q-network, its regression targets, the mode choice, the mode's actions and
the clipped imitation weight and loss; then LOM's policy step for the shared learner
(`make_policy_step`), its state (`init_state`) and its fused loop (`make_train_loop`).
`--algo=lom` (`gem_jax.presets.lom`) trains it: the behavior GMM is our
`method.networks.GMMPolicy`, pretrained alone for `gmm_pretrain_steps` and then frozen
(LOM pretrains its mixture first); the critic is the learner's (IQL's expectile value,
*ours*; `critic_target="sarsa"` is the paper's TD3+BC critic); the policy is our actor with
K = 1, trained only through its mean and acting with it (N = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gem_jax.method import gmm as gmm_lib
from gem_jax.method import learner
from gem_jax.method.config import GEMConfig
from gem_jax.method.networks import MLP, Networks, default_init
from gem_jax.method.types import Batch


class HyperQNetwork(nn.Module):
    """`Q_H(s, onehot(u))` for every mode u at once: `[..., obs] -> [..., K]`."""

    hidden_dims: Sequence[int]
    num_modes: int

    @nn.compact
    def __call__(self, observations: jax.Array) -> jax.Array:
        k = self.num_modes
        onehots = jnp.eye(k, dtype=observations.dtype)  # [K, K]
        batch = observations.shape[:-1]
        obs = jnp.broadcast_to(observations[..., None, :],
                               (*batch, k, observations.shape[-1]))  # [..., K, obs]
        inputs = jnp.concatenate([obs, jnp.broadcast_to(onehots, (*obs.shape[:-1], k))], -1)
        h = MLP(self.hidden_dims, activate_final=True)(inputs)  # [..., K, H]
        return nn.Dense(1, kernel_init=default_init)(h)[..., 0]  # [..., K]


def mode_samples(behavior: gmm_lib.GMM, key: jax.Array, num_samples: int,
                 noise_std: float = 0.0) -> jax.Array:
    """`num_samples` actions from each component u, plus Gaussian exploration noise of
    `noise_std`, clipped to the box: `[S, ..., K, A]` for a mixture of batch shape `[...]`."""
    key_a, key_b = jax.random.split(key)
    log_stds = jnp.broadcast_to(behavior.log_stds, behavior.means.shape)  # [..., K, A]
    shape = (num_samples, *behavior.means.shape)
    eps = jax.random.normal(key_a, shape, behavior.means.dtype)  # [S, ..., K, A]
    actions = behavior.means + jnp.exp(log_stds) * eps
    actions = actions + noise_std * jax.random.normal(key_b, shape, behavior.means.dtype)
    return jnp.clip(actions, -1.0, 1.0)


def hyper_q_targets(q_fn: Callable[[jax.Array], jax.Array], behavior: gmm_lib.GMM,
                    key: jax.Array, num_samples: int) -> jax.Array:
    """`y_u(s) = mean_j Q(s, a_j)`, `a_j ~ N(m_u(s), σ_u²)` clipped to the box: the value of
    committing to mode u (method §8). `q_fn` maps actions `[..., B, K, A]` (the states' batch
    leading the mode axis) to `[..., B, K]`. Returns `[B, K]`, without gradient."""
    actions = mode_samples(behavior, key, num_samples)  # [S, B, K, A]
    return jax.lax.stop_gradient(q_fn(actions).mean(axis=0))  # [B, K]


def hyper_q_loss(q_h: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean squared error of `Q_H(s, u)` `[B, K]` against the targets `[B, K]`."""
    return jnp.mean((q_h - targets) ** 2)


def choose_mode(q_h: jax.Array) -> jax.Array:
    """The greedy hyper-policy: `u*(s) = argmax_u Q_H(s, u)`, `[B, K] -> [B]`."""
    return jnp.argmax(q_h, axis=-1)


def chosen_mode_actions(behavior: gmm_lib.GMM, modes: jax.Array, key: jax.Array,
                        noise_std: float = 0.0) -> jax.Array:
    """One action per state from its chosen component, `modes [B] -> [B, A]`."""
    actions = mode_samples(behavior, key, 1, noise_std)[0]  # [B, K, A]
    return jnp.take_along_axis(actions, modes[:, None, None], axis=-2)[:, 0, :]


def imitation_weight(q_mode: jax.Array, q_policy: jax.Array, beta: float,
                     clip: float) -> jax.Array:
    """`w = clip(exp(β (Q(s, a_mode) - Q(s, π(s)))), 0, C)`, without gradient. `[B]`."""
    return jax.lax.stop_gradient(jnp.clip(jnp.exp(beta * (q_mode - q_policy)), 0.0, clip))


def imitation_loss(policy_actions: jax.Array, mode_actions: jax.Array,
                   weights: jax.Array) -> jax.Array:
    """`mean_B w · mean_A (π(s) - a_mode)²` (LOM's code averages over action dims);
    actions `[B, A]`, weights `[B]`."""
    return jnp.mean(weights * jnp.mean((policy_actions - mode_actions) ** 2, axis=-1))


# --- LOM in the shared learner ---


def hyper_q_network(config: GEMConfig) -> HyperQNetwork:
    return HyperQNetwork(tuple(config.hidden_dims), config.behavior_num_components)


def _check(config: GEMConfig) -> None:
    if config.actor_objective != "lom" or config.num_components != 1:
        raise ValueError("LOM's learner needs actor_objective='lom' and num_components=1 "
                         f"(got {config.actor_objective!r}, K={config.num_components}); "
                         "use presets.algorithm('lom', ...) or --algo=lom.")


def init_state(key: jax.Array, config: GEMConfig, obs_dim: int, action_dim: int,
               obs_norm: learner.ObsNorm | None = None) -> learner.GEMState:
    """The learner's state plus LOM's hyper-Q (`GEMState.hyper_q`)."""
    _check(config)
    state = learner.init_state(key, config, obs_dim, action_dim, obs_norm)
    params = hyper_q_network(config).init(jax.random.fold_in(key, 8),
                                          jnp.zeros((1, obs_dim), jnp.float32))
    opt_state = optax.adam(config.actor_lr).init(params)
    return state.replace(hyper_q=learner.ModelState(params, opt_state))


def min_q(nets: Networks, critic_params, observations: jax.Array,
          actions: jax.Array) -> jax.Array:
    """`min_e Q_e(s, a)` for actions `[..., B, A]` of the states `[B, obs]`: `[..., B]`."""
    obs = jnp.broadcast_to(observations, (*actions.shape[:-1], observations.shape[-1]))
    return nets.critic_apply(critic_params, obs, actions).min(axis=0)


def make_policy_step(config: GEMConfig):
    """LOM's policy step for `learner.make_update` (method §8): regress `Q_H` onto the
    critic's value of each behavior mode, pick `u* = argmax_u Q_H(s, u)`, draw `a_u*` from
    that component and pull the policy's mean toward it with the clipped weight `w`.

    The critic is `min_e Qbar_e` of the target ensemble (*ours*: the Q GEM's actor weighs
    with; LOM's code uses its first online critic). Each learner batch of B states serves
    both updates (LOM's code: 1024 states for Q_H, 256 for the policy)."""
    _check(config)
    tx = optax.adam(config.actor_lr)
    hyper_q = hyper_q_network(config)

    def step(state: learner.GEMState, nets: Networks, batch: Batch, value_params, target_q):
        del value_params, target_q
        key, target_key, mode_key = jax.random.split(state.key, 3)
        obs = batch.observations  # [B, obs]
        behavior = jax.lax.stop_gradient(nets.behavior_apply(state.behavior.params, obs))
        q_fn = lambda a: min_q(nets, state.target_critic_params, obs, a)  # [..., B, K, A]

        # Q_H regression onto y_u(s) (the state axis B leads the mode axis K).
        q_fn_modes = lambda a: min_q(nets, state.target_critic_params, obs[:, None, :], a)
        targets = hyper_q_targets(q_fn_modes, behavior, target_key,
                                  config.lom_mode_samples)  # [B, K]

        def h_loss(params):
            q_h = hyper_q.apply(params, obs)  # [B, K]
            return hyper_q_loss(q_h, targets), q_h

        (h_value, q_h), g = jax.value_and_grad(h_loss, has_aux=True)(state.hyper_q.params)
        modes = choose_mode(jax.lax.stop_gradient(q_h))  # [B]
        mode_actions = chosen_mode_actions(behavior, modes, mode_key,
                                           config.lom_action_noise)  # [B, A]
        q_mode = q_fn(mode_actions)  # [B]

        def pi_loss(params):
            mean = nets.actor_apply(params, obs).means[:, 0, :]  # [B, A], K = 1
            q_pi = q_fn(jnp.clip(jax.lax.stop_gradient(mean), -1.0, 1.0))  # [B]
            weights = imitation_weight(q_mode, q_pi, config.lom_beta, config.lom_clip)
            return imitation_loss(mean, mode_actions, weights), (weights, q_pi)

        (p_value, (weights, q_pi)), g_pi = jax.value_and_grad(pi_loss, has_aux=True)(
            state.actor.params)
        counts = jnp.mean(jax.nn.one_hot(modes, q_h.shape[-1]), axis=0)  # [K]
        info = {
            "actor/loss": p_value,
            "actor/weight_mean": weights.mean(),
            "actor/weight_max": weights.max(),
            "lom/hyper_q_loss": h_value,
            "lom/q_mode_minus_q_pi": jnp.mean(q_mode - q_pi),
            "lom/top_mode_share": counts.max(),
        }
        return {"actor": learner.apply_gradients(tx, state.actor, g_pi),
                "hyper_q": learner.apply_gradients(tx, state.hyper_q, g), "key": key}, info

    return step


def make_update(config: GEMConfig, phase: str | None = None):
    """LOM's pure train step `(state, batch) -> (state, metrics)` (`phase`: see
    `learner.make_update`)."""
    return learner.make_update(config, make_policy_step(config), phase)


def make_train_loop(config: GEMConfig, num_steps: int | None = None,
                    phase: str | None = None):
    """LOM's fused loop: `learner.make_train_loop` with LOM's update."""
    return learner.make_train_loop(config, num_steps, make_update(config, phase))
