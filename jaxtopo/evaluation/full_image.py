"""Full-image evaluation: patches stitched back into whole images, then measured.

The loaders cut every image into a grid of non-overlapping patches (`jaxtopo.data.common.patch_grid`,
row-major), and training and the patch metrics (P) work on those patches. The SATLoss paper also
reports Dice(F), clDice(F), beta_0(F) and beta_1(F) on the full image, as the Betti matching papers
evaluate: a component or loop cut by a patch border counts once per patch in P, once in F.

* `stitch_patches(patches, grid)`: one image from its rows x columns patches, the exact inverse of
  `patch_grid`.
* `stitch_images(patches, grid)`: every complete image of a split's patch list (image after image,
  each in row-major order, as the loaders list them); a trailing incomplete image is left out.
* `full_image_metrics(pred, target, grid)`: `jaxtopo.metrics.segmentation_metrics` of the
  stitched predictions and labels, per full image, averaged.
* `full_image_results(pred, target, grid)`: what the trainer adds to results.json: the same keys
  with ``_full`` appended (``dice_full``, ``betti_0_error_full``, ...) and ``full_images``, the
  number of images they average over; empty when an image is a single patch (F would equal P) or
  no image is complete.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from jaxtopo.metrics import segmentation_metrics

SUFFIX = "_full"


def _grid(grid) -> tuple[int, int]:
    try:
        rows, cols = (int(n) for n in grid)
    except (TypeError, ValueError):
        raise ValueError(f"grid must be (rows, columns), got {grid!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must be (rows, columns) >= 1, got {grid!r}")
    return rows, cols


def stitch_patches(patches: ArrayLike, grid) -> np.ndarray:
    """One image [rows * Ph, cols * Pw, ...] from its patches [rows * cols, Ph, Pw, ...] in
    row-major order (left to right, then top to bottom): the inverse of `patch_grid`."""
    rows, cols = _grid(grid)
    patches = np.asarray(patches)
    if patches.ndim < 3 or len(patches) != rows * cols:
        raise ValueError(f"stitch_patches: {rows} x {cols} patches need an array [{rows * cols}, Ph, Pw, ...], "
                         f"got shape {patches.shape}")
    return stitch_images(patches, grid)[0]


def stitch_images(patches: ArrayLike, grid) -> np.ndarray:
    """The complete images [M, rows * Ph, cols * Pw, ...] of ``patches`` [N, Ph, Pw, ...], which
    lists each image's rows * cols patches together, in row-major order. M = N // (rows * cols):
    a trailing incomplete image (a split cut by ``data.max_patches``) is left out."""
    rows, cols = _grid(grid)
    patches = np.asarray(patches)
    if patches.ndim < 3:
        raise ValueError(f"stitch_images: patches must be [N, Ph, Pw, ...], got shape {patches.shape}")
    count = len(patches) // (rows * cols)
    height, width, rest = patches.shape[1], patches.shape[2], patches.shape[3:]
    tiles = patches[:count * rows * cols].reshape(count, rows, cols, height, width, *rest)
    return np.moveaxis(tiles, 3, 2).reshape(count, rows * height, cols * width, *rest)


def full_image_metrics(pred: ArrayLike, target: ArrayLike, grid, **options) -> dict[str, float]:
    """`segmentation_metrics` of the full images stitched from patch predictions and labels.

    Args:
      pred: probabilities or bool masks of the patches, [N, Ph, Pw] or [N, Ph, Pw, 1].
      target: binary labels of the patches, same shape.
      grid: (rows, columns) of patches per image (`jaxtopo.training.data.patch_layout`).
      options: passed to `segmentation_metrics` (threshold, convention).

    Returns:
      The keys of `segmentation_metrics`, each the mean over the complete images. Raises
      ValueError when there are fewer patches than one image.
    """
    images = stitch_images(pred, grid)
    if not len(images):
        rows, cols = _grid(grid)
        raise ValueError(f"full_image_metrics: {len(np.asarray(pred))} patches do not make one image of "
                         f"{rows} x {cols} patches")
    return segmentation_metrics(images, stitch_images(target, grid), **options)


def full_image_results(pred: ArrayLike, target: ArrayLike, grid) -> dict:
    """The F metrics as results.json holds them: ``{"full_images": M, "accuracy_full": ...,
    "dice_full": ..., ...}``, the keys of `segmentation_metrics` with ``_full`` appended, over
    the M complete images. Empty for ``grid`` None or (1, 1) (each image is one patch: F = P) and
    when not one image is complete."""
    if grid is None:
        return {}
    rows, cols = _grid(grid)
    images = len(np.asarray(target)) // (rows * cols)
    if rows * cols == 1 or images == 0:
        return {}
    metrics = full_image_metrics(pred, target, grid)
    return {"full_images": images, **{key + SUFFIX: value for key, value in metrics.items()}}
