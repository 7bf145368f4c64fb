"""Running a host loss's callback shard by shard when the batch is split over a device mesh.

Under `jax.jit` with a batch sharded over several devices, a bare `jax.pure_callback` is not
partitioned: XLA gathers the whole batch onto one device, calls the host once with every image,
and scatters the results back. Wrapping the callback in `jax.shard_map` over the batch axis makes
each device call the host with its own images only, so no gather is needed and, with several
processes, each process computes the loss of the images it holds.

The mesh is passed explicitly (``mesh=``), because a traced array under a plain `jax.jit` does not
carry its sharding: a default read from the inputs would silently fall back to the gather.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence, Union

import jax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

# a mesh axis name, or several whose product splits the batch (e.g. ("data", "fsdp"))
BatchAxis = Union[str, Sequence[str]]


def _axis_names(batch_axis: BatchAxis) -> tuple[str, ...]:
    return (batch_axis,) if isinstance(batch_axis, str) else tuple(batch_axis)


def shards_of_batch(mesh, batch_axis: BatchAxis, *, fn: str) -> int:
    """How many pieces the batch is cut into: the product of the sizes of the ``batch_axis`` axes."""
    names = _axis_names(batch_axis)
    unknown = [name for name in names if name not in mesh.shape]
    if not names or unknown:
        raise ValueError(
            f"{fn}: batch_axis {batch_axis!r} must name axes of the mesh, whose axes are "
            f"{tuple(mesh.shape)}"
        )
    return math.prod(mesh.shape[name] for name in names)


def over_batch(per_image: Callable, *, mesh, batch_axis: BatchAxis, batch_size: int, fn: str) -> Callable:
    """``per_image`` applied to each device's slice of the batch (leading axis of every argument
    and of every output), through `jax.shard_map`.

    ``per_image`` must act image by image (its outputs for an image depend only on that image's
    inputs), so that the sharded call returns exactly what the unsharded one would. On mesh axes
    other than ``batch_axis`` the slices are replicated, and every device of such an axis
    computes its slice again.
    """
    shards = shards_of_batch(mesh, batch_axis, fn=fn)
    if batch_size % shards:
        raise ValueError(
            f"{fn}: the batch of {batch_size} images cannot be split evenly over the {shards} "
            f"devices of mesh axis {batch_axis!r}; use a batch size that is a multiple of {shards}"
        )
    spec = PartitionSpec(_axis_names(batch_axis))
    # jax.shard_map (not jax.experimental.shard_map, deprecated since 0.8) has this signature
    # from jax 0.7.1, the oldest version we support, to 0.10
    mapped = jax.shard_map(per_image, mesh=mesh, in_specs=spec, out_specs=spec)
    if AxisType.Explicit not in mesh.axis_types:
        return mapped  # shard_map lays out arguments on Auto axes itself
    # on Explicit axes (jax.make_mesh's default from jax 0.8) the layout is part of an array's
    # type, and shard_map refuses arguments not already laid out as in_specs (replicated ones,
    # say): lay them out first, which costs nothing for arguments already split this way
    layout = NamedSharding(mesh, spec)

    def laid_out_then_mapped(*args):
        return mapped(*(jax.sharding.reshard(arg, layout) for arg in args))

    return laid_out_then_mapped
