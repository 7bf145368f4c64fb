"""Massachusetts Roads, SATLoss protocol: the distributed train / valid / test split, each
1500 x 1500 image cut into 25 patches of 300 x 300 (row-major).

Two layouts are recognised under ``root`` (or with ``root`` being the dataset folder itself):
the official ``mass_roads/{train,valid,test}/{sat,map}/`` and the common mirror
``tiff/{train,val,test}`` + ``tiff/{train,val,test}_labels``. Labels: ``convert('L') > 127``.
Pure-white no-data regions of some images are kept as they are (as the paper does).
"""

from __future__ import annotations

import os

import numpy as np

from jaxtopo.data.common import binary_mask, missing, patch_grid, read_image, to_unit_float

SOURCE = "the Massachusetts Roads dataset of V. Mnih (University of Toronto; also mirrored on Kaggle)"
LAYOUT = """mass_roads/{train,valid,test}/sat/<id>.tiff   RGB 1500x1500
mass_roads/{train,valid,test}/map/<id>.tif    road = 255
or the mirror: tiff/{train,val,test}/<id>.tiff and tiff/{train,val,test}_labels/<id>.tif"""
PATCH = 300
SPLITS = ("train", "val", "test")


def _split_folders(root: str) -> dict[str, tuple[str, str]]:
    """{split: (image folder, label folder)} for whichever layout is present."""
    for base in (os.path.join(root, "mass_roads"), root):
        official = {s: (os.path.join(base, d, "sat"), os.path.join(base, d, "map"))
                    for s, d in zip(SPLITS, ("train", "valid", "test"))}
        if all(os.path.isdir(i) and os.path.isdir(l) for i, l in official.values()):
            return official
    for base in (os.path.join(root, "tiff"), root):
        mirror = {s: (os.path.join(base, s), os.path.join(base, f"{s}_labels")) for s in SPLITS}
        if all(os.path.isdir(i) and os.path.isdir(l) for i, l in mirror.values()):
            return mirror
    raise missing("Massachusetts Roads", root, LAYOUT, SOURCE, "neither layout found")


def _read_split(image_dir: str, label_dir: str) -> tuple[np.ndarray, np.ndarray]:
    ids = sorted(f[: -len(".tiff")] for f in os.listdir(image_dir) if f.endswith(".tiff"))
    if not ids:
        raise missing("Massachusetts Roads", image_dir, LAYOUT, SOURCE, "no .tiff images")
    for image_id in ids:
        label_path = os.path.join(label_dir, image_id + ".tif")
        if not os.path.isfile(label_path):
            raise missing("Massachusetts Roads", label_dir, LAYOUT, SOURCE, f"missing label {label_path}")
    # uint8 and preallocated: the real train split is 27,700 patches (7.5 GB as uint8, four times
    # that as float32), so nothing is converted or concatenated here
    images = labels = None
    for index, image_id in enumerate(ids):
        image = read_image(os.path.join(image_dir, image_id + ".tiff"), mode="RGB")
        label = read_image(os.path.join(label_dir, image_id + ".tif"), mode="L")
        if image.shape[:2] != label.shape or image.shape[0] % PATCH or image.shape[1] % PATCH:
            raise ValueError(f"Massachusetts Roads: {image_id} has image size {image.shape[:2]} and label "
                             f"size {label.shape}; expected equal sizes divisible by {PATCH} (1500x1500)")
        image_patches = patch_grid(image, PATCH)
        per_image = len(image_patches)
        if images is None:
            images = np.empty((len(ids) * per_image,) + image_patches.shape[1:], np.uint8)
            labels = np.empty((len(ids) * per_image, PATCH, PATCH), np.uint8)
        rows = slice(index * per_image, (index + 1) * per_image)
        images[rows] = image_patches
        labels[rows] = patch_grid(label > 127, PATCH)
    return images, labels


def load_roads(root: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images uint8 [N, 300, 300, 3] in 0..255, labels uint8 [N, 300, 300] in {0, 1})}.

    Unlike the smaller datasets, Roads stays uint8 so the full split fits in memory; the trainer
    scales each batch to [0, 1] (`jaxtopo.data.common.to_unit_float`).
    """
    return {split: _read_split(*folders) for split, folders in _split_folders(root).items()}


# Roads-small (BM-Loss / SATLoss comparison). The papers do not publish which 134 images they used
# nor the fold lists, so this is jaxtopo's documented rule, not the papers' list: the first 134
# ids of the sorted union of all three distributed splits; fold k tests on the k-th of three
# contiguous blocks (45, 45, 44 images), validates on the 10 images that follow it (cyclically)
# and trains on the rest.
SMALL_COUNT, SMALL_SIZE, SMALL_PADDED, SMALL_PATCH = 134, 375, 384, 48


def _small_folds(count: int = SMALL_COUNT) -> dict[int, dict[str, list[int]]]:
    bounds = [0, 45, 90, count]
    folds = {}
    for k in (1, 2, 3):
        test = list(range(bounds[k - 1], bounds[k]))
        val = [(bounds[k] + i) % count for i in range(10)]
        train = [i for i in range(count) if i not in test and i not in val]
        folds[k] = dict(train=train, val=val, test=test)
    return folds


def _small_patches(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic 1500 -> 375, label re-binarised at 0.5, zero-padded to 384, 64 patches of 48."""
    from PIL import Image

    size = (SMALL_SIZE, SMALL_SIZE)
    image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
    label = np.asarray(Image.fromarray(label.astype(np.float32), mode="F").resize(size, Image.Resampling.BICUBIC))
    pad = SMALL_PADDED - SMALL_SIZE
    image = np.pad(to_unit_float(image), ((0, pad), (0, pad), (0, 0)))
    label = np.pad((label >= 0.5).astype(np.float32), ((0, pad), (0, pad)))
    return patch_grid(image, SMALL_PATCH), patch_grid(label, SMALL_PATCH)


def load_roads_small(root: str, *, fold: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images float32 [N, 48, 48, 3], labels float32 [N, 48, 48])}."""
    if fold not in (1, 2, 3):
        raise ValueError(f"Roads-small: fold must be 1, 2 or 3, got {fold!r}")
    pairs = []
    for image_dir, label_dir in _split_folders(root).values():
        pairs += [(os.path.join(image_dir, f), os.path.join(label_dir, f[:-1]))
                  for f in os.listdir(image_dir) if f.endswith(".tiff")]
    pairs.sort(key=lambda pair: os.path.basename(pair[0]))
    if len(pairs) < SMALL_COUNT:
        raise missing("Massachusetts Roads", root, LAYOUT, SOURCE,
                      f"Roads-small needs {SMALL_COUNT} images, found {len(pairs)}")
    splits = {}
    for split, positions in _small_folds()[fold].items():
        images, labels = [], []
        for position in positions:
            image_path, label_path = pairs[position]
            if not os.path.isfile(label_path):
                raise missing("Massachusetts Roads", root, LAYOUT, SOURCE, f"missing label {label_path}")
            label = binary_mask(read_image(label_path, mode="L"), threshold=127)
            patches = _small_patches(read_image(image_path, mode="RGB"), label)
            images.append(patches[0])
            labels.append(patches[1])
        splits[split] = (np.concatenate(images), np.concatenate(labels))
    return splits
