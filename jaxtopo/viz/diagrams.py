"""Persistence diagrams of a prediction and its target, with the matching drawn between them.

Points are (birth, death) of the sublevel filtration of f = 1 - likelihood (see the README's
conventions), so a feature the network is sure of sits near (0, 1) and a noise feature near the
diagonal. Each counted predicted point is joined to its matched target point, or, when it is
matched to the diagonal, to its projection onto it: the lines are what the loss pulls along.

Every artist carries a gid (``"diagonal"``, ``"prediction"``, ``"target"``, ``"matched"``,
``"to_diagonal"``) so tests and users can find it in ``ax.collections`` / ``ax.lines``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection

from jaxtopo.host.matching import DIAGONAL
from jaxtopo.viz._canvas import axes_or_new

PREDICTION_COLOUR = "tab:blue"
TARGET_COLOUR = "tab:orange"
MATCH_COLOUR = "tab:green"
DIAGONAL_MATCH_COLOUR = "tab:purple"


def _as_points(points) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


def _shown_points(points: np.ndarray, min_persistence: float) -> np.ndarray:
    return (points[:, 1] - points[:, 0]) >= min_persistence


def plot_diagram_pair(
    prediction_points,
    target_points,
    matched_to,
    *,
    counted=None,
    min_persistence: float = 0.0,
    ax=None,
    title: str | None = None,
    legend: bool = True,
):
    """Draws two persistence diagrams and a matching between them; returns the Axes.

    Args:
      prediction_points: [n, 2] (birth, death) of the prediction.
      target_points: [m, 2] (birth, death) of the target.
      matched_to: [n] index of each predicted point's target point, or -1 (`DIAGONAL`).
      counted: [n] bool, which predicted points take part in the loss (all by default; only one
        for TCLoss's "hausdorff" policy). Uncounted points are drawn without a line.
      min_persistence: predicted points with death - birth below this are left out, with their
        lines (a noisy prediction has hundreds next to the diagonal); the legend says how many.
      ax: the Axes to draw on (default: a new pyplot figure).
    """
    prediction = _as_points(prediction_points)
    target = _as_points(target_points)
    matched_to = np.asarray(matched_to, dtype=np.int64).reshape(-1)
    counted = np.ones(len(prediction), bool) if counted is None else np.asarray(counted, bool).reshape(-1)
    if not (len(matched_to) == len(counted) == len(prediction)):
        raise ValueError(f"prediction_points ({len(prediction)}), matched_to ({len(matched_to)}) and "
                         f"counted ({len(counted)}) must have one entry per predicted point")
    if np.any(matched_to >= len(target)) or np.any(matched_to < DIAGONAL):
        raise ValueError(f"matched_to must hold target indices in [0, {len(target)}) or {DIAGONAL} (diagonal)")
    ax = axes_or_new(ax)

    values = np.concatenate([prediction.ravel(), target.ravel(), [0.0, 1.0]])
    low, high = float(values.min()), float(values.max())
    margin = 0.04 * (high - low)
    low, high = low - margin, high + margin
    ax.plot([low, high], [low, high], color="0.3", linewidth=0.8, gid="diagonal")

    shown = _shown_points(prediction, min_persistence)
    matched = shown & counted & (matched_to != DIAGONAL)
    to_diagonal = shown & counted & (matched_to == DIAGONAL)
    pairs = np.stack([prediction[matched], target[matched_to[matched]]], axis=1)
    projections = np.repeat(prediction[to_diagonal].mean(axis=1, keepdims=True), 2, axis=1)
    diagonal_pairs = np.stack([prediction[to_diagonal], projections], axis=1)
    ax.add_collection(LineCollection(pairs.reshape(-1, 2, 2), colors=MATCH_COLOUR, linewidths=1.3,
                                     label="matched pair", gid="matched", zorder=2))
    ax.add_collection(LineCollection(diagonal_pairs.reshape(-1, 2, 2), colors=DIAGONAL_MATCH_COLOUR,
                                     linewidths=1.2, linestyles="--", label="to the diagonal",
                                     gid="to_diagonal", zorder=2))

    hidden = len(prediction) - int(shown.sum())
    prediction_label = f"prediction ({int(shown.sum())} points)"
    if hidden:
        prediction_label = f"prediction ({int(shown.sum())} shown, {hidden} of persistence < {min_persistence:g} not)"
    ax.scatter(prediction[shown, 0], prediction[shown, 1], s=22, color=PREDICTION_COLOUR, zorder=3,
               label=prediction_label, gid="prediction")
    # many target points coincide (a binary target's features are all born at 0 and die at 1)
    ax.scatter(target[:, 0], target[:, 1], s=70, marker="D", facecolors="none", edgecolors=TARGET_COLOUR,
               linewidths=1.6, zorder=4, label=f"target ({len(target)} points)", gid="target")

    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel("birth  (f = 1 - likelihood)")
    ax.set_ylabel("death")
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    return ax


def plot_persistence_matching(result, dim: int = 1, *, min_persistence: float = 0.0, ax=None,
                              title: str | None = None, legend: bool = True):
    """`plot_diagram_pair` for one dimension of a `jaxtopo.host.match_image` result."""
    if dim not in result.matchings:
        raise ValueError(f"the matching has dimensions {sorted(result.matchings)}, not {dim}")
    matching = result.matchings[dim]
    if title is None:
        title = f"H{dim} diagrams: matching cost {matching.value:.3f}"
    return plot_diagram_pair(result.prediction.points[dim], result.target.points[dim], matching.matched_to,
                             counted=matching.counted, min_persistence=min_persistence, ax=ax, title=title,
                             legend=legend)
