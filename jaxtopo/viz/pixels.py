"""Critical pixels on the image: where each persistence pair is born (creator) and dies (destroyer).

A topological loss moves the likelihood only at these pixels (Eq. 7 of the SATLoss paper), and
SATLoss's spatial weight is the distance between a predicted and a target *creator*. Diagrams
hold flat row-major indices into the filtration, which is the image padded by one pixel on every
side when the loss ran with ``pad=True``; `pixel_rows_cols` undoes that, so markers land on the
unpadded image and pixels of the padding ring come out as row or column -1, H or W (drawn just
outside the picture).

Markers are drawn at (x, y) = (column, row), matching ``imshow``'s pixel centres. Artists carry
gids (``"creators"``, ``"destroyers"``, ``"prediction_creators"``, ``"target_creators"``,
``"matched"``) so they can be found in ``ax.collections``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import SymLogNorm

from jaxtopo.host.matching import DIAGONAL
from jaxtopo.viz._canvas import axes_or_new
from jaxtopo.viz.diagrams import MATCH_COLOUR, PREDICTION_COLOUR, TARGET_COLOUR


def pixel_rows_cols(flat_indices, image_shape, *, padded: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) in the unpadded image of flat row-major indices into the filtration."""
    width = image_shape[1]
    filtration_width = width + 2 if padded else width
    rows, cols = np.divmod(np.asarray(flat_indices, dtype=np.int64), filtration_width)
    offset = 1 if padded else 0
    return rows - offset, cols - offset


def show_image(image, *, ax=None, cmap: str = "gray", vmin=None, vmax=None, padded: bool = True):
    """``imshow`` without ticks; with ``padded`` the view keeps a one-pixel border for the padding."""
    ax = axes_or_new(ax)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    show_image_frame(ax, image.shape, padded=padded)
    return ax


def show_image_frame(ax, image_shape, *, padded: bool) -> None:
    """Limits around an image (plus the padding ring when ``padded``), no ticks."""
    border = 1.5 if padded else 0.5
    ax.set_xlim(-border, image_shape[1] - 1 + border)
    ax.set_ylim(image_shape[0] - 1 + border, -border)  # row 0 at the top, as imshow
    ax.set_xticks([])
    ax.set_yticks([])


def plot_gradient(gradient, *, ax=None, dynamic_range: float = 1e3, title: str | None = None):
    """A loss gradient map [H, W]: blue where descent raises the likelihood, red where it lowers it.

    Colours are symmetric-logarithmic over ``dynamic_range`` (linear below max|g| / dynamic_range),
    so a pixel whose gradient is a thousand times smaller than the largest still shows: SATLoss's
    spatial weight (down to 0.05) makes the pull on well-placed features small but not zero.
    """
    gradient = np.asarray(gradient, dtype=np.float64)
    limit = float(np.abs(gradient).max()) or 1.0
    norm = SymLogNorm(linthresh=limit / dynamic_range, vmin=-limit, vmax=limit)
    ax = axes_or_new(ax)
    ax.imshow(gradient, cmap="RdBu_r", norm=norm, interpolation="nearest")
    show_image_frame(ax, gradient.shape, padded=False)
    if title:
        ax.set_title(title)
    return ax


def _persistent(diagram, min_persistence: float) -> np.ndarray:
    return (np.asarray(diagram.death) - np.asarray(diagram.birth)) >= min_persistence


def plot_critical_pixels(
    image,
    diagram,
    *,
    padded: bool = True,
    min_persistence: float = 0.0,
    ax=None,
    name: str = "",
    creator_colour: str = "tab:cyan",
    destroyer_colour: str = "tab:red",
    show: bool = True,
    cmap: str = "gray",
    vmin=None,
    vmax=None,
    title: str | None = None,
):
    """Marks a diagram's creator (o) and destroyer (x) pixels on ``image`` [H, W]; returns the Axes.

    Args:
      image: what to draw under the markers, e.g. the likelihood or a gradient map [H, W].
      diagram: a `jaxtopo.host.Diagram` of that image (e.g. ``result.prediction.diagrams[1]``).
      padded: whether the diagram was computed on the padded filtration (the losses' ``pad``).
      min_persistence: pairs with death - birth below this are not marked.
      name: put in front of the legend labels ("H1" gives "H1 creators").
      show: draw ``image`` first; False adds markers to what ``ax`` already shows (e.g. a second
        dimension in other colours).
    """
    image = np.asarray(image)
    ax = axes_or_new(ax)
    if show:
        show_image(image, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, padded=padded)
    keep = _persistent(diagram, min_persistence)
    prefix = f"{name} " if name else ""
    creator_rows, creator_cols = pixel_rows_cols(np.asarray(diagram.creator)[keep], image.shape, padded=padded)
    destroyer_rows, destroyer_cols = pixel_rows_cols(np.asarray(diagram.destroyer)[keep], image.shape, padded=padded)
    ax.scatter(creator_cols, creator_rows, s=46, facecolors="none", edgecolors=creator_colour, linewidths=1.5,
               label=f"{prefix}creators", gid="creators", zorder=3)
    ax.scatter(destroyer_cols, destroyer_rows, s=40, marker="x", color=destroyer_colour, linewidths=1.5,
               label=f"{prefix}destroyers", gid="destroyers", zorder=3)
    if title:
        ax.set_title(title)
    return ax


def plot_matched_creators(image, result, dim: int = 1, *, target=None, padded: bool = True,
                          min_persistence: float = 0.0, ax=None, title: str | None = None):
    """The matching in image space: predicted and target creators of dimension ``dim`` on
    ``image`` (usually the likelihood), each counted matched pair joined by a line; ``target``
    (the binary mask), when given, is outlined."""
    image = np.asarray(image)
    ax = show_image(image, ax=ax, padded=padded, vmin=0.0, vmax=1.0)
    if target is not None:
        ax.contour(np.asarray(target, dtype=np.float32), levels=[0.5], colors=TARGET_COLOUR, linewidths=0.7,
                   alpha=0.8)
        ax.plot([], [], color=TARGET_COLOUR, linewidth=0.7, label="target outline")  # legend entry only
    prediction = result.prediction.diagrams[dim]
    target = result.target.diagrams[dim]
    matching = result.matchings[dim]
    shown = _persistent(prediction, min_persistence)
    pairs = np.flatnonzero(shown & matching.counted & (matching.matched_to != DIAGONAL))

    pred_rows, pred_cols = pixel_rows_cols(prediction.creator, image.shape, padded=padded)
    target_rows, target_cols = pixel_rows_cols(target.creator, image.shape, padded=padded)
    partners = matching.matched_to[pairs]
    segments = np.stack([np.stack([pred_cols[pairs], pred_rows[pairs]], axis=1),
                         np.stack([target_cols[partners], target_rows[partners]], axis=1)], axis=1)
    ax.add_collection(LineCollection(segments.reshape(-1, 2, 2), colors=MATCH_COLOUR, linewidths=2.0,
                                     label="matched pair", gid="matched", zorder=2))
    ax.scatter(pred_cols[shown], pred_rows[shown], s=30, color=PREDICTION_COLOUR, zorder=3,
               label="prediction creators", gid="prediction_creators")
    ax.scatter(target_cols, target_rows, s=80, marker="D", facecolors="none", edgecolors=TARGET_COLOUR,
               linewidths=1.6, zorder=4, label="target creators", gid="target_creators")
    if title:
        ax.set_title(title)
    return ax
