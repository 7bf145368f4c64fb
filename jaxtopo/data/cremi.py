"""CREMI neuron membranes (EM), SATLoss protocol.

``sample_{A,B,C}_20160501.hdf`` (HDF5): ``volumes/raw`` uint8 (z, y, x) and
``volumes/labels/neuron_ids`` uint64. The membrane mask of a z-slice marks the pixels with a
4-neighbour of another neuron id (both sides of every boundary). Split by 1-based slice number:
train = slices 1-14, 16-74 and 76-81 of A, B and C; val = C 82-92; test = C 93-125. Every slice
is cut into 250 x 250 patches (25 for the real 1250 x 1250 slices; the grid follows the slice
size, which must be a multiple of 250).

``root`` may be the folder holding the three files or a ``CREMI``/``cremi`` folder inside it.
"""

from __future__ import annotations

import os

import numpy as np

from jaxtopo.data.common import CorruptFileError, missing, patch_grid

SOURCE = "the CREMI challenge (https://cremi.org)"
LAYOUT = """sample_A_20160501.hdf, sample_B_20160501.hdf, sample_C_20160501.hdf
  with volumes/raw (uint8, z y x) and volumes/labels/neuron_ids (uint64)"""
PATCH = 250
TRAIN_SLICES = [*range(1, 15), *range(16, 75), *range(76, 82)]
SPLITS = {
    "train": [(sample, TRAIN_SLICES) for sample in "ABC"],
    "val": [("C", list(range(82, 93)))],
    "test": [("C", list(range(93, 126)))],
}


def membranes(neuron_ids: np.ndarray) -> np.ndarray:
    """float32 mask of the pixels of a 2D id image that have a 4-neighbour with another id."""
    ids = np.asarray(neuron_ids)
    mask = np.zeros(ids.shape, bool)
    vertical = ids[1:, :] != ids[:-1, :]
    horizontal = ids[:, 1:] != ids[:, :-1]
    mask[1:, :] |= vertical
    mask[:-1, :] |= vertical
    mask[:, 1:] |= horizontal
    mask[:, :-1] |= horizontal
    return mask.astype(np.float32)


def _folder(root: str) -> str:
    for candidate in (root, os.path.join(root, "CREMI"), os.path.join(root, "cremi")):
        if os.path.isfile(os.path.join(candidate, "sample_A_20160501.hdf")):
            return candidate
    raise missing("CREMI", root, LAYOUT, SOURCE, "no sample_A_20160501.hdf")


def _read_sample(path: str, slices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    if not os.path.isfile(path):
        raise missing("CREMI", os.path.dirname(path), LAYOUT, SOURCE, f"missing file {path}")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise CorruptFileError(f"cannot read HDF5 file {path}: {error}") from error
    with handle:
        for key in ("volumes/raw", "volumes/labels/neuron_ids"):
            if key not in handle:
                raise CorruptFileError(f"{path} has no dataset {key!r}")
        raw, ids = handle["volumes/raw"], handle["volumes/labels/neuron_ids"]
        if raw.shape[0] < max(slices):
            raise ValueError(f"CREMI: {path} has {raw.shape[0]} slices; the split needs {max(slices)}")
        index = [s - 1 for s in slices]
        raw, ids = raw[index], ids[index]
    images = np.concatenate([patch_grid(slice_[..., None].astype(np.float32) / 255.0, PATCH) for slice_ in raw])
    labels = np.concatenate([patch_grid(membranes(slice_), PATCH) for slice_ in ids])
    return images, labels


def load_cremi(root: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images float32 [N, 250, 250, 1], labels float32 [N, 250, 250])}."""
    folder = _folder(root)
    splits = {}
    for split, parts in SPLITS.items():
        pairs = [_read_sample(os.path.join(folder, f"sample_{s}_20160501.hdf"), slices) for s, slices in parts]
        splits[split] = (np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))
    return splits
