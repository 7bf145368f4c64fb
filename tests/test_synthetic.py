"""Tests of the procedural tubular-network dataset (jaxtopo.data.synthetic)."""

import numpy as np
import pytest
from scipy import ndimage

from jaxtopo.data import make_synthetic_dataset, split_synthetic, synthetic_image
from jaxtopo.data import synthetic as synthetic_module

# Every nuisance switched off: constant background, no blur, grey, no noise.
CLEAN = dict(
    noise_std=0.0,
    texture_std=0.0,
    fine_texture_std=0.0,
    illumination=0.0,
    blur_sigma=0.0,
    colour_jitter=0.0,
)


@pytest.fixture(scope="module")
def batch():
    return make_synthetic_dataset(20, seed=3)


def _enclosed_holes(label: np.ndarray) -> int:
    """Background components (4-connected) that do not touch the image border."""
    components, count = ndimage.label(label == 0)
    border = np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]])
    return count - len(set(np.unique(border)) - {0})


def test_shapes_dtypes_and_ranges(batch):
    images, labels = batch
    assert images.shape == (20, 96, 96, 3) and images.dtype == np.float32
    assert labels.shape == (20, 96, 96) and labels.dtype == np.uint8
    assert np.isfinite(images).all()
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(labels)) <= {0, 1}


def test_labels_non_trivial_with_foreground_fraction_in_range(batch):
    _, labels = batch
    fraction = labels.mean(axis=(1, 2))
    assert (fraction >= 0.04).all() and (fraction < 0.35).all(), fraction  # min_foreground=0.04
    assert 0.05 <= fraction.mean() <= 0.25, fraction.mean()


def test_same_seed_is_bit_identical_and_seeds_differ():
    a_img, a_lab = make_synthetic_dataset(4, seed=11)
    b_img, b_lab = make_synthetic_dataset(4, seed=11)
    c_img, c_lab = make_synthetic_dataset(4, seed=12)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    assert a_img.tobytes() == b_img.tobytes()
    assert not np.array_equal(a_img, c_img) and not np.array_equal(a_lab, c_lab)
    # Images within one dataset differ from each other too.
    assert not np.array_equal(a_lab[0], a_lab[1])


def test_longer_dataset_extends_shorter_one():
    short_img, short_lab = make_synthetic_dataset(2, seed=5, size=(40, 50))
    long_img, long_lab = make_synthetic_dataset(4, seed=5, size=(40, 50))
    assert np.array_equal(short_img, long_img[:2]) and np.array_equal(short_lab, long_lab[:2])


def test_int_seed_and_generator_agree():
    img_a, lab_a = synthetic_image(7, (48, 64))
    img_b, lab_b = synthetic_image(np.random.default_rng(7), (48, 64))
    assert np.array_equal(img_a, img_b) and np.array_equal(lab_a, lab_b)


@pytest.mark.parametrize("size", [(75, 91), (33, 47), (91, 75), 65, (8, 9)])
def test_odd_and_non_square_sizes(size):
    images, labels = make_synthetic_dataset(3, size=size, seed=1)
    expected = (size, size) if isinstance(size, int) else size
    assert images.shape == (3, *expected, 3) and labels.shape == (3, *expected)
    assert images.min() >= 0.0 and images.max() <= 1.0
    if min(expected) >= 32:
        assert (labels.sum(axis=(1, 2)) > 0).all()


def test_thin_parts_exist(batch):
    """Label pixels whose 3x3 neighbourhood is mostly background (1-2 px wide branches)."""
    _, labels = batch
    counts = ndimage.uniform_filter(labels.astype(np.float64), size=(1, 3, 3), mode="constant")
    neighbourhood = 9 * counts
    thin = (labels == 1) & (neighbourhood <= 4.5)
    per_image = thin.sum(axis=(1, 2))
    assert (per_image > 0).all(), per_image
    # ... and they are a substantial part of the network, not a few edge pixels.
    assert thin.sum() > 0.1 * labels.sum()


def test_some_images_have_loops(batch):
    _, labels = batch
    holes = [_enclosed_holes(label) for label in labels]
    assert max(holes) >= 1, holes
    assert sum(h > 0 for h in holes) >= 5, holes


def test_networks_can_have_several_components(batch):
    _, labels = batch
    counts = [ndimage.label(label, structure=np.ones((3, 3)))[1] for label in labels]
    assert min(counts) >= 1 and max(counts) >= 2, counts


@pytest.mark.parametrize("angle", np.linspace(0.0, np.pi, 25))
def test_one_pixel_wide_lines_are_8_connected(angle):
    """A straight polyline of radius 0.5 (width 1 px) at any angle and sub-pixel offset is one
    8-connected component, at most 2 px thick across."""
    direction = np.array([np.sin(angle), np.cos(angle)])
    for offset in [(20.0, 20.0), (20.3, 20.7), (19.5, 20.5)]:
        points = np.asarray(offset) + np.arange(30)[:, None] * direction
        branch = synthetic_module._Branch(points, np.full(30, 0.5), 0.1)
        label, strength = synthetic_module._rasterise([branch], 64, 64)
        assert ndimage.label(label, structure=np.ones((3, 3)))[1] == 1
        assert label.sum() <= 2 * 31 * max(abs(direction[0]), abs(direction[1])) + 2
        assert (strength[label == 1] >= 0.05 - 1e-12).all()  # coverage >= 0.5 inside the label


