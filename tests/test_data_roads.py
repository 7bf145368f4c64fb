"""Massachusetts Roads loader on fabricated copies of both layouts (RGB .tiff, .tif labels)."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxtopo.data.common import DatasetNotFoundError
from jaxtopo.data.roads import load_roads


def fabricate_roads(root, *, mirror=False, per_split=1):
    for split, official in (("train", "train"), ("val", "valid"), ("test", "test")):
        if mirror:
            image_dir, label_dir = (os.path.join(root, "tiff", split), os.path.join(root, "tiff", f"{split}_labels"))
        else:
            image_dir, label_dir = (os.path.join(root, "mass_roads", official, "sat"),
                                    os.path.join(root, "mass_roads", official, "map"))
        os.makedirs(image_dir)
        os.makedirs(label_dir)
        for i in range(per_split):
            rgb = np.full((1500, 1500, 3), 90, np.uint8)
            rgb[620, 910] = (255, 0, 0)  # lands in patch 2 * 5 + 3 = 13 at (20, 10)
            label = np.zeros((1500, 1500), np.uint8)
            label[:, 305:317] = 255  # a 12-pixel road down the second patch column, x = 5..16
            label[:, 700] = 100  # below the threshold: not a road
            Image.fromarray(rgb).save(os.path.join(image_dir, f"1007866{i}_15.tiff"))
            Image.fromarray(label).save(os.path.join(label_dir, f"1007866{i}_15.tif"))
    return root


@pytest.mark.parametrize("mirror", [False, True])
def test_layouts_patches_and_labels(tmp_path, mirror):
    splits = load_roads(fabricate_roads(str(tmp_path), mirror=mirror))
    for images, labels in splits.values():
        assert images.shape == (25, 300, 300, 3) and labels.shape == (25, 300, 300)
        assert images.dtype == labels.dtype == np.uint8  # the full split must fit in memory
        assert images[13, 20, 10].tolist() == [255, 0, 0]
        assert labels[1::5, :, 5:17].min() == 1.0 and labels.sum() == 12 * 5 * 300  # in 5 patches


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)Roads.*" + str(tmp_path) + ".*Mnih"):
        load_roads(str(tmp_path))
    root = fabricate_roads(str(tmp_path / "copy"))
    os.remove(os.path.join(root, "mass_roads", "valid", "map", "10078660_15.tif"))
    with pytest.raises(DatasetNotFoundError, match="10078660_15.tif"):
        load_roads(root)


def test_roads_small_folds_and_geometry(tmp_path, monkeypatch):
    import jaxtopo.data.roads as roads

    folds = roads._small_folds()
    for fold in folds.values():
        assert sorted(fold["train"] + fold["val"] + fold["test"]) == list(range(134))
        assert len(fold["val"]) == 10 and len(fold["test"]) in (44, 45)
    # a small copy: shrink the required count so a few 1500x1500 images suffice
    monkeypatch.setattr(roads, "SMALL_COUNT", 6)
    monkeypatch.setattr(roads, "_small_folds", lambda: {1: dict(train=[0, 1, 2, 3], val=[4], test=[5])})
    root = fabricate_roads(str(tmp_path), per_split=2)
    splits = roads.load_roads_small(root, fold=1)
    images, labels = splits["train"]
    assert images.shape == (4 * 64, 48, 48, 3) and labels.shape == (4 * 64, 48, 48)
    # the road at x = 305..316 becomes x = 76..79 after the 4x downsample: patch column 1, x = 28..31
    assert labels[1:56:8, :, 29:31].min() == 1.0 and labels[0:64:8].max() == 0.0  # patch rows 0..6
    # padding: the last 9 rows/columns of the 384 canvas are zero
    assert images[63, -9:, :, :].max() == 0.0
