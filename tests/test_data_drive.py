"""DRIVE loader on a fabricated miniature copy in the real formats (LZW TIFF, grey GIF)."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.drive import FOLDS, load_drive


def fabricate_drive(root, numbers=range(21, 41)):
    """DRIVE/training with images that encode their number in pixel (0, 0) of the first patch."""
    folder = os.path.join(root, "DRIVE", "training")
    for sub in ("images", "1st_manual", "mask"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for number in numbers:
        rgb = np.full((584, 565, 3), 40, np.uint8)
        rgb[17, 7] = number  # top-left pixel of the 550x550 centre crop: (584-550)//2, (565-550)//2
        label = np.zeros((584, 565), np.uint8)
        label[17 + 300, 7 + 10:7 + 200] = 255  # a vessel inside the bottom-left patch
        Image.fromarray(rgb).save(os.path.join(folder, "images", f"{number:02d}_training.tif"),
                                  compression="tiff_lzw")
        Image.fromarray(label).save(os.path.join(folder, "1st_manual", f"{number:02d}_manual1.gif"),
                                    optimize=False)
        Image.fromarray(np.full((584, 565), 255, np.uint8)).save(
            os.path.join(folder, "mask", f"{number:02d}_training_mask.gif"), optimize=False)
    return root


@pytest.fixture(scope="module")
def drive_root(tmp_path_factory):
    return fabricate_drive(str(tmp_path_factory.mktemp("data")))


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_folds_patches_and_labels(drive_root, fold):
    splits = load_drive(drive_root, fold=fold)
    for split, numbers in FOLDS[fold].items():
        images, labels = splits[split]
        assert images.shape == (4 * len(numbers), 275, 275, 3) and images.dtype == np.float32
        assert labels.shape == (4 * len(numbers), 275, 275)
        assert set(np.unique(labels)) == {0.0, 1.0}
        # pixel (0, 0) of every image's first patch carries the image number
        assert sorted(np.round(images[::4, 0, 0, 0] * 255).astype(int)) == sorted(numbers)
        # the vessel lies in patch 2 (bottom-left) at row 300 - 275 = 25
        assert labels[2::4, 25, 10:200].min() == 1.0 and labels[0::4].max() == 0.0


def test_root_may_be_the_drive_folder(drive_root):
    a = load_drive(drive_root)["val"][0]
    b = load_drive(os.path.join(drive_root, "DRIVE"))["val"][0]
    np.testing.assert_array_equal(a, b)


def test_missing_folder_says_what_and_where(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)DRIVE.*" + str(tmp_path) + ".*drive.grand-challenge.org"):
        load_drive(str(tmp_path))


def test_missing_label_is_named(tmp_path):
    root = fabricate_drive(str(tmp_path), numbers=range(21, 41))
    os.remove(os.path.join(root, "DRIVE", "training", "1st_manual", "33_manual1.gif"))
    with pytest.raises(DatasetNotFoundError, match="33_manual1.gif"):
        load_drive(root, fold=1)


def test_corrupt_image_is_named(tmp_path):
    root = fabricate_drive(str(tmp_path), numbers=range(21, 41))
    path = os.path.join(root, "DRIVE", "training", "images", "21_training.tif")
    with open(path, "wb") as f:
        f.write(b"not a tiff")
    with pytest.raises(CorruptFileError, match="21_training.tif"):
        load_drive(root, fold=2)
    with pytest.raises(ValueError, match="fold"):
        load_drive(root, fold=4)
