"""CrackTree260 pavement cracks, SATLoss protocol: 260 images, 3 folds, 6 patches of 300.

Images are sorted by file name (without extension, so ``.jpg`` and ``.JPG`` sort alike) and
read as grey (``convert('L')``); labels are ``<name>.bmp`` with ``convert('L') > 0`` (crack =
white). Every image becomes 900 wide x 600 high: 800 x 600 images are padded on the right with
zeros (image and label), 960 x 720 images (the ``DSCN`` ones) lose 60 rows at the top, 60 at the
bottom and the 60 right-most columns. Each is cut into six 300 x 300 patches in row-major order
(2 rows x 3 columns). Fold positions are 1-based positions in the sorted list.

``root`` may be the folder holding ``CrackTree260/`` or that folder itself; image and label
folders may be called ``image``/``gt`` (the release) or ``img``/``lab`` (common mirrors). All
260 images and their labels must be present whatever the fold.
"""

from __future__ import annotations

import os

import numpy as np

from jaxtopo.data.common import binary_mask, missing, patch_grid, read_image, to_unit_float

DATASET = "CrackTree260"
SOURCE = "the CrackTree260 release by Zou et al. (as distributed with the DeepCrack repository)"
LAYOUT = """CrackTree260/image/<name>.jpg   260 grey JPEGs (some .JPG): 800x600, or 960x720 for DSCN<NNNN>
CrackTree260/gt/<name>.bmp      crack labels, crack = white
(mirrors call the folders img/ and lab/ instead of image/ and gt/)"""
FOLDER_NAMES = (("image", "gt"), ("img", "lab"))

COUNT = 260
WIDTH, HEIGHT, PATCH = 900, 600, 300
GRID = (HEIGHT // PATCH, WIDTH // PATCH)  # patch rows x columns of one image: 2 x 3
PATCHES_PER_IMAGE = GRID[0] * GRID[1]
# 1-based positions in the sorted list (SATLoss protocol, docs/datasets.md section 6); each fold partitions 1..260
FOLDS = {
    1: dict(train=[range(1, 201)], val=[range(201, 221)], test=[range(221, 261)]),
    2: dict(train=[range(1, 117), range(177, 261)], val=[range(117, 137)], test=[range(137, 177)]),
    3: dict(train=[range(61, 261)], val=[range(1, 21)], test=[range(21, 61)]),
}


def _folders(root: str) -> tuple[str, str]:
    """(image folder, label folder) for either form of root and either pair of folder names."""
    if not os.path.isdir(root):
        raise missing(DATASET, root, LAYOUT, SOURCE, "the folder does not exist")
    for base in (os.path.join(root, "CrackTree260"), root):
        for images, labels in FOLDER_NAMES:
            image_dir, label_dir = os.path.join(base, images), os.path.join(base, labels)
            if os.path.isdir(image_dir) and os.path.isdir(label_dir):
                return image_dir, label_dir
    for base in (os.path.join(root, "CrackTree260"), root):  # half a layout: say which half is absent
        for images, labels in FOLDER_NAMES:
            image_dir, label_dir = os.path.join(base, images), os.path.join(base, labels)
            if os.path.isdir(image_dir) or os.path.isdir(label_dir):
                absent = label_dir if os.path.isdir(image_dir) else image_dir
                raise missing(DATASET, root, LAYOUT, SOURCE, f"missing folder {absent}")
    raise missing(DATASET, root, LAYOUT, SOURCE, "no CrackTree260/image and CrackTree260/gt folders")


def _by_stem(folder: str, extension: str) -> dict[str, str]:
    """{name without extension: file name} of the files whose extension matches, any case."""
    files = {}
    for file_name in os.listdir(folder):
        stem, ext = os.path.splitext(file_name)
        if ext.lower() == extension:
            if stem in files:
                raise ValueError(f"CrackTree260: both {files[stem]} and {file_name} in {folder}")
            files[stem] = file_name
    return files


def _pairs(root: str) -> list[tuple[str, str]]:
    """The 260 (image path, label path) pairs in sorted name order."""
    image_dir, label_dir = _folders(root)
    images, labels = _by_stem(image_dir, ".jpg"), _by_stem(label_dir, ".bmp")
    if len(images) != COUNT:
        raise missing(DATASET, root, LAYOUT, SOURCE,
                      f"found {len(images)} JPEG images in {image_dir}, the SATLoss protocol needs {COUNT}")
    names = sorted(images)
    absent = [os.path.join(label_dir, name + ".bmp") for name in names if name not in labels]
    if absent:
        shown = ", ".join(absent[:6]) + (f" and {len(absent) - 6} more" if len(absent) > 6 else "")
        raise missing(DATASET, root, LAYOUT, SOURCE, f"missing labels {shown}")
    return [(os.path.join(image_dir, images[name]), os.path.join(label_dir, labels[name])) for name in names]


def _to_protocol_size(array: np.ndarray, path: str) -> np.ndarray:
    """900 x 600: 800 x 600 padded on the right with zeros, 960 x 720 cropped (top/bottom equally, right)."""
    height, width = array.shape[:2]
    if (width, height) == (800, 600):
        return np.pad(array, ((0, 0), (0, WIDTH - width)) + ((0, 0),) * (array.ndim - 2))
    if (width, height) == (960, 720):
        top = (height - HEIGHT) // 2
        return array[top:top + HEIGHT, :WIDTH]
    raise ValueError(f"CrackTree260: {path} is {width} wide x {height} high, expected 800 x 600 or 960 x 720")


def _read_patches(image_path: str, label_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Image patches float32 [6, 300, 300, 1] and label patches float32 [6, 300, 300] of one image."""
    image = read_image(image_path, mode="L")
    label = read_image(label_path, mode="L")
    if label.shape != image.shape:
        raise ValueError(f"CrackTree260: label {label_path} is {label.shape[1]} x {label.shape[0]} "
                         f"but image {image_path} is {image.shape[1]} x {image.shape[0]}")
    image = to_unit_float(_to_protocol_size(image, image_path))
    label = binary_mask(_to_protocol_size(label, label_path), threshold=0)
    return patch_grid(image, PATCH), patch_grid(label, PATCH)


def load_cracktree(root: str, *, fold: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """CrackTree260 in the SATLoss protocol: ``fold`` in {1, 2, 3} picks the sorted positions of each split.

    Returns {"train"|"val"|"test": (images float32 [N, 300, 300, 1] in [0, 1],
    labels float32 [N, 300, 300] in {0, 1})} with N = 6 x images (200 / 20 / 40 images in every
    fold), ordered by sorted position, then row-major patch order. ``root``: the folder holding
    ``CrackTree260/``, or ``CrackTree260`` itself. Raises DatasetNotFoundError (missing folder,
    label, or not 260 images), CorruptFileError (undecodable file), ValueError (bad fold or size).
    """
    if fold not in FOLDS or isinstance(fold, bool):
        raise ValueError(f"CrackTree260: fold must be 1, 2 or 3, got {fold!r}")
    pairs = _pairs(root)
    splits = {}
    for split, ranges in FOLDS[fold].items():
        positions = sorted(p for r in ranges for p in r)
        count = len(positions) * PATCHES_PER_IMAGE
        images = np.empty((count, PATCH, PATCH, 1), np.float32)
        labels = np.empty((count, PATCH, PATCH), np.float32)
        for index, position in enumerate(positions):
            rows = slice(index * PATCHES_PER_IMAGE, (index + 1) * PATCHES_PER_IMAGE)
            images[rows], labels[rows] = _read_patches(*pairs[position - 1])
        splits[split] = (images, labels)
    return splits
