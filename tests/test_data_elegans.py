"""C.Elegans-small loader on a fabricated BBBC010 copy (uint16 TIFF 696x520, RGBA PNG ground truth)."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.elegans import FOLDS, WELLS, load_elegans_small

PREFIX = "1649_1109_0003_Amp5-1_B_20070424"  # the real prefix, with a "_B_" that is no well


def image_name(i, well, channel):
    return f"{PREFIX}_{well}_{channel}_{i:08X}-1B25-4E7E-8040-D1BB2D7E73EA.tif"


def fabricate_bbbc010(root):
    """Every well: background 1000 (w1) / 300 (w2) with a 4000 + i block on the top-left quarter
    of the centre 340 crop (rows 90..259, columns 178..347), the same block as foreground."""
    images = os.path.join(root, "BBBC010_v2_images")
    labels = os.path.join(root, "BBBC010_v1_foreground")
    os.makedirs(images)
    os.makedirs(labels)
    for i, well in enumerate(WELLS):
        for channel, background in (("w1", 1000), ("w2", 300)):
            data = np.full((520, 696), background, np.uint16)
            data[90:260, 178:348] = 4000 + i  # > 255: lost by an 8-bit conversion
            Image.fromarray(data).save(os.path.join(images, image_name(i, well, channel)))
        mask = np.zeros((520, 696, 4), np.uint8)
        mask[..., 3] = 255
        mask[90:260, 178:348, :3] = 255
        mask[0:90, 0:696, 3] = 0  # transparent, outside the crop anyway
        Image.fromarray(mask, mode="RGBA").save(os.path.join(labels, f"{well}_binary.png"))
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fabricate_bbbc010(str(tmp_path_factory.mktemp("bbbc")))


def test_wells_and_folds():
    assert len(WELLS) == 100 and WELLS[:3] == ["A01", "A02", "A03"] and WELLS[23:25] == ["A24", "B01"]
    assert WELLS[-5:] == ["D24", "E01", "E02", "E03", "E04"]
    for fold in (1, 2, 3):
        wells = FOLDS[fold]
        assert sorted(sum(wells.values(), [])) == sorted(WELLS)
        assert [len(wells[s]) for s in ("train", "val", "test")] == [70, 10, 20]
    assert FOLDS[1]["val"] == ["C23", "C24"] + [f"D{i:02d}" for i in range(1, 9)]
    assert FOLDS[2]["test"] == [f"A{i:02d}" for i in range(11, 25)] + [f"B{i:02d}" for i in range(1, 7)]
    assert FOLDS[3]["train"][39:41] == ["B16", "C23"] and FOLDS[3]["test"][0] == "B17"


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_fold_sizes_geometry_labels_and_scaling(root, fold):
    splits = load_elegans_small(root, fold=fold)
    for name, (images, labels) in splits.items():
        assert images.shape == (4 * len(FOLDS[fold][name]), 48, 48, 1) and labels.shape == images.shape[:3]
        assert images.dtype == labels.dtype == np.float32
        # the foreground quarter is patch 0 of every well, nothing elsewhere
        assert labels[0::4].min() == 1.0 and labels[1::4].max() == labels[2::4].max() == labels[3::4].max() == 0.0
        # per-image max scaling of the unchanged uint16 data: block = 1, background = 1000 / (4000 + i)
        wells = [WELLS.index(w) for w in FOLDS[fold][name]]
        np.testing.assert_allclose(images[0::4].max(axis=(1, 2, 3)), 1.0)
        np.testing.assert_allclose(images[3::4, 0, 0, 0], [1000 / (4000 + i) for i in wells], rtol=1e-6)
    assert [len(splits[s][0]) for s in ("train", "val", "test")] == [280, 40, 80]


def test_gfp_channel_and_root_forms(root, tmp_path):
    images, _ = load_elegans_small(root, channel="w2")["val"]
    np.testing.assert_allclose(images[3::4, 0, 0, 0], [300 / (4000 + WELLS.index(w)) for w in FOLDS[1]["val"]],
                               rtol=1e-6)
    # root = the image folder itself, with the foreground folder beside it
    images_only, _ = load_elegans_small(os.path.join(root, "BBBC010_v2_images"))["val"]
    np.testing.assert_array_equal(images_only, load_elegans_small(root)["val"][0])


def test_errors(tmp_path, root):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)BBBC010.*" + str(tmp_path) + ".*broadinstitute"):
        load_elegans_small(str(tmp_path))
    with pytest.raises(ValueError, match="fold"):
        load_elegans_small(root, fold=5)
    with pytest.raises(ValueError, match="channel"):
        load_elegans_small(root, channel="w3")
    copy = str(tmp_path / "copy")
    shutil.copytree(root, copy)
    os.remove(os.path.join(copy, "BBBC010_v1_foreground", "C23_binary.png"))
    os.remove(os.path.join(copy, "BBBC010_v2_images", image_name(WELLS.index("D01"), "D01", "w2")))
    with pytest.raises(DatasetNotFoundError, match=r"(?s)missing .*C23_binary\.png.*well D01 channel w2"):
        load_elegans_small(copy, fold=2, channel="w2")
    with pytest.raises(DatasetNotFoundError, match=r"C23_binary\.png"):  # needed by every fold
        load_elegans_small(copy, fold=1)
    copy = str(tmp_path / "corrupt")
    shutil.copytree(root, copy)
    with open(os.path.join(copy, "BBBC010_v2_images", image_name(WELLS.index("A05"), "A05", "w1")), "wb") as f:
        f.write(b"not a tiff")
    with pytest.raises(CorruptFileError, match=image_name(WELLS.index("A05"), "A05", "w1")):
        load_elegans_small(copy, fold=2)  # A05 is in fold 2's validation split
    shutil.rmtree(os.path.join(copy, "BBBC010_v1_foreground"))
    with pytest.raises(DatasetNotFoundError, match="BBBC010_v1_foreground"):
        load_elegans_small(copy)
