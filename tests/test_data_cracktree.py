"""CrackTree260 loader on a fabricated full-size copy in the real formats (grey JPEG, BMP labels).

All 260 images are written at their real sizes (the protocol needs exactly 260): a constant grey
JPEG compresses to a few kB, so fabricating them takes a few seconds. Geometry and order are
checked through the lossless BMP labels, which carry each image's sorted position in binary and
each patch's index as a run of white pixels.
"""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.cracktree import load_cracktree

# docs/datasets.md section 6 (1-based sorted positions), written out again so that a wrong table in the module cannot pass
EXPECTED_FOLDS = {
    1: dict(train=[*range(1, 201)], val=[*range(201, 221)], test=[*range(221, 261)]),
    2: dict(train=[*range(1, 117), *range(177, 261)], val=[*range(117, 137)], test=[*range(137, 177)]),
    3: dict(train=[*range(61, 261)], val=[*range(1, 21)], test=[*range(21, 61)]),
}
# 250 names NNNN (800x600) sort before the 10 DSCNNNNN ones (960x720), which are positions 251..260
NAMES = [f"{6001 + i}" for i in range(250)] + [f"DSCN{6001 + i}" for i in range(10)]
BITS = 9  # position in binary along row 200 of patch 0, bit b at column 20 + 10 b
FAINT = (250, 250)  # a label pixel of grey value 1 in patch 0: still crack (convert('L') > 0)


