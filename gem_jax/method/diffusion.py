"""A conditional diffusion model of actions given states (method §9): IDQL's and SfBC's
behavior model, written from the papers (Hansen-Estruch et al., "IDQL"; Chen et al., "SfBC").

A DDPM (Ho et al.) over actions in the box [-1, 1]^A, conditioned on the observation:

* `vp_schedule(T)`: IDQL's discretised variance-preserving noise schedule (`betas`, `alphas`,
  `alpha_bars`, each `[T]`, step index t = 0..T-1).
* `DiffusionMLP`: IDQL's noise-prediction network `eps_theta(s, x_t, t)`: learnable Fourier
  features of t through a small MLP, concatenated with s and x_t, then a residual MLP
  (dropout -> LayerNorm -> Dense(4h) -> mish -> Dense(h), added to the stream).
* `noisy_actions` / `denoising_loss`: the forward process and the simplified DDPM loss
  `E_{t, eps} ||eps_theta(s, sqrt(abar_t) a + sqrt(1 - abar_t) eps, t) - eps||^2`.
* `sample`: the reverse chain from `x_T ~ N(0, I)` under `lax.scan`, clipped to the box at
  every step (IDQL's sampler), vectorised over candidates and states.
* `ema_update`: the exponential moving average of parameters IDQL samples with.

The apply functions here have the signature of `DiffusionMLP(...).apply`:
`apply_fn(params, observations [..., obs], noisy_actions [..., A], t [...] int, train=...,
rngs=...) -> eps [..., A]`.
"""

from __future__ import annotations

from collections.abc import Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from gem_jax.method.config import GEMConfig
from gem_jax.method.networks import default_init

ApplyFn = Callable[..., jax.Array]


@flax.struct.dataclass
class Schedule:
    """A DDPM noise schedule, indexed by the step t = 0..T-1 (t = 0 is the least noisy)."""

    betas: jax.Array  # [T]
    alphas: jax.Array  # [T], 1 - betas
    alpha_bars: jax.Array  # [T], cumprod(alphas)

    @property
    def num_steps(self) -> int:
        return self.betas.shape[0]


def vp_schedule(num_steps: int, beta_min: float = 0.1, beta_max: float = 10.0) -> Schedule:
    """IDQL's variance-preserving schedule, a discretisation of the VP SDE with
    `beta(τ) = b_min + τ (b_max - b_min)` on τ ∈ [0, 1] (b_min = 0.1, b_max = 10):

        k = 1..T,  alpha_k = exp(-b_min / T - (b_max - b_min) (2k - 1) / (2 T²)),
        beta_k = 1 - alpha_k,  abar_k = prod_{j <= k} alpha_j,

    i.e. `alpha_k = exp(-∫ beta(τ) dτ)` over the k-th of T equal pieces of [0, 1]. Stored at
    index t = k - 1, so `alpha_bars[T-1] = exp(-(b_min + b_max) / 2) ≈ 0.0067` whatever T."""
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"vp_schedule needs num_steps >= 1 (got {num_steps!r}); pass the "
                         "number of diffusion steps T, e.g. 5 (IDQL).")
    t = jnp.arange(1, num_steps + 1, dtype=jnp.float32)  # [T]
    big_t = float(num_steps)
    alphas = jnp.exp(-beta_min / big_t - 0.5 * (beta_max - beta_min) * (2 * t - 1) / big_t**2)
    return Schedule(betas=1.0 - alphas, alphas=alphas, alpha_bars=jnp.cumprod(alphas))


