"""DRIVE retinal vessels, SATLoss protocol: training images 21..40, 3 folds, 4 patches of 275.

Only the 20 images of ``DRIVE/training`` are used (the current download has no test labels).
Each RGB image (565 wide x 584 high) is centre-cropped to 550 x 550, removing the blank margins
(rows 17..566, columns 7..556), and cut into four 275 x 275 patches in row-major order
(top-left, top-right, bottom-left, bottom-right). Labels are the ``1st_manual`` GIFs: whatever
mode Pillow opens them in (L, or P for palette GIFs), they go through ``convert('L')`` and are
thresholded at >= 128. The field-of-view masks are not used.

``root`` may be the folder holding ``DRIVE/`` or the ``DRIVE`` folder itself. All 20 image/label
pairs must be present whatever the fold (the folds partition them); anything missing raises
`DatasetNotFoundError` naming it.
"""

from __future__ import annotations

import os

import numpy as np

from jaxtopo.data.common import binary_mask, centre_crop, missing, patch_grid, read_image, to_unit_float

DATASET = "DRIVE"
SOURCE = "the DRIVE challenge site (https://drive.grand-challenge.org)"
LAYOUT = """DRIVE/training/images/NN_training.tif      NN = 21..40, RGB TIFF, 565 wide x 584 high
DRIVE/training/1st_manual/NN_manual1.gif   vessel labels (GIF, grey {0, 255})
DRIVE/training/mask/NN_training_mask.gif   (field-of-view masks, not used)"""

NUMBERS = range(21, 41)
# image numbers per split (SATLoss protocol, docs/datasets.md section 2); each fold partitions 21..40
FOLDS = {
    1: dict(train=[*range(21, 33)], val=[33, 34], test=[*range(35, 41)]),
    2: dict(train=[*range(29, 41)], val=[27, 28], test=[*range(21, 27)]),
    3: dict(train=[*range(23, 29), *range(35, 41)], val=[21, 22], test=[*range(29, 35)]),
}
IMAGE_HEIGHT, IMAGE_WIDTH = 584, 565
CROP, PATCH = 550, 275
GRID = (CROP // PATCH, CROP // PATCH)  # patch rows x columns of one image: 2 x 2
PATCHES_PER_IMAGE = GRID[0] * GRID[1]


def _training_folder(root: str) -> str:
    """``<DRIVE>/training`` with its ``images`` and ``1st_manual`` subfolders, for either form of root."""
    if not os.path.isdir(root):
        raise missing(DATASET, root, LAYOUT, SOURCE, "the folder does not exist")
    for candidate in (os.path.join(root, "DRIVE"), root):
        training = os.path.join(candidate, "training")
        if os.path.isdir(training):
            break
    else:
        raise missing(DATASET, root, LAYOUT, SOURCE, "neither DRIVE/training nor training/ is there")
    for sub in ("images", "1st_manual"):
        if not os.path.isdir(os.path.join(training, sub)):
            raise missing(DATASET, root, LAYOUT, SOURCE, f"missing folder {os.path.join(training, sub)}")
    return training


def _paths(training: str, number: int) -> tuple[str, str]:
    return (os.path.join(training, "images", f"{number:02d}_training.tif"),
            os.path.join(training, "1st_manual", f"{number:02d}_manual1.gif"))


def _check_complete(root: str, training: str) -> None:
    """The protocol needs every image 21..40 and its label; name whatever is absent."""
    absent = [path for number in NUMBERS for path in _paths(training, number) if not os.path.isfile(path)]
    if absent:
        shown = ", ".join(absent[:6]) + (f" and {len(absent) - 6} more" if len(absent) > 6 else "")
        raise missing(DATASET, root, LAYOUT, SOURCE,
                      f"the SATLoss protocol needs training images 21..40 with labels; missing {shown}")


def _check_size(array: np.ndarray, path: str) -> None:
    if array.shape[:2] != (IMAGE_HEIGHT, IMAGE_WIDTH):
        raise ValueError(f"DRIVE: {path} is {array.shape[1]} wide x {array.shape[0]} high, "
                         f"expected {IMAGE_WIDTH} x {IMAGE_HEIGHT}")


def _read_patches(training: str, number: int) -> tuple[np.ndarray, np.ndarray]:
    """Image patches float32 [4, 275, 275, 3] and label patches float32 [4, 275, 275] of one image."""
    image_path, label_path = _paths(training, number)
    image = read_image(image_path, mode="RGB")
    label = read_image(label_path, mode="L")  # L or palette (P) GIFs alike: grey first, then threshold
    _check_size(image, image_path)
    _check_size(label, label_path)
    image = to_unit_float(centre_crop(image, CROP, CROP))
    label = binary_mask(centre_crop(label, CROP, CROP), threshold=127)  # >= 128 on uint8 grey
    return patch_grid(image, PATCH), patch_grid(label, PATCH)


def load_drive(root: str, *, fold: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """DRIVE in the SATLoss protocol: ``fold`` in {1, 2, 3} picks the image numbers of each split.

    Returns {"train"|"val"|"test": (images float32 [N, 275, 275, 3] in [0, 1],
    labels float32 [N, 275, 275] in {0, 1})} with N = 4 x images (fold 1: 48 / 8 / 24), ordered by
    image number, then row-major patch order. ``root``: the folder holding ``DRIVE/``, or ``DRIVE``
    itself. Raises DatasetNotFoundError (missing folder or file), CorruptFileError (undecodable
    file), ValueError (bad fold or image size).
    """
    if fold not in FOLDS or isinstance(fold, bool):
        raise ValueError(f"DRIVE: fold must be 1, 2 or 3, got {fold!r}")
    training = _training_folder(root)
    _check_complete(root, training)
    splits = {}
    for split, numbers in FOLDS[fold].items():
        count = len(numbers) * PATCHES_PER_IMAGE
        images = np.empty((count, PATCH, PATCH, 3), np.float32)
        labels = np.empty((count, PATCH, PATCH), np.float32)
        for index, number in enumerate(sorted(numbers)):
            rows = slice(index * PATCHES_PER_IMAGE, (index + 1) * PATCHES_PER_IMAGE)
            images[rows], labels[rows] = _read_patches(training, number)
        splits[split] = (images, labels)
    return splits
