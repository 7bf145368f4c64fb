"""CREMI loader on fabricated HDF5 volumes with the real keys and dtypes (small slices)."""

import os

import h5py
import numpy as np
import pytest

from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.cremi import load_cremi, membranes


def fabricate_cremi(root, *, depth=125, side=250):
    os.makedirs(root, exist_ok=True)
    for sample in "ABC":
        raw = np.zeros((depth, side, side), np.uint8)
        raw[:, 0, 0] = np.arange(1, depth + 1)  # slice number, to check the split
        ids = np.ones((depth, side, side), np.uint64)
        ids[:, :, side // 2:] = 2**40  # two neurons split at x = side / 2
        with h5py.File(os.path.join(root, f"sample_{sample}_20160501.hdf"), "w") as f:
            f.create_dataset("volumes/raw", data=raw)
            f.create_dataset("volumes/labels/neuron_ids", data=ids)
            f["volumes/raw"].attrs["resolution"] = (40, 4, 4)
    return root


def test_membranes_by_hand():
    ids = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    want = np.array([[0, 1, 1], [1, 1, 1], [1, 1, 1]], np.float32)
    np.testing.assert_array_equal(membranes(ids), want)


def test_splits_and_labels(tmp_path):
    splits = load_cremi(fabricate_cremi(str(tmp_path)))
    sizes = {name: len(images) for name, (images, _) in splits.items()}
    assert sizes == {"train": 3 * 79, "val": 11, "test": 33}
    val_images, val_labels = splits["val"]
    assert np.round(val_images[:, 0, 0, 0] * 255).astype(int).tolist() == list(range(82, 93))
    assert val_labels[0, :, 124:126].min() == 1.0 and val_labels[0].sum() == 2 * 250
    train_slices = np.round(splits["train"][0][:79, 0, 0, 0] * 255).astype(int)
    assert 15 not in train_slices and 75 not in train_slices


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)CREMI.*cremi.org"):
        load_cremi(str(tmp_path))
    root = fabricate_cremi(str(tmp_path / "short"), depth=100, side=250)
    with pytest.raises(ValueError, match="100 slices"):
        load_cremi(root)
    root = fabricate_cremi(str(tmp_path / "broken"), depth=125, side=250)
    with open(os.path.join(root, "sample_B_20160501.hdf"), "wb") as f:
        f.write(b"not hdf5")
    with pytest.raises(CorruptFileError, match="sample_B_20160501.hdf"):
        load_cremi(root)
