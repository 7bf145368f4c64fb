"""CrackTree260 loader on a fabricated copy in the real formats (grey JPEG, BMP labels)."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxtopo.data.common import DatasetNotFoundError
from jaxtopo.data.cracktree import FOLDS, load_cracktree


def fabricate_cracktree(root, *, mirror=False):
    """260 images: names 6001.. (800x600, a few .JPG) and DSCN0001.. (960x720) sorted after them."""
    base = os.path.join(root, "CrackTree260")
    image_dir, label_dir = (os.path.join(base, "img"), os.path.join(base, "lab")) if mirror else (
        os.path.join(base, "image"), os.path.join(base, "gt"))
    os.makedirs(image_dir)
    os.makedirs(label_dir)
    names = [f"{6001 + i}" for i in range(250)] + [f"DSCN{i:04d}" for i in range(1, 11)]
    for position, name in enumerate(names, start=1):
        big = name.startswith("DSCN")
        width, height = (960, 720) if big else (800, 600)
        grey = np.full((height, width), 100, np.uint8)
        label = np.zeros((height, width), np.uint8)
        top = 60 if big else 0  # the crop removes 60 rows at the top of 960x720 images
        label[top + 150, 0:700] = 255  # a crack through patches 0, 1 and 2 at row 150
        extension = ".JPG" if position % 50 == 0 else ".jpg"
        Image.fromarray(grey).save(os.path.join(image_dir, name + extension), quality=95)
        Image.fromarray(label).save(os.path.join(label_dir, name + ".bmp"))
    return root


@pytest.fixture(scope="module")
def crack_root(tmp_path_factory):
    return fabricate_cracktree(str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def fold1(crack_root):
    return load_cracktree(crack_root, fold=1)


def test_every_fold_is_a_partition_of_the_260_images():
    for fold, splits in FOLDS.items():
        positions = [p for ranges in splits.values() for r in ranges for p in r]
        assert sorted(positions) == list(range(1, 261)), fold
        assert [sum(len(r) for r in splits[s]) for s in ("train", "val", "test")] == [200, 20, 40]


def test_fold_sizes_and_geometry(crack_root, fold1):
    for (split, (images, labels)), count in zip(fold1.items(), (200, 20, 40)):
        assert images.shape == (6 * count, 300, 300, 1) and labels.shape == (6 * count, 300, 300)
        assert set(np.unique(labels)) <= {0.0, 1.0}
        # the crack at row 150 crosses the first two patches fully and the third up to x = 700
        assert labels[0::6, 150].min() == 1.0 and labels[1::6, 150].min() == 1.0
        assert labels[2::6, 150, :100].min() == 1.0 and labels[3::6].max() == 0.0
    # the 800x600 images are padded on the right with zeros (patch 2, columns 200..299)
    train_images = fold1["train"][0]
    assert train_images[2, :, 250, 0].max() == 0.0 and train_images[0, 10, 10, 0] > 0.3


def test_mirror_layout_and_fold_positions(tmp_path, fold1):
    root = fabricate_cracktree(str(tmp_path), mirror=True)
    # fold 3 validation = sorted positions 1..20: all 800x600 images, padded on the right
    val = load_cracktree(root, fold=3)["val"][0]
    assert val.shape[0] == 120 and val[2::6, :, 250, 0].max() == 0.0
    # fold 1 test = positions 221..260: the last 10 are the cropped 960x720 DSCN images
    test = fold1["test"][0]
    assert test[-6 * 10 + 2, :, 250, 0].min() > 0.3


def test_errors(tmp_path, crack_root):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)CrackTree260.*" + str(tmp_path) + ".*DeepCrack"):
        load_cracktree(str(tmp_path))
    with pytest.raises(ValueError, match="fold"):
        load_cracktree(crack_root, fold=0)