def test_horizontal_line_through_pixel_centres_is_exactly_one_row():
    points = np.stack([np.full(11, 5.0), np.arange(2.0, 13.0)], axis=1)
    label, _ = synthetic_module._rasterise(
        [synthetic_module._Branch(points, np.full(11, 0.5), 0.1)], 10, 16
    )
    expected = np.zeros((10, 16), np.uint8)
    expected[5, 2:13] = 1
    np.testing.assert_array_equal(label, expected)


def test_every_branch_is_8_connected_and_networks_fill_the_image():
    """A rendered network is a union of 8-connected branches, so its components are few."""
    _, labels = make_synthetic_dataset(10, seed=9, size=(75, 91))
    for label in labels:
        assert 1 <= ndimage.label(label, structure=np.ones((3, 3)))[1] <= 8


def test_min_foreground_knob():
    _, labels = make_synthetic_dataset(10, seed=4, num_trees=1, min_foreground=0.1)
    assert (labels.mean(axis=(1, 2)) >= 0.1).all()


def test_label_is_the_drawn_network_in_a_clean_rendering():
    """Without texture, noise, blur and lighting the background is one constant per image:
    every label pixel is darker than it, and darkened pixels lie within 2 px of the label
    (the soft image edge is half a pixel wider than the exact mask)."""
    for seed in range(5):
        image, label = synthetic_image(seed, (64, 80), **CLEAN)
        grey = image[..., 0]
        assert np.allclose(image, grey[..., None])
        background = np.median(grey[label == 0])
        darker = grey < background - 1e-6
        assert darker[label == 1].all()
        near_label = ndimage.binary_dilation(label == 1, structure=np.ones((3, 3)), iterations=2)
        assert not (darker & ~near_label).any()


def test_faint_branches_near_noise_level():
    """Some label pixels are drawn with a contrast below two noise standard deviations."""
    noise_std = 0.05
    faint = 0
    for seed in range(10):
        image, label = synthetic_image(seed, **CLEAN)
        grey = image[..., 0]
        contrast = np.median(grey[label == 0]) - grey
        faint += int(((contrast < 2 * noise_std) & (label == 1)).sum())
    assert faint > 0
    # faint_fraction=0 removes them: every branch is at least 40 % of its trunk's 0.2 contrast.
    for seed in range(10):
        image, label = synthetic_image(seed, **CLEAN, faint_fraction=0.0)
        grey = image[..., 0]
        contrast = np.median(grey[label == 0]) - grey
        assert contrast[label == 1].min() > 0.2 * 0.4 * 0.8 * 0.5 - 1e-6


@pytest.mark.parametrize("polarity,sign", [("dark", -1.0), ("bright", 1.0)])
def test_polarity(polarity, sign):
    images, labels = make_synthetic_dataset(6, seed=2, polarity=polarity, **CLEAN)
    for image, label in zip(images, labels):
        grey = image.mean(axis=-1)
        assert sign * (grey[label == 1].mean() - grey[label == 0].mean()) > 0.05


def test_splits_are_disjoint_and_shaped():
    splits = split_synthetic(0, n_train=4, n_val=2, n_test=3, size=(40, 44))
    assert set(splits) == {"train", "val", "test"}
    for name, count in [("train", 4), ("val", 2), ("test", 3)]:
        images, labels = splits[name]
        assert images.shape == (count, 40, 44, 3) and labels.shape == (count, 40, 44)
    plain_labels = make_synthetic_dataset(4, seed=0, size=(40, 44))[1]
    all_labels = [lab for _, labels in splits.values() for lab in labels] + list(plain_labels)
    keys = {lab.tobytes() for lab in all_labels}
    assert len(keys) == len(all_labels)
    again = split_synthetic(0, n_train=4, n_val=2, n_test=3, size=(40, 44))
    for name in splits:
        assert np.array_equal(splits[name][0], again[name][0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        make_synthetic_dataset(1, size=(2, 40))
    with pytest.raises(ValueError, match="polarity"):
        make_synthetic_dataset(1, polarity="green")
    with pytest.raises(TypeError):
        make_synthetic_dataset(1, not_a_knob=3)
    with pytest.raises(ValueError, match="faint_fraction"):
        make_synthetic_dataset(1, faint_fraction=1.5)
    with pytest.raises(ValueError, match="trunk_radius"):
        make_synthetic_dataset(1, trunk_radius=(2.0, 1.0))
    with pytest.raises(ValueError, match="noise_std"):
        make_synthetic_dataset(1, noise_std=-0.1)
    with pytest.raises(ValueError, match="seed"):
        make_synthetic_dataset(1, seed=-1)
    assert make_synthetic_dataset(0)[0].shape == (0, 96, 96, 3)