def _label(position: int, big: bool) -> np.ndarray:
    """The label in the original frame (960x720 for big): marks placed in the 900x600 protocol frame."""
    width, height, top = (960, 720, 60) if big else (800, 600, 0)
    label = np.zeros((height, width), np.uint8)
    frame = label[top:top + 600, :900]  # a view: the protocol frame inside the original
    frame[150, 0:700] = 255  # a crack through patches 0, 1 and the first 100 columns of 2
    for bit in range(BITS):
        frame[200, 20 + 10 * bit] = 255 if position >> bit & 1 else 0
    for patch in range(6):
        row, col = 300 * (patch // 3) + 5, 300 * (patch % 3) + 5
        frame[row, col:col + patch + 1] = 255
    frame[FAINT] = 1
    frame[400, 799] = 255  # the right-most real column (patch 5, column 199)
    if big:  # everything outside the protocol frame must be cropped away
        label[top - 1, :] = label[top + 600, :] = 255
        label[100 + top, 900:] = 255
    return label


def _image(big: bool) -> np.ndarray:
    """Grey 100; the parts of a 960x720 image outside the protocol frame are black."""
    if not big:
        return np.full((600, 800), 100, np.uint8)
    image = np.zeros((720, 960), np.uint8)
    image[60:660, :900] = 100
    return image


def fabricate_cracktree(root, *, mirror=False):
    """The 260 images and BMP labels under root/CrackTree260/{image,gt} (or {img,lab} with mirror)."""
    base = os.path.join(root, "CrackTree260")
    image_dir, label_dir = (os.path.join(base, d) for d in (("img", "lab") if mirror else ("image", "gt")))
    os.makedirs(image_dir)
    os.makedirs(label_dir)
    for position, name in enumerate(NAMES, start=1):
        big = name.startswith("DSCN")
        image = Image.fromarray(_image(big))
        if position == 3:
            image = image.convert("RGB")  # a colour-encoded JPEG is still read as grey
        extension = ".JPG" if big or position % 50 == 7 else ".jpg"
        image.save(os.path.join(image_dir, name + extension), quality=95)
        label = _label(position, big)
        # some as 1-bit BMPs: the faint pixel becomes white there, so the labels read the same
        label = Image.fromarray(label > 0) if position % 13 == 0 else Image.fromarray(label)
        label.save(os.path.join(label_dir, name + ".bmp"))
    return root


@pytest.fixture(scope="module")
def crack_root(tmp_path_factory):
    return fabricate_cracktree(str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def crack_copy(crack_root, tmp_path):
    """A hard-linked copy the test may damage: remove a file before writing it (never write in place)."""
    shutil.copytree(os.path.join(crack_root, "CrackTree260"), os.path.join(tmp_path, "CrackTree260"),
                    copy_function=os.link)
    return str(tmp_path)


def _positions(labels: np.ndarray) -> list[int]:
    bits = labels[0::6, 200, 20:20 + 10 * BITS:10].astype(int)
    return (bits << np.arange(BITS)).sum(axis=1).tolist()


def _check_split(images, labels, positions):
    assert images.shape == (6 * len(positions), 300, 300, 1) and images.dtype == np.float32
    assert labels.shape == (6 * len(positions), 300, 300) and labels.dtype == np.float32
    assert np.logical_or(labels == 0.0, labels == 1.0).all()
    assert _positions(labels) == positions  # membership and sorted order
    for patch in range(6):  # row-major patch order: patch k carries k + 1 white pixels at (5, 5..)
        assert labels[patch::6, 5, 5:6 + patch].min() == 1.0 and labels[patch::6, 5, 6 + patch].max() == 0.0
    assert labels[0::6, 150].min() == 1.0 and labels[1::6, 150].min() == 1.0
    assert labels[2::6, 150, :100].min() == 1.0 and labels[2::6, 150, 100:].max() == 0.0
    assert labels[0::6][:, FAINT[0], FAINT[1]].min() == 1.0
    small = np.array(positions) <= 250
    # 800x600: zero padding on the right of patches 2 and 5 (image and label)
    for patch in (2, 5):
        assert images[patch::6][small, :, 200:].max() == 0.0 and labels[patch::6][small, :, 200:].max() == 0.0
        assert images[patch::6][small, :, :200].min() > 0.3
    assert labels[5::6][small, 100, 199].min() == 1.0
    assert images[0::6][small].min() > 0.3 and images[3::6][small].min() > 0.3
    # 960x720: cropped by 60 rows at top and bottom and 60 columns at the right; no black band remains
    if (~small).any():
        big = np.repeat(~small, 6)
        assert images[big].min() > 0.3 and images[big].max() < 0.5
        assert labels[2::6][~small, 100].max() == 0.0  # the marks beyond column 900 are gone
        assert labels[0::6][~small, 0].max() == 0.0 and labels[3::6][~small, 299].max() == 0.0


def test_fabricated_files_read_back_like_the_real_ones(crack_root):
    base = os.path.join(crack_root, "CrackTree260")
    with Image.open(os.path.join(base, "image", "6001.jpg")) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "L", (800, 600))
    with Image.open(os.path.join(base, "image", "DSCN6001.JPG")) as image:
        assert (image.format, image.size) == ("JPEG", (960, 720))
    with Image.open(os.path.join(base, "gt", "6001.bmp")) as label:
        assert (label.format, label.mode, label.size) == ("BMP", "L", (800, 600))


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_folds_sizes_order_and_geometry(crack_root, fold):
    # fold 3 also takes the CrackTree260 folder itself as root
    root = os.path.join(crack_root, "CrackTree260") if fold == 3 else crack_root
    splits = load_cracktree(root, fold=fold)
    assert list(splits) == ["train", "val", "test"]
    assert [images.shape[0] for images, _ in splits.values()] == [1200, 120, 240]
    for split, positions in EXPECTED_FOLDS[fold].items():
        _check_split(*splits[split], positions)


def test_mirror_layout(crack_copy):
    base = os.path.join(crack_copy, "CrackTree260")
    os.rename(os.path.join(base, "image"), os.path.join(base, "img"))
    os.rename(os.path.join(base, "gt"), os.path.join(base, "lab"))
    splits = load_cracktree(crack_copy, fold=2)
    for split, positions in EXPECTED_FOLDS[2].items():
        _check_split(*splits[split], positions)


def test_missing_folder_says_what_where_and_from_where(tmp_path):
    for root in (tmp_path, tmp_path / "nowhere"):
        with pytest.raises(DatasetNotFoundError, match=r"(?s)CrackTree260.*not found.*" + str(root) + ".*DeepCrack"):
            load_cracktree(str(root))


def test_missing_label_folder_is_named(crack_copy):
    shutil.rmtree(os.path.join(crack_copy, "CrackTree260", "gt"))
    with pytest.raises(DatasetNotFoundError, match=r"missing folder .*gt"):
        load_cracktree(crack_copy)


def test_missing_label_is_named_whatever_the_fold(crack_copy):
    os.remove(os.path.join(crack_copy, "CrackTree260", "gt", "6100.bmp"))  # position 100: fold 1 train
    for fold in (1, 2, 3):
        with pytest.raises(DatasetNotFoundError, match="6100.bmp"):
            load_cracktree(crack_copy, fold=fold)


def test_wrong_number_of_images(crack_copy):
    os.remove(os.path.join(crack_copy, "CrackTree260", "image", "6005.jpg"))
    with pytest.raises(DatasetNotFoundError, match=r"259 JPEG images.*260"):
        load_cracktree(crack_copy)


def test_corrupt_jpeg_is_named(crack_copy):
    path = os.path.join(crack_copy, "CrackTree260", "image", "6001.jpg")
    with open(path, "rb") as f:
        head = f.read(300)
    os.remove(path)  # hard link: do not truncate the shared file
    with open(path, "wb") as f:
        f.write(head)
    with pytest.raises(CorruptFileError, match="6001.jpg"):
        load_cracktree(crack_copy, fold=1)


def test_wrong_size_is_named_with_its_size(crack_copy):
    base = os.path.join(crack_copy, "CrackTree260")
    for path in (os.path.join(base, "image", "6001.jpg"), os.path.join(base, "gt", "6001.bmp")):
        os.remove(path)
        Image.fromarray(np.zeros((600, 801), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"6001.jpg is 801 wide x 600 high"):
        load_cracktree(crack_copy, fold=1)
    path = os.path.join(base, "gt", "6001.bmp")  # a label whose size differs from its image's
    os.remove(path)
    Image.fromarray(np.zeros((600, 800), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"6001.bmp.*800 x 600.*6001.jpg.*801 x 600"):
        load_cracktree(crack_copy, fold=1)


@pytest.mark.parametrize("fold", [0, 4, "2"])
def test_bad_fold(crack_root, fold):
    with pytest.raises(ValueError, match="fold"):
        load_cracktree(crack_root, fold=fold)
