"""Tests of the embedded benchmarks synthetic_roads, synthetic_cells and synthetic_vessels.

Label properties are checked with tools independent of the generators (scipy.ndimage component
labelling, distance transforms, skimage skeletons), and recoverability on noiseless renderings of
the same draws (the noise is the last random draw, so ``noise_std=0`` keeps the geometry).
"""

import inspect

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import skeletonize

from jaxtopo.data.synthetic_cells import (
    make_synthetic_cells_dataset, split_synthetic_cells, synthetic_cells_image)
from jaxtopo.data.synthetic_roads import (
    make_synthetic_roads_dataset, split_synthetic_roads, synthetic_roads_image)
from jaxtopo.data.synthetic_vessels import (
    make_synthetic_vessels_dataset, split_synthetic_vessels, synthetic_vessels_image)

FOUR = ndimage.generate_binary_structure(2, 1)
EIGHT = np.ones((3, 3), bool)
SIZE = (96, 96)

# name -> (split function, dataset function, image function, channels)
BENCHMARKS = {
    "synthetic_roads": (split_synthetic_roads, make_synthetic_roads_dataset, synthetic_roads_image, 3),
    "synthetic_cells": (split_synthetic_cells, make_synthetic_cells_dataset, synthetic_cells_image, 1),
    "synthetic_vessels": (split_synthetic_vessels, make_synthetic_vessels_dataset, synthetic_vessels_image, 3),
}


def _draw(image_fn, count, **knobs):
    """Images with info, from entropies (12, 4, i): a stream no split or dataset uses."""
    return [image_fn(np.random.default_rng([12, 4, i]), SIZE, return_info=True, **knobs) for i in range(count)]


def _holes(label: np.ndarray) -> int:
    """beta_1 of the foreground: 4-connected background components not touching the border."""
    components, count = ndimage.label(label == 0, structure=FOUR)
    border = np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]])
    return count - len(set(np.unique(border).tolist()) - {0})


def _contrast_in_noise_std(clean: np.ndarray, label: np.ndarray, noise_std: float) -> np.ndarray:
    """|grey - local background| per pixel, in units of the noise std, on a noiseless image.

    The local background is the mean grey level of the pixels at least 3 px from the label
    within a 21 x 21 window (soft edges and the blur reach about 1.5 px beyond the label).
    Pixels whose window holds no such pixel get 0 (counted as not recoverable).
    """
    grey = clean.mean(-1).astype(np.float64)
    far = ~ndimage.binary_dilation(label.astype(bool), structure=EIGHT, iterations=2)
    total = ndimage.uniform_filter(grey * far, 21, mode="reflect")
    weight = ndimage.uniform_filter(far.astype(np.float64), 21, mode="reflect")
    contrast = np.where(weight > 1e-6, np.abs(grey - total / np.maximum(weight, 1e-6)), 0.0)
    return contrast / noise_std


def _default(image_fn, knob):
    return inspect.signature(image_fn).parameters[knob].default


@pytest.fixture(scope="module")
def roads():
    return _draw(synthetic_roads_image, 10)


@pytest.fixture(scope="module")
def cells():
    return _draw(synthetic_cells_image, 10)


@pytest.fixture(scope="module")
def vessels():
    return _draw(synthetic_vessels_image, 10)


# ---------------------------------------------------------------- interface and determinism


@pytest.mark.parametrize("name", BENCHMARKS)
def test_splits_layout_dtypes_and_ranges(name):
    split, _, _, channels = BENCHMARKS[name]
    splits = split(0, 3, 2, 1, size=(40, 57))  # odd, non-square
    assert set(splits) == {"train", "val", "test"}
    for part, count in (("train", 3), ("val", 2), ("test", 1)):
        images, labels = splits[part]
        assert images.shape == (count, 40, 57, channels) and images.dtype == np.float32
        assert labels.shape == (count, 40, 57) and labels.dtype == np.uint8
        assert np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0
        assert set(np.unique(labels).tolist()) <= {0, 1}
        assert (labels.reshape(count, -1).mean(1) > 0.02).all()  # every image has structure
    # the three splits come from different streams: no image repeats
    assert not np.array_equal(splits["train"][0][0], splits["val"][0][0])
    assert not np.array_equal(splits["val"][0][0], splits["test"][0][0])


