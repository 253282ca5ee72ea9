"""The seed axis across devices and hosts (method §5: the protocol reports several seeds,
each an independent run).

A multi-seed state has a leading seed axis `[S, ...]` on every leaf; the train loop is
vmapped over it (`runner.make_seed_loop`). With D devices the axis is split over a 1-D
mesh named `"seed"`: each device holds `ceil(S / D)` seeds. When S is not a multiple of
the devices used, the state is padded with copies of seed 0 (`pad_seeds`) whose results
are dropped (`unpad_seeds`); the padding is always fewer than `ceil(S / D)` seeds.

Multi-host (`jax.distributed.initialize()`): `jax.devices()` lists every host's devices,
every process builds the same host copy of the state and dataset, and `shard_seeds` /
`replicate` hand each process only its own shards. `fetch` gathers a sharded result back
to a NumPy copy on every process. See docs/multihost.md.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def seed_layout(num_seeds: int, num_devices: int, all_devices: bool = False) -> tuple[int, int]:
    """`(devices used, padded seed count)` for S seeds on D devices.

    Each device takes `per = ceil(S / D)` seeds; the fewest devices that fit S at that
    load are used (`ceil(S / per)`), so S = 6 on 4 devices uses 3 devices and no padding,
    S = 7 uses 4 devices and one pad seed. `all_devices=True` (multi-host, where every
    process must own part of the mesh) uses all D devices.
    """
    if num_seeds < 1 or num_devices < 1:
        raise ValueError(f"Need num_seeds >= 1 and num_devices >= 1, got {num_seeds}, "
                         f"{num_devices}.")
    per = -(-num_seeds // num_devices)
    used = num_devices if all_devices else -(-num_seeds // per)
    return used, per * used


def seed_mesh(num_seeds: int, devices: list | None = None) -> Mesh | None:
    """1-D `"seed"` mesh for S seeds (see `seed_layout`); None when one device does it all."""
    devices = jax.devices() if devices is None else list(devices)
    multihost = jax.process_count() > 1
    used, _ = seed_layout(num_seeds, len(devices), all_devices=multihost)
    if used == 1:
        return None
    return Mesh(np.array(devices[:used]), ("seed",))


def padded_seeds(num_seeds: int, mesh: Mesh | None) -> int:
    """S rounded up to a multiple of the mesh size (S itself without a mesh)."""
    if mesh is None:
        return num_seeds
    return mesh.size * -(-num_seeds // mesh.size)


def pad_seeds(tree, total: int):
    """Append copies of seed 0 along the leading axis until it has `total` entries."""
    size = jax.tree.leaves(tree)[0].shape[0]
    if total == size:
        return tree
    pad = lambda x: np.concatenate([np.asarray(x), np.repeat(np.asarray(x)[:1], total - size, 0)])
    return jax.tree.map(pad, tree)


def unpad_seeds(tree, num_seeds: int):
    """The first `num_seeds` seeds; on several hosts gathered to NumPy first."""
    if jax.process_count() > 1:
        tree = fetch(tree)
    if jax.tree.leaves(tree)[0].shape[0] == num_seeds:
        return tree
    return jax.tree.map(lambda x: x[:num_seeds], tree)


def _place(tree, sharding):
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(x):  # every process holds the same full copy; each places its own shards
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(put, tree)


def shard_seeds(tree, mesh: Mesh | None):
    """Split every leaf's leading seed axis over `mesh` (S must be a multiple of its size)."""
    if mesh is None:
        return tree
    size = jax.tree.leaves(tree)[0].shape[0]
    if size % mesh.size:
        raise ValueError(f"{size} seeds do not split over {mesh.size} devices; pad them first "
                         "(pad_seeds(tree, padded_seeds(num_seeds, mesh))).")
    return _place(tree, NamedSharding(mesh, PartitionSpec("seed")))


def replicate(tree, mesh: Mesh | None):
    """A full copy of `tree` (e.g. the dataset) on every device of `mesh`."""
    if mesh is None:
        return tree
    return _place(tree, NamedSharding(mesh, PartitionSpec()))


def fetch(tree):
    """NumPy copy of a (possibly multi-host sharded) pytree on every process."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def vmap_seeds(fn, in_axes=0):
    """`jax.vmap(fn, in_axes)` over the leading seed axis, except where that axis has size 1:
    then `fn` runs on the one seed (the axis dropped and put back on every output), which is
    the same computation without vmap's batched kernels. On our 2-core CPU a one-seed GEM
    train loop (a `--seed_shards` shard) ran 1.48x as many steps/s that way
    (benchmarks/RESULTS.md, "Seeds apart").

    `in_axes`: 0 or None for each argument (None: shared by every seed, passed unchanged).
    The size is read from the shapes when the call is traced, so under `jax.jit` the choice
    costs nothing at run time.
    """
    vmapped = jax.vmap(fn, in_axes=in_axes)

    def call(*args):
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        sizes = {leaf.shape[0] for arg, axis in zip(args, axes) if axis is not None
                 for leaf in jax.tree.leaves(arg)}
        if sizes != {1}:
            return vmapped(*args)
        one = [arg if axis is None else jax.tree.map(lambda x: x[0], arg)
               for arg, axis in zip(args, axes)]
        return jax.tree.map(lambda x: x[None], fn(*one))

    return call
