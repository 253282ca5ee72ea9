"""Environments shipped with gem-jax; importing this package registers their gymnasium ids.

* `gem_jax/Nav2D-v0`: the 2-D navigation task of the EMPO paper, App. A (`gem_jax.envs.nav2d`
  is the pure JAX version, `gem_jax.envs.nav2d_gym` the gymnasium one).
* `gem_jax/AntGoal-v0`: the goal-reaching Ant-v4 whose SAC policy drives the AntMaze data
  (`gem_jax.envs.ant_goal`, Minari's `GoalReachAnt` recipe), 1000-step episodes.
* `gem_jax/AntDirection-v0`: the same ant commanded by a unit direction redrawn every 100
  steps (the AntMaze behavior policy's training task), 1000-step episodes.

Kept cheap: nothing here imports JAX; the entry point is resolved by `gymnasium.make`.
Without gymnasium installed (training and benchmarks on a bare accelerator machine need
only JAX), there is nothing to register into and this package registers nothing.
"""

try:
    from gymnasium.envs.registration import register, registry
except ModuleNotFoundError as err:
    if err.name != "gymnasium":
        raise
    register, registry = None, {}

NAV2D_ID = "gem_jax/Nav2D-v0"
ANT_GOAL_ID = "gem_jax/AntGoal-v0"
ANT_DIRECTION_ID = "gem_jax/AntDirection-v0"

if register is not None and NAV2D_ID not in registry:
    register(
        id=NAV2D_ID,
        entry_point="gem_jax.envs.nav2d_gym:Nav2DEnv",
        max_episode_steps=1000,
    )

if register is not None and ANT_GOAL_ID not in registry:
    register(
        id=ANT_GOAL_ID,
        entry_point="gem_jax.envs.ant_goal:AntGoalEnv",
        max_episode_steps=1000,
    )

if register is not None and ANT_DIRECTION_ID not in registry:
    register(
        id=ANT_DIRECTION_ID,
        entry_point="gem_jax.envs.ant_goal:AntGoalEnv",
        max_episode_steps=1000,
        kwargs={"command": "direction"},
    )
