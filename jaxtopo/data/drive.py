"""DRIVE retinal vessels, SATLoss protocol: training images 21..40, 3 folds, 4 patches of 275.

Each image (565 wide x 584 high) is centre-cropped to 550 x 550 (removing the blank margins)
and cut into four 275 x 275 patches in row-major order. Labels are ``1st_manual`` GIFs,
converted to grey and thresholded at >= 128.

``root`` may be the folder holding ``DRIVE/`` or the ``DRIVE`` folder itself.
"""

from __future__ import annotations

import os

import numpy as np

from jaxtopo.data.common import binary_mask, centre_crop, missing, patch_grid, read_image, to_unit_float

SOURCE = "the DRIVE challenge (https://drive.grand-challenge.org)"
LAYOUT = """DRIVE/training/images/NN_training.tif      NN = 21..40, RGB TIFF, 565 wide x 584 high
DRIVE/training/1st_manual/NN_manual1.gif   vessel labels (GIF, grey {0, 255})"""

# image numbers per fold (SATLoss protocol, datasets.md)
FOLDS = {
    1: dict(train=range(21, 33), val=range(33, 35), test=range(35, 41)),
    2: dict(train=range(29, 41), val=range(27, 29), test=range(21, 27)),
    3: dict(train=[*range(23, 29), *range(35, 41)], val=range(21, 23), test=range(29, 35)),
}
IMAGE_SHAPE = (584, 565)
CROP = 550
PATCH = 275


def _dataset_folder(root: str) -> str:
    for candidate in (os.path.join(root, "DRIVE"), root):
        if os.path.isdir(os.path.join(candidate, "training")):
            return candidate
    raise missing("DRIVE", root, LAYOUT, SOURCE, "no DRIVE/training folder")


def _read_pair(folder: str, number: int) -> tuple[np.ndarray, np.ndarray]:
    image_path = os.path.join(folder, "training", "images", f"{number:02d}_training.tif")
    label_path = os.path.join(folder, "training", "1st_manual", f"{number:02d}_manual1.gif")
    for path in (image_path, label_path):
        if not os.path.isfile(path):
            raise missing("DRIVE", folder, LAYOUT, SOURCE, f"missing file {path}")
    image = read_image(image_path, mode="RGB")
    label = read_image(label_path, mode="L")  # palette GIFs: always through grey
    for path, array in ((image_path, image), (label_path, label)):
        if array.shape[:2] != IMAGE_SHAPE:
            raise ValueError(f"DRIVE: {path} has size {array.shape[1]}x{array.shape[0]}, expected 565x584")
    return image, label


def load_drive(root: str, *, fold: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images float32 [N, 275, 275, 3], labels float32 [N, 275, 275])}."""
    if fold not in FOLDS:
        raise ValueError(f"DRIVE: fold must be 1, 2 or 3, got {fold!r}")
    folder = _dataset_folder(root)
    splits = {}
    for split, numbers in FOLDS[fold].items():
        images, labels = [], []
        for number in numbers:
            image, label = _read_pair(folder, number)
            images.append(patch_grid(to_unit_float(centre_crop(image, CROP, CROP)), PATCH))
            labels.append(patch_grid(binary_mask(centre_crop(label, CROP, CROP), threshold=127.5), PATCH))
        splits[split] = (np.concatenate(images), np.concatenate(labels))
    return splits
