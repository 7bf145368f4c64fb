"""Massachusetts Roads: the SATLoss protocol (`load_roads`) and jaxtopo's Roads-small (`load_roads_small`).

Two layouts are recognised, looked for in this order:

- the official ``mass_roads/{train,valid,test}/{sat,map}/`` (images ``<id>.tiff``, labels ``<id>.tif``),
- the common (Kaggle) mirror ``tiff/{train,val,test}/<id>.tiff`` + ``tiff/{train,val,test}_labels/<id>.tif``
  (its ``png/`` copy and ``metadata.csv`` are ignored).

``root`` may be the folder holding ``mass_roads/`` or ``tiff/``, or that folder itself. Images are
RGB (``convert('RGB')``), labels ``convert('L') > 127`` (road = 255). Images are listed per split
and sorted by id; every image needs its label (extra labels are ignored) and no split may be empty.
Pure-white no-data regions of some images are kept as they are.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from jaxtopo.data.common import missing, patch_grid, read_image, to_unit_float

DATASET = "Massachusetts Roads"
SOURCE = ("the Massachusetts Roads dataset of V. Mnih, University of Toronto "
          "(https://www.cs.toronto.edu/~vmnih/data/; also mirrored on Kaggle)")
LAYOUT = """mass_roads/{train,valid,test}/sat/<id>.tiff   RGB 1500x1500, ids like 10078660_15
mass_roads/{train,valid,test}/map/<id>.tif    labels, road = 255
or the Kaggle mirror: tiff/{train,val,test}/<id>.tiff and tiff/{train,val,test}_labels/<id>.tif"""

SPLITS = ("train", "val", "test")
SIZE, PATCH = 1500, 300
GRID = (SIZE // PATCH, SIZE // PATCH)  # patch rows x columns of one image: 5 x 5
LABEL_THRESHOLD = 127  # convert('L') > 127


def _layouts(root: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """Candidate (base folder, {split: (image folder, label folder)}) in the order they are tried."""
    candidates = []
    for base in (os.path.join(root, "mass_roads"), root):
        candidates.append((base, {s: (os.path.join(base, d, "sat"), os.path.join(base, d, "map"))
                                  for s, d in zip(SPLITS, ("train", "valid", "test"))}))
    for base in (os.path.join(root, "tiff"), root):
        candidates.append((base, {s: (os.path.join(base, s), os.path.join(base, f"{s}_labels")) for s in SPLITS}))
    return candidates


def _split_folders(root: str) -> dict[str, tuple[str, str]]:
    """{split: (image folder, label folder)} of whichever layout is complete; else name what is absent."""
    if not os.path.isdir(root):
        raise missing(DATASET, root, LAYOUT, SOURCE, "the folder does not exist")
    candidates = _layouts(root)
    for _, folders in candidates:
        if all(os.path.isdir(f) for pair in folders.values() for f in pair):
            return folders
    for _, folders in candidates:  # a partial layout: say which of its folders are missing
        present = [f for pair in folders.values() for f in pair if os.path.isdir(f)]
        if present:
            absent = [f for pair in folders.values() for f in pair if not os.path.isdir(f)]
            raise missing(DATASET, root, LAYOUT, SOURCE, "missing folder(s) " + ", ".join(absent))
    raise missing(DATASET, root, LAYOUT, SOURCE, "neither mass_roads/ (official) nor tiff/ (mirror) found")


def _split_pairs(root: str, image_dir: str, label_dir: str) -> list[tuple[str, str, str]]:
    """(id, image path, label path) of one split, sorted by id; every image must have its label."""
    ids = sorted(name[:-len(".tiff")] for name in os.listdir(image_dir) if name.endswith(".tiff"))
    if not ids:
        raise missing(DATASET, root, LAYOUT, SOURCE, f"no <id>.tiff images in {image_dir}")
    pairs = [(i, os.path.join(image_dir, i + ".tiff"), os.path.join(label_dir, i + ".tif")) for i in ids]
    absent = [label for _, _, label in pairs if not os.path.isfile(label)]
    if absent:
        shown = ", ".join(absent[:6]) + (f" and {len(absent) - 6} more" if len(absent) > 6 else "")
        raise missing(DATASET, root, LAYOUT, SOURCE, f"missing label(s) {shown}")
    return pairs


def _read_pair(image_path: str, label_path: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB [1500, 1500, 3], bool label [1500, 1500]); the sizes are checked."""
    image = read_image(image_path, mode="RGB")
    label = read_image(label_path, mode="L") > LABEL_THRESHOLD
    if image.shape[:2] != (SIZE, SIZE) or label.shape != (SIZE, SIZE):
        raise ValueError(f"{DATASET}: {image_path} is {image.shape[1]}x{image.shape[0]} and {label_path} is "
                         f"{label.shape[1]}x{label.shape[0]}; both must be {SIZE}x{SIZE}")
    return image, label


