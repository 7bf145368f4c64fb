"""DRIVE loader on a fabricated miniature copy in the real formats (LZW TIFF, grey GIF labels and masks)."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.drive import load_drive

# docs/datasets.md section 2, written out again here so that a wrong table in the module cannot pass
EXPECTED_FOLDS = {
    1: dict(train=list(range(21, 33)), val=[33, 34], test=list(range(35, 41))),
    2: dict(train=list(range(29, 41)), val=[27, 28], test=list(range(21, 27))),
    3: dict(train=list(range(23, 29)) + list(range(35, 41)), val=[21, 22], test=list(range(29, 35))),
}
TOP, LEFT = (584 - 550) // 2, (565 - 550) // 2  # 17, 7: the blank margins cropped away
MARGIN_COLOUR = (250, 1, 2)  # painted outside the 550 x 550 crop; must never appear in a patch
MARK_IMAGE, MARK_COLOUR = 37, (255, 0, 128)  # one image carries this pixel at bottom-right patch (100, 50)


def fabricate_drive(root, numbers=range(21, 41)):
    """DRIVE/training in the distributed formats; every patch's pixel (0, 0) holds (image number, patch index, 200)."""
    folder = os.path.join(root, "DRIVE", "training")
    for sub in ("images", "1st_manual", "mask"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for number in numbers:
        rgb = np.full((584, 565, 3), 40, np.uint8)
        rgb[:TOP], rgb[TOP + 550:], rgb[:, :LEFT], rgb[:, LEFT + 550:] = (MARGIN_COLOUR,) * 4
        for patch, (row, col) in enumerate([(0, 0), (0, 275), (275, 0), (275, 275)]):
            rgb[TOP + row, LEFT + col] = (number, patch, 200)
        if number == MARK_IMAGE:
            rgb[TOP + 275 + 100, LEFT + 275 + 50] = MARK_COLOUR
        label = np.zeros((584, 565), np.uint8)
        label[TOP + 300, LEFT + 10:LEFT + 200] = 255  # a vessel inside the bottom-left patch, its row 25
        label[TOP - 1, LEFT:LEFT + 550] = 255  # just above the crop: must be cut away
        label[TOP + 5, LEFT + 5], label[TOP + 5, LEFT + 6] = 127, 128  # threshold >= 128
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


@pytest.fixture
def drive_copy(drive_root, tmp_path):
    """A copy the test may damage."""
    shutil.copytree(os.path.join(drive_root, "DRIVE"), os.path.join(tmp_path, "DRIVE"))
    return str(tmp_path)


def test_fabricated_files_read_back_like_the_real_ones(drive_root):
    folder = os.path.join(drive_root, "DRIVE", "training")
    with Image.open(os.path.join(folder, "images", "21_training.tif")) as image:
        assert (image.mode, image.size, image.info.get("compression")) == ("RGB", (565, 584), "tiff_lzw")
    with Image.open(os.path.join(folder, "1st_manual", "21_manual1.gif")) as label:
        assert (label.format, label.mode, label.size) == ("GIF", "L", (565, 584))


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_folds_order_and_patch_layout(drive_root, fold):
    splits = load_drive(drive_root, fold=fold)
    assert list(splits) == ["train", "val", "test"]
    for split, numbers in EXPECTED_FOLDS[fold].items():
        images, labels = splits[split]
        assert images.shape == (4 * len(numbers), 275, 275, 3) and images.dtype == np.float32
        assert labels.shape == (4 * len(numbers), 275, 275) and labels.dtype == np.float32
        assert 0.0 <= images.min() and images.max() <= 1.0
        # image numbers in sorted order, each followed by its patches 0..3 in row-major order
        corner = np.round(images[:, 0, 0] * 255).astype(int)
        expected = [(number, patch, 200) for number in sorted(numbers) for patch in range(4)]
        assert [tuple(pixel) for pixel in corner] == expected
        # nothing from the blank margins survives the crop
        assert not np.all(np.round(images * 255) == MARGIN_COLOUR, axis=-1).any()
        assert set(np.unique(labels)) == {0.0, 1.0}
        assert labels[2::4, 25, 10:200].min() == 1.0 and labels[2::4].sum() == len(numbers) * 190
        assert labels[0::4, 0].max() == 0.0  # the label row above the crop is cut away
        assert (labels[0::4, 5, 5] == 0).all() and (labels[0::4, 5, 6] == 1).all()  # 127 -> 0, 128 -> 1
        assert labels[1::4].max() == 0.0 and labels[3::4].max() == 0.0


def test_a_marked_pixel_lands_in_its_patch(drive_root):
    images = load_drive(drive_root, fold=1)["test"][0]  # images 35..40: image 37 is the third
    found = np.argwhere(np.all(np.round(images * 255) == MARK_COLOUR, axis=-1))
    assert found.tolist() == [[2 * 4 + 3, 100, 50]]


def test_root_may_be_the_drive_folder(drive_root):
    a = load_drive(drive_root, fold=2)["val"]
    b = load_drive(os.path.join(drive_root, "DRIVE"), fold=2)["val"]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_palette_gif_labels_are_read_through_grey(drive_copy):
    """2nd_manual-style GIFs open in mode P (indices 0/1, grey 3/253): same labels as the mode-L ones."""
    path = os.path.join(drive_copy, "DRIVE", "training", "1st_manual", "33_manual1.gif")
    before = load_drive(drive_copy, fold=1)["val"][1]
    with Image.open(path) as label:
        indices = (np.asarray(label) >= 128).astype(np.uint8)
    palette = Image.fromarray(indices, mode="P")
    palette.putpalette([3, 3, 3, 253, 253, 253])
    palette.save(path, optimize=False)
    with Image.open(path) as label:
        assert label.mode == "P" and set(np.unique(np.asarray(label))) == {0, 1}
    np.testing.assert_array_equal(load_drive(drive_copy, fold=1)["val"][1], before)


def test_missing_folder_says_what_where_and_from_where(tmp_path):
    for root in (tmp_path, tmp_path / "nowhere"):
        with pytest.raises(DatasetNotFoundError,
                           match=r"(?s)DRIVE.*not found.*" + str(root) + ".*drive.grand-challenge.org"):
            load_drive(str(root))


def test_missing_label_folder_is_named(drive_copy):
    shutil.rmtree(os.path.join(drive_copy, "DRIVE", "training", "1st_manual"))
    with pytest.raises(DatasetNotFoundError, match="1st_manual"):
        load_drive(drive_copy)


@pytest.mark.parametrize("name", ["1st_manual/33_manual1.gif", "images/40_training.tif"])
def test_a_missing_file_is_named_whatever_the_fold(drive_copy, name):
    os.remove(os.path.join(drive_copy, "DRIVE", "training", name))
    for fold in (1, 2, 3):  # the protocol needs all of 21..40, even those of other splits
        with pytest.raises(DatasetNotFoundError, match=os.path.basename(name)):
            load_drive(drive_copy, fold=fold)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")  # Pillow warns before it fails on the cut-off tags
def test_corrupt_image_is_named(drive_copy):
    """A half-downloaded TIFF (cut in the middle)."""
    path = os.path.join(drive_copy, "DRIVE", "training", "images", "21_training.tif")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CorruptFileError, match="21_training.tif"):
        load_drive(drive_copy, fold=2)


def test_wrong_size_is_named_with_its_size(drive_copy):
    path = os.path.join(drive_copy, "DRIVE", "training", "images", "22_training.tif")
    Image.fromarray(np.zeros((600, 565, 3), np.uint8)).save(path, compression="tiff_lzw")
    with pytest.raises(ValueError, match=r"22_training.tif.*565 wide x 600 high"):
        load_drive(drive_copy, fold=1)


@pytest.mark.parametrize("fold", [0, 4, "1", None])
def test_bad_fold(drive_root, fold):
    with pytest.raises(ValueError, match="fold"):
        load_drive(drive_root, fold=fold)
