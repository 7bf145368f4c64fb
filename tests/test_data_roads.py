"""Massachusetts Roads loaders on fabricated copies of both layouts (RGB .tiff, .tif labels, 1500x1500)."""

import os

import numpy as np
import pytest
from PIL import Image

import jaxtopo.data.roads as roads
from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.roads import load_roads, load_roads_small, roads_small_folds

OFFICIAL = {"train": "train", "val": "valid", "test": "test"}


def split_folders(root, split, mirror):
    if mirror:
        return os.path.join(root, "tiff", split), os.path.join(root, "tiff", f"{split}_labels")
    base = os.path.join(root, "mass_roads", OFFICIAL[split])
    return os.path.join(base, "sat"), os.path.join(base, "map")


def fabricate_roads(root, *, mirror=False, ids=None):
    """ids: {split: [id, ...]}; one image per split by default. Every image: grey 90 with a red
    pixel at (620, 910), a 12-pixel road at x = 305..316 and a sub-threshold line at x = 700."""
    ids = ids or {"train": ["10078660_15"], "val": ["10228690_15"], "test": ["10378780_15"]}
    rgb = np.full((1500, 1500, 3), 90, np.uint8)
    rgb[620, 910] = (255, 0, 0)  # patch row 2, column 3 -> patch 13, at (20, 10)
    label = np.zeros((1500, 1500), np.uint8)
    label[:, 305:317] = 255  # patch column 1, x = 5..16
    label[:, 700] = 127  # exactly at the threshold: not a road
    for split, names in ids.items():
        image_dir, label_dir = split_folders(root, split, mirror)
        os.makedirs(image_dir)
        os.makedirs(label_dir)
        for name in names:
            Image.fromarray(rgb).save(os.path.join(image_dir, f"{name}.tiff"))
            Image.fromarray(label).save(os.path.join(label_dir, f"{name}.tif"))
    if mirror:  # the mirror's extras, which the loader ignores
        os.makedirs(os.path.join(root, "png", "train"))
        with open(os.path.join(root, "metadata.csv"), "w") as f:
            f.write("image_id,split,sat_image_path,map_image_path\n")
    return root


@pytest.mark.parametrize("mirror", [False, True])
def test_layouts_patches_and_labels(tmp_path, mirror):
    splits = load_roads(fabricate_roads(str(tmp_path), mirror=mirror))
    assert sorted(splits) == ["test", "train", "val"]
    for images, labels in splits.values():
        assert images.shape == (25, 300, 300, 3) and labels.shape == (25, 300, 300)
        assert images.dtype == labels.dtype == np.uint8  # the full train split must fit in memory
        assert images[13, 20, 10].tolist() == [255, 0, 0]
        assert images[13].reshape(-1, 3).tolist().count([255, 0, 0]) == 1 and images[12].max() == 90
        assert set(np.unique(labels)) == {0, 1}
        assert labels[1::5, :, 5:17].min() == 1 and labels.sum() == 12 * 1500  # only the road, in 5 patches
        assert labels[2::5, :, 100].max() == 0  # x = 700 held 127: below the > 127 threshold


def test_root_may_be_the_dataset_folder_and_sorted_ids(tmp_path):
    root = fabricate_roads(str(tmp_path), ids={"train": ["2_15", "1_15"], "val": ["5_15"], "test": ["6_15"]})
    black = np.zeros((1500, 1500, 3), np.uint8)
    Image.fromarray(black).save(os.path.join(root, "mass_roads", "train", "sat", "1_15.tiff"))
    images, _ = load_roads(os.path.join(root, "mass_roads"))["train"]
    assert len(images) == 50 and images[:25].max() == 0 and images[25:].max() == 255  # "1_15" first


def test_label_threshold_128_is_road(tmp_path):
    root = fabricate_roads(str(tmp_path), mirror=True)
    label = np.zeros((1500, 1500), np.uint8)
    label[0, 0] = 128
    Image.fromarray(label).save(os.path.join(root, "tiff", "test_labels", "10378780_15.tif"))
    labels = load_roads(root)["test"][1]
    assert labels.sum() == 1 and labels[0, 0, 0] == 1


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)Roads.*" + str(tmp_path) + ".*Mnih.*Kaggle"):
        load_roads(str(tmp_path))
    root = fabricate_roads(str(tmp_path / "copy"))
    os.remove(os.path.join(root, "mass_roads", "valid", "map", "10228690_15.tif"))
    with pytest.raises(DatasetNotFoundError, match=r"valid.map.10228690_15\.tif"):
        load_roads(root)
    root = fabricate_roads(str(tmp_path / "partial"), mirror=True)
    os.rename(os.path.join(root, "tiff", "val_labels"), os.path.join(root, "tiff", "val_lbl"))
    with pytest.raises(DatasetNotFoundError, match=r"val_labels"):
        load_roads(root)
    root = fabricate_roads(str(tmp_path / "empty"), ids={"train": ["1_15"], "val": [], "test": ["3_15"]})
    with pytest.raises(DatasetNotFoundError, match=r"no <id>\.tiff images in .*valid"):
        load_roads(root)
    root = fabricate_roads(str(tmp_path / "corrupt"))
    path = os.path.join(root, "mass_roads", "test", "sat", "10378780_15.tiff")
    with open(path, "wb") as f:
        f.write(b"not a tiff")
    with pytest.raises(CorruptFileError, match="10378780_15.tiff"):
        load_roads(root)
    root = fabricate_roads(str(tmp_path / "small"))
    half_size = os.path.join(root, "mass_roads", "train", "map", "10078660_15.tif")
    Image.fromarray(np.zeros((750, 750), np.uint8)).save(half_size)
    with pytest.raises(ValueError, match="1500x1500"):
        load_roads(root)


