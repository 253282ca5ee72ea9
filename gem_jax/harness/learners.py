"""Which learner a config trains with: the method's (GEM, IQL, BC) or a related system's.

`actor_objective` names it (method §2 guided EM; method §8 LOM). The runner, the
checkpoints and the benchmarks build states and fused loops only through these two
functions, so a new algorithm plugs in here.
"""

from __future__ import annotations

import jax

from gem_jax.method import learner
from gem_jax.method.config import GEMConfig
from gem_jax.related import lom


def init_state(key: jax.Array, config: GEMConfig, obs_dim: int, action_dim: int,
               obs_norm: learner.ObsNorm | None = None) -> learner.GEMState:
    """A fresh train state for `config`'s algorithm."""
    if config.actor_objective == "lom":
        return lom.init_state(key, config, obs_dim, action_dim, obs_norm)
    return learner.init_state(key, config, obs_dim, action_dim, obs_norm)


def make_train_loop(config: GEMConfig, num_steps: int | None = None,
                    phase: str | None = None):
    """The pure fused loop `(state, dataset) -> (state, metrics [K])` of `config`'s algorithm
    (`phase`: `learner.make_update`'s)."""
    if config.actor_objective == "lom":
        return lom.make_train_loop(config, num_steps, phase)
    return learner.make_train_loop(config, num_steps, phase=phase)
