"""Shared pytree types: the transition batch every module speaks."""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class Batch:
    """A batch (or a whole flat dataset) of transitions `(s, a, r, s', d)`.

    `dones` are *terminals* only (a time-limit truncation is not a done), method §2.
    """

    observations: jax.Array  # [B, obs_dim]
    actions: jax.Array  # [B, action_dim]
    rewards: jax.Array  # [B]
    next_observations: jax.Array  # [B, obs_dim]
    dones: jax.Array  # [B]

    def __len__(self) -> int:
        return int(self.rewards.shape[0])
