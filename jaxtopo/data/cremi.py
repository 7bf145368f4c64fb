"""CREMI neuron membranes (EM), SATLoss protocol.

Files ``sample_{A,B,C}_20160501.hdf`` (HDF5, read with h5py): ``volumes/raw`` uint8 (z, y, x)
and ``volumes/labels/neuron_ids`` uint64 of the same shape. Raw slices are scaled by 1/255.

Membrane mask of a z-slice (`membranes`): the pixels that have a 4-neighbour (up, down, left,
right) with a different neuron id, so both sides of every boundary are marked (a 2-pixel-wide
membrane), ids compared exactly as uint64. This equals
``skimage.segmentation.find_boundaries(ids, connectivity=1, mode="thick")``; skimage's
``mode="inner"`` is not used because it leaves id 0 unmarked (it treats 0 as background), and
``"outer"`` likewise. Image borders do not count as boundaries.

Split by 1-based slice number: train = slices 1-14, 16-74 and 76-81 of A, B and C (79 each);
val = C 82-92; test = C 93-125. Each slice is cut into 250x250 patches in row-major order; the
grid follows the slice size (25 patches for the real 1250x1250, 1 for a 250x250 slice), which
must be a multiple of 250 both ways. Each volume needs at least 125 slices.

``root`` may be the folder holding the three files, or a folder with a ``CREMI/`` or ``cremi/``
folder holding them.
"""

from __future__ import annotations

import os

import numpy as np

from jaxtopo.data.common import CorruptFileError, missing, patch_grid

DATASET = "CREMI"
SOURCE = "the CREMI challenge (https://cremi.org, the 'training volumes' sample A, B and C, not the padded '+' ones)"
LAYOUT = """sample_A_20160501.hdf, sample_B_20160501.hdf, sample_C_20160501.hdf   (HDF5)
  volumes/raw                  uint8  (z, y, x) = (125, 1250, 1250)
  volumes/labels/neuron_ids    uint64 (z, y, x)"""
SAMPLES = ("A", "B", "C")
RAW_KEY, IDS_KEY = "volumes/raw", "volumes/labels/neuron_ids"
PATCH = 250
GRID = (5, 5)  # patch rows x columns of a released 1250 x 1250 slice; `slice_grid` reads the files'
DEPTH = 125
TRAIN_SLICES = [*range(1, 15), *range(16, 75), *range(76, 82)]  # 1-based; 15 and 75 left out
SPLITS = {
    "train": [(sample, TRAIN_SLICES) for sample in SAMPLES],
    "val": [("C", list(range(82, 93)))],
    "test": [("C", list(range(93, DEPTH + 1)))],
}


def file_name(sample: str) -> str:
    return f"sample_{sample}_20160501.hdf"


def membranes(neuron_ids: np.ndarray) -> np.ndarray:
    """float32 {0, 1} mask [H, W] of the pixels of a 2D id image with a 4-neighbour of another id."""
    ids = np.asarray(neuron_ids)
    if ids.ndim != 2:
        raise ValueError(f"membranes expects a 2D id image, got shape {ids.shape}")
    mask = np.zeros(ids.shape, bool)
    vertical = ids[1:, :] != ids[:-1, :]
    horizontal = ids[:, 1:] != ids[:, :-1]
    mask[1:, :] |= vertical
    mask[:-1, :] |= vertical
    mask[:, 1:] |= horizontal
    mask[:, :-1] |= horizontal
    return mask.astype(np.float32)


def _folder(root: str) -> str:
    """The folder holding the sample files: the first candidate holding any of them."""
    if not os.path.isdir(root):
        raise missing(DATASET, root, LAYOUT, SOURCE, "the folder does not exist")
    for candidate in (root, os.path.join(root, "CREMI"), os.path.join(root, "cremi")):
        present = [s for s in SAMPLES if os.path.isfile(os.path.join(candidate, file_name(s)))]
        if present:
            absent = [os.path.join(candidate, file_name(s)) for s in SAMPLES if s not in present]
            if absent:
                raise missing(DATASET, root, LAYOUT, SOURCE, "missing file(s) " + ", ".join(absent))
            return candidate
    raise missing(DATASET, root, LAYOUT, SOURCE, "no sample_{A,B,C}_20160501.hdf files")