@pytest.mark.parametrize("name", BENCHMARKS)
def test_same_seed_identical_different_seeds_differ(name):
    split, make, _, _ = BENCHMARKS[name]
    a, b, c = (split(seed, 2, 0, 1, size=(48, 48)) for seed in (4, 4, 5))
    for part in ("train", "test"):
        assert a[part][0].tobytes() == b[part][0].tobytes() and np.array_equal(a[part][1], b[part][1])
        assert not np.array_equal(a[part][0], c[part][0]) and not np.array_equal(a[part][1], c[part][1])
    # a longer dataset starts with the images of a shorter one
    short, long = make(1, size=(48, 48), seed=3), make(2, size=(48, 48), seed=3)
    assert np.array_equal(short[0], long[0][:1]) and np.array_equal(short[1], long[1][:1])
    empty_images, empty_labels = make(0, size=(48, 48))
    assert empty_images.shape == (0, 48, 48, BENCHMARKS[name][3]) and empty_labels.shape == (0, 48, 48)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="seed"):
        split_synthetic_roads(-1, 1, 1, 1)
    with pytest.raises(ValueError, match="num_images"):
        make_synthetic_cells_dataset(-2)
    with pytest.raises(ValueError, match="road_width"):
        synthetic_roads_image(0, road_width=(5.0, 3.0))
    with pytest.raises(ValueError, match="weak_factor"):
        synthetic_cells_image(0, weak_factor=1.5)
    with pytest.raises(ValueError, match="noise_std"):
        synthetic_vessels_image(0, noise_std=-0.1)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_training_loads_them_by_name(name):
    from jaxtopo.training import data as data_lib
    from jaxtopo.training.named_configs import base_config

    config = base_config()
    config.seed = 2
    config.data.update(name=name, size=(40, 48), num_train=2, num_val=1, num_test=1)
    loaded = data_lib.load_splits(config)
    expected = BENCHMARKS[name][0](2, 2, 1, 1, size=(40, 48))
    assert name in data_lib.DATASETS
    for part in ("train", "val", "test"):
        assert np.array_equal(loaded[part][0], expected[part][0])
        assert np.array_equal(loaded[part][1], expected[part][1])


# ---------------------------------------------------------------- roads


def test_roads_have_loops_junctions_and_constant_widths(roads):
    holes = [_holes(label) for _, label, _ in roads]
    assert sum(h >= 1 for h in holes) >= 0.8 * len(roads), holes  # loops (closed blocks)
    for _, label, _ in roads:
        skeleton = skeletonize(label.astype(bool))
        neighbours = ndimage.convolve(skeleton.astype(int), EIGHT.astype(int), mode="constant") - 1
        assert (skeleton & (neighbours >= 3)).any()  # at least one junction
        # width = 2 x distance to the ground at the centreline, minus the centre pixel's half
        width = 2 * ndimage.distance_transform_edt(label)[skeleton] - 1
        assert 2.5 <= np.median(width) <= 7.5, np.median(width)


def test_roads_label_continues_under_occlusions(roads):
    occluded_any = 0
    for i, (image, label, info) in enumerate(roads):
        occluded = info["occluded"]
        assert not (occluded & (label == 0)).any()
        occluded_any += occluded.any()
        # Without trees and shadows the same draw has the same label: the canopy hides the
        # road in the image only.
        bare = synthetic_roads_image(np.random.default_rng([12, 4, i]), SIZE, num_occlusions=(0, 0),
                                     num_shadows=(0, 0))[1]
        assert np.array_equal(bare, label)
        if occluded.sum() >= 10:
            # under a canopy the image is much darker than the visible road around it
            visible = (label == 1) & ~occluded & ~info["shadowed"]
            grey = image.mean(-1)
            assert grey[occluded].mean() < grey[visible].mean() - 0.1
    assert occluded_any >= 0.8 * len(roads)
    fraction = np.mean([info["occluded"].sum() / max(label.sum(), 1) for _, label, info in roads])
    assert 0.005 < fraction < 0.15, fraction  # occlusions are short stretches


# ---------------------------------------------------------------- cells


def test_cells_background_components_are_the_drawn_cells(cells):
    for _, label, info in cells:
        components, count = ndimage.label(label == 0, structure=FOUR)
        # every cell of the tessellation keeps its interior, so none was lost to a merge
        assert count == info["num_cells"] == info["num_drawn"] >= 10
        centres = info["centres"]
        ids = components[centres[:, 0], centres[:, 1]]
        assert (ids > 0).all() and len(set(ids.tolist())) == count  # one centre per component
        assert 0.08 < label.mean() < 0.35


