"""A trained run's policy as a plain JAX function, and as a `jax.export` artifact.

* `load_params(workdir)`: the newest complete checkpoint's `PolicyParams` pytree.
* `load_policy(workdir)`: a pure `policy(observations, key, t=0) -> actions`, parameters
  closed over, usable under `jax.jit`, `jax.vmap` and inside other jitted code.
* `export_policy(workdir, path, batch_size)`: that function serialised with `jax.export`;
  a program with only `jax` (and `flatbuffers`, which `jax.export` needs) installed runs it:

      exported = jax.export.deserialize(bytearray(open(path, "rb").read()))
      actions = exported.call(observations, jax.random.PRNGKey(0))  # [B, obs] -> [B, A]

Both return *env* actions: the select step (method §3) acts in `[-1, 1]^A` and the result is
multiplied by the env's action half-width saved in the checkpoint (`action_scale`), as
the evaluation does (method §5). `env_actions=False` keeps `[-1, 1]`.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gem_jax import presets
from gem_jax.method.select import PolicyParams, SelectKnobs, make_policy
from gem_jax.presets import from_config_dict

STATIC_ARGS = ("top_k", "source", "mode", "variant", "state_chunk", "candidate_means",
               "top_k_pick", "top_k_frac")
KNOB_ARGS = ("lcb_lambda", "beta_start", "beta_end", "horizon", "anchor_bonus", "pick_temperature")


def load_params(workdir: str | pathlib.Path, seed_index: int | None = None,
                step: int | None = None) -> PolicyParams:
    """Policy parameters of the newest complete checkpoint in `workdir` (or of `step`), a
    pytree.

    `seed_index=None` keeps the leading seed axis `[S, ...]` on every leaf; an integer
    picks that seed. Raises `CheckpointError` when `workdir` holds no usable checkpoint (a
    damaged one: one line naming it and the intact steps).
    """
    from gem_jax.harness import checkpoint  # orbax is imported only when a checkpoint is read

    return checkpoint.restore_params(workdir, seed_index, step)


def _split_knobs(knobs: dict) -> tuple[dict, dict]:
    unknown = sorted(set(knobs) - set(STATIC_ARGS) - set(KNOB_ARGS))
    if unknown:
        raise ValueError(
            f"Unknown policy option(s) {unknown}; choose from {list(STATIC_ARGS + KNOB_ARGS)}."
        )
    static = {k: v for k, v in knobs.items() if k in STATIC_ARGS}
    numeric = {k: v for k, v in knobs.items() if k in KNOB_ARGS}
    return static, numeric


def load_policy(
    workdir: str | pathlib.Path,
    seed_index: int = 0,
    num_candidates: int | None = None,
    env_actions: bool = True,
    step: int | None = None,
    **knobs,
) -> Callable[..., jax.Array]:
    """Pure `policy(observations, key, t=0) -> actions` of one seed of a trained run.

    observations: `[B, obs_dim]` (or one `[obs_dim]`, giving `[A]`), raw env observations
    (the saved observation normalisation is applied inside); key: a PRNG key (raw
    `uint32[2]` or typed); t: the episode step driving the beta schedule, a scalar or `[B]`.
    Returns actions `[B, A]` float32, in env units unless `env_actions=False`.

    `num_candidates` and `**knobs` override the run's config: the static selection
    arguments `top_k`, `source`, `mode`, `variant`, `candidate_means`, `top_k_pick`,
    `top_k_frac` and the numeric `SelectKnobs` `lcb_lambda`, `beta_start`, `beta_end`,
    `horizon`, `anchor_bonus` (method §3); `state_chunk` only changes speed (`make_policy`).
    `step`: the checkpoint to load (default: the newest).
    """
    from gem_jax.harness import checkpoint

    static, numeric = _split_knobs(knobs)
    _, meta = checkpoint.read_meta(workdir, step)
    config = presets.with_tuned_knobs(from_config_dict(meta["config"]), workdir)
    params = jax.tree.map(jnp.asarray, load_params(workdir, seed_index, step))
    select = make_policy(config, num_candidates, **static)
    select_knobs = SelectKnobs.from_config(config, **numeric)
    scale = np.asarray(meta.get("action_scale", 1.0), np.float32) if env_actions else 1.0
    scale = jnp.broadcast_to(jnp.asarray(scale, jnp.float32), (int(meta["action_dim"]),))  # [A]

    def policy(observations: jax.Array, key: jax.Array, t=0) -> jax.Array:
        observations = jnp.asarray(observations, jnp.float32)
        single = observations.ndim == 1
        batch = observations[None] if single else observations  # [B, obs]
        actions, _ = select(params, batch, key, t, select_knobs)  # [B, A] in [-1, 1]
        actions = actions * scale  # [B, A] env units
        return actions[0] if single else actions

    policy.meta = {k: meta.get(k) for k in ("env", "obs_dim", "action_dim", "action_scale")}
    return policy


def export_policy(
    workdir: str | pathlib.Path,
    path: str | pathlib.Path,
    batch_size: int | None,
    num_candidates: int | None = None,
    seed_index: int = 0,
    with_time: bool = False,
    platforms: tuple[str, ...] = ("cpu", "cuda"),
    **knobs,
) -> jax.export.Exported:
    """Serialise `load_policy(workdir, ...)` with `jax.export` to the file `path`.

    Calling convention of the artifact (`exported.call(...)`):
      observations: float32 `[batch_size, obs_dim]` (`batch_size=None`: any batch size),
      key: uint32 `[2]`, a raw key such as `jax.random.PRNGKey(0)`,
      t (only with `with_time=True`): int32 `[batch_size]`, each row's episode step;
      without it the beta schedule is evaluated at t = 0,
    returning env actions float32 `[batch_size, action_dim]`. The parameters are embedded.
    `platforms` are the backends the artifact can run on. Also writes `<path>.json`
    describing the convention. Returns the `Exported` object.
    """
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1 (or None for any), got {batch_size}.")
    # The artifact may run on another backend than this one: no host-specific chunking.
    knobs.setdefault("state_chunk", 0)
    policy = load_policy(workdir, seed_index, num_candidates, **knobs)
    obs_dim, action_dim = int(policy.meta["obs_dim"]), int(policy.meta["action_dim"])
    if batch_size is None:
        (batch,) = jax.export.symbolic_shape("batch")
    else:
        batch = int(batch_size)
    args = [jax.ShapeDtypeStruct((batch, obs_dim), jnp.float32),  # observations [B, obs]
            jax.ShapeDtypeStruct((2,), jnp.uint32)]  # raw key
    if with_time:
        args.append(jax.ShapeDtypeStruct((batch,), jnp.int32))  # t [B]
        fn = lambda obs, key, t: policy(obs, key, t)
    else:
        fn = lambda obs, key: policy(obs, key, 0)
    exported = jax.export.export(jax.jit(fn), platforms=tuple(platforms))(*args)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(exported.serialize())
    signature = "call(observations, key, t)" if with_time else "call(observations, key)"
    info = {
        "signature": signature,
        "observations": f"float32[{batch_size or 'batch'}, {obs_dim}]",
        "key": "uint32[2] (jax.random.PRNGKey(seed))",
        "t": f"int32[{batch_size or 'batch'}]" if with_time else "fixed at 0",
        "returns": f"float32[{batch_size or 'batch'}, {action_dim}] env actions",
        "platforms": list(exported.platforms),
        "seed_index": seed_index,
        **{k: v for k, v in policy.meta.items()},
    }
    pathlib.Path(f"{path}.json").write_text(json.dumps(info, indent=2))
    return exported
