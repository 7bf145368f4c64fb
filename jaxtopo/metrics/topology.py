"""Topological metrics of binary masks: Betti numbers, Betti errors, Euler characteristic error.

Host-side numpy/scipy code for evaluation. Every mask is read as the union of its closed
foreground pixel squares (2D) or voxel cubes (3D), i.e. the cubical T-construction (pixels are
top-dimensional cells) used by the SATLoss / Hu et al. code, and the Betti numbers are those of
that set. In voxel terms this fixes the connectivity pair:

* 2D: foreground 8-connected (pixels touching at a corner belong together); background
  4-connected. beta_0 counts foreground components, beta_1 holes: 4-connected background
  components not touching the image border. A background pixel whose only way out is through a
  corner between two foreground pixels is therefore enclosed.
* 3D (``spatial_dims=3``): foreground 26-connected, background 6-connected. beta_0 counts
  foreground components, beta_2 cavities: 6-connected background components not touching the
  volume border; beta_1 (tunnels, handles) follows from the Euler characteristic,
  beta_1 = beta_0 + beta_2 - chi, where chi = V - E + F - C counts the vertices, edges, faces
  and cubes of the closed foreground voxels (`_euler_characteristic`).

Outside the image or volume is background, so loops and cavities closed by the border are not
counted (no border padding), as in that code.

Conventions for beta_0:

* ``"satloss"`` (default): what the SATLoss / Hu et al. evaluation reports. It counts the points
  of the persistence diagram of ``1 - mask`` (gudhi T-construction, sublevel filtration,
  zero-persistence pairs dropped), and that diagram always contains the essential class, so an
  all-background mask reports beta_0 = 1. Otherwise identical to ``"exact"``. Volumes follow
  the same rule.
* ``"exact"``: the true Betti numbers; an all-background mask has beta_0 = 0.

Inputs follow `jaxtopo.metrics.segmentation`: [H, W], [B, H, W] or [B, H, W, 1] (with
``spatial_dims=3``: [D, H, W], [B, D, H, W] or [B, D, H, W, 1]); probabilities are foreground
where ``p > threshold``; targets where ``t > 0.5``; bool accepted.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from jaxtopo.metrics.segmentation import _binarised_batch, _binarised_pair

CONVENTIONS = ("satloss", "exact")

# foreground: every neighbour in the 3x3 (3x3x3) block; background: face neighbours only
_FOREGROUND_CONNECTIVITY = {2: np.ones((3, 3), dtype=bool), 3: np.ones((3, 3, 3), dtype=bool)}
_BACKGROUND_CONNECTIVITY = {d: ndimage.generate_binary_structure(d, 1) for d in (2, 3)}


def _check_convention(convention: str, *, fn: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"{fn}: convention must be one of {CONVENTIONS}, got {convention!r}")


def _euler_characteristic(mask: np.ndarray) -> int:
    """chi of the union of the closed foreground pixels/voxels of a bool mask, by cell counting.

    A cell of the grid is identified by the block of pixels around it: a vertex by a 2x2(x2)
    block, an edge along axis a by a block of extent 1 along a and 2 along the others, ..., a
    pixel/voxel by itself. The cell belongs to the union when any pixel of its block is
    foreground; its dimension is the number of axes along which the block has extent 1.
    """
    padded = np.pad(mask, 1)  # every cell of a border pixel gets a full block
    chi = 0
    for extents in itertools.product((1, 2), repeat=mask.ndim):
        present = padded
        for axis, extent in enumerate(extents):
            if extent == 2:  # OR each block with its neighbour along this axis
                lower = [slice(None)] * mask.ndim
                upper = [slice(None)] * mask.ndim
                lower[axis], upper[axis] = slice(None, -1), slice(1, None)
                present = present[tuple(lower)] | present[tuple(upper)]
        chi += (-1) ** extents.count(1) * int(np.count_nonzero(present))
    return chi


def _betti_single(mask: np.ndarray, convention: str) -> tuple[int, ...]:
    """(beta_0, beta_1) of one bool [H, W] mask, (beta_0, beta_1, beta_2) of a [D, H, W] one."""
    dims = mask.ndim
    _, n_components = ndimage.label(mask, structure=_FOREGROUND_CONNECTIVITY[dims])
    # A layer of background around the mask joins every border-touching background component
    # into one; all other background components are enclosed: holes (2D) or cavities (3D).
    outside_layer = np.pad(~mask, 1, constant_values=True)
    _, n_background = ndimage.label(outside_layer, structure=_BACKGROUND_CONNECTIVITY[dims])
    n_enclosed = n_background - 1
    if dims == 2:
        betti = [n_components, n_enclosed]
    else:
        tunnels = n_components + n_enclosed - _euler_characteristic(mask)
        betti = [n_components, tunnels, n_enclosed]
    if convention == "satloss":
        # the diagram's essential H0 class exists even when nothing is foreground
        betti[0] = max(betti[0], 1)
    return tuple(betti)


def _betti_batch(masks: np.ndarray, convention: str) -> np.ndarray:
    """[B, spatial rank] Betti numbers of a bool [B, *spatial] batch."""
    rank = masks.ndim - 1
    return np.array([_betti_single(m, convention) for m in masks], dtype=np.int64).reshape(-1, rank)


def _checked_masks(pred, target, *, fn: str, threshold: float, spatial_dims: int):
    return _binarised_pair(
        pred, target, fn=fn, threshold=threshold, spatial_dims=spatial_dims, supports_3d=True
    )


def betti_numbers(
    mask: ArrayLike, *, threshold: float = 0.5, convention: str = "satloss", spatial_dims: int = 2
) -> np.ndarray:
    """Betti numbers of binary masks, per image: (beta_0, beta_1) in 2D, (beta_0, beta_1, beta_2) in 3D.

    2D: beta_0 counts 8-connected foreground components; beta_1 counts holes, i.e. 4-connected
    background components not touching the image border. 3D: beta_0 counts 26-connected
    foreground components, beta_2 cavities (6-connected background components not touching the
    border), beta_1 tunnels, from the Euler characteristic (see the module docstring).

    Args:
      mask: probabilities (foreground where ``p > threshold``) or a bool mask; [H, W],
        [B, H, W] or [B, H, W, 1] (with ``spatial_dims=3``: [D, H, W], [B, D, H, W] or
        [B, D, H, W, 1]).
      threshold: binarisation threshold.
      convention: ``"satloss"`` (default; an all-background mask has beta_0 = 1, as in the
        SATLoss / Hu et al. evaluation) or ``"exact"`` (beta_0 = 0 there).
      spatial_dims: 2 for images, 3 for volumes.

    Returns:
      int64 array of shape [B, spatial_dims] (shape [1, spatial_dims] for a single image):
      columns beta_0, beta_1 (, beta_2).

    Example:
      >>> ring = np.ones((3, 3)); ring[1, 1] = 0
      >>> betti_numbers(ring)
      array([[1, 1]])
      >>> shell = np.ones((3, 3, 3)); shell[1, 1, 1] = 0
      >>> betti_numbers(shell, spatial_dims=3)
      array([[1, 0, 1]])
    """
    fn = "betti_numbers"
    _check_convention(convention, fn=fn)
    masks = _binarised_batch(
        mask, name="mask", fn=fn, threshold=threshold, spatial_dims=spatial_dims, supports_3d=True
    )
    return _betti_batch(masks, convention)


def betti_errors(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    threshold: float = 0.5,
    convention: str = "satloss",
    spatial_dims: int = 2,
) -> np.ndarray:
    """Betti errors |beta_k(P) - beta_k(T)| for k = 0, 1 (and 2 for volumes), per image.

    Betti numbers, connectivity and conventions as in `betti_numbers`. The SATLoss paper
    reports the batch means of the two 2D columns (with ``convention="satloss"``).

    Args:
      pred: probabilities (foreground where ``p > threshold``) or a bool mask; layouts as in
        `betti_numbers`.
      target: binary ground truth of the same shape (foreground where ``t > 0.5``).
      threshold: binarisation threshold of the prediction.
      convention: ``"satloss"`` or ``"exact"``; they differ only when exactly one of the two
        masks is empty.
      spatial_dims: 2 for images, 3 for volumes.

    Returns:
      float64 array of shape [B, spatial_dims] (shape [1, spatial_dims] for a single image):
      columns Betti-0 error, Betti-1 error (, Betti-2 error).
    """
    fn = "betti_errors"
    _check_convention(convention, fn=fn)
    p, t = _checked_masks(pred, target, fn=fn, threshold=threshold, spatial_dims=spatial_dims)
    return np.abs(_betti_batch(p, convention) - _betti_batch(t, convention)).astype(np.float64)


def euler_characteristic_error(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    threshold: float = 0.5,
    convention: str = "satloss",
    spatial_dims: int = 2,
) -> np.ndarray:
    """Euler characteristic error |chi(P) - chi(T)|, per image.

    chi = beta_0 - beta_1 in 2D and beta_0 - beta_1 + beta_2 in 3D, with Betti numbers,
    connectivity and conventions as in `betti_numbers`; under ``"satloss"`` an empty mask has
    chi = 1, under ``"exact"`` chi = 0.

    Args:
      pred, target, threshold, convention, spatial_dims: as in `betti_errors`.

    Returns:
      float64 array of shape [B] (shape [1] for a single image).
    """
    fn = "euler_characteristic_error"
    _check_convention(convention, fn=fn)
    p, t = _checked_masks(pred, target, fn=fn, threshold=threshold, spatial_dims=spatial_dims)
    # alternating sum over the columns beta_0, beta_1 (, beta_2)
    signs = (-1) ** np.arange(p.ndim - 1)
    chi_p = _betti_batch(p, convention) @ signs
    chi_t = _betti_batch(t, convention) @ signs
    return np.abs(chi_p - chi_t).astype(np.float64)
