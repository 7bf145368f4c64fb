"""A small hand-made prediction/target pair on which spatial and plain matching disagree.

The target has two rings (two loops, H1 points at (0, 1)) and a bar. The prediction finds both
rings, the upper-left one (A) a little weaker than it should, draws a third, spurious ring (C)
that is slightly *stronger* than A, and breaks the bar in two. Two predicted loops can be matched
to the two target loops:

* plain Wasserstein matching (Hu et al. 2019) looks only at (birth, death) and prefers the
  stronger spurious loop C, so its gradient strengthens C and erases the correct loop A;
* SATLoss weights each pair by the distance between the creator pixels, so the predicted loop at
  A is matched to the target loop at A and the spurious loop C goes to the diagonal (is erased).

This is the situation of Fig. 3 of the SATLoss paper; the README's picture, the losses notebook
and the viz tests use it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

RING_RADIUS = 5.5
# likelihood along each ring's weakest arc: its loop is born there (birth = 1 - this value)
STRONG_RING, SPURIOUS_RING, WEAK_RING = 0.95, 0.68, 0.6
RING_BODY = 0.96
SHIFT = (2.0, 3.0)  # (rows, cols) from a target ring to the predicted one
BACKGROUND = 0.04


def _ring(rows, cols, centre, radius):
    distance = np.hypot(rows - centre[0], cols - centre[1])
    return np.abs(distance - radius) <= 0.9


def _bottom_arc(rows, cols, centre):
    """The bottom quarter of a ring: where the prediction's ring is weakest. The binary target's
    loop closes at its bottom too (tie order), so matched creators lie close together."""
    return (rows > centre[0] + 3.0) & (np.abs(cols - centre[1]) <= 3.5)


def matching_demo_pair(size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(likelihood float32 [size, size] in [0, 1], target float32 [size, size] in {0, 1})."""
    if size < 48:
        raise ValueError(f"matching_demo_pair needs size >= 48 to hold its three rings, got {size}")
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    s = size / 64.0
    ring_a, ring_b, ring_c = (18 * s, 20 * s), (44 * s, 44 * s), (17 * s, 46 * s)
    bar_row, bar_cols, gap_cols = round(54 * s), (6 * s, 30 * s), (15 * s, 17 * s)

    target = np.zeros((size, size), np.float32)
    target[_ring(rows, cols, ring_a, RING_RADIUS)] = 1
    target[_ring(rows, cols, ring_b, RING_RADIUS)] = 1
    bar = (np.abs(rows - bar_row) <= 0.5) & (cols >= bar_cols[0]) & (cols <= bar_cols[1])
    target[bar] = 1

    likelihood = np.zeros((size, size), np.float64)
    # the predicted rings sit a little off the true ones, as a network's do
    found_a, found_b = (ring_a[0] + SHIFT[0], ring_a[1] + SHIFT[1]), (ring_b[0] + SHIFT[0], ring_b[1] + SHIFT[1])
    for centre, weakest in ((found_a, WEAK_RING), (found_b, STRONG_RING), (ring_c, SPURIOUS_RING)):
        ring = _ring(rows, cols, centre, RING_RADIUS)
        likelihood[ring] = RING_BODY
        likelihood[ring & _bottom_arc(rows, cols, centre)] = weakest
    likelihood[bar] = RING_BODY
    likelihood[bar & (cols >= gap_cols[0]) & (cols <= gap_cols[1])] = 0.3  # a broken bar: two pieces

    # smooth low-level clutter in the background, as a network's output has
    rng = np.random.default_rng(seed)
    clutter = ndimage.gaussian_filter(rng.normal(size=(size, size)), 1.2)
    clutter = 0.06 * clutter / max(np.abs(clutter).max(), 1e-12)
    likelihood = np.where(likelihood > 0, likelihood, BACKGROUND + np.abs(clutter))
    return np.clip(likelihood, 0, 1).astype(np.float32), target
