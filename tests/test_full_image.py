"""Full-image (F) evaluation: stitching is the exact inverse of the loaders' patch grid, each
dataset's layout matches its loader, and F differs from P where a structure crosses a patch border,
by amounts worked out by hand."""

import os

import numpy as np
import pytest

from jaxtopo.data.common import patch_grid
from jaxtopo.evaluation import full_image_metrics, full_image_results, stitch_images, stitch_patches
from jaxtopo.metrics import segmentation_metrics
from jaxtopo.training import named_config
from jaxtopo.training import data as data_lib

METRICS = ("accuracy", "dice", "cldice", "betti_0_error", "betti_1_error", "betti_matching_error_0",
           "betti_matching_error_1", "betti_matching_error")


@pytest.mark.parametrize("grid, patch, channels", [((2, 3), 5, ()), ((3, 1), 4, (2,)), ((1, 1), 7, ()),
                                                   ((8, 8), 3, (1,)), ((2, 2), 6, (3,))])
def test_stitch_is_the_exact_inverse_of_patch_grid(grid, patch, channels):
    rng = np.random.default_rng(sum(grid) + patch)
    rows, cols = grid
    images = rng.normal(size=(3, rows * patch, cols * patch, *channels)).astype(np.float32)
    patches = [patch_grid(image, patch) for image in images]
    for image, tiles in zip(images, patches):
        np.testing.assert_array_equal(stitch_patches(tiles, grid), image)
    # a split lists image after image: all stitched at once, a trailing incomplete image left out
    split = np.concatenate(patches + [patches[0][:rows * cols - 1]] if rows * cols > 1 else patches)
    np.testing.assert_array_equal(stitch_images(split, grid), images)
    assert stitch_images(split[:rows * cols - 1], grid).shape == (0, rows * patch, cols * patch, *channels)


def test_stitch_refuses_a_wrong_patch_count_or_grid():
    with pytest.raises(ValueError, match=r"2 x 2 patches need an array \[4, Ph, Pw, ...\], got shape \(3, 5, 5\)"):
        stitch_patches(np.zeros((3, 5, 5)), (2, 2))
    for grid in [(0, 2), (2,), None]:
        with pytest.raises(ValueError, match="grid must be"):
            stitch_images(np.zeros((4, 5, 5)), grid)
    with pytest.raises(ValueError, match="3 patches do not make one image of 2 x 2 patches"):
        full_image_metrics(np.zeros((3, 5, 5)), np.zeros((3, 5, 5)), (2, 2))


def ring_cut_at_the_patch_borders():
    """(prediction, label) patches of one 20 x 20 image on a 2 x 2 grid of 10 x 10 patches.

    Label: a 2-pixel-wide square ring, rows and columns 4..15: one component, one loop, crossing
    every patch border. Each patch holds one L-shaped corner of it: one component, no loop.
    Prediction: the label without the pixels on either side of the patch borders (rows and columns
    9 and 10): each patch still holds one L (shorter), but the image falls into four pieces."""
    label = np.zeros((20, 20), np.float32)
    label[4:16, 4:16] = 1
    label[6:14, 6:14] = 0
    prediction = label.copy()
    prediction[9:11, :] = 0
    prediction[:, 9:11] = 0
    return patch_grid(prediction, 10), patch_grid(label, 10)


def test_a_ring_cut_at_the_patch_borders_is_perfect_per_patch_and_broken_per_image():
    prediction, label = ring_cut_at_the_patch_borders()
    patch = segmentation_metrics(prediction, label)
    full = full_image_metrics(prediction, label, (2, 2))
    # per patch: one L against one L, no loops on either side
    assert (patch["betti_0_error"], patch["betti_1_error"]) == (0.0, 0.0)
    # per image: four pieces against one ring (beta_0 4 vs 1), no loop against one
    assert (full["betti_0_error"], full["betti_1_error"]) == (3.0, 1.0)
    assert full["betti_matching_error"] > patch["betti_matching_error"]
    # pixels are the same whichever way they are grouped: 16 of the label's 80 pixels missed
    assert full["accuracy"] == pytest.approx(patch["accuracy"]) == pytest.approx(1 - 16 / 400)
    assert full["dice"] == pytest.approx(2 * 64 / (64 + 80))


