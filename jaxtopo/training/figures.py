"""A PNG of a few test images: input | label | prediction (Pillow, no plotting library needed)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def save_prediction_figure(path: str, images, labels, probs, *, rows: int = 4) -> None:
    rows = min(rows, len(images))
    tiles = []
    for i in range(rows):
        image = np.asarray(images[i], dtype=np.float32)
        image = image if image.ndim == 3 and image.shape[-1] == 3 else np.repeat(image.reshape(image.shape[:2] + (1,)), 3, -1)
        grey = lambda a: np.repeat(np.asarray(a, np.float32)[..., None], 3, -1)  # noqa: E731
        gap = np.ones((image.shape[0], 2, 3), np.float32)
        tiles.append(np.concatenate([image, gap, grey(labels[i]), gap, grey(probs[i])], axis=1))
    grid = np.concatenate([np.concatenate([t, np.ones((2,) + t.shape[1:], np.float32)]) for t in tiles])
    Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8)).save(path)
