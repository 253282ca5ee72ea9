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
    # The dataset's next action a' (same episode; the last step repeats its own action), only
    # where the critic needs it (critic_target="sarsa", method §8); None otherwise.
    next_actions: jax.Array | None = None  # [B, action_dim]
    # The discounted return from this transition on, only where the critic regresses on
    # returns (critic_target="returns": SfBC, method §9); None otherwise.
    returns: jax.Array | None = None  # [B]

    def __len__(self) -> int:
        return int(self.rewards.shape[0])
