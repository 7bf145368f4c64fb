"""Topological losses from persistent homology: SATLoss, Wasserstein (WTLoss), He et al., TCLoss.

Persistence and matching run on the host (`jaxtopo.host`) inside `jax.pure_callback`; the
callback returns each image's loss value and its gradient map with respect to the likelihood.
The loss is then assembled as

    loss_b = value_b + sum_pixels(G_b * (L_b - stop_gradient(L_b)))

whose value is exactly the host value and whose gradient is exactly G_b: non-zero only at creator
and destroyer pixels (Eq. 7 of the SATLoss paper). Shapes are static, so it works under
`jax.jit`, `jax.grad`, `jax.value_and_grad` and `jax.vmap`. With ``mesh=`` the callback runs
on each device's slice of a sharded batch (`jaxtopo.losses.sharding`).

Likelihoods and targets must lie in [0, 1] (the value-range policy of `jaxtopo._validation`):
eager calls raise ValueError for finite values outside; under jit such an image, like one holding
NaN or inf, gets a NaN loss and a zero gradient, and the host never sees its values.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxtopo import _validation
from jaxtopo.host.image_loss import TopoLossConfig, batch_loss_and_grad
from jaxtopo.losses import sharding


# jax.pure_callback first copies every operand onto CPU device 0. On the CPU backend XLA copies
# an operand of more than 100 KiB on its worker threads, the threads that also run each device's
# computation, and so wait inside its callback: with as many devices as cores, every worker can be
# waiting in a callback for a copy that no thread is left to make, and the step never ends
# (measured: 2 CPU devices on 2 cores, a 96x96 batch of 8). Smaller operands are copied inline by
# the calling thread, so on the CPU backend the callback's operands travel in pieces of at most
# this many bytes. (It costs about 7 ms per 16 x 300 x 300 batch, against some 100 ms of host work;
# on a GPU or TPU the CPU's threads are free and operands travel whole.)
_PIECE_BYTES = 96 * 1024


def _pieces(x: jax.Array) -> list[jax.Array]:
    """``x`` flattened and cut into consecutive pieces of at most `_PIECE_BYTES` on the CPU
    backend; elsewhere ``[x]`` flattened."""
    flat = x.reshape(-1)
    if jax.default_backend() != "cpu":
        return [flat]
    step = max(1, _PIECE_BYTES // flat.dtype.itemsize)
    return [flat[start:start + step] for start in range(0, flat.size, step)]


def _joined(pieces, shape) -> np.ndarray:
    """The array of ``shape`` that `_pieces` cut, from the numpy pieces a callback receives (with
    the leading axes that ``vmap_method="broadcast_all"`` adds, if any)."""
    pieces = [np.asarray(piece) for piece in pieces]
    return np.concatenate(pieces, axis=-1).reshape(pieces[0].shape[:-1] + tuple(shape))


def _host_callback(*pieces, count, shape, config, image_fn, dtype):
    likelihoods, targets = _joined(pieces[:count], shape), _joined(pieces[count:], shape)
    values, grads = batch_loss_and_grad(likelihoods, targets, config, image_fn)
    return values.astype(dtype), grads.astype(dtype)


def _host_values_and_grads(likelihood, target, *, config, image_fn):
    """[B] values and [B, H, W] gradient maps from the host, for the images it is given (the whole
    batch, or one device's slice of it under `sharding.over_batch`)."""
    dtype = likelihood.dtype
    likelihood_pieces, target_pieces = _pieces(likelihood), _pieces(target)
    return jax.pure_callback(
        functools.partial(_host_callback, count=len(likelihood_pieces), shape=likelihood.shape,
                          config=config, image_fn=image_fn, dtype=dtype),
        (
            jax.ShapeDtypeStruct(likelihood.shape[:1], dtype),
            jax.ShapeDtypeStruct(likelihood.shape, dtype),
        ),
        *likelihood_pieces,
        *target_pieces,
        vmap_method="broadcast_all",
    )


def host_loss(
    probs, targets, config, *, reduction: str, fn: str, image_fn=None, mesh=None,
    batch_axis: sharding.BatchAxis = "data",
) -> jax.Array:
    """A loss computed per image on the host: validation, the pure callback and the Eq. 7 assembly.

    ``image_fn(likelihood, target) -> (value, d value / d likelihood)`` runs on each image (default:
    `jaxtopo.host.image_loss.image_loss_and_grad` with ``config``); it must be hashable, since it
    parameterises the callback. With a ``mesh``, each device's callback gets only its own images
    (`jaxtopo.losses.sharding`); the reduction over the batch stays outside, so ``"mean"`` is the
    mean over all images.
    """
    p, t, valid = _validation.checked_pair(probs, targets, fn=fn)
    likelihood = jax.lax.stop_gradient(p)
    host = functools.partial(_host_values_and_grads, config=config, image_fn=image_fn)
    if mesh is not None:
        host = sharding.over_batch(
            host, mesh=mesh, batch_axis=batch_axis, batch_size=p.shape[0], fn=fn
        )
    values, grads = host(likelihood, jax.lax.stop_gradient(t))
    # value from the host, gradient G at creator/destroyer pixels (zero-valued linear term)
    per_image = values + jnp.sum(grads * (p - likelihood), axis=(1, 2))
    return _validation.reduce(per_image, reduction, valid)


def topological_loss(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    matching: str = "optimal",
    spatial: bool = True,
    variant: str = "official",
    construction: str = "T",
    pad: bool = True,
    min_spatial_weight: float = 0.05,
    dims: Sequence[int] = (0, 1),
    reduction: str = "mean",
    backend: str | None = None,
    mesh: jax.sharding.Mesh | None = None,
    batch_axis: sharding.BatchAxis = "data",
) -> jax.Array:
    """Persistence-diagram matching loss between predicted likelihoods and binary targets.

    Diagrams of ``f = 1 - L`` (sublevel filtration, i.e. superlevel of L) are computed
    per image for the homology dimensions ``dims``; each predicted point is matched to a target
    point or to the diagonal; the loss is the matching cost summed over dimensions.

    Args:
      probs: likelihoods in [0, 1], shape [B, H, W] or [B, H, W, 1], floating point.
      targets: binary ground truth of the same shape (any real or bool dtype). Target diagrams
        are cached by content on the host, so a fixed target costs one hash after first use.
      matching: ``"optimal"`` (SATLoss / WTLoss), ``"longest_bars"`` (He et al. 2023) or
        ``"hausdorff"`` (TCLoss, Qi et al. 2023).
      spatial: weight pair costs by the clamped distance of the creators (SATLoss). False gives
        the plain Wasserstein loss of Hu et al. 2019.
      variant: ``"official"`` (q = 1, weight = clamp(distance, w, 1); the published numbers) or
        ``"paper"`` (Eq. 4: q = 2, weight = clamp(squared distance, w, 1)).
      construction: ``"T"`` (pixels are 2-cells, foreground 8-connected; official) or ``"V"``
        (pixels are vertices, foreground 4-connected).
      pad: pad both images by one foreground pixel so loops closed by the border count.
        ``pad=False`` reproduces the official code on square images.
      min_spatial_weight: lower clamp of the spatial weight (0.05 in the paper).
      dims: homology dimensions to include, a subset of (0, 1).
      reduction: ``"mean"`` over the batch (official), ``"sum"``, or ``"none"`` for [B] values.
      backend: host persistence backend (None = the default, see
        `jaxtopo.host.persistence.available_backends`).
      mesh: the device mesh (`jax.sharding.Mesh`) the batch is split over, or None. With a
        mesh, each device hands only its own images to the host (`jax.shard_map` around the
        callback) instead of the whole batch being gathered onto one device; values and
        gradients are the same, and ``"mean"`` is still over the whole batch. The batch size
        must be a multiple of the number of devices along ``batch_axis``. Leave it None inside
        your own `jax.shard_map`, where the callback already sees local images.
      batch_axis: the mesh axis (or tuple of axes) that splits the batch; used with ``mesh``.

    Returns:
      A scalar (``"mean"``/``"sum"``) or a [B] vector (``"none"``) in at least float32. An image
      whose likelihood or target holds a value outside [0, 1] (NaN and inf included) gets a NaN
      loss and a zero gradient, so a trainer can stop with a clear message; an eager call with a
      finite value outside [0, 1] (e.g. a {0, 255} mask) raises ValueError instead.

    Example:
      >>> loss = jaxtopo.sat_loss(probs, labels)               # SATLoss, official variant
      >>> grads = jax.grad(lambda p: jaxtopo.sat_loss(p, labels))(probs)
      >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))  # batch split over devices
      >>> loss = jax.jit(lambda p, t: jaxtopo.sat_loss(p, t, mesh=mesh))(probs, labels)

    References: Wen et al., ICCV Workshops 2025 (SATLoss); Hu et al., NeurIPS 2019 (WTLoss).
    """
    return _diagram_loss(
        probs, targets, fn="topological_loss", matching=matching, spatial=spatial,
        variant=variant, construction=construction, pad=pad,
        min_spatial_weight=min_spatial_weight, dims=dims, reduction=reduction, backend=backend,
        mesh=mesh, batch_axis=batch_axis,
    )


def _diagram_loss(
    probs, targets, *, fn: str, matching: str = "optimal", spatial: bool = True,
    variant: str = "official", construction: str = "T", pad: bool = True,
    min_spatial_weight: float = 0.05, dims: Sequence[int] = (0, 1), reduction: str = "mean",
    backend: str | None = None, mesh=None, batch_axis: sharding.BatchAxis = "data",
) -> jax.Array:
    """`topological_loss`, with the name ``fn`` of the public function in every error message."""
    _validation.check_reduction(reduction, fn=fn)
    config = TopoLossConfig(
        policy=matching,
        variant=variant,
        spatial=bool(spatial),
        min_spatial_weight=float(min_spatial_weight),
        construction=construction,
        pad=bool(pad),
        dims=tuple(int(d) for d in dims),
        backend=backend,
    )
    return host_loss(
        probs, targets, config, reduction=reduction, fn=fn, mesh=mesh, batch_axis=batch_axis
    )


def sat_loss(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    spatial: bool = True,
    variant: str = "official",
    construction: str = "T",
    pad: bool = True,
    min_spatial_weight: float = 0.05,
    dims: Sequence[int] = (0, 1),
    reduction: str = "mean",
    backend: str | None = None,
    mesh: jax.sharding.Mesh | None = None,
    batch_axis: sharding.BatchAxis = "data",
) -> jax.Array:
    """SATLoss (Wen et al. 2025): spatially weighted optimal matching of persistence diagrams.

    ``topological_loss`` with ``matching="optimal"``; see it for arguments, shapes and results.
    ``spatial=False`` is the Wasserstein loss of Hu et al. 2019 (WTLoss).

    Example:
      >>> total = jaxtopo.bce_loss(probs, labels) + 1e-3 * jaxtopo.sat_loss(probs, labels)
    """
    return _diagram_loss(
        probs, targets, fn="sat_loss", matching="optimal", spatial=spatial, variant=variant,
        construction=construction, pad=pad, min_spatial_weight=min_spatial_weight,
        dims=dims, reduction=reduction, backend=backend, mesh=mesh, batch_axis=batch_axis,
    )


def wasserstein_loss(probs: ArrayLike, targets: ArrayLike, **options) -> jax.Array:
    """WTLoss (Hu et al. 2019): optimal matching without spatial weights.

    Same options as `sat_loss` (except ``spatial``); ``variant="official"`` uses q = 1.
    """
    return _diagram_loss(
        probs, targets, fn="wasserstein_loss", matching="optimal", spatial=False, **options
    )


def he_loss(probs: ArrayLike, targets: ArrayLike, **options) -> jax.Array:
    """He et al. 2023: the longest predicted bars go to the target's bars, the rest to the diagonal.

    Same options as `topological_loss` (except ``matching``; ``spatial`` defaults to False).
    """
    options.setdefault("spatial", False)
    return _diagram_loss(probs, targets, fn="he_loss", matching="longest_bars", **options)


def tc_loss(probs: ArrayLike, targets: ArrayLike, **options) -> jax.Array:
    """TCLoss (Qi et al. 2023): Hausdorff distance of the diagrams; one pair gets the gradient.

    Same options as `topological_loss` (except ``matching``; ``spatial`` defaults to False).
    """
    options.setdefault("spatial", False)
    return _diagram_loss(probs, targets, fn="tc_loss", matching="hausdorff", **options)
