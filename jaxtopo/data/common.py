"""Shared pieces of the dataset loaders: clear errors, image reading, crops and patch grids.

jaxtopo never downloads data. Every loader takes the folder the user downloaded and, when it is
missing or incomplete, raises `DatasetNotFoundError` naming the dataset, the path it looked at,
the layout it expected and where the data is published. A file that cannot be decoded raises
`CorruptFileError` naming the file.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder (or a file the layout requires) is missing."""


class CorruptFileError(ValueError):
    """A dataset file exists but cannot be read as the expected image."""


def missing(dataset: str, path: str, layout: str, source: str, detail: str = "") -> DatasetNotFoundError:
    """The error for a missing or incomplete dataset folder."""
    return DatasetNotFoundError(
        f"{dataset} dataset not found at {os.path.abspath(path)}{': ' + detail if detail else ''}.\n"
        f"Expected layout:\n{layout}\n"
        f"jaxtopo does not download data; get it from {source} and pass its folder with --data-dir "
        f"(or set $JAXTOPO_DATA)."
    )


def read_image(path: str, *, mode: str | None = None) -> np.ndarray:
    """Reads an image with Pillow (optionally converted to ``mode``); CorruptFileError names the file."""
    try:
        with Image.open(path) as image:
            image.load()
            if mode is not None:
                image = image.convert(mode)
            return np.asarray(image)
    except FileNotFoundError:
        raise
    except Exception as error:  # Pillow raises several types for undecodable files
        raise CorruptFileError(f"cannot read image {path}: {error}") from error


def binary_mask(grey: np.ndarray, *, threshold: float) -> np.ndarray:
    """float32 {0, 1} mask of ``grey > threshold``."""
    return (np.asarray(grey) > threshold).astype(np.float32)


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] from uint8 / uint16 (by their full range) or float images; adds a channel axis to 2D."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        image = image.astype(np.float32) / 65535.0
    else:
        image = image.astype(np.float32)
    return image[..., None] if image.ndim == 2 else image


def centre_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The central height x width window (top/left get the smaller half of an odd margin)."""
    top = (image.shape[0] - height) // 2
    left = (image.shape[1] - width) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot crop {image.shape[:2]} to {(height, width)}")
    return image[top:top + height, left:left + width]


def patch_grid(image: np.ndarray, patch: int) -> np.ndarray:
    """Non-overlapping patch x patch tiles in row-major order; the size must divide evenly."""
    height, width = image.shape[:2]
    if height % patch or width % patch:
        raise ValueError(f"image of size {(height, width)} does not split into {patch}x{patch} patches")
    rows, cols = height // patch, width // patch
    tiles = image.reshape(rows, patch, cols, patch, *image.shape[2:])
    return np.moveaxis(tiles, 2, 1).reshape(rows * cols, patch, patch, *image.shape[2:])


def data_root(data_dir: str | None) -> str:
    """--data-dir, else $JAXTOPO_DATA, else ./data."""
    return data_dir or os.environ.get("JAXTOPO_DATA") or "data"
