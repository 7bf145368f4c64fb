"""Topological metrics of binary 2D masks: Betti numbers, Betti errors, Euler characteristic error.

Host-side numpy/scipy code for evaluation. Connectivity (both conventions):

* foreground components are 8-connected (pixels touching at a corner belong together);
* background is 4-connected, and a hole is a 4-connected background component that does not
  touch the image border. A background pixel whose only way out is through a corner between two
  foreground pixels is therefore enclosed.

This is the topology of the union of the closed foreground pixel squares, i.e. of the cubical
T-construction (pixels are top-dimensional cells) used by the SATLoss / Hu et al. code. Loops
closed by the image border are not holes (no border padding), as in that code.

Conventions for beta_0:

* ``"satloss"`` (default): what the SATLoss / Hu et al. evaluation reports. It counts the points
  of the persistence diagram of ``1 - mask`` (gudhi T-construction, sublevel filtration,
  zero-persistence pairs dropped), and that diagram always contains the essential class, so an
  all-background mask reports beta_0 = 1. Otherwise identical to ``"exact"``.
* ``"exact"``: the true Betti numbers; an all-background mask has beta_0 = 0.

Inputs follow `jaxtopo.metrics.segmentation`: [H, W], [B, H, W] or [B, H, W, 1]; probabilities
are foreground where ``p > threshold``; targets where ``t > 0.5``; bool accepted.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from jaxtopo.metrics.segmentation import _binarised_batch, _binarised_pair

CONVENTIONS = ("satloss", "exact")

_FOREGROUND_8_CONNECTED = np.ones((3, 3), dtype=bool)
_BACKGROUND_4_CONNECTED = ndimage.generate_binary_structure(2, 1)


def _check_convention(convention: str, *, fn: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"{fn}: convention must be one of {CONVENTIONS}, got {convention!r}")


def _betti_single(mask: np.ndarray, convention: str) -> tuple[int, int]:
    """(beta_0, beta_1) of one bool [H, W] mask."""
    _, n_components = ndimage.label(mask, structure=_FOREGROUND_8_CONNECTED)
    # A ring of background around the image joins every border-touching background component
    # into one; all other background components are enclosed, i.e. holes.
    outside_ring = np.pad(~mask, 1, constant_values=True)
    _, n_background = ndimage.label(outside_ring, structure=_BACKGROUND_4_CONNECTED)
    n_holes = n_background - 1
    if convention == "satloss":
        # the diagram's essential H0 class exists even when nothing is foreground
        n_components = max(n_components, 1)
    return n_components, n_holes


def _betti_batch(masks: np.ndarray, convention: str) -> np.ndarray:
    return np.array([_betti_single(m, convention) for m in masks], dtype=np.int64).reshape(-1, 2)


def betti_numbers(
    mask: ArrayLike, *, threshold: float = 0.5, convention: str = "satloss"
) -> np.ndarray:
    """Betti numbers (beta_0, beta_1) of binary 2D masks, per image.

    beta_0 counts 8-connected foreground components; beta_1 counts holes, i.e. 4-connected
    background components not touching the image border (see the module docstring).

    Args:
      mask: probabilities (foreground where ``p > threshold``) or a bool mask; [H, W],
        [B, H, W] or [B, H, W, 1].
      threshold: binarisation threshold.
      convention: ``"satloss"`` (default; an all-background mask has beta_0 = 1, as in the
        SATLoss / Hu et al. evaluation) or ``"exact"`` (beta_0 = 0 there).

    Returns:
      int64 array of shape [B, 2] (shape [1, 2] for a single image): columns beta_0, beta_1.

    Example:
      >>> ring = np.ones((3, 3)); ring[1, 1] = 0
      >>> betti_numbers(ring)
      array([[1, 1]])
    """
    _check_convention(convention, fn="betti_numbers")
    masks = _binarised_batch(mask, name="mask", fn="betti_numbers", threshold=threshold)
    return _betti_batch(masks, convention)


def betti_errors(
    pred: ArrayLike, target: ArrayLike, *, threshold: float = 0.5, convention: str = "satloss"
) -> np.ndarray:
    """Betti errors |beta_k(P) - beta_k(T)| for k = 0, 1, per image.

    Betti numbers, connectivity and conventions as in `betti_numbers`. The SATLoss paper
    reports the batch means of the two columns (with ``convention="satloss"``).

    Args:
      pred: probabilities (foreground where ``p > threshold``) or a bool mask; [H, W],
        [B, H, W] or [B, H, W, 1].
      target: binary ground truth of the same shape (foreground where ``t > 0.5``).
      threshold: binarisation threshold of the prediction.
      convention: ``"satloss"`` or ``"exact"``; they differ only when exactly one of the two
        masks is empty.

    Returns:
      float64 array of shape [B, 2] (shape [1, 2] for a single image): columns Betti-0 error,
      Betti-1 error.
    """
    _check_convention(convention, fn="betti_errors")
    p, t = _binarised_pair(pred, target, fn="betti_errors", threshold=threshold)
    return np.abs(_betti_batch(p, convention) - _betti_batch(t, convention)).astype(np.float64)


def euler_characteristic_error(
    pred: ArrayLike, target: ArrayLike, *, threshold: float = 0.5, convention: str = "satloss"
) -> np.ndarray:
    """Euler characteristic error |chi(P) - chi(T)| with chi = beta_0 - beta_1, per image.

    Betti numbers, connectivity and conventions as in `betti_numbers`; under ``"satloss"`` an
    empty mask has chi = 1, under ``"exact"`` chi = 0.

    Args:
      pred, target, threshold, convention: as in `betti_errors`.

    Returns:
      float64 array of shape [B] (shape [1] for a single image).
    """
    _check_convention(convention, fn="euler_characteristic_error")
    p, t = _binarised_pair(pred, target, fn="euler_characteristic_error", threshold=threshold)
    betti_p = _betti_batch(p, convention)
    betti_t = _betti_batch(t, convention)
    chi_p = betti_p[:, 0] - betti_p[:, 1]
    chi_t = betti_t[:, 0] - betti_t[:, 1]
    return np.abs(chi_p - chi_t).astype(np.float64)
