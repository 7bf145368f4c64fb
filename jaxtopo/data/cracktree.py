"""CrackTree260 pavement cracks, SATLoss protocol: 260 images, 3 folds, 6 patches of 300.

Images are sorted by file name; 800 x 600 images are padded on the right to 900 x 600, 960 x 720
images cropped to 900 x 600 (equally from top and bottom, and from the right); each is cut into
six 300 x 300 patches in row-major order. Images are read as grey; labels are ``convert('L') > 0``.

``root`` may be the folder holding ``CrackTree260/`` or that folder itself; image and label
folders may be called ``image``/``gt`` (the release) or ``img``/``lab`` (common mirrors).
"""

from __future__ import annotations

import os

import numpy as np

from jaxtopo.data.common import binary_mask, missing, patch_grid, read_image, to_unit_float

SOURCE = "the CrackTree260 release by Zou et al. (distributed with the DeepCrack repository)"
LAYOUT = """CrackTree260/image/<name>.jpg   (some .JPG; 800x600, or 960x720 for DSCN<NNNN>)
CrackTree260/gt/<name>.bmp      crack = white
(mirrors: img/ and lab/ instead of image/ and gt/)"""

COUNT = 260
WIDTH, HEIGHT, PATCH = 900, 600, 300
# 1-based positions in the sorted list (SATLoss protocol, datasets.md)
FOLDS = {
    1: dict(train=[range(1, 201)], val=[range(201, 221)], test=[range(221, 261)]),
    2: dict(train=[range(1, 117), range(177, 261)], val=[range(117, 137)], test=[range(137, 177)]),
    3: dict(train=[range(61, 261)], val=[range(1, 21)], test=[range(21, 61)]),
}


def _folders(root: str) -> tuple[str, str]:
    for base in (os.path.join(root, "CrackTree260"), root):
        for images, labels in (("image", "gt"), ("img", "lab")):
            image_dir, label_dir = os.path.join(base, images), os.path.join(base, labels)
            if os.path.isdir(image_dir) and os.path.isdir(label_dir):
                return image_dir, label_dir
    raise missing("CrackTree260", root, LAYOUT, SOURCE, "no image/ and gt/ folders")


def _to_protocol_size(array: np.ndarray, path: str) -> np.ndarray:
    height, width = array.shape[:2]
    if (width, height) == (800, 600):
        return np.pad(array, ((0, 0), (0, WIDTH - width)) + ((0, 0),) * (array.ndim - 2))
    if (width, height) == (960, 720):
        top = (height - HEIGHT) // 2
        return array[top:top + HEIGHT, :WIDTH]
    raise ValueError(f"CrackTree260: {path} has size {width}x{height}, expected 800x600 or 960x720")


def load_cracktree(root: str, *, fold: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images float32 [N, 300, 300, 1], labels float32 [N, 300, 300])}."""
    if fold not in FOLDS:
        raise ValueError(f"CrackTree260: fold must be 1, 2 or 3, got {fold!r}")
    image_dir, label_dir = _folders(root)
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(image_dir) if f.lower().endswith(".jpg"))
    if len(names) != COUNT:
        raise missing("CrackTree260", image_dir, LAYOUT, SOURCE, f"found {len(names)} JPEG images, expected {COUNT}")
    extensions = {os.path.splitext(f)[0]: f for f in os.listdir(image_dir)}
    splits = {}
    for split, ranges in FOLDS[fold].items():
        images, labels = [], []
        for position in (p for r in ranges for p in r):
            name = names[position - 1]
            image_path = os.path.join(image_dir, extensions[name])
            label_path = os.path.join(label_dir, name + ".bmp")
            if not os.path.isfile(label_path):
                raise missing("CrackTree260", label_dir, LAYOUT, SOURCE, f"missing label {label_path}")
            image = _to_protocol_size(read_image(image_path, mode="L"), image_path)
            label = _to_protocol_size(read_image(label_path, mode="L"), label_path)
            images.append(patch_grid(to_unit_float(image), PATCH))
            labels.append(patch_grid(binary_mask(label, threshold=0), PATCH))
        splits[split] = (np.concatenate(images), np.concatenate(labels))
    return splits