class FourierFeatures(nn.Module):
    """Learnable Fourier features of the step: `[cos(2π t Wᵀ), sin(2π t Wᵀ)]` with a learned
    `W [dim/2, 1] ~ N(0, 0.2²)` (IDQL). `t [...] -> [..., dim]`."""

    dim: int

    @nn.compact
    def __call__(self, t: jax.Array) -> jax.Array:
        w = self.param("kernel", nn.initializers.normal(0.2), (self.dim // 2, 1), jnp.float32)
        f = 2 * jnp.pi * t.astype(jnp.float32)[..., None] @ w.T  # [..., dim/2]
        return jnp.concatenate([jnp.cos(f), jnp.sin(f)], axis=-1)  # [..., dim]


class ResidualBlock(nn.Module):
    """`x + Dense_h(mish(Dense_4h(LayerNorm(Dropout(x)))))` (IDQL's MLPResNet block)."""

    hidden_dim: int
    dropout_rate: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        h = x
        if self.dropout_rate > 0.0:
            h = nn.Dropout(self.dropout_rate)(h, deterministic=not train)
        h = nn.LayerNorm()(h)
        h = nn.Dense(4 * self.hidden_dim, kernel_init=default_init)(h)
        h = nn.Dense(self.hidden_dim, kernel_init=default_init)(jax.nn.mish(h))
        return x + h


class DiffusionMLP(nn.Module):
    """IDQL's noise predictor `eps_theta(s, x_t, t)`:
    `(observations [..., obs], noisy_actions [..., A], t [...] int) -> [..., A]`.

    t goes through `FourierFeatures(time_dim)` and an MLP (`time_hidden_dim` twice, mish
    between); that is concatenated with s and x_t, mapped to `hidden_dim`, passed through
    `num_blocks` `ResidualBlock`s, then mish and a Dense to A. Dropout draws from the
    'dropout' rng, only with `train=True`."""

    action_dim: int
    hidden_dim: int = 256
    num_blocks: int = 3
    dropout_rate: float = 0.1
    time_dim: int = 64
    time_hidden_dim: int = 128

    @nn.compact
    def __call__(self, observations: jax.Array, noisy_actions: jax.Array, t: jax.Array,
                 train: bool = False) -> jax.Array:
        if self.time_dim < 2 or self.time_dim % 2:
            raise ValueError(f"DiffusionMLP needs an even time_dim >= 2 (got {self.time_dim}).")
        temb = FourierFeatures(self.time_dim)(t)  # [..., time_dim]
        temb = nn.Dense(self.time_hidden_dim, kernel_init=default_init)(temb)
        temb = nn.Dense(self.time_hidden_dim, kernel_init=default_init)(jax.nn.mish(temb))
        x = jnp.concatenate([observations, noisy_actions, temb], axis=-1)  # [..., obs+A+th]
        x = nn.Dense(self.hidden_dim, kernel_init=default_init)(x)  # [..., H]
        for _ in range(self.num_blocks):
            x = ResidualBlock(self.hidden_dim, self.dropout_rate)(x, train)
        return nn.Dense(self.action_dim, kernel_init=default_init)(jax.nn.mish(x))  # [..., A]


def noisy_actions(schedule: Schedule, actions: jax.Array, t: jax.Array,
                  eps: jax.Array) -> jax.Array:
    """The forward process in one jump: `x_t = sqrt(abar_t) a + sqrt(1 - abar_t) eps`.
    `actions [..., A]`, `t [...]` int in 0..T-1, `eps [..., A]` -> `[..., A]`."""
    abar = schedule.alpha_bars[t][..., None]  # [..., 1]
    return jnp.sqrt(abar) * actions + jnp.sqrt(1.0 - abar) * eps


def denoising_loss(params, apply_fn: ApplyFn, schedule: Schedule, observations: jax.Array,
                   actions: jax.Array, key: jax.Array,
                   train: bool = True) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The simplified DDPM loss `mean_{B, A} (eps_theta(s, x_t, t) - eps)²` for one draw of
    `t ~ U{0..T-1}` and `eps ~ N(0, I)` per sample, `x_t = noisy_actions(schedule, a, t, eps)`.

    `observations [B, obs]`, `actions [B, A]`. The key is split as
    `key_t, key_eps, key_dropout = jax.random.split(key, 3)`; `t` is
    `randint(key_t, (B,), 0, T)` and `eps` is `normal(key_eps, (B, A))`. Returns the loss and
    `{"denoising_loss": loss}`."""
    if observations.ndim != 2 or actions.ndim != 2 or observations.shape[0] != actions.shape[0]:
        raise ValueError("denoising_loss needs observations [B, obs] and actions [B, A] with the "
                         f"same B (got {observations.shape} and {actions.shape}).")
    key_t, key_eps, key_dropout = jax.random.split(key, 3)
    batch = actions.shape[0]
    t = jax.random.randint(key_t, (batch,), 0, schedule.num_steps)  # [B]
    eps = jax.random.normal(key_eps, actions.shape, actions.dtype)  # [B, A]
    x_t = noisy_actions(schedule, actions, t, eps)  # [B, A]
    eps_pred = apply_fn(params, observations, x_t, t, train=train,
                        rngs={"dropout": key_dropout})  # [B, A]
    loss = jnp.mean((eps_pred - eps) ** 2)
    return loss, {"denoising_loss": loss}


def sample(apply_fn: ApplyFn, params, schedule: Schedule, observations: jax.Array,
           key: jax.Array, num_samples: int, clip: bool = True,
           temperature: float = 1.0, action_dim: int | None = None) -> jax.Array:
    """`num_samples` actions per state by the DDPM reverse chain: `[..., obs] -> [S, ..., A]`.

    From `x_{T} ~ N(0, I)`, for t = T-1, ..., 0 (one `lax.scan`):

        x <- (x - beta_t / sqrt(1 - abar_t) · eps_theta(s, x, t)) / sqrt(alpha_t)
             + [t > 0] · sqrt(beta_t) · temperature · z,   z ~ N(0, I),

    i.e. the variance `sigma_t² = beta_t` (Ho et al.'s first choice, IDQL's sampler) rather
    than the posterior variance `beta_t (1 - abar_{t-1}) / (1 - abar_t)`; with `clip`, x is
    clipped to [-1, 1] after every step (IDQL). The network runs once per step on all
    `S × ...` candidates; `num_samples` and T (the schedule's length) are static under jit.
    The network is applied with `train=False` (no dropout); `x_T` is drawn with the first key
    of `jax.random.split(key)`, the steps' noise with the second. A is `action_dim`, or, when that
    is None, the `action_dim` of the `DiffusionMLP` whose bound `.apply` is `apply_fn`."""
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"sample needs num_samples >= 1 (got {num_samples!r}).")
    batch = observations.shape[:-1]
    if action_dim is None:
        action_dim = _action_dim(apply_fn)
    obs = jnp.broadcast_to(observations, (num_samples, *observations.shape))  # [S, ..., obs]
    shape = (num_samples, *batch, action_dim)
    key_init, key_steps = jax.random.split(key)
    x_init = jax.random.normal(key_init, shape, jnp.float32)  # [S, ..., A]
    steps = jnp.arange(schedule.num_steps - 1, -1, -1)  # [T]: T-1, ..., 0
    step_keys = jax.random.split(key_steps, schedule.num_steps)  # [T, 2]

    def reverse_step(x, inputs):
        t, step_key = inputs
        t_in = jnp.full(shape[:-1], t)  # [S, ...]
        eps = apply_fn(params, obs, x, t_in, train=False)  # [S, ..., A]
        alpha, abar, beta = schedule.alphas[t], schedule.alpha_bars[t], schedule.betas[t]
        x = (x - beta / jnp.sqrt(1.0 - abar) * eps) / jnp.sqrt(alpha)
        z = jax.random.normal(step_key, shape, jnp.float32)
        x = x + (t > 0) * jnp.sqrt(beta) * temperature * z
        if clip:
            x = jnp.clip(x, -1.0, 1.0)
        return x, None

    x, _ = jax.lax.scan(reverse_step, x_init, (steps, step_keys))
    return x  # [S, ..., A]


def _action_dim(apply_fn: ApplyFn) -> int:
    """A of the `DiffusionMLP` whose bound `.apply` is `apply_fn`."""
    module = getattr(apply_fn, "__self__", None)
    if isinstance(module, DiffusionMLP):
        return module.action_dim
    raise ValueError("sample cannot tell the action dimension of this apply_fn; pass "
                     "action_dim=A (or apply_fn=DiffusionMLP(...).apply).")


def ema_update(ema_params, params, rate: float):
    """`ema <- (1 - rate) ema + rate params`, leaf by leaf (IDQL: rate 0.005 each step)."""
    return jax.tree_util.tree_map(lambda e, p: (1.0 - rate) * e + rate * p, ema_params, params)


def network(config: GEMConfig, action_dim: int) -> DiffusionMLP:
    """The noise network a config trains (`diffusion_hidden`, `_blocks`, `_dropout`)."""
    return DiffusionMLP(action_dim, hidden_dim=config.diffusion_hidden,
                        num_blocks=config.diffusion_blocks,
                        dropout_rate=config.diffusion_dropout)


def init_params(config: GEMConfig, key: jax.Array, obs_dim: int, action_dim: int):
    """Fresh parameters of `network(config, action_dim)`."""
    return network(config, action_dim).init(
        key, jnp.zeros((1, obs_dim), jnp.float32), jnp.zeros((1, action_dim), jnp.float32),
        jnp.zeros((1,), jnp.int32))


def propose(config: GEMConfig, params, observations: jax.Array, key: jax.Array,
            num_samples: int, action_dim: int) -> jax.Array:
    """`num_samples` candidate actions per state from the config's diffusion model:
    `[..., obs] -> [num_samples, ..., A]` (the select step's `source="diffusion"`)."""
    net = network(config, action_dim)
    return sample(net.apply, params, vp_schedule(config.diffusion_steps), observations, key,
                  num_samples)