def test_roads_small_fold_rule():
    folds = roads_small_folds()
    tests = []
    for fold in folds.values():
        assert sorted(fold["train"] + fold["val"] + fold["test"]) == list(range(134))
        assert (len(fold["train"]), len(fold["val"])) in ((79, 10), (80, 10))
        tests += fold["test"]
    assert sorted(tests) == list(range(134))
    assert folds[1]["test"] == list(range(45)) and folds[1]["val"] == list(range(45, 55))
    assert folds[2]["test"] == list(range(45, 90)) and folds[2]["val"] == list(range(90, 100))
    assert folds[3]["test"] == list(range(90, 134)) and folds[3]["val"] == list(range(10))


def test_roads_small_selects_first_134_sorted_ids_of_all_splits(tmp_path, monkeypatch):
    # 140 ids spread over the three splits so that the sorted union interleaves them; decoding is
    # replaced by an id code so 140 full-size images need not be written
    names = [f"{10000000 + 7 * i}_15" for i in range(140)]
    ids = {"train": names[0::3], "val": names[1::3], "test": names[2::3]}
    root = str(tmp_path)
    for split, split_ids in ids.items():
        for folder in split_folders(root, split, mirror=False):
            os.makedirs(folder)
        image_dir, label_dir = split_folders(root, split, mirror=False)
        for name in split_ids:
            open(os.path.join(image_dir, name + ".tiff"), "w").close()
            open(os.path.join(label_dir, name + ".tif"), "w").close()
    code = {name: i for i, name in enumerate(names)}
    monkeypatch.setattr(roads, "_read_pair", lambda image_path, label_path: (
        code[os.path.basename(image_path)[:-5]], code[os.path.basename(label_path)[:-4]]))
    monkeypatch.setattr(roads, "_small_patches", lambda image, label: (
        np.full((64, 48, 48, 3), image, np.float32), np.full((64, 48, 48), label, np.float32)))
    for fold, want in roads_small_folds().items():
        splits = load_roads_small(root, fold=fold)
        for split, (images, labels) in splits.items():
            assert images[::64, 0, 0, 0].astype(int).tolist() == want[split]  # position in sorted ids
            np.testing.assert_array_equal(images[..., 0], labels)  # each image with its own label


def test_roads_small_geometry(tmp_path, monkeypatch):
    # six real 1500x1500 images; the count and the validation size shrunk to fit them
    monkeypatch.setattr(roads, "SMALL_COUNT", 6)
    monkeypatch.setattr(roads, "SMALL_VAL", 1)
    root = fabricate_roads(str(tmp_path), ids={"train": ["1_15", "2_15"], "val": ["3_15", "4_15"],
                                               "test": ["5_15", "6_15"]})
    splits = load_roads_small(root, fold=1)
    assert {k: len(v[0]) for k, v in splits.items()} == {"train": 3 * 64, "val": 64, "test": 2 * 64}
    images, labels = splits["train"]
    assert images.shape == (3 * 64, 48, 48, 3) and labels.shape == (3 * 64, 48, 48)
    assert images.dtype == labels.dtype == np.float32 and 0.0 <= images.min() and images.max() <= 1.0
    assert set(np.unique(labels)) == {0.0, 1.0}
    # the road x = 305..316 becomes x = 76.25..79.25 at 375: patch column 1, x = 28..31
    assert labels[1:56:8, :, 29:31].min() == 1.0 and labels[0:64:8].max() == 0.0
    assert labels[:64].sum(axis=(0, 1)).nonzero()[0].size <= 5  # thin, not smeared
    # the grey 90 background scales to 90 / 255; padding: the last 9 rows/columns of 384 are zero
    assert abs(images[0, 10, 10, 0] - 90 / 255) < 1e-6
    assert images[56:64, -9:].max() == 0.0 and images[7:64:8, :, -9:].max() == 0.0
    assert images[56:63, :-9].min() > 0.3 and images[63, :-9, :-9].min() > 0.3
    with pytest.raises(ValueError, match="fold"):
        load_roads_small(root, fold=4)
    monkeypatch.setattr(roads, "SMALL_COUNT", 134)
    with pytest.raises(DatasetNotFoundError, match="134 images, found 6"):
        load_roads_small(root)
