"""Predictions next to their inputs and labels: a row per image, a column per model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from jaxtopo.viz._canvas import figure_or_new


def _displayable(image, *, uint8_is_0_to_255: bool = False) -> np.ndarray:
    """[H, W] or [H, W, 3] floats in [0, 1] from [H, W], [H, W, 1] or [H, W, 3].

    Input images stored as uint8 (Roads) hold 0..255; labels stored as uint8 (synthetic) hold
    {0, 1}: only the former are scaled.
    """
    image = np.asarray(image)
    scale = 255.0 if uint8_is_0_to_255 and image.dtype == np.uint8 else 1.0
    image = image.astype(np.float32) / scale
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] != 3:
        raise ValueError(f"images must be [H, W], [H, W, 1] or [H, W, 3], got an image of shape {image.shape}")
    return np.clip(image, 0.0, 1.0)


def plot_predictions(images, labels, predictions, *, rows: int = 4, fig=None):
    """Image | label | each prediction (likelihoods in [0, 1]), for the first ``rows`` images.

    ``predictions`` is an array [N, H, W] or ``{model name: [N, H, W]}`` to compare models side by
    side; ``fig``, when given, is drawn into and sized to the grid. Returns the Figure.
    """
    if not isinstance(predictions, Mapping):
        predictions = {"prediction": predictions}
    rows = min(rows, len(images))
    if rows == 0:
        raise ValueError("no images to plot")
    for name, probs in predictions.items():
        if len(probs) < rows or np.shape(probs)[1:3] != np.shape(labels)[1:3]:
            raise ValueError(f"prediction {name!r} has shape {np.shape(probs)}; expected [N >= {rows}, H, W] "
                             f"like the labels {np.shape(labels)}")
    titles = ["image", "label", *predictions]
    figsize = (1.9 * len(titles), 1.9 * rows + 0.3)
    fig = figure_or_new(fig, figsize)
    fig.set_size_inches(figsize)  # a figure passed in is sized to the grid too
    axes = fig.subplots(rows, len(titles), squeeze=False)
    for i in range(rows):
        panels = [_displayable(images[i], uint8_is_0_to_255=True), labels[i],
                  *(probs[i] for probs in predictions.values())]
        for ax, panel in zip(axes[i], panels):
            ax.imshow(_displayable(panel), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return fig
