"""soft-clDice (Shit et al., CVPR 2021): soft morphology, soft skeleton and the clDice losses.

The soft skeleton (Alg. 1 of the paper) is built from min- and max-pools of size 3, so it is
differentiable almost everywhere and runs as a fixed number of `jax.lax.reduce_window` calls
inside a `jax.lax.fori_loop`: shapes and the iteration count are static, so everything works
under `jax.jit`, `jax.grad` and `jax.vmap`.

Conventions (see ``docs/conventions.md``, section 9):

* soft erosion = elementwise min of the 1D min-pools of size 3 along each spatial axis
  (a plus-shaped, 4- or 6-neighbourhood footprint); soft dilation = 3x3 (3x3x3) max-pool.
* Windows are padded with the pool's identity (+inf for min, -inf for max), so the border is
  pooled over the pixels that exist, like PyTorch's ``max_pool(padding=1)`` and
  ``scipy.ndimage`` with ``mode="nearest"``. Consequently foreground touching the image border
  is never eroded from outside: it is skeletonised as if it continued beyond the border, and
  its skeleton reaches the border.
* Unlike the official code, ``iterations`` is honoured.

The losses follow the value-range policy of `jaxtopo._validation`: inputs outside [0, 1] raise
eagerly and give a NaN loss with a zero gradient under jit.
"""

from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxtopo import _validation
from jaxtopo.losses.pixel import _pixel_axes, _soft_dice_per_image, probabilities_and_targets

# ---------------------------------------------------------------------------------------------
# soft morphology on validated [B, *spatial] float arrays (spatial rank = ndim - 1)


def _pool(x: jnp.ndarray, reducer, identity: float, window: tuple[int, ...]) -> jnp.ndarray:
    # "SAME" pads with the init value; the identity keeps padding out of every window's result.
    # The init must be a concrete NumPy scalar: a jnp constant made inside a traced loop body can
    # be traced, and JAX then lowers a generic reduce_window, which has no reverse-mode rule.
    init = np.array(identity, dtype=x.dtype)
    return jax.lax.reduce_window(x, init, reducer, window, (1,) * x.ndim, "SAME")


def _erode(x: jnp.ndarray) -> jnp.ndarray:
    axis_windows = [
        tuple(3 if axis == pool_axis else 1 for axis in range(x.ndim))
        for pool_axis in range(1, x.ndim)
    ]
    pools = [_pool(x, jax.lax.min, np.inf, window) for window in axis_windows]
    return functools.reduce(jnp.minimum, pools)


def _dilate(x: jnp.ndarray) -> jnp.ndarray:
    return _pool(x, jax.lax.max, -np.inf, (1,) + (3,) * (x.ndim - 1))


def _open(x: jnp.ndarray) -> jnp.ndarray:
    return _dilate(_erode(x))


def _peel(_, carry):
    """One round of Alg. 1: erode, then keep what opening removes from the eroded image."""
    image, skeleton = carry
    image = _erode(image)
    delta = jax.nn.relu(image - _open(image))
    # adds only the part of delta not already in the skeleton: S + (1 - S) * delta
    skeleton = skeleton + jax.nn.relu(delta - skeleton * delta)
    return image, skeleton


# jitted so that eager calls compile once per shape and iteration count instead of re-tracing
# the loop every call; inside an outer jit this is simply inlined
@functools.partial(jax.jit, static_argnames="iterations")
def _skeleton(image: jnp.ndarray, iterations: int) -> jnp.ndarray:
    """Alg. 1 of the clDice paper on a [B, *spatial] float array."""
    skeleton = jax.nn.relu(image - _open(image))
    # static trip count: lowers to a scan, so reverse-mode differentiation works
    _, skeleton = jax.lax.fori_loop(0, iterations, _peel, (image, skeleton))
    return skeleton


# ---------------------------------------------------------------------------------------------
# static checks specific to this module


def _check_spatial_dims(spatial_dims: int, *, fn: str) -> None:
    if spatial_dims not in (2, 3):
        raise ValueError(f"{fn}: spatial_dims must be 2 or 3, got {spatial_dims!r}")