def _read_split(pairs: list[tuple[str, str, str]]) -> tuple[np.ndarray, np.ndarray]:
    per_image = (SIZE // PATCH) ** 2
    # uint8 and preallocated: the real train split is 27,700 patches, 7.5 GB as uint8 and four
    # times that as float32, so nothing is converted or concatenated here
    images = np.empty((len(pairs) * per_image, PATCH, PATCH, 3), np.uint8)
    labels = np.empty((len(pairs) * per_image, PATCH, PATCH), np.uint8)
    for index, (_, image_path, label_path) in enumerate(pairs):
        image, label = _read_pair(image_path, label_path)
        rows = slice(index * per_image, (index + 1) * per_image)
        images[rows] = patch_grid(image, PATCH)
        labels[rows] = patch_grid(label, PATCH)
    return images, labels


def load_roads(root: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Massachusetts Roads in the SATLoss protocol: the distributed splits, 25 patches of 300 per image.

    Returns {"train"|"val"|"test": (images uint8 [N, 300, 300, 3] in 0..255, labels uint8
    [N, 300, 300] in {0, 1})} with N = 25 x images of the split (1108 / 14 / 49 in the real
    data; the counts are not enforced), in sorted id order, then row-major patch order.

    Unlike the other loaders, Roads stays **uint8**: the float32 train split would take 30 GB.
    Scale batches with `jaxtopo.data.common.to_unit_float` (the trainer does).

    ``root``: the folder holding ``mass_roads/`` or ``tiff/``, or that folder itself. Raises
    DatasetNotFoundError (missing folder, empty split, missing label), CorruptFileError
    (undecodable file) or ValueError (an image or label that is not 1500x1500).
    """
    folders = _split_folders(root)
    return {split: _read_split(_split_pairs(root, *folders[split])) for split in SPLITS}


# Roads-small (BM-Loss / SATLoss comparison). The papers do not publish which 134 images they
# used nor their folds, so this is jaxtopo's rule, not the papers' list: see `roads_small_folds`.
SMALL_COUNT, SMALL_SIZE, SMALL_PADDED, SMALL_PATCH = 134, 375, 384, 48
SMALL_VAL = 10
SMALL_GRID = (SMALL_PADDED // SMALL_PATCH, SMALL_PADDED // SMALL_PATCH)  # 8 x 8 patches of one padded image


def roads_small_folds(count: int = SMALL_COUNT) -> dict[int, dict[str, list[int]]]:
    """jaxtopo's Roads-small folds: {fold: {split: 0-based positions in the selected images}}.

    The ``count`` selected images (134) are cut into three contiguous blocks of sizes
    ``count // 3`` rounded up first (45, 45, 44). Fold k tests on block k, validates on the 10
    images that follow block k (wrapping around to the start after the last block) and trains
    on the remaining ones (79 or 80). Each fold partitions ``range(count)`` and the three test
    blocks together cover every image once.
    """
    sizes = [count // 3 + (k < count % 3) for k in range(3)]
    bounds = np.cumsum([0] + sizes).tolist()
    folds = {}
    for k in (1, 2, 3):
        test = list(range(bounds[k - 1], bounds[k]))
        val = [(bounds[k] + i) % count for i in range(SMALL_VAL)]
        taken = set(test) | set(val)
        folds[k] = dict(train=[i for i in range(count) if i not in taken], val=val, test=test)
    return folds


def _small_patches(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic 1500 -> 375, label re-binarised at 0.5, zero-padded to 384, 64 patches of 48."""
    size = (SMALL_SIZE, SMALL_SIZE)
    image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
    mask = Image.fromarray(label.astype(np.float32), mode="F").resize(size, Image.Resampling.BICUBIC)
    pad = SMALL_PADDED - SMALL_SIZE
    image = np.pad(to_unit_float(image), ((0, pad), (0, pad), (0, 0)))
    label = np.pad((np.asarray(mask) >= 0.5).astype(np.float32), ((0, pad), (0, pad)))
    return patch_grid(image, SMALL_PATCH), patch_grid(label, SMALL_PATCH)


def load_roads_small(root: str, *, fold: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Roads-small (BM-Loss / SATLoss protocol) with **jaxtopo's** image selection and folds.

    Geometry (as published): each 1500x1500 image is downsampled to 375x375 with bicubic
    resampling (Pillow's, which widens the kernel when shrinking, i.e. antialiased); the label
    is resized the same way as a {0, 1} float mask and re-binarised at >= 0.5; both are
    zero-padded on the bottom and right to 384x384 and cut into 64 patches of 48x48 (row-major).

    Selection and folds (**jaxtopo's deterministic rule, not the papers' list**, which is not
    published): the ids of all three distributed splits together, sorted, the first 134 taken;
    folds by `roads_small_folds` (fold k tests on the k-th contiguous block of 45 / 45 / 44
    images, validates on the next 10, trains on the other 79 or 80).

    Returns {"train"|"val"|"test": (images float32 [N, 48, 48, 3] in [0, 1], labels float32
    [N, 48, 48] in {0, 1})}, N = 64 x images, in selection order. ``root`` as for `load_roads`;
    at least 134 images with labels are needed.
    """
    if fold not in (1, 2, 3) or isinstance(fold, bool):
        raise ValueError(f"Roads-small: fold must be 1, 2 or 3, got {fold!r}")
    pairs = sorted(pair for image_dir, label_dir in _split_folders(root).values()
                   for pair in _split_pairs(root, image_dir, label_dir))
    if len(pairs) < SMALL_COUNT:
        raise missing(DATASET, root, LAYOUT, SOURCE, f"Roads-small needs {SMALL_COUNT} images, found {len(pairs)}")
    selected = pairs[:SMALL_COUNT]
    per_image = (SMALL_PADDED // SMALL_PATCH) ** 2
    splits = {}
    for split, positions in roads_small_folds(SMALL_COUNT)[fold].items():
        images = np.empty((len(positions) * per_image, SMALL_PATCH, SMALL_PATCH, 3), np.float32)
        labels = np.empty((len(positions) * per_image, SMALL_PATCH, SMALL_PATCH), np.float32)
        for index, position in enumerate(positions):
            rows = slice(index * per_image, (index + 1) * per_image)
            images[rows], labels[rows] = _small_patches(*_read_pair(*selected[position][1:]))
        splits[split] = (images, labels)
    return splits
