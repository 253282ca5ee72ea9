"""Stand-alone behavior-model fits for the NLL-gap diagnostic (method §4; paper App. F).

`fit_behavior` trains a K-component `GMMPolicy` `mu_phi(a|s)` by maximum likelihood
(`losses.behavior_loss`) for several seeds at once: the seeds are vmapped and each jitted
call runs a chunk of steps under `lax.scan`, minibatches drawn on device. `nll_gaps`
evaluates `audits.nll_gap` of every seed's fit on dataset pairs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

from gem_jax.method import audits, losses
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import ModelState
from gem_jax.method.networks import GMMPolicy, make_networks


def behavior_model(config: GEMConfig, action_dim: int) -> GMMPolicy:
    """The behavior GMM a config implies (K = `config.behavior_num_components`)."""
    return make_networks(config, action_dim).behavior


def init_fits(config: GEMConfig, keys: jax.Array, obs_dim: int, action_dim: int) -> ModelState:
    """Fresh parameters and Adam state per key: every leaf gets a leading seed axis [S]."""
    model, tx = behavior_model(config, action_dim), optax.adam(config.behavior_lr)

    def init(key):
        params = model.init(key, jnp.zeros((1, obs_dim), jnp.float32))
        return ModelState(params, tx.init(params))

    return jax.vmap(init)(keys)


@functools.lru_cache(maxsize=16)
def _fit_chunk(config: GEMConfig, action_dim: int, num_steps: int):
    """Jitted `(models [S], keys [S, 2], obs [M, obs], actions [M, A])
    -> (models, keys, nll [S, num_steps])`."""
    tx, nets = optax.adam(config.behavior_lr), make_networks(config, action_dim)

    def one_seed(state: ModelState, key, observations, actions):
        def step(carry, _):
            state, key = carry
            key, batch_key = jax.random.split(key)
            idx = jax.random.randint(batch_key, (config.batch_size,), 0, actions.shape[0])  # [B]
            grads, info = jax.grad(losses.behavior_loss, has_aux=True)(
                state.params, nets, observations[idx], actions[idx]
            )
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            state = ModelState(optax.apply_updates(state.params, updates), opt_state)
            return (state, key), info["behavior/nll"]

        (state, key), nll = jax.lax.scan(step, (state, key), None, length=num_steps)
        return state, key, nll  # nll [K]

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, None, None)), donate_argnums=(0, 1))


def fit_behavior(
    config: GEMConfig,
    observations: jax.Array,
    actions: jax.Array,
    seeds: list[int],
    num_steps: int,
    chunk: int = 1000,
    progress: bool = True,
) -> tuple[ModelState, jax.Array]:
    """Fit one behavior GMM per seed on `(observations [M, obs], actions [M, A] in [-1, 1])`.

    Returns the fitted `ModelState` (leading seed axis) and the last chunk's mean training
    NLL per seed `[S]`.
    """
    if num_steps < 1:
        raise ValueError(f"steps must be >= 1, got {num_steps}.")
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])  # [S, 2]
    init_keys, data_keys = jax.vmap(jax.random.split, out_axes=1)(keys)  # [S, 2] each
    state = init_fits(config, init_keys, observations.shape[-1], actions.shape[-1])
    last_nll = jnp.full((len(seeds),), jnp.nan)
    bar = tqdm(total=num_steps, desc="behavior fit", unit="step", disable=not progress)
    done = 0
    while done < num_steps:
        n = min(chunk, num_steps - done)
        state, data_keys, nll = _fit_chunk(config, actions.shape[-1], n)(
            state, data_keys, observations, actions
        )
        last_nll = nll.mean(axis=1)  # [S]
        done += n
        bar.update(n)
        bar.set_postfix(nll=f"{float(last_nll.mean()):.3f}")
    bar.close()
    return state, last_nll


def nll_gaps(
    config: GEMConfig, params, observations: jax.Array, actions: jax.Array, chunk: int = 8192
) -> dict[str, jax.Array]:
    """`audits.nll_gap` per seed on the pairs (`params` with leading seed axis).

    Pairs are scored in equal chunks of `chunk` under `lax.map` (the remainder beyond a
    multiple of the chunk is dropped) to bound memory. Returns `nll_mix`, `nll_top1`,
    `gap`, each `[S]`.
    """
    model = behavior_model(config, actions.shape[-1])
    chunk = min(chunk, actions.shape[0])
    usable = (actions.shape[0] // chunk) * chunk
    obs = observations[:usable].reshape(-1, chunk, observations.shape[-1])  # [C, chunk, obs]
    act = actions[:usable].reshape(-1, chunk, actions.shape[-1])  # [C, chunk, A]

    def per_seed(p):
        parts = jax.lax.map(lambda xs: audits.nll_gap(model.apply(p, xs[0]), xs[1]), (obs, act))
        mix, top1 = parts["nll_mix"].mean(), parts["nll_top1"].mean()  # equal chunks
        return {"nll_mix": mix, "nll_top1": top1, "gap": top1 - mix}

    return jax.jit(jax.vmap(per_seed))(params)
