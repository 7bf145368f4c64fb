"""The Betti-matching error of binary 2D masks (Stucki et al., ICML 2023; 2024).

Host-side numpy code for evaluation. The prediction and the target are binarised (the shared
conventions of `jaxtopo.metrics.segmentation`), turned into sublevel filtrations ``f = 1 - mask``
(float64: foreground 0, background 1) and Betti-matched by `jaxtopo.host.betti_matching` (its
definition, tie order and pairs are written down in docs/betti-matching.md). The error counts, per
homology dimension, the persistence pairs of either image that have no partner in the other:

    error_k = #(unmatched prediction pairs in dimension k) + #(unmatched target pairs in dimension k)

It refines the Betti-number error: a predicted component in the wrong place is one unmatched
prediction pair plus one unmatched target pair (error 2), where the Betti error sees nothing.

What is counted (the conventions of the host Betti matching and of Betti-Matching-3D):

* On a binary image every pair is born at 0 and dies at 1 (pairs of zero persistence are left
  out). Dimension 0: every foreground component except one, the oldest (the component that never
  dies is left out in both images). Dimension 1: every hole, i.e. bounded background region.
  Loops closed only by the image border are not holes (no padding).
* Construction ``"V"`` (default, the reference's): pixels are vertices, foreground is
  4-connected, and background regions are joined through corners (a diagonal chain of foreground
  pixels neither connects nor closes a loop). ``"T"``: pixels are squares, foreground
  8-connected, background 4-connected (the connectivity of `jaxtopo.metrics.betti_numbers`).
* Consequently a mask with a single component carries no dimension-0 pair: an empty prediction of
  a one-component target has dimension-0 error 0 (its dimension-1 error still counts the target's
  holes); a second, third, ... missing or extra component counts.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike

from jaxtopo.host.betti_matching import betti_matching
from jaxtopo.host.image_loss import _executor, _host_threads
from jaxtopo.host.persistence import CONSTRUCTIONS
from jaxtopo.metrics.segmentation import _binarised_pair


def _patch_shape(patch_size, *, fn: str) -> tuple[int, int] | None:
    """None, or (patch height, patch width) from an int or a pair of ints (each >= 1)."""
    if patch_size is None:
        return None
    sizes = (patch_size, patch_size) if not isinstance(patch_size, (tuple, list)) else tuple(patch_size)
    if len(sizes) != 2 or any(
        isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
    ):
        raise ValueError(
            f"{fn}: patch_size must be None, an int >= 1 or a pair of them, got {patch_size!r}"
        )
    return int(sizes[0]), int(sizes[1])


def _counts(pred: np.ndarray, target: np.ndarray, construction: str) -> np.ndarray:
    """[unmatched in dimension 0, unmatched in dimension 1] of one pair of bool masks."""
    if np.array_equal(pred, target):
        # f == g: the comparison image is f itself, both induced matchings are the identity and
        # every pair is matched (also what betti_matching returns; this only saves the time)
        return np.zeros(2)
    matchings = betti_matching(1.0 - pred.astype(np.float64), 1.0 - target.astype(np.float64),
                               construction=construction, dims=(0, 1))
    return np.array([len(m.unmatched_pred()) + len(m.unmatched_target())
                     for m in (matchings[0], matchings[1])], dtype=np.float64)


def _image_error(pred: np.ndarray, target: np.ndarray, construction: str, patch) -> np.ndarray:
    """(dimension 0, dimension 1, total) of one image: whole, or the mean over its patches."""
    if patch is None:
        counts = _counts(pred, target, construction)
    else:
        (height, width), (ph, pw) = pred.shape, patch
        counts = np.mean([
            _counts(pred[r:r + ph, c:c + pw], target[r:r + ph, c:c + pw], construction)
            for r in range(0, height, ph) for c in range(0, width, pw)
        ], axis=0)
    return np.array([counts[0], counts[1], counts[0] + counts[1]])


def betti_matching_error(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    threshold: float = 0.5,
    construction: str = "V",
    patch_size: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Betti-matching error per image: unmatched persistence pairs of prediction and target.

    The prediction is foreground where ``p > threshold`` (bool masks used as they are), the target
    where ``t > 0.5``; both become ``f = 1 - mask`` (float64) and are Betti-matched
    (`jaxtopo.host.betti_matching`, docs/betti-matching.md). Per homology dimension k the error is
    the number of unmatched prediction pairs plus the number of unmatched target pairs, as the
    Betti matching papers define the Betti-matching error; the total is the sum over k = 0, 1.
    Identical masks give 0. What a pair is on a binary mask (every foreground component but one,
    every hole) is described in the module docstring.

    Patches: with ``patch_size`` (an int, or (height, width)) each image is cut into
    non-overlapping patches starting at the top-left corner; where the size does not divide the
    image, the last row and column of patches are smaller (what is left; nothing is dropped or
    padded). Each patch is Betti-matched on its own and the image's value is the **mean** over its
    patches. This is the "P" columns of the SATLoss paper's Tables 2 and 3 (metrics computed on
    the patches, then averaged; e.g. C.Elegans-small's beta_0 error is 0.435 on the four 48x48
    patches of a 96x96 image but 0.839 on the full image, so a patch value is not a sum over the
    image); the batch mean of these values is the mean over all patches when every image has the
    same number of patches. ``patch_size=None`` (default) matches the full image, as the Betti
    matching papers evaluate ("F").

    Args:
      pred: probabilities (foreground where ``p > threshold``) or a bool mask; [H, W],
        [B, H, W] or [B, H, W, 1].
      target: binary ground truth of the same shape (foreground where ``t > 0.5``; bool accepted).
      threshold: binarisation threshold of the prediction.
      construction: ``"V"`` (default; pixels are vertices, foreground 4-connected, as
        Betti-Matching-3D and BM-Loss) or ``"T"`` (pixels are squares, foreground 8-connected).
      patch_size: None (the full image), or the patch height and width (an int for square
        patches).

    Returns:
      float64 array of shape [B, 3] (shape [1, 3] for a single image): columns dimension-0 error,
      dimension-1 error, total (their sum). Whole numbers without patches; means over the patches
      with them.

    Example:
      >>> target = np.zeros((5, 5)); target[1, 1] = 1
      >>> pred = target.copy(); pred[3, 3] = 0.9  # one extra component
      >>> betti_matching_error(pred, target)
      array([[1., 0., 1.]])
    """
    fn = "betti_matching_error"
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"{fn}: construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    patch = _patch_shape(patch_size, fn=fn)
    p, t = _binarised_pair(pred, target, fn=fn, threshold=threshold)

    def one(b):
        return _image_error(p[b], t[b], construction, patch)

    # images are independent and the native engine releases the GIL
    threads = min(_host_threads(), len(p))
    rows = list(_executor(threads).map(one, range(len(p)))) if threads > 1 else [one(b) for b in range(len(p))]
    return np.array(rows, dtype=np.float64).reshape(-1, 3)
