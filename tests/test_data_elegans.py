"""C.Elegans-small loader on a fabricated BBBC010 copy (uint16 TIFF, RGBA PNG ground truth)."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxtopo.data.common import DatasetNotFoundError
from jaxtopo.data.elegans import FOLDS, WELLS, load_elegans_small


def fabricate_bbbc010(root):
    images = os.path.join(root, "BBBC010_v1_images")
    labels = os.path.join(root, "BBBC010_v1_foreground")
    os.makedirs(images)
    os.makedirs(labels)
    for i, well in enumerate(WELLS):
        for channel in ("w1", "w2"):
            data = np.full((520, 696), 1000, np.uint16)
            data[260, 348] = 40000 + i  # the centre pixel: survives only without 8-bit conversion
            Image.fromarray(data).save(os.path.join(images, f"1649_1109_0003_Amp5-1_B_20070424_{well}_{channel}_"
                                                            f"{i:08X}-ABCD-1234.tif"))
        mask = np.zeros((520, 696, 4), np.uint8)
        mask[..., 3] = 255
        mask[90:260, 178:348, :3] = 255  # the top-left quarter of the 340 crop: patch 0
        Image.fromarray(mask, mode="RGBA").save(os.path.join(labels, f"{well}_binary.png"))
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fabricate_bbbc010(str(tmp_path_factory.mktemp("bbbc")))


def test_folds_geometry_and_labels(root):
    for fold in (1, 2, 3):
        wells = FOLDS[fold]
        assert sorted(sum(wells.values(), [])) == sorted(WELLS)
    splits = load_elegans_small(root, fold=1)
    for name, (images, labels) in splits.items():
        assert images.shape == (4 * len(FOLDS[1][name]), 48, 48, 1)
        assert labels[0::4].min() == 1.0 and labels[1::4].max() == 0.0 and labels[3::4].max() == 0.0
        assert images.max() == 1.0 and images.min() > 0.0  # per-image max scaling of uint16 data
    assert len(splits["train"][0]) == 4 * 70 and len(splits["val"][0]) == 4 * 10


def test_errors(tmp_path, root):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)BBBC010.*broadinstitute"):
        load_elegans_small(str(tmp_path))
    with pytest.raises(ValueError, match="fold"):
        load_elegans_small(root, fold=5)
    with pytest.raises(ValueError, match="channel"):
        load_elegans_small(root, channel="w3")
