"""Segmentation metrics of the SATLoss and clDice papers: pixel accuracy, Dice and clDice.

Host-side numpy code for evaluation: nothing here is jitted or differentiable. Every metric
returns one float64 value per image, shape [B]; a single unbatched image gives shape [1], so
callers never special-case the batch axis.

Input conventions, shared with `jaxtopo.metrics.topology`:

* Layout: one image [H, W], a batch [B, H, W] or [B, H, W, 1]; with ``spatial_dims=3`` one volume
  [D, H, W], a batch [B, D, H, W] or [B, D, H, W, 1]. numpy arrays, jax arrays or anything
  `np.asarray` accepts.
* Predictions: probabilities, foreground where ``p > threshold`` (strictly: at the default
  threshold p == 0.5 is background), or bool masks, used as they are.
* Targets: foreground where ``t > 0.5``; bool accepted.
* Errors: ValueError for a bad layout, mismatched shapes (both shapes are named) or NaN values (the
  NaN count is named); TypeError for complex, object or string dtypes.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike
from skimage.morphology import skeletonize

# Targets are binary; anything above one half is foreground, whatever the prediction threshold.
TARGET_THRESHOLD = 0.5


def _layout(spatial_dims: int) -> str:
    if spatial_dims == 2:
        return "[H, W], [B, H, W] or [B, H, W, 1]"
    return "[D, H, W], [B, D, H, W] or [B, D, H, W, 1]"


def _as_batch(
    arr: np.ndarray, *, name: str, fn: str, spatial_dims: int, supports_3d: bool
) -> np.ndarray:
    """Reshapes a single image, a batch, or a batch with a channel of 1 to [B, *spatial].

    ``supports_3d`` (whether `fn` takes ``spatial_dims=3``) only chooses the hint for a volume.
    """
    shape = arr.shape
    rank = arr.ndim
    if rank == spatial_dims:
        arr = arr[None]
    elif rank == spatial_dims + 2 and shape[-1] == 1:
        arr = arr[..., 0]
    elif rank != spatial_dims + 1:
        hint = ""
        if spatial_dims == 2:
            hint = (
                " (a 3D volume? pass spatial_dims=3)"
                if supports_3d
                else " (a 3D volume? this function is 2D-only)"
            )
        raise ValueError(
            f"{fn}: {name} has shape {shape}; expected {_layout(spatial_dims)}{hint}"
        )
    if arr.size == 0:
        raise ValueError(f"{fn}: {name} has shape {shape} with an empty axis")
    return arr


def _binarised_batch(
    x: ArrayLike,
    *,
    name: str,
    fn: str,
    threshold: float,
    spatial_dims: int = 2,
    supports_3d: bool = False,
) -> np.ndarray:
    """Checks one input and returns its foreground as a bool [B, *spatial] array.

    Bool inputs are used as they are; numbers are foreground where ``x > threshold``.
    ``supports_3d``: `fn` takes ``spatial_dims=3`` (changes only the hint for a volume).
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"{fn}: spatial_dims must be 2 or 3, got {spatial_dims!r}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not math.isfinite(threshold)
    ):
        raise ValueError(f"{fn}: threshold must be a finite real number, got {threshold!r}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        # bfloat16 and friends (from jax arrays) are ml_dtypes that numpy does not call floating
        if jnp.issubdtype(arr.dtype, jnp.floating):
            arr = arr.astype(np.float32)
        else:
            raise TypeError(
                f"{fn}: {name} must be a real or boolean array, got dtype {arr.dtype}"
            )
    arr = _as_batch(arr, name=name, fn=fn, spatial_dims=spatial_dims, supports_3d=supports_3d)
    if arr.dtype == np.bool_:
        # a copy: views of jax arrays are read-only, and skeletonize needs a writable buffer
        return arr.copy()
    # NaN > threshold is False, so a NaN would silently become background: refuse it instead
    nan_count = int(np.count_nonzero(np.isnan(arr))) if arr.dtype.kind == "f" else 0
    if nan_count:
        raise ValueError(f"{fn}: {name} contains {nan_count} NaN pixel(s) of {arr.size}")
    return arr > threshold


def _binarised_pair(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    fn: str,
    threshold: float,
    spatial_dims: int = 2,
    supports_3d: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Binarises a (prediction, target) pair to bool [B, *spatial] arrays of the same shape."""
    batch = functools.partial(
        _binarised_batch, fn=fn, spatial_dims=spatial_dims, supports_3d=supports_3d
    )
    p = batch(pred, name="prediction", threshold=threshold)
    t = batch(target, name="target", threshold=TARGET_THRESHOLD)
    if p.shape != t.shape:
        raise ValueError(
            f"{fn}: prediction shape {tuple(np.shape(pred))} and target shape "
            f"{tuple(np.shape(target))} do not match"
        )
    return p, t


def _spatial_axes(batch: np.ndarray) -> tuple[int, ...]:
    return tuple(range(1, batch.ndim))


def accuracy(
    pred: ArrayLike, target: ArrayLike, *, threshold: float = 0.5, spatial_dims: int = 2
) -> np.ndarray:
    """Pixel accuracy of the binarised prediction, per image.

    accuracy = (number of pixels where P == T) / (number of pixels).

    Args:
      pred: probabilities (foreground where ``p > threshold``) or a bool mask; layout [H, W],
        [B, H, W] or [B, H, W, 1] (with ``spatial_dims=3``: [D, H, W], [B, D, H, W] or
        [B, D, H, W, 1]).
      target: binary ground truth of the same shape (foreground where ``t > 0.5``; bool accepted).
      threshold: binarisation threshold of the prediction.
      spatial_dims: 2 for images, 3 for volumes.

    Returns:
      float64 array of shape [B] (shape [1] for a single image), values in [0, 1].

    Example:
      >>> accuracy(np.array([[0.9, 0.2]]), np.array([[1, 1]]))
      array([0.5])
    """
    p, t = _binarised_pair(
        pred, target, fn="accuracy", threshold=threshold, spatial_dims=spatial_dims, supports_3d=True
    )
    return np.mean(p == t, axis=_spatial_axes(p), dtype=np.float64)


def dice(
    pred: ArrayLike, target: ArrayLike, *, threshold: float = 0.5, spatial_dims: int = 2
) -> np.ndarray:
    """Dice coefficient of the binarised prediction, per image.

    dice = 2 |P ∩ T| / (|P| + |T|). When both masks are empty the prediction is perfect and the
    value is defined as 1.0 (never NaN).

    Args:
      pred, target, threshold, spatial_dims: as in `accuracy`.

    Returns:
      float64 array of shape [B] (shape [1] for a single image), values in [0, 1].
    """
    p, t = _binarised_pair(
        pred, target, fn="dice", threshold=threshold, spatial_dims=spatial_dims, supports_3d=True
    )
    axes = _spatial_axes(p)
    overlap = np.count_nonzero(p & t, axis=axes)
    total = np.count_nonzero(p, axis=axes) + np.count_nonzero(t, axis=axes)
    return np.where(total == 0, 1.0, 2.0 * overlap / np.maximum(total, 1))


def _cldice_single(pred: np.ndarray, target: np.ndarray) -> float:
    """clDice of one bool image or volume pair (Shit et al. 2021, Eq. 1 and 2)."""
    pred_skeleton = skeletonize(pred)
    target_skeleton = skeletonize(target)
    pred_skeleton_size = np.count_nonzero(pred_skeleton)
    target_skeleton_size = np.count_nonzero(target_skeleton)
    # Empty skeletons make the ratios 0/0: both empty means both masks are empty (a perfect
    # prediction), exactly one empty means a structure was missed or invented entirely.
    if pred_skeleton_size == 0 and target_skeleton_size == 0:
        return 1.0
    if pred_skeleton_size == 0 or target_skeleton_size == 0:
        return 0.0
    # topology precision: how much of the predicted skeleton lies inside the target
    precision = np.count_nonzero(pred_skeleton & target) / pred_skeleton_size
    # topology sensitivity: how much of the target skeleton is covered by the prediction
    sensitivity = np.count_nonzero(target_skeleton & pred) / target_skeleton_size
    if precision + sensitivity == 0:
        return 0.0
    return 2.0 * precision * sensitivity / (precision + sensitivity)


def cldice(
    pred: ArrayLike, target: ArrayLike, *, threshold: float = 0.5, spatial_dims: int = 2
) -> np.ndarray:
    """Centerline Dice (clDice) metric of the binarised prediction, per image.

    With skeletons S(.) from `skimage.morphology.skeletonize` (Zhang's method in 2D, Lee's in
    3D), as in the clDice and SATLoss evaluation code:

        Tprec = |S(P) ∩ T| / |S(P)|,   Tsens = |S(T) ∩ P| / |S(T)|,
        clDice = 2 Tprec Tsens / (Tprec + Tsens).

    (Names as in the clDice paper; some code swaps the names of the two ratios, which leaves the
    symmetric harmonic mean unchanged.)

    Degenerate cases never give NaN, following the SATLoss evaluation code: both skeletons
    empty -> 1.0; exactly one skeleton empty -> 0.0; Tprec = Tsens = 0 -> 0.0. In 2D a skeleton
    is empty only for an empty mask. In 3D, skimage's skeleton of a non-empty volume can vanish
    (e.g. a 4x4-voxel-thick box, scikit-image issue #3757); such a volume is then scored as if
    it were empty.

    Args:
      pred, target, threshold: as in `accuracy`.
      spatial_dims: 2 for images ([H, W], [B, H, W], [B, H, W, 1]), 3 for volumes
        ([D, H, W], [B, D, H, W], [B, D, H, W, 1]).

    Returns:
      float64 array of shape [B] (shape [1] for a single image), values in [0, 1].
    """
    p, t = _binarised_pair(
        pred, target, fn="cldice", threshold=threshold, spatial_dims=spatial_dims, supports_3d=True
    )
    return np.array([_cldice_single(p_b, t_b) for p_b, t_b in zip(p, t)], dtype=np.float64)
