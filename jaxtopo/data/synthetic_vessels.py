"""Embedded benchmark "synthetic_vessels": crossing vessel trees with thin low-contrast branches.

Fundus-like images (DRIVE): several vessel trees grow in from the image border; where branches
of two trees cross, the label (the union of the trees) is connected, and two crossings of the
same pair of trees close a loop. Unlike the default `jaxtopo.data.synthetic` set, whose loops
mostly come from 1 px connectors drawn near the noise level, every loop here sits where the
image shows two vessels crossing.

What makes it hard:

* every thin branch (mean width <= 2 px) is drawn with a low contrast, `thin_contrast`, 3-4
  noise standard deviations before the blur and the illumination field: a pixel loss can afford
  to drop them or break them (beta_0 errors), and a branch broken near a crossing opens a loop
  (beta_1 errors);
* crossings of a thick and a thin vessel: the thin one is only visible on both sides;
* clutter: dark round spots (haemorrhage-like) as dark as trunks, a coarse background texture,
  a strong vignette and a colour tint per image.

Why it is learnable: thin branches stay above the noise (measured on noiseless renderings, as in
tests/test_synthetic_benchmarks.py: about 85 % of all vessel pixels are >= 2 noise std darker than
their local background, 94 % >= 1.5), are long and smooth, and connect to thicker parents;
trunks and spots differ in shape (long tubes versus 2-3 px blobs).

Geometry: trees come from `jaxtopo.data.synthetic` (``_grow_tree``: smooth random curves from
the border, tapering radius >= 0.5 px, children at 25-70 degrees), `num_trees` per 96 x 96 area;
while fewer than `min_crossings` crossings between different trees exist, another tree is added
(up to 8 times). A crossing is a connected (8-connected) piece of the overlap of the labels of
two different trees. The label is exact: pixel centre within the local radius of a branch.

Appearance: background grey level 0.55-0.7 times an orange-red tint, coarse texture (sigma
~side / 10) and a little fine texture; vessels darken all channels by their contrast times a
per-channel gain in [0.8, 1] (so no channel loses the vessels); the darkest vessel wins where
two overlap; spots; vignette and gradient (`illumination`); blur and Gaussian noise. Images
float32 [H, W, 3].

`synthetic_vessels_image(..., return_info=True)` also returns ``{"tree_labels" (uint8 [T, H,
W], one label per tree; their union is the label), "crossings" ([K, 2] float (row, col): the
centre of each crossing), "crossing_trees" ([K, 2] int: the two trees)}``.

Speed: about 20 ms of CPU time per 96x96 image (numpy, one core; the default set takes ~11 ms
on the same machine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from jaxtopo.data.synthetic import _REFERENCE_SIDE, _as_rng, _grow_tree, _rasterise, _smooth_noise
from jaxtopo.data.synthetic_common import (
    as_size,
    check_non_negative,
    check_range,
    draw_dataset,
    draw_splits,
    finish,
    illumination_field,
)

__all__ = ["make_synthetic_vessels_dataset", "split_synthetic_vessels", "synthetic_vessels_image"]

_EIGHT = np.ones((3, 3), bool)
_FOUR = ndimage.generate_binary_structure(2, 1)
_MAX_EXTRA_TREES = 8


def _crossings(tree_labels: list[np.ndarray]) -> tuple[list, list]:
    """Centres and tree pairs of the 8-connected pieces of overlap between different trees."""
    centres, pairs = [], []
    for a in range(len(tree_labels)):
        for b in range(a + 1, len(tree_labels)):
            overlap = tree_labels[a] & tree_labels[b]
            if not overlap.any():
                continue
            pieces, count = ndimage.label(overlap, structure=_EIGHT)
            for centre in ndimage.center_of_mass(overlap, pieces, range(1, count + 1)):
                centres.append(centre)
                pairs.append((a, b))
    return centres, pairs


def _narrow_holes(label: np.ndarray) -> np.ndarray:
    """Enclosed background components (4-connected, not touching the border) with no pixel 2 px
    or more from the foreground, i.e. never 3 px wide."""
    components, count = ndimage.label(label == 0, structure=_FOUR)
    if count == 0:
        return np.zeros(label.shape, bool)
    depth = ndimage.maximum(ndimage.distance_transform_edt(label == 0), components, np.arange(1, count + 1))
    narrow = np.zeros(count + 1, bool)
    narrow[1:] = np.asarray(depth) < 2.0
    border = np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]])
    narrow[border] = False
    narrow[0] = False
    return narrow[components]


def synthetic_vessels_image(
    rng: np.random.Generator | int,
    size: int | Sequence[int] = (96, 96),
    *,
    num_trees: tuple[float, float] = (2.0, 3.0),
    min_crossings: int = 2,
    max_depth: int = 2,
    branch_rate: float = 2.5,
    trunk_radius: tuple[float, float] = (1.5, 2.5),
    trunk_contrast: tuple[float, float] = (0.25, 0.35),
    thin_contrast: tuple[float, float] = (0.12, 0.16),
    num_spots: tuple[float, float] = (2.0, 6.0),
    noise_std: float = 0.04,
    texture_std: float = 0.05,
    fine_texture_std: float = 0.015,
    illumination: float = 0.3,
    blur_sigma: float = 0.5,
    return_info: bool = False,
):
    """One vessel image and its exact label (see the module docstring).

    Args:
      rng: a `numpy.random.Generator` (consumed) or an int seed.
      size: ``(height, width)`` or one int; any size >= 4.
      num_trees: range of the number of trees per 96 x 96 area (before trees added for crossings).
      min_crossings: trees are added (at most 8) while fewer crossings between trees exist; two
        crossings of one pair of trees close a loop.
      max_depth: generations of child branches below each trunk.
      branch_rate: expected children per 100 px of parent branch.
      trunk_radius: range of the trunk radius (px); children are 0.45-0.8 times their parent.
      trunk_contrast: range of a trunk's darkening (intensity units); branches wider than 2 px
        get 40-100 % of it, decreasing with the radius.
      thin_contrast: range of the darkening of thin branches (mean width <= 2 px): 3-4 times
        the default `noise_std` before the blur, about two after it on a 1 px branch.
      num_spots: range of the number of dark spots per 96 x 96 area.
      noise_std: additive Gaussian noise shared by the channels (each channel gets another half).
      texture_std: amplitude of the coarse background texture.
      fine_texture_std: amplitude of the fine background texture (sigma 1.2 px).
      illumination: strength of the multiplicative lighting field (gradient and vignette).
      blur_sigma: Gaussian blur (px) of the noiseless image.
      return_info: also return the dict described in the module docstring.

    Returns:
      ``(image, label)`` or ``(image, label, info)``: image float32 [H, W, 3] in [0, 1], label
      uint8 [H, W] in {0, 1}.
    """
    height, width = as_size(size)
    rng = _as_rng(rng)
    check_non_negative(min_crossings=min_crossings, max_depth=max_depth, branch_rate=branch_rate,
                       noise_std=noise_std, texture_std=texture_std, fine_texture_std=fine_texture_std,
                       illumination=illumination, blur_sigma=blur_sigma)
    num_trees = check_range("num_trees", num_trees)
    trunk_radius = check_range("trunk_radius", trunk_radius, 0.5)
    trunk_contrast = check_range("trunk_contrast", trunk_contrast)
    thin_contrast = check_range("thin_contrast", thin_contrast)
    num_spots = check_range("num_spots", num_spots)
    # The tree grower of the default set, with every thin branch at the low contrast.
    knobs = dict(max_depth=max_depth, branch_rate=branch_rate, trunk_radius=trunk_radius, bend=0.5,
                 turn_smoothness=12.0, contrast_range=trunk_contrast, faint_fraction=1.0,
                 faint_contrast=thin_contrast)
    area = height * width / _REFERENCE_SIDE**2
    scale = math.sqrt(area)

    tree_labels, strength = [], np.zeros((height, width))

    def add_tree():
        label_k, strength_k = _rasterise(_grow_tree(rng, height, width, scale, knobs), height, width)
        tree_labels.append(label_k)
        np.maximum(strength, strength_k, out=strength)

    for _ in range(max(1, int(round(rng.uniform(*num_trees) * area)))):
        add_tree()
    for _ in range(_MAX_EXTRA_TREES):
        if len(_crossings(tree_labels)[0]) >= min_crossings:
            break
        add_tree()
    label = np.bitwise_or.reduce(tree_labels, axis=0)
    # Slivers of background enclosed by vessels and never 3 px wide (a child leaving its parent at
    # a shallow angle, two vessels running side by side) are not resolvable in the image: the soft
    # vessel edges and the blur darken them. They become vessel in the label and in the image, so
    # every loop of the label encloses background that the image shows.
    slivers = _narrow_holes(label)
    label[slivers] = 1
    strength[slivers] = ndimage.grey_dilation(strength, size=(3, 3))[slivers]

    # Dark spots: small round blobs (radius 1.5-3 px) with trunk-like darkness, off the vessels.
    rows, cols = np.mgrid[:height, :width]
    distance = ndimage.distance_transform_edt(label == 0)
    spots = np.zeros((height, width))
    for _ in range(int(round(rng.uniform(*num_spots) * area))):
        radius = rng.uniform(1.5, 3.0)
        darkness = rng.uniform(*trunk_contrast)
        room = distance >= radius + 2.0
        if not room.any():
            continue
        r, c = np.argwhere(room)[rng.integers(int(room.sum()))]
        disc = np.clip(radius + 0.5 - np.hypot(rows - r, cols - c), 0.0, 1.0)
        np.maximum(spots, darkness * disc, out=spots)

    level = rng.uniform(0.55, 0.7)
    grey = level + texture_std * _smooth_noise(rng, (height, width), max(height, width) / 10.0)
    grey += fine_texture_std * _smooth_noise(rng, (height, width), 1.2)
    tint = np.array([1.0, rng.uniform(0.7, 0.85), rng.uniform(0.55, 0.7)])  # orange-red fundus
    gains = rng.uniform(0.8, 1.0, size=3)
    colour = grey[:, :, None] * tint - np.maximum(strength, spots)[:, :, None] * gains
    colour *= illumination_field(rng, height, width, illumination)[:, :, None]
    image = finish(rng, colour, blur_sigma=blur_sigma, noise_std=noise_std)
    if not return_info:
        return image, label
    centres, pairs = _crossings(tree_labels)
    info = {
        "tree_labels": np.stack(tree_labels).astype(np.uint8),
        "crossings": np.array(centres, np.float64).reshape(-1, 2),
        "crossing_trees": np.array(pairs, np.int64).reshape(-1, 2),
    }
    return image, label, info


def make_synthetic_vessels_dataset(
    num_images: int, *, size: int | Sequence[int] = (96, 96), seed: int = 0, **knobs
) -> tuple[np.ndarray, np.ndarray]:
    """``(images float32 [N, H, W, 3], labels uint8 [N, H, W])``; image i from ``[seed, 0, i]``.

    ``knobs`` are keyword options of `synthetic_vessels_image` (``return_info`` excluded).
    """
    return draw_dataset(synthetic_vessels_image, num_images, size, seed, 0, knobs)


def split_synthetic_vessels(
    seed: int = 0, n_train: int = 64, n_val: int = 16, n_test: int = 16,
    size: int | Sequence[int] = (96, 96), **knobs,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val", "test"}: (images, labels)`` from the streams ``[seed, 1|2|3, i]``."""
    return draw_splits(synthetic_vessels_image, seed, n_train, n_val, n_test, size, knobs)
