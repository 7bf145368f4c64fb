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


SIZE = 64
RING_A, RING_B, RING_C = (18, 20), (44, 44), (17, 46)  # (row, col) centres; C is the spurious ring
BAR_ROW, BAR_COLS, GAP_COLS = 54, (6, 30), (15, 17)


def matching_demo_pair() -> tuple[np.ndarray, np.ndarray]:
    """(likelihood float32 [64, 64] in [0, 1], target float32 [64, 64] in {0, 1}).

    The background is flat, so the diagrams hold only the features described above (a network's
    output would add many short-lived ones near the diagonal; they change nothing here).
    """
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    target = np.zeros((SIZE, SIZE), np.float32)
    target[_ring(rows, cols, RING_A, RING_RADIUS)] = 1
    target[_ring(rows, cols, RING_B, RING_RADIUS)] = 1
    bar = (rows == BAR_ROW) & (cols >= BAR_COLS[0]) & (cols <= BAR_COLS[1])
    target[bar] = 1

    likelihood = np.full((SIZE, SIZE), BACKGROUND, np.float64)
    # the predicted rings sit a little off the true ones, as a network's do
    found_a, found_b = (RING_A[0] + SHIFT[0], RING_A[1] + SHIFT[1]), (RING_B[0] + SHIFT[0], RING_B[1] + SHIFT[1])
    for centre, weakest in ((found_a, WEAK_RING), (found_b, STRONG_RING), (RING_C, SPURIOUS_RING)):
        ring = _ring(rows, cols, centre, RING_RADIUS)
        likelihood[ring] = RING_BODY
        likelihood[ring & _bottom_arc(rows, cols, centre)] = weakest
    likelihood[bar] = RING_BODY
    likelihood[bar & (cols >= GAP_COLS[0]) & (cols <= GAP_COLS[1])] = 0.3  # a broken bar: two pieces
    return likelihood.astype(np.float32), target