def _as_float(x: jnp.ndarray) -> jnp.ndarray:
    # pooling pads with +-inf, which only floating dtypes can hold; masks of ints/bools are fine
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _spatial_batch(x: ArrayLike, *, spatial_dims: int, fn: str) -> jnp.ndarray:
    """Checks a channel-free [B, *spatial] array for the morphology functions."""
    _check_spatial_dims(spatial_dims, fn=fn)
    x = jnp.asarray(x)
    if x.ndim != spatial_dims + 1:
        layout = "[B, H, W]" if spatial_dims == 2 else "[B, D, H, W]"
        raise ValueError(
            f"{fn}: x has shape {x.shape} (rank {x.ndim}); expected {layout} without a channel axis"
        )
    return _as_float(x)


def _check_iterations(iterations: int, *, fn: str) -> int:
    try:
        count = operator.index(iterations)  # ints and numpy ints; not floats, not arrays
    except TypeError:
        count = None
    if count is None or isinstance(iterations, bool) or count < 0:
        raise ValueError(f"{fn}: iterations must be a Python int >= 0, got {iterations!r}")
    return count


def _check_alpha(alpha: float, *, fn: str) -> float:
    value = float(alpha)  # a traced alpha fails here: it must be a static number
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{fn}: alpha must be in [0, 1], got {alpha!r}")
    return value


# ---------------------------------------------------------------------------------------------
# public soft morphology


def soft_erode(x: ArrayLike, *, spatial_dims: int = 2) -> jax.Array:
    """Soft (grey-level) erosion with a plus-shaped footprint.

        erode(x) = min over spatial axes a of minpool_3 along a (x)

    i.e. the minimum over each pixel and its 4 (2D) or 6 (3D) face neighbours. Pixels outside the
    image are ignored (padding with +inf), so a constant image is left unchanged.

    Args:
      x: [B, H, W] (spatial_dims=2) or [B, D, H, W] (spatial_dims=3), no channel axis. Values are
        usually probabilities; non-floating inputs are converted to float32.
      spatial_dims: 2 or 3.

    Returns:
      An array of the same shape (and floating dtype) as ``x``, elementwise <= ``x``.

    Example:
      >>> eroded = jaxtopo.losses.cldice.soft_erode(probs[..., 0])
      >>> eroded_3d = jaxtopo.losses.cldice.soft_erode(volumes, spatial_dims=3)

    Reference: Shit et al., "clDice", CVPR 2021, Alg. 1 and Appendix G.
    """
    return _erode(_spatial_batch(x, spatial_dims=spatial_dims, fn="soft_erode"))


def soft_dilate(x: ArrayLike, *, spatial_dims: int = 2) -> jax.Array:
    """Soft (grey-level) dilation: a 3x3 (3D: 3x3x3) max-pool with "same" output size.

    Pixels outside the image are ignored (padding with -inf).

    Args:
      x: [B, H, W] (spatial_dims=2) or [B, D, H, W] (spatial_dims=3), no channel axis;
        non-floating inputs are converted to float32.
      spatial_dims: 2 or 3.

    Returns:
      An array of the same shape (and floating dtype) as ``x``, elementwise >= ``x``.

    Example:
      >>> dilated = jaxtopo.losses.cldice.soft_dilate(probs[..., 0])
      >>> closed = soft_erode(soft_dilate(masks))

    Reference: Shit et al., "clDice", CVPR 2021, Alg. 1 and Appendix G.
    """
    return _dilate(_spatial_batch(x, spatial_dims=spatial_dims, fn="soft_dilate"))


def soft_open(x: ArrayLike, *, spatial_dims: int = 2) -> jax.Array:
    """Soft opening: ``soft_dilate(soft_erode(x))``; removes structures thinner than 3 pixels.

    The erosion footprint (plus) is smaller than the dilation footprint (box), so unlike a
    textbook opening the result can exceed ``x`` near diagonal features (e.g. the corners of a
    plus-shaped blob are filled in); the soft skeleton only uses ``relu(x - open(x))``.

    Args:
      x: [B, H, W] (spatial_dims=2) or [B, D, H, W] (spatial_dims=3), no channel axis;
        non-floating inputs are converted to float32.
      spatial_dims: 2 or 3.

    Returns:
      An array of the same shape (and floating dtype) as ``x``.

    Example:
      >>> opened = jaxtopo.losses.cldice.soft_open(probs[..., 0])
      >>> thin_part = jax.nn.relu(probs[..., 0] - opened)

    Reference: Shit et al., "clDice", CVPR 2021, Alg. 1 and Appendix G.
    """
    return _open(_spatial_batch(x, spatial_dims=spatial_dims, fn="soft_open"))


