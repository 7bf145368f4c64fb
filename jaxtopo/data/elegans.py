"""C. elegans (BBBC010), the C.Elegans-small protocol of the SATLoss / BM-Loss comparison.

Images ``..._<Well>_w<1|2>_<GUID>.tif`` are uint16 TIFFs of 696 x 520 read unchanged (an 8-bit
conversion makes them black); w1 is brightfield, w2 GFP. Ground truth
``BBBC010_v1_foreground/<Well>_binary.png`` is RGBA with R = G = B in {0, 255}; the red channel
is used. Each well: centre 340 x 340 crop, downsampled to 96 x 96 (image: area-weighted box
filter; label: the same, re-binarised at 0.5), four 48 x 48 patches. Images are scaled to [0, 1]
by their own maximum (microscopy intensities vary between wells). Wells are ordered A01, A02,
..., E04 (100 wells); the folds follow datasets.md.

``root`` may hold the images directly or in a ``BBBC010_v1_images`` folder, with
``BBBC010_v1_foreground`` beside them (or inside ``root``).
"""

from __future__ import annotations

import os
import re

import numpy as np
from PIL import Image

from jaxtopo.data.common import missing, patch_grid, read_image

SOURCE = "BBBC010 at the Broad Bioimage Benchmark Collection (https://bbbc.broadinstitute.org/BBBC010)"
LAYOUT = """BBBC010_v1_images/<prefix>_<Well>_w1_<GUID>.tif   (and _w2_), uint16 696x520, Well = A01..E04
BBBC010_v1_foreground/<Well>_binary.png              RGBA, R = G = B in {0, 255}"""
WELLS = [f"{row}{col:02d}" for row in "ABCDE" for col in range(1, 25)][:100]
CROP, SIZE, PATCH = 340, 96, 48


def _span(first: str, last: str) -> list[str]:
    return WELLS[WELLS.index(first):WELLS.index(last) + 1]


FOLDS = {
    1: dict(train=_span("A01", "C22"), val=_span("C23", "D08"), test=_span("D09", "E04")),
    2: dict(train=_span("B07", "E04"), val=_span("A01", "A10"), test=_span("A11", "B06")),
    3: dict(train=_span("A01", "B16") + _span("C23", "E04"), val=_span("C13", "C22"), test=_span("B17", "C12")),
}
_NAME = re.compile(r"_([A-E]\d\d)_(w[12])_")


def _folders(root: str) -> tuple[str, str]:
    for image_dir in (os.path.join(root, "BBBC010_v1_images"), root):
        for base in (os.path.dirname(image_dir.rstrip(os.sep)), root):
            label_dir = os.path.join(base, "BBBC010_v1_foreground")
            if os.path.isdir(image_dir) and os.path.isdir(label_dir):
                return image_dir, label_dir
    raise missing("C. elegans (BBBC010)", root, LAYOUT, SOURCE, "no images with a BBBC010_v1_foreground folder")


def _shrink(array: np.ndarray) -> np.ndarray:
    """Centre 340 crop, then a 96 x 96 area-weighted resize (float32)."""
    top, left = (array.shape[0] - CROP) // 2, (array.shape[1] - CROP) // 2
    crop = np.ascontiguousarray(array[top:top + CROP, left:left + CROP], dtype=np.float32)
    return np.array(Image.fromarray(crop, mode="F").resize((SIZE, SIZE), Image.Resampling.BOX))


def load_elegans_small(root: str, *, fold: int = 1, channel: str = "w1") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images float32 [N, 48, 48, 1], labels float32 [N, 48, 48])}."""
    if fold not in FOLDS:
        raise ValueError(f"C. elegans: fold must be 1, 2 or 3, got {fold!r}")
    if channel not in ("w1", "w2"):
        raise ValueError(f"C. elegans: channel must be 'w1' (brightfield) or 'w2' (GFP), got {channel!r}")
    image_dir, label_dir = _folders(root)
    paths = {}
    for name in os.listdir(image_dir):
        match = _NAME.search(name)
        if match and match.group(2) == channel and name.lower().endswith(".tif"):
            paths[match.group(1)] = os.path.join(image_dir, name)
    splits = {}
    for split, wells in FOLDS[fold].items():
        images, labels = [], []
        for well in wells:
            label_path = os.path.join(label_dir, f"{well}_binary.png")
            if well not in paths or not os.path.isfile(label_path):
                what = f"image of well {well} ({channel})" if well not in paths else label_path
                raise missing("C. elegans (BBBC010)", root, LAYOUT, SOURCE, f"missing {what}")
            image = read_image(paths[well]).astype(np.float32)  # uint16, unchanged
            label = read_image(label_path)
            label = (label[..., 0] if label.ndim == 3 else label) > 127  # RGBA: R = G = B
            image = _shrink(image)
            image /= max(float(image.max()), 1e-12)
            images.append(patch_grid(image[..., None], PATCH))
            labels.append(patch_grid((_shrink(label.astype(np.float32)) >= 0.5).astype(np.float32), PATCH))
        splits[split] = (np.concatenate(images), np.concatenate(labels))
    return splits
