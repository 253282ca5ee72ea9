"""The 2-D navigation task of EMPO (its paper, App. A) as a pure JAX environment.

State space S = [0, 30]^2, actions A = [-0.2, 0.2]^2 (clipped), dynamics
`s' = clip(s + a, 0, 30)`, goal g = (30, 30) reached when `||s' - g||_2 < 0.1`,
penalty area S_p = [15, 30] x [0, 10]. Reward of a transition (App. A):

    r(s, a, s') =  0  if ||s' - g|| < 0.1
                  -2  if s' in S_p
                  -1  otherwise

An episode terminates on reaching the goal and is truncated after 1000 steps.
The start is uniform in [0, 0.1]^2.

The two data-generating behaviors follow a list of subgoals (App. A, Algorithm 3)
with the subgoal-reaching policy of eq. (15):

    pi(s; g_s) = clip(clip(g_s - s, -0.2, 0.2) + 0.1 * eps, -0.2, 0.2),  eps ~ N(0, I_2)

and move on to the next subgoal once `||s - g_s|| < 0.1`; after the list they head
for the goal g. Every function here is pure, jittable and vmappable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

STATE_LOW = 0.0
STATE_HIGH = 30.0
ACTION_LOW = -0.2
ACTION_HIGH = 0.2
GOAL = (30.0, 30.0)
GOAL_RADIUS = 0.1
PENALTY_LOW = (15.0, 0.0)
PENALTY_HIGH = (30.0, 10.0)
START_HIGH = 0.1
MAX_EPISODE_STEPS = 1000
REWARD_GOAL = 0.0
REWARD_PENALTY = -2.0
REWARD_STEP = -1.0
POLICY_NOISE = 0.1  # std of eps in eq. (15)
SUBGOAL_RADIUS = 0.1
OBS_DIM = 2
ACTION_DIM = 2

# App. A: the two subgoal lists, each followed by the goal g. [num_behaviors, 6, 2]
SUBGOALS = np.array(
    [
        [(0, 30), (10, 30), (10, 0), (20, 0), (20, 30), GOAL],  # behavior 0: up-and-over
        [(10, 0), (10, 15), (20, 15), (20, 0), (30, 0), GOAL],  # behavior 1: through S_p
    ],
    dtype=np.float32,
)
NUM_BEHAVIORS = SUBGOALS.shape[0]
NUM_SUBGOALS = SUBGOALS.shape[1]


@struct.dataclass
class Nav2DState:
    position: jax.Array  # [2] float32
    step: jax.Array  # [] int32, transitions taken in this episode


def reset(key: jax.Array) -> tuple[Nav2DState, jax.Array]:
    """Start uniform in [0, 0.1]^2. Returns `(state, obs [2])`."""
    position = jax.random.uniform(key, (2,), jnp.float32, STATE_LOW, START_HIGH)  # [2]
    return Nav2DState(position=position, step=jnp.zeros((), jnp.int32)), position


def reached(position: jax.Array, target: jax.Array, radius: float) -> jax.Array:
    """`||position - target||_2 < radius`, as a squared-distance test (same bits in NumPy)."""
    delta = position - target  # [..., 2]
    return delta[..., 0] * delta[..., 0] + delta[..., 1] * delta[..., 1] < jnp.float32(
        radius * radius
    )


def reward_fn(next_position: jax.Array) -> jax.Array:
    """App. A reward of landing in `next_position` [..., 2]: 0 / -2 / -1."""
    at_goal = reached(next_position, jnp.asarray(GOAL, jnp.float32), GOAL_RADIUS)
    x, y = next_position[..., 0], next_position[..., 1]
    in_x = (x >= PENALTY_LOW[0]) & (x <= PENALTY_HIGH[0])
    in_penalty = in_x & (y >= PENALTY_LOW[1]) & (y <= PENALTY_HIGH[1])
    return jnp.where(
        at_goal, REWARD_GOAL, jnp.where(in_penalty, REWARD_PENALTY, REWARD_STEP)
    ).astype(jnp.float32)


def step(
    state: Nav2DState, action: jax.Array
) -> tuple[Nav2DState, jax.Array, jax.Array, jax.Array, jax.Array]:
    """One transition. Returns `(state, obs [2], reward [], terminated [], truncated [])`.

    A truncation (the 1000-step limit) is never also a termination.
    """
    action = jnp.clip(action.astype(jnp.float32), ACTION_LOW, ACTION_HIGH)  # [2]
    position = jnp.clip(state.position + action, STATE_LOW, STATE_HIGH)  # [2]
    t = state.step + 1
    terminated = reached(position, jnp.asarray(GOAL, jnp.float32), GOAL_RADIUS)
    truncated = (t >= MAX_EPISODE_STEPS) & ~terminated
    return Nav2DState(position, t), position, reward_fn(position), terminated, truncated


def subgoal_action(key: jax.Array, position: jax.Array, subgoal: jax.Array) -> jax.Array:
    """Eq. (15): clipped proportional step toward `subgoal` plus N(0, 0.1^2) noise, clipped."""
    eps = jax.random.normal(key, (2,), jnp.float32)  # [2]
    direction = jnp.clip(subgoal - position, ACTION_LOW, ACTION_HIGH)  # [2]
    return jnp.clip(direction + POLICY_NOISE * eps, ACTION_LOW, ACTION_HIGH)


def behavior_action(
    key: jax.Array, position: jax.Array, subgoal_index: jax.Array, behavior: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Algorithm 3 as a policy: advance past reached subgoals, then act with eq. (15).

    `subgoal_index` (int32, 0 after reset) is the behavior's only memory; `behavior` is
    0 or 1 (the subgoal list). Returns `(action [2], new subgoal_index)`.
    """
    subgoals = jnp.asarray(SUBGOALS)[behavior]  # [6, 2]
    advance = reached(position, subgoals[subgoal_index], SUBGOAL_RADIUS) & (
        subgoal_index < NUM_SUBGOALS - 1
    )
    subgoal_index = subgoal_index + advance.astype(jnp.int32)
    return subgoal_action(key, position, subgoals[subgoal_index]), subgoal_index


def random_action(key: jax.Array) -> jax.Array:
    """Uniform action in A (the reference random policy)."""
    return jax.random.uniform(key, (2,), jnp.float32, ACTION_LOW, ACTION_HIGH)
