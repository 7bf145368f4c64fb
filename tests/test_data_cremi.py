"""CREMI loader on fabricated HDF5 volumes with the real file names, keys and dtypes (small slices)."""

import os
import shutil

import h5py
import numpy as np
import pytest
from skimage.segmentation import find_boundaries

from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.cremi import load_cremi, membranes

BIG_ID = 2**40 + 1  # beyond float32 / int32 precision: ids must be compared as uint64


def fabricate_cremi(root, *, depth=125, height=250, width=500, samples="ABC", labels=True):
    """Raw: pixel (0, 0) holds the 1-based slice number, pixel (0, 251) the sample (65 + k).
    Ids: neuron 1 on the left half, neuron BIG_ID on the right (a boundary at x = 249 | 250,
    on the patch border), and a 10x10 neuron BIG_ID + 1 at rows 100..109, x = 300..309."""
    os.makedirs(root, exist_ok=True)
    for k, sample in enumerate(samples):
        raw = np.full((depth, height, width), 100, np.uint8)
        raw[:, 0, 0] = np.arange(1, depth + 1)
        raw[:, 0, min(251, width - 1)] = 65 + k
        ids = np.ones((depth, height, width), np.uint64)
        ids[:, :, width // 2:] = BIG_ID
        ids[:, 100:110, 300:310] = BIG_ID + 1
        # chunked per slice and gzip-compressed: small, fast files (the loader reads either kind)
        storage = dict(chunks=(1, height, width), compression="gzip", compression_opts=1)
        with h5py.File(os.path.join(root, f"sample_{sample}_20160501.hdf"), "w") as f:
            f.create_dataset("volumes/raw", data=raw, **storage)
            f["volumes/raw"].attrs["resolution"] = (40.0, 4.0, 4.0)
            if labels:
                f.create_dataset("volumes/labels/neuron_ids", data=ids, **storage)
                f["volumes/labels/neuron_ids"].attrs["resolution"] = (40.0, 4.0, 4.0)
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fabricate_cremi(str(tmp_path_factory.mktemp("cremi")))


def test_membranes_by_hand():
    ids = np.array([[1, 1, 2],
                    [1, 1, 2],
                    [3, 3, 3]], np.uint64)
    want = np.array([[0, 1, 1],
                     [1, 1, 1],
                     [1, 1, 1]], np.float32)
    np.testing.assert_array_equal(membranes(ids), want)
    # id 0 is a neuron like any other (skimage's mode="inner" would leave it unmarked)
    np.testing.assert_array_equal(membranes(ids - 1), want)
    # a 2x2 neuron inside another: its 4 pixels and their 8 outside 4-neighbours, not the corners
    ids = np.zeros((6, 6), np.uint64)
    ids[2:4, 2:4] = BIG_ID
    want = np.zeros((6, 6), np.float32)
    want[2:4, 1:5] = want[1:5, 2:4] = 1
    np.testing.assert_array_equal(membranes(ids), want)
    # ids differing only beyond float precision are different neurons
    assert membranes(np.array([[BIG_ID, BIG_ID + 1]], np.uint64)).tolist() == [[1.0, 1.0]]


def test_membranes_match_skimage_thick():
    ids = np.random.default_rng(0).integers(0, 4, size=(40, 30)).astype(np.uint64)
    np.testing.assert_array_equal(membranes(ids), find_boundaries(ids, connectivity=1, mode="thick"))


def test_splits_patches_and_labels(root):
    splits = load_cremi(root)
    sizes = {name: len(images) for name, (images, _) in splits.items()}
    assert sizes == {"train": 2 * 3 * 79, "val": 2 * 11, "test": 2 * 33}  # 2 patches per 250x500 slice
    for images, labels in splits.values():
        assert images.shape[1:] == (250, 250, 1) and labels.shape[1:] == (250, 250)
        assert images.dtype == labels.dtype == np.float32
        assert 0.0 <= images.min() and images.max() <= 1.0 and set(np.unique(labels)) == {0.0, 1.0}
        assert abs(images[0, 5, 5, 0] - 100 / 255) < 1e-7

    def slice_numbers(images):
        return np.round(images[0::2, 0, 0, 0] * 255).astype(int).tolist()

    def sample_letters(images):
        return "".join(chr(round(v * 255)) for v in images[1::2, 0, 1, 0])

    train, val, test = splits["train"][0], splits["val"][0], splits["test"][0]
    want_train = [*range(1, 15), *range(16, 75), *range(76, 82)]
    assert slice_numbers(train) == want_train * 3 and sample_letters(train) == "A" * 79 + "B" * 79 + "C" * 79
    assert slice_numbers(val) == list(range(82, 93)) and sample_letters(val) == "C" * 11
    assert slice_numbers(test) == list(range(93, 126)) and sample_letters(test) == "C" * 33

    labels = splits["val"][1]
    left, right = labels[0::2], labels[1::2]
    assert left[:, :, 249].min() == 1.0 and left[:, :, :249].max() == 0.0  # the boundary column, left side
    want_right = np.zeros((250, 250), np.float32)
    want_right[:, 0] = 1  # right side of the vertical boundary
    want_right[100:110, 49:61] = want_right[99:111, 50:60] = 1  # the small neuron's ring, both sides
    want_right[101:109, 51:59] = 0
    for label in right:
        np.testing.assert_array_equal(label, want_right)


def test_root_may_hold_a_cremi_folder(root, tmp_path):
    parent = tmp_path / "data"
    shutil.copytree(root, parent / "CREMI")
    assert len(load_cremi(str(parent))["val"][0]) == 22


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)CREMI.*" + str(tmp_path) + ".*cremi.org"):
        load_cremi(str(tmp_path))
    small = dict(depth=125, height=250, width=250)
    root = fabricate_cremi(str(tmp_path / "no_b"), samples="AC", **small)
    with pytest.raises(DatasetNotFoundError, match=r"sample_B_20160501\.hdf"):
        load_cremi(root)
    root = fabricate_cremi(str(tmp_path / "unlabelled"), **small)
    fabricate_cremi(root, samples="C", labels=False, **small)
    with pytest.raises(DatasetNotFoundError, match=r"sample_C_20160501\.hdf has no dataset 'volumes/labels/neuron_ids"):
        load_cremi(root)
    root = fabricate_cremi(str(tmp_path / "short"), depth=100, **{k: small[k] for k in ("height", "width")})
    with pytest.raises(ValueError, match=r"sample_A_20160501\.hdf has 100 slices"):
        load_cremi(root)
    root = fabricate_cremi(str(tmp_path / "odd"), depth=125, height=250, width=300)
    with pytest.raises(ValueError, match=r"sample_A_20160501\.hdf are 300x250"):
        load_cremi(root)
    root = fabricate_cremi(str(tmp_path / "broken"), **small)
    with open(os.path.join(root, "sample_B_20160501.hdf"), "wb") as f:
        f.write(b"not hdf5")
    with pytest.raises(CorruptFileError, match=r"sample_B_20160501\.hdf"):
        load_cremi(root)