def soft_skeleton(x: ArrayLike, iterations: int, *, spatial_dims: int = 2) -> jax.Array:
    """Soft skeleton of Alg. 1 of the clDice paper, with the iteration count honoured.

        S = relu(I - open(I))
        repeat `iterations` times:
            I = erode(I);  delta = relu(I - open(I));  S = S + relu(delta - S * delta)

    Each round peels one layer off the shape and keeps what opening removes (the part of the
    current shape thinner than 3 pixels). ``iterations`` should be at least the largest
    structure radius in pixels (the paper uses 5 to 25); fewer gives an incomplete skeleton.
    For a binary input the result is binary and a subset of the input; for inputs in [0, 1] it
    stays in [0, 1].

    Args:
      x: [B, H, W] or [B, H, W, 1] (spatial_dims=2), [B, D, H, W] or [B, D, H, W, 1]
        (spatial_dims=3); non-floating inputs (e.g. bool masks) are converted to float32.
      iterations: number of erosion rounds k, a Python int >= 0 (static under jit).
      spatial_dims: 2 or 3.

    Returns:
      The soft skeleton, same shape as ``x``, floating dtype.

    Example:
      >>> skeleton = jaxtopo.soft_skeleton(probs, 10)
      >>> skeleton_3d = jaxtopo.soft_skeleton(volumes, 5, spatial_dims=3)

    Reference: Shit et al., "clDice", CVPR 2021, Alg. 1.
    """
    fn = "soft_skeleton"
    count = _check_iterations(iterations, fn=fn)
    image = _validation.image_batch(x, name="x", fn=fn, spatial_dims=spatial_dims, supports_3d=True)
    return _skeleton(_as_float(image), count).reshape(np.shape(x))


# ---------------------------------------------------------------------------------------------
# losses


@functools.partial(jax.jit, static_argnames="iterations")
def _cldice_per_image(
    probs: jnp.ndarray, targets: jnp.ndarray, *, iterations: int, smooth: float
) -> jnp.ndarray:
    """1 - soft-clDice for validated [B, *spatial] float arrays; returns [B] (Alg. 2)."""
    axes = _pixel_axes(probs)
    # Targets closed over by a jitted function are constants, and XLA would constant-fold their
    # whole skeleton loop at compile time (slowly, with warnings; seconds in 3D). The barrier
    # makes the skeleton an ordinary runtime computation.
    targets = jax.lax.optimization_barrier(targets)
    skeleton_pred = _skeleton(probs, iterations)
    skeleton_true = _skeleton(targets, iterations)
    topology_precision = (jnp.sum(skeleton_pred * targets, axis=axes) + smooth) / (
        jnp.sum(skeleton_pred, axis=axes) + smooth
    )
    topology_sensitivity = (jnp.sum(skeleton_true * probs, axis=axes) + smooth) / (
        jnp.sum(skeleton_true, axis=axes) + smooth
    )
    cldice = (
        2.0 * topology_precision * topology_sensitivity
        / (topology_precision + topology_sensitivity)
    )
    return 1.0 - cldice