def test_full_image_results_keys_and_incomplete_images():
    prediction, label = ring_cut_at_the_patch_borders()
    full = full_image_metrics(prediction, label, (2, 2))
    # a second image cut short (two of its four patches, as data.max_patches leaves it): not in F
    results = full_image_results(np.concatenate([prediction, prediction[:2]]), np.concatenate([label, label[:2]]),
                                 (2, 2))
    assert list(results) == ["full_images", *(f"{key}_full" for key in METRICS)]
    assert results["full_images"] == 1
    assert {key: results[f"{key}_full"] for key in METRICS} == full
    # images of one patch (F = P), no layout, or not one complete image: nothing
    assert full_image_results(prediction, label, (1, 1)) == {}
    assert full_image_results(prediction, label, None) == {}
    assert full_image_results(prediction[:3], label[:3], (2, 2)) == {}


def test_each_dataset_layout_matches_its_loader():
    from jaxtopo.data import cracktree, drive, elegans, roads

    layouts = {name: data_lib.patch_layout(named_config(f"{name}_bce"))
               for name in ("drive", "roads", "roads_small", "cracktree", "elegans_small")}
    assert layouts == {"drive": (2, 2), "roads": (5, 5), "roads_small": (8, 8), "cracktree": (2, 3),
                       "elegans_small": (2, 2)}
    # the loaders' geometry: the grid of patches covers the (cropped / padded) image they cut
    assert (drive.CROP, drive.CROP) == tuple(n * drive.PATCH for n in layouts["drive"])
    assert (roads.SIZE, roads.SIZE) == tuple(n * roads.PATCH for n in layouts["roads"])
    assert (roads.SMALL_PADDED,) * 2 == tuple(n * roads.SMALL_PATCH for n in layouts["roads_small"])
    assert (cracktree.HEIGHT, cracktree.WIDTH) == tuple(n * cracktree.PATCH for n in layouts["cracktree"])
    assert (elegans.SIZE, elegans.SIZE) == tuple(n * elegans.PATCH for n in layouts["elegans_small"])
    for name in data_lib.GENERATED:
        config = named_config("synthetic_bce")
        config.data.name = name
        assert data_lib.patch_layout(config) == (1, 1)


def test_cremi_layout_follows_its_files_and_stays_in_the_cache(tmp_path, monkeypatch):
    from test_data_cremi import fabricate_cremi

    from jaxtopo.data.cremi import membranes

    monkeypatch.setenv("JAXTOPO_CACHE", str(tmp_path / "cache"))
    root = fabricate_cremi(str(tmp_path / "cremi"), height=250, width=500)
    config = named_config("cremi_bce")
    config.data.data_dir = root
    assert data_lib.patch_layout(config) == (1, 2)  # 250 x 500 slices, read from the files
    _, labels = data_lib.load_splits(config)["test"]
    # the stitched test labels are the membranes of the whole slices (a boundary on the patch border)
    ids = np.ones((250, 500), np.uint64)
    ids[:, 250:] = 2
    ids[100:110, 300:310] = 3
    stitched = stitch_images(labels, (1, 2))
    assert len(stitched) == 33 and all(np.array_equal(image, membranes(ids)) for image in stitched)
    for name in os.listdir(root):  # the cache keeps the layout: no files needed any more
        os.remove(os.path.join(root, name))
    assert data_lib.patch_layout(config) == (1, 2)


def test_cremi_samples_of_different_sizes_have_no_single_layout(tmp_path):
    from test_data_cremi import fabricate_cremi

    from jaxtopo.data.cremi import slice_grid

    root = str(tmp_path / "cremi")
    fabricate_cremi(root, depth=2, height=250, width=500, samples="AB")
    fabricate_cremi(root, depth=2, height=500, width=500, samples="C")
    assert slice_grid(root) is None
