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
            label[:, 305] = 255  # a road down the second patch column, x = 5
            label[:, 700] = 100  # below the threshold: not a road
            Image.fromarray(rgb).save(os.path.join(image_dir, f"1007866{i}_15.tiff"))
            Image.fromarray(label).save(os.path.join(label_dir, f"1007866{i}_15.tif"))
    return root


@pytest.mark.parametrize("mirror", [False, True])
def test_layouts_patches_and_labels(tmp_path, mirror):
    splits = load_roads(fabricate_roads(str(tmp_path), mirror=mirror))
    for images, labels in splits.values():
        assert images.shape == (25, 300, 300, 3) and labels.shape == (25, 300, 300)
        assert images[13, 20, 10].tolist() == [1.0, 0.0, 0.0]
        assert labels[1::5, :, 5].min() == 1.0 and labels.sum() == 5 * 300  # one column of 5 patches


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)Roads.*" + str(tmp_path) + ".*Mnih"):
        load_roads(str(tmp_path))
    root = fabricate_roads(str(tmp_path / "copy"))
    os.remove(os.path.join(root, "mass_roads", "valid", "map", "10078660_15.tif"))
    with pytest.raises(DatasetNotFoundError, match="10078660_15.tif"):
        load_roads(root)