def slice_grid(root: str) -> tuple[int, int] | None:
    """Patch rows x columns of one slice of the files in ``root`` ((5, 5) for the release), read
    from the HDF5 headers; None when the samples' slices differ in size (no single layout)."""
    import h5py

    folder = _folder(root)
    shapes = set()
    for sample in SAMPLES:
        path = os.path.join(folder, file_name(sample))
        try:
            with h5py.File(path, "r") as handle:
                shapes.add(tuple(handle[RAW_KEY].shape[1:]))
        except (OSError, KeyError) as error:
            raise CorruptFileError(f"cannot read {RAW_KEY} of HDF5 file {path}: {error}") from error
    if len(shapes) != 1:
        return None
    height, width = shapes.pop()
    return height // PATCH, width // PATCH


def _read_sample(root: str, path: str, slices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Image patches float32 [S * G, 250, 250, 1] and membrane patches [S * G, 250, 250] of ``slices``."""
    import h5py  # imported here so jaxtopo imports without h5py installed

    try:
        handle = h5py.File(path, "r")
    except OSError as error:  # h5py raises OSError for files that are not HDF5
        raise CorruptFileError(f"cannot read HDF5 file {path}: {error}") from error
    with handle:
        for key in (RAW_KEY, IDS_KEY):
            if not isinstance(handle.get(key), h5py.Dataset):
                raise missing(DATASET, root, LAYOUT, SOURCE, f"{path} has no dataset {key!r}"
                              + (" (the '+' test volumes have no labels)" if key == IDS_KEY else ""))
        raw, ids = handle[RAW_KEY], handle[IDS_KEY]
        if raw.ndim != 3 or raw.shape != ids.shape:
            raise ValueError(f"{DATASET}: {path} has {RAW_KEY} of shape {raw.shape} and {IDS_KEY} of shape "
                             f"{ids.shape}; expected equal (z, y, x) shapes")
        if raw.dtype != np.uint8:
            raise ValueError(f"{DATASET}: {path} has {RAW_KEY} of dtype {raw.dtype}, expected uint8")
        depth, height, width = raw.shape
        if depth < DEPTH:
            raise ValueError(f"{DATASET}: {path} has {depth} slices; the SATLoss split needs {DEPTH} "
                             f"(slices 1-{DEPTH})")
        if height % PATCH or width % PATCH:
            raise ValueError(f"{DATASET}: slices of {path} are {width}x{height}; both sides must be "
                             f"multiples of {PATCH} (1250x1250 in the release)")
        # one contiguous read, then numpy indexing: h5py's list selection with gaps is very slow
        first, last = min(slices), max(slices)
        index = [s - first for s in slices]
        raw, ids = raw[first - 1:last][index], ids[first - 1:last][index]
    per_slice = (height // PATCH) * (width // PATCH)
    images = np.empty((len(slices) * per_slice, PATCH, PATCH, 1), np.float32)
    labels = np.empty((len(slices) * per_slice, PATCH, PATCH), np.float32)
    for i, (raw_slice, id_slice) in enumerate(zip(raw, ids)):
        rows = slice(i * per_slice, (i + 1) * per_slice)
        images[rows] = patch_grid(raw_slice[..., None].astype(np.float32) / 255.0, PATCH)
        labels[rows] = patch_grid(membranes(id_slice), PATCH)
    return images, labels


def load_cremi(root: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """CREMI A, B, C in the SATLoss protocol: raw slices and their membrane masks, cut into 250x250 patches.

    Returns {"train"|"val"|"test": (images float32 [N, 250, 250, 1] in [0, 1], labels float32
    [N, 250, 250] in {0, 1})}. N = 237 / 11 / 33 slices x patches per slice (25 for 1250x1250),
    ordered sample A, B, C, then slice, then row-major patch. Raises DatasetNotFoundError (missing
    folder or file, or a file without ``volumes/raw`` / ``volumes/labels/neuron_ids``, naming
    both), CorruptFileError (not an HDF5 file) or ValueError (fewer than 125 slices, shapes or
    dtype not as published; naming the file).
    """
    folder = _folder(root)
    splits = {}
    for split, parts in SPLITS.items():
        pairs = [_read_sample(root, os.path.join(folder, file_name(s)), slices) for s, slices in parts]
        splits[split] = pairs[0] if len(pairs) == 1 else tuple(np.concatenate(p) for p in zip(*pairs))
    return splits