def soft_cldice_loss(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    iterations: int = 3,
    smooth: float = 1.0,
    spatial_dims: int = 2,
    from_logits: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """soft-clDice loss: 1 - harmonic mean of topology precision and topology sensitivity.

    Per image, with S_P = soft_skeleton(P), S_L = soft_skeleton(L) and sums over pixels:

        Tprec  = (sum(S_P * L) + smooth) / (sum(S_P) + smooth)
        Tsens  = (sum(S_L * P) + smooth) / (sum(S_L) + smooth)
        loss_b = 1 - 2 * Tprec * Tsens / (Tprec + Tsens)

    Args:
      probs: probabilities P in [0, 1] (logits with ``from_logits=True``), [B, H, W] or
        [B, H, W, 1] (spatial_dims=2), or [B, D, H, W] or [B, D, H, W, 1] (spatial_dims=3),
        floating point.
      targets: ground truth L in {0, 1}, same shape, any real or bool dtype.
      iterations: soft-skeleton iterations k, a Python int >= 0; at least the largest structure
        radius in pixels (the paper uses 5 to 25; 3 is the official code's default).
      smooth: additive smoothing (> 0 keeps empty skeletons defined; with 0 an image whose
        skeleton is empty gives NaN).
      spatial_dims: 2 or 3.
      from_logits: ``probs`` holds logits; the loss applies ``jax.nn.sigmoid`` itself.
      reduction: ``"mean"`` over the batch, ``"sum"`` over the batch, or ``"none"``.

    Returns:
      A scalar (``"mean"``/``"sum"``) or a [B] vector (``"none"``) in at least float32; each
      per-image value lies in [0, 1]. Identical binary masks give 0. An image with a value
      outside [0, 1] (a non-finite logit with ``from_logits``) gets a NaN loss and a zero
      gradient; eagerly, a finite such value raises ValueError instead.

    Example:
      >>> loss = jaxtopo.soft_cldice_loss(probs, labels, iterations=10)
      >>> loss_3d = jaxtopo.soft_cldice_loss(vol_probs, vol_labels, spatial_dims=3)

    Reference: Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular
    Structure Segmentation", CVPR 2021, Alg. 2.
    """
    fn = "soft_cldice_loss"
    _validation.check_reduction(reduction, fn=fn)
    count = _check_iterations(iterations, fn=fn)
    p, t, valid = probabilities_and_targets(
        probs, targets, fn=fn, from_logits=from_logits, spatial_dims=spatial_dims, supports_3d=True
    )
    per_image = _cldice_per_image(p, t, iterations=count, smooth=smooth)
    return _validation.reduce(per_image, reduction, valid)


def dice_cldice_loss(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: float = 0.5,
    iterations: int = 3,
    smooth: float = 1.0,
    spatial_dims: int = 2,
    from_logits: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """Combined loss of the clDice paper (Eq. 3): soft Dice and soft-clDice, mixed by ``alpha``.

        loss_b = (1 - alpha) * soft_dice_loss_b + alpha * soft_cldice_loss_b

    with the per-image soft Dice loss of `soft_dice_loss` and the per-image loss of
    `soft_cldice_loss` (same ``smooth`` for both).

    Args:
      probs: probabilities in [0, 1] (logits with ``from_logits=True``), [B, H, W] or
        [B, H, W, 1] (spatial_dims=2), or [B, D, H, W] or [B, D, H, W, 1] (spatial_dims=3),
        floating point.
      targets: ground truth in {0, 1}, same shape, any real or bool dtype.
      alpha: weight of the clDice term, a static number in [0, 1]; the papers use 0.3 to 0.5
        (the clDice paper restricts it to [0, 0.5]). 0 gives soft Dice, 1 gives soft-clDice.
      iterations: soft-skeleton iterations, a Python int >= 0 (see `soft_cldice_loss`).
      smooth: additive smoothing of both terms.
      spatial_dims: 2 or 3.
      from_logits: ``probs`` holds logits; the loss applies ``jax.nn.sigmoid`` itself.
      reduction: ``"mean"`` over the batch, ``"sum"`` over the batch, or ``"none"``.

    Returns:
      A scalar (``"mean"``/``"sum"``) or a [B] vector (``"none"``) in at least float32; each
      per-image value lies in [0, 1]. Inputs outside [0, 1] are handled as in
      `soft_cldice_loss` (NaN loss and zero gradient; eagerly, ValueError for finite values).

    Example:
      >>> loss = jaxtopo.dice_cldice_loss(probs, labels, alpha=0.3, iterations=10)
      >>> grads = jax.grad(lambda p: jaxtopo.dice_cldice_loss(p, labels))(probs)

    Reference: Shit et al., "clDice", CVPR 2021, Eq. 3.
    """
    fn = "dice_cldice_loss"
    _validation.check_reduction(reduction, fn=fn)
    count = _check_iterations(iterations, fn=fn)
    weight = _check_alpha(alpha, fn=fn)
    p, t, valid = probabilities_and_targets(
        probs, targets, fn=fn, from_logits=from_logits, spatial_dims=spatial_dims, supports_3d=True
    )
    per_image = (1.0 - weight) * _soft_dice_per_image(p, t, smooth) + weight * _cldice_per_image(
        p, t, iterations=count, smooth=smooth
    )
    return _validation.reduce(per_image, reduction, valid)
