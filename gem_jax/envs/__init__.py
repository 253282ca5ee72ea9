"""Environments shipped with gem-jax; importing this package registers their gymnasium ids.

* `gem_jax/Nav2D-v0`: the 2-D navigation task of seeds/002 App. A (`gem_jax.envs.nav2d`
  is the pure JAX version, `gem_jax.envs.nav2d_gym` the gymnasium one).

Kept cheap: nothing here imports JAX; the entry point is resolved by `gymnasium.make`.
"""

from gymnasium.envs.registration import register, registry

NAV2D_ID = "gem_jax/Nav2D-v0"

if NAV2D_ID not in registry:
    register(
        id=NAV2D_ID,
        entry_point="gem_jax.envs.nav2d_gym:Nav2DEnv",
        max_episode_steps=1000,
    )