def test_cells_label_walls_continuous_where_image_has_gaps():
    # Clean rendering: no noise, texture, light field, blur or organelles, so the cytoplasm has
    # one grey level and every dark pixel is a wall.
    clean = dict(noise_std=0.0, texture_std=0.0, fine_texture_std=0.0, illumination=0.0, blur_sigma=0.0,
                 organelle_rate=0.0)
    weak = _default(synthetic_cells_image, "weak_factor") * _default(synthetic_cells_image, "wall_contrast")[0]
    gaps_seen = 0
    for image, label, info in _draw(synthetic_cells_image, 6, **clean):
        grey = image[..., 0].astype(np.float64)
        cytoplasm = np.median(grey[label == 0])
        cells, _ = ndimage.label(label == 0, structure=FOUR)
        # threshold half way to the weakest wall: what a smoothed-threshold baseline would use
        bright, _ = ndimage.label(grey > cytoplasm - 0.5 * weak, structure=FOUR)
        rows, cols = np.mgrid[: label.shape[0], : label.shape[1]]
        near_gap = np.zeros(label.shape, bool)
        for (r, c), radius, (a, b) in zip(info["gaps"], info["gap_radius"], info["gap_cells"]):
            gaps_seen += 1
            (ra, ca), (rb, cb) = info["centres"][a], info["centres"][b]
            assert cells[ra, ca] != cells[rb, cb]  # the label keeps the two cells apart...
            assert bright[ra, ca] == bright[rb, cb] != 0  # ...while the image joins them
            near_gap |= np.hypot(rows - r, cols - c) <= radius + 1.5
        # Everywhere else every wall pixel is visibly dark, weak stretches included.
        walls = (label == 1) & ~near_gap
        assert (cytoplasm - grey[walls] >= 0.9 * weak).all()
    assert gaps_seen >= 12


# ---------------------------------------------------------------- vessels


def test_vessels_trees_cross_and_close_loops(vessels):
    loops_from_crossings = 0
    for _, label, info in vessels:
        trees = info["tree_labels"].astype(bool)
        union = trees.any(0)
        assert len(trees) >= 2 and len(info["crossings"]) >= 2
        for (r, c), (a, b) in zip(info["crossings"], info["crossing_trees"]):
            window = (slice(max(int(r) - 1, 0), int(r) + 3), slice(max(int(c) - 1, 0), int(c) + 3))
            assert (trees[a][window] & trees[b][window]).any()  # both trees are there
        # The label is the union of the trees plus filled slivers: enclosed background that is
        # nowhere 3 px wide.
        assert (label[union] == 1).all()
        added = (label == 1) & ~union
        if added.any():
            pieces, _ = ndimage.label(union == 0, structure=FOUR)
            depth = ndimage.distance_transform_edt(union == 0)
            for piece in np.unique(pieces[added]):
                assert depth[pieces == piece].max() < 2.0
        # Every loop of the label encloses background at least 3 px wide somewhere.
        holes, count = ndimage.label(label == 0, structure=FOUR)
        depth = ndimage.distance_transform_edt(label == 0)
        border = set(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]).tolist())
        for hole in set(range(1, count + 1)) - border:
            assert depth[holes == hole].max() >= 2.0
        # Crossings merge trees: fewer foreground components than trees.
        assert ndimage.label(label, structure=EIGHT)[1] < len(trees)
        loops_from_crossings += _holes(label) > 0
    assert loops_from_crossings >= 0.8 * len(vessels)


# ---------------------------------------------------------------- recoverability


def test_label_pixels_stand_out_from_their_local_background():
    """On noiseless renderings of the default draws, the stated fraction of label pixels differs
    from its local background by at least the stated multiple of the default noise std (roads:
    occluded pixels excluded; cells: pixels within 1.5 px of a recorded gap excluded)."""
    floors = {  # benchmark: (noise multiple, fraction of label pixels at least that far)
        "synthetic_roads": ((2.0, 0.9),),
        "synthetic_cells": ((2.0, 0.92),),
        "synthetic_vessels": ((2.0, 0.8), (1.5, 0.9)),
    }
    for name, (_, _, image_fn, _) in BENCHMARKS.items():
        noise_std = _default(image_fn, "noise_std")
        values = []
        for clean, label, info in _draw(image_fn, 4, noise_std=0.0):
            keep = label == 1
            if "occluded" in info:
                keep &= ~info["occluded"]
            if "gaps" in info:
                rows, cols = np.mgrid[: label.shape[0], : label.shape[1]]
                for (r, c), radius in zip(info["gaps"], info["gap_radius"]):
                    keep &= np.hypot(rows - r, cols - c) > radius + 1.5
            values.append(_contrast_in_noise_std(clean, label, noise_std)[keep])
        values = np.concatenate(values)
        for multiple, fraction in floors[name]:
            assert np.mean(values >= multiple) >= fraction, (name, multiple, np.mean(values >= multiple))


def test_noise_is_the_only_difference_from_the_clean_rendering():
    for name, (_, _, image_fn, _) in BENCHMARKS.items():
        noisy, label, _ = image_fn(np.random.default_rng([12, 4, 0]), SIZE, return_info=True)
        clean, clean_label, _ = image_fn(np.random.default_rng([12, 4, 0]), SIZE, noise_std=0.0, return_info=True)
        assert np.array_equal(label, clean_label)
        inside = (clean > 0.05) & (clean < 0.95) & (noisy > 0) & (noisy < 1)  # not clipped
        residual = (noisy - clean)[inside]
        expected = _default(image_fn, "noise_std") * (1.0 if noisy.shape[-1] == 1 else np.sqrt(1.25))
        assert abs(residual.std() / expected - 1.0) < 0.1, name
