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
    images, labels = [], []
    for image_id in ids:
        label_path = os.path.join(label_dir, image_id + ".tif")
        if not os.path.isfile(label_path):
            raise missing("Massachusetts Roads", label_dir, LAYOUT, SOURCE, f"missing label {label_path}")
        image = read_image(os.path.join(image_dir, image_id + ".tiff"), mode="RGB")
        label = read_image(label_path, mode="L")
        if image.shape[:2] != label.shape or image.shape[0] % PATCH or image.shape[1] % PATCH:
            raise ValueError(f"Massachusetts Roads: {image_id} has image size {image.shape[:2]} and label "
                             f"size {label.shape}; expected equal sizes divisible by {PATCH} (1500x1500)")
        images.append(patch_grid(to_unit_float(image), PATCH))
        labels.append(patch_grid(binary_mask(label, threshold=127), PATCH))
    return np.concatenate(images), np.concatenate(labels)


def load_roads(root: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images float32 [N, 300, 300, 3], labels float32 [N, 300, 300])}."""
    return {split: _read_split(*folders) for split, folders in _split_folders(root).items()}
