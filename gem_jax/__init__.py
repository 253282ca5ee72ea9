"""gem-jax: GEM (Guided Expectation-Maximization) for candidate action selection in offline RL.

Public names (other code depends on them; keep them stable):
`GEMConfig`, `Batch`, `init_state`, `make_train_step`, `make_policy`, `policy_params`,
`SelectKnobs`, `load_params`, `load_policy`, `export_policy`, plus `gem_jax.method.gmm.GMM`,
`gem_jax.method.gmm.log_prob` and `gem_jax.method.select.zscore`.

The package by role, imports flowing one way (tests/test_layers.py): `method/` (GEM
itself) < `envs/`, `empo/` < `data/` < `presets.py` (a run's config) < `harness/` (runs,
checkpoints, evaluation, export) < `analysis/` (sweeps, comparisons, diagnostics).
"""

from gem_jax import envs as _envs  # noqa: F401  (registers gymnasium id gem_jax/Nav2D-v0)
from gem_jax.harness.export import export_policy, load_params, load_policy
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import (
    GEMState,
    init_state,
    make_fused_train_step,
    make_train_loop,
    make_train_step,
    sample_batch,
)
from gem_jax.method.select import PolicyParams, SelectKnobs, make_policy, policy_params
from gem_jax.method.types import Batch

__all__ = [
    "Batch",
    "GEMConfig",
    "GEMState",
    "PolicyParams",
    "SelectKnobs",
    "export_policy",
    "init_state",
    "load_params",
    "load_policy",
    "make_fused_train_step",
    "make_policy",
    "make_train_loop",
    "make_train_step",
    "policy_params",
    "sample_batch",
]
