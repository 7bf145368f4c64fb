"""Embedded benchmark "synthetic_roads": aerial-like street networks with loops and occlusions.

What makes it hard in the way Massachusetts Roads is:

* the label is a street *graph*: blocks enclosed by roads give loops (beta_1) and junctions of
  three to five roads, so an opened loop or a merged block is a visible topological error;
* trees cover short stretches of road (the canopy hides the road over up to ~12 px of its
  length, fully or partly across it) while the label continues underneath: a pixel loss is
  rewarded for predicting "no road" under a canopy and so cuts the road (beta_0 and beta_1
  errors), the failure mode topological losses target; shadows darken other stretches;
* the ground is textured (fields, vegetation) and carries buildings, some as bright as roads
  but compact and never touching a road, which invite false positives.

Why it is learnable: outside the canopies every road pixel is brighter than the ground around
it by several noise standard deviations (`road_contrast`, shadows included); roads keep a
constant width of 3-7 px along each street line, so their shape tells them apart from buildings;
occlusions are short compared with the blocks, so the road can be inferred across them from both
ends.

Geometry (lengths in px, independent of the image size: a larger image shows more blocks):

* a perturbed lattice: node spacing drawn per axis from `block_size`, the lattice rotated by a
  random angle and each node moved by up to ``jitter`` times the spacing; lattice edges are
  streets, each dropped with probability `drop_fraction` (merged blocks, dead ends), and a block
  gets a diagonal street with probability `diagonal_fraction` (five-way junctions, triangles);
* every street is a quadratic Bezier curve whose control point lies off the chord by up to
  `curvature` times its length; all streets of one lattice line share one width (3-7 px,
  `road_width`), so a road keeps its width through junctions; diagonals are 3-5 px;
* the label is exact: pixel centre within half the width of the curve (`synthetic._rasterise`).

Appearance: green-brown ground with coarse (fields) and fine (vegetation) texture; grey roads
whose brightness exceeds the ground's by `road_contrast`; buildings (rotated with the lattice,
3-8 px, at least 3 px from any road, grey or red-brown, some road-bright) with a shadow; trees
(dark green textured canopies, `num_occlusions` of them on roads and as many again off roads);
shadow bands across roads that multiply the brightness by 0.55-0.75; a mild illumination field,
a slight blur and Gaussian noise (`noise_std`). Images float32 [H, W, 3].

`synthetic_roads_image(..., return_info=True)` also returns ``{"occluded": bool [H, W]}``, the
label pixels under a canopy (where the image shows no road), and ``"shadowed"``, the label pixels
in a shadow band, for tests and analysis.

Speed: about 40 ms of CPU time per 96x96 image (numpy, one core; the default set takes ~11 ms
on the same machine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from jaxtopo.data.synthetic import _Branch, _as_rng, _bezier, _rasterise, _smooth_noise
from jaxtopo.data.synthetic_common import (
    as_size,
    check_non_negative,
    check_range,
    draw_dataset,
    draw_splits,
    finish,
    illumination_field,
)

__all__ = ["make_synthetic_roads_dataset", "split_synthetic_roads", "synthetic_roads_image"]


def _street_graph(rng, height, width, block_size, jitter, drop_fraction, diagonal_fraction,
                  curvature, road_width) -> list[_Branch]:
    """Streets of a rotated, perturbed lattice that covers the image, as polylines with radii."""
    angle = rng.uniform(0.0, math.pi / 2)
    axis_u = np.array([math.sin(angle), math.cos(angle)])  # (row, col) unit vectors
    axis_v = np.array([math.cos(angle), -math.sin(angle)])
    spacing = rng.uniform(*block_size, size=2)
    centre = np.array([(height - 1) / 2, (width - 1) / 2]) + rng.uniform(-0.5, 0.5, size=2) * spacing
    # Enough lattice lines to cover the image's circumscribed circle, plus one.
    half_diagonal = 0.5 * math.hypot(height, width)
    count = [int(math.ceil(half_diagonal / s)) + 1 for s in spacing]
    iu = np.arange(-count[0], count[0] + 1)
    iv = np.arange(-count[1], count[1] + 1)
    nodes = (centre + iu[:, None, None] * spacing[0] * axis_u + iv[None, :, None] * spacing[1] * axis_v)
    nodes = nodes + rng.uniform(-jitter, jitter, size=nodes.shape) * spacing.min()
    widths_u = rng.uniform(*road_width, size=len(iu))  # one width per lattice line
    widths_v = rng.uniform(*road_width, size=len(iv))

    edges = []  # (start node, end node, width)
    for a in range(len(iu)):
        for b in range(len(iv)):
            if a + 1 < len(iu) and rng.uniform() >= drop_fraction:
                edges.append((nodes[a, b], nodes[a + 1, b], widths_v[b]))
            if b + 1 < len(iv) and rng.uniform() >= drop_fraction:
                edges.append((nodes[a, b], nodes[a, b + 1], widths_u[a]))
            if a + 1 < len(iu) and b + 1 < len(iv) and rng.uniform() < diagonal_fraction:
                if rng.uniform() < 0.5:
                    edges.append((nodes[a, b], nodes[a + 1, b + 1], rng.uniform(3.0, 5.0)))
                else:
                    edges.append((nodes[a + 1, b], nodes[a, b + 1], rng.uniform(3.0, 5.0)))

    streets = []
    margin = 8.0  # px: streets entirely farther out than this never touch the image
    for start, end, road in edges:
        # Draw the bend for every edge, kept or not, so the stream of draws does not depend on
        # which edges fall outside the image.
        bend = rng.uniform(-curvature, curvature)
        low = np.minimum(start, end) - spacing.max() * curvature
        high = np.maximum(start, end) + spacing.max() * curvature
        if (high[0] < -margin or high[1] < -margin or low[0] > height - 1 + margin
                or low[1] > width - 1 + margin):
            continue
        chord = end - start
        normal = np.array([-chord[1], chord[0]])
        points = _bezier(start, (start + end) / 2 + bend * normal, end)
        streets.append(_Branch(points, np.full(len(points), road / 2), 1.0))
    return streets


def _disc_union(height, width, centres, radii) -> np.ndarray:
    """Soft coverage in [0, 1] of a union of discs (1 inside, linear over the last pixel)."""
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    cover = np.zeros((height, width))
    for (r, c), radius in zip(centres, radii):
        distance = np.hypot(rows - r, cols - c)
        np.maximum(cover, np.clip(radius + 0.5 - distance, 0.0, 1.0), out=cover)
    return cover


def _canopy(rng, centre, core_radius) -> tuple[list, list]:
    """A tree crown: a core disc plus two or three smaller lobes around it (irregular outline)."""
    centres, radii = [centre], [core_radius]
    for _ in range(rng.integers(2, 4)):
        direction = rng.uniform(0, 2 * math.pi)
        offset = core_radius * rng.uniform(0.4, 0.8)
        centres.append(centre + offset * np.array([math.sin(direction), math.cos(direction)]))
        radii.append(core_radius * rng.uniform(0.45, 0.7))
    return centres, radii


def synthetic_roads_image(
    rng: np.random.Generator | int,
    size: int | Sequence[int] = (96, 96),
    *,
    block_size: tuple[float, float] = (24.0, 36.0),
    jitter: float = 0.12,
    drop_fraction: float = 0.15,
    diagonal_fraction: float = 0.12,
    curvature: float = 0.12,
    road_width: tuple[float, float] = (3.0, 7.0),
    road_contrast: tuple[float, float] = (0.2, 0.3),
    num_occlusions: tuple[float, float] = (1.5, 3.5),
    num_shadows: tuple[float, float] = (0.5, 2.0),
    num_buildings: tuple[float, float] = (8.0, 18.0),
    noise_std: float = 0.04,
    texture_std: float = 0.05,
    fine_texture_std: float = 0.035,
    illumination: float = 0.2,
    blur_sigma: float = 0.5,
    return_info: bool = False,
):
    """One street-network image and its exact road label (see the module docstring).

    Args:
      rng: a `numpy.random.Generator` (consumed) or an int seed.
      size: ``(height, width)`` or one int; any size >= 4 (small images may show no road).
      block_size: range of the lattice spacing (px) per axis; blocks are about this big, so a
        96 x 96 image holds a few whole blocks (loops) and several junctions.
      jitter: node displacement, as a fraction of the smaller spacing (irregular blocks).
      drop_fraction: probability that a lattice street is left out (dead ends, merged blocks).
      diagonal_fraction: probability that a block gets a diagonal street.
      curvature: control-point offset of a street's Bezier curve, as a fraction of its length.
      road_width: range of the street widths (px), one width per lattice line.
      road_contrast: range of road brightness above the mean ground level (intensity units); the
        lower end is five times the default `noise_std`, so every visible road pixel stands out.
      num_occlusions: range of the number of trees on roads per 96 x 96 area (as many again grow
        off roads); each hides the road over at most ~12 px of its length.
      num_shadows: range of the number of shadow bands across roads per 96 x 96 area.
      num_buildings: range of the number of buildings per 96 x 96 area.
      noise_std: additive Gaussian noise shared by the channels (each channel gets another half).
      texture_std: amplitude of the coarse ground texture (fields, sigma 8 px).
      fine_texture_std: amplitude of the fine ground texture (vegetation, sigma 0.8 px).
      illumination: strength of the multiplicative lighting field (gradient and vignette).
      blur_sigma: Gaussian blur (px) of the noiseless image.
      return_info: also return ``{"occluded", "shadowed"}`` (bool [H, W] masks of label pixels).

    Returns:
      ``(image, label)`` or ``(image, label, info)``: image float32 [H, W, 3] in [0, 1], label
      uint8 [H, W] in {0, 1}.
    """
    height, width = as_size(size)
    rng = _as_rng(rng)
    check_non_negative(jitter=jitter, curvature=curvature, noise_std=noise_std, texture_std=texture_std,
                       fine_texture_std=fine_texture_std, illumination=illumination, blur_sigma=blur_sigma)
    for name, value in dict(drop_fraction=drop_fraction, diagonal_fraction=diagonal_fraction).items():
        check_range(name, (value, value), 0.0, 1.0)
    block_size = check_range("block_size", block_size, 4.0)
    road_width = check_range("road_width", road_width, 1.0)
    road_contrast = check_range("road_contrast", road_contrast)
    area = height * width / 96.0**2

    streets = _street_graph(rng, height, width, block_size, jitter, drop_fraction, diagonal_fraction,
                            curvature, road_width)
    label, cover = _rasterise(streets, height, width)

    # Ground: a random green-brown tint, fields (coarse) and vegetation (fine) texture.
    ground_level = rng.uniform(0.3, 0.4)
    tint = np.array([1.0, rng.uniform(1.05, 1.2), rng.uniform(0.7, 0.85)])
    grey = ground_level + texture_std * _smooth_noise(rng, (height, width), 8.0)
    grey += fine_texture_std * _smooth_noise(rng, (height, width), 0.8)
    colour = grey[:, :, None] * tint
    road_level = ground_level + rng.uniform(*road_contrast)
    # The surface brightness drifts slowly along the roads (+-8 %: pavement age, wear) and has a
    # fine grain; both stay far below the road contrast.
    surface = road_level * (1.0 + 0.08 * _smooth_noise(rng, (height, width), 10.0))
    surface += 0.02 * _smooth_noise(rng, (height, width), 1.0)
    road_rgb = surface[:, :, None] * np.array([1.0, 1.0, 0.97])
    colour = colour * (1.0 - cover[:, :, None]) + road_rgb * cover[:, :, None]

    # Buildings: compact rectangles aligned with the streets, kept >= 3 px from any road so the
    # label stays determined by the image; about half are as bright as roads (false positives).
    road_distance = ndimage.distance_transform_edt(label == 0)
    rows, cols = np.mgrid[:height, :width]
    angle = rng.uniform(0, math.pi / 2)
    sun = np.full(2, int(rng.integers(1, 3)))  # shadow offset (px), sun to the upper left
    wanted, placed = int(round(rng.uniform(*num_buildings) * area)), 0
    for _ in range(4 * wanted):  # a draw too close to a road is retried, up to 4 tries each
        if placed == wanted:
            break
        centre = rng.uniform([0, 0], [height - 1, width - 1])
        half = rng.uniform(1.5, 4.0, size=2)
        level = road_level * rng.uniform(0.9, 1.1) if rng.uniform() < 0.5 else ground_level * rng.uniform(1.2, 1.6)
        roof_tint = np.array([1.0, 1.0, 1.0]) if rng.uniform() < 0.5 else np.array([1.0, 0.75, 0.65])
        # Only the window around the centre can hold the roof (half-diagonal < 6 px).
        box = (slice(max(int(centre[0]) - 6, 0), int(centre[0]) + 8),
               slice(max(int(centre[1]) - 6, 0), int(centre[1]) + 8))
        u = (rows[box] - centre[0]) * math.cos(angle) + (cols[box] - centre[1]) * math.sin(angle)
        v = -(rows[box] - centre[0]) * math.sin(angle) + (cols[box] - centre[1]) * math.cos(angle)
        roof = np.zeros((height, width), bool)
        roof[box] = (np.abs(u) <= half[0]) & (np.abs(v) <= half[1])
        if not roof.any() or road_distance[roof].min() < 3.0:
            continue
        shadow = np.zeros_like(roof)  # the roof moved away from the sun, without wrap-around
        shadow[sun[0]:, sun[1]:] = roof[:height - sun[0], :width - sun[1]]
        shadow &= ~roof & (road_distance >= 1.5)
        colour[shadow] *= 0.6
        colour[roof] = level * roof_tint
        placed += 1

    # Shadow bands across roads: the road stays visible at lower contrast; the label continues.
    shadowed = np.zeros((height, width), bool)
    centreline = np.concatenate([s.points for s in streets]) if streets else np.zeros((0, 2))
    inside = centreline[(centreline[:, 0] >= 0) & (centreline[:, 0] <= height - 1)
                        & (centreline[:, 1] >= 0) & (centreline[:, 1] <= width - 1)]
    for _ in range(int(round(rng.uniform(*num_shadows) * area))):
        if not len(inside):
            break
        centre = inside[rng.integers(len(inside))]
        direction = rng.uniform(0, math.pi)
        along = (rows - centre[0]) * math.sin(direction) + (cols - centre[1]) * math.cos(direction)
        across = -(rows - centre[0]) * math.cos(direction) + (cols - centre[1]) * math.sin(direction)
        band = (np.abs(along) <= rng.uniform(6.0, 12.0)) & (np.abs(across) <= rng.uniform(2.0, 4.0))
        colour[band] *= rng.uniform(0.55, 0.75)
        shadowed |= band & (label == 1)

    # Trees: on roads (centre on the centreline, the crown covers at least the road's half width
    # and at most ~12 px of its length) and as many off roads.
    canopy = np.zeros((height, width))
    num_trees = int(round(rng.uniform(*num_occlusions) * area))
    for k in range(2 * num_trees):
        if k < num_trees and len(inside):
            centre = inside[rng.integers(len(inside))] + rng.uniform(-1.5, 1.5, size=2)
        else:
            centre = rng.uniform([0, 0], [height - 1, width - 1])
        centres, radii = _canopy(rng, centre, rng.uniform(3.0, 5.0))
        np.maximum(canopy, _disc_union(height, width, centres, radii), out=canopy)
    leaves = rng.uniform(0.12, 0.18) * np.array([0.8, 1.2, 0.6])
    crown = leaves * (1.0 + 0.25 * _smooth_noise(rng, (height, width), 1.0))[:, :, None]
    colour = colour * (1.0 - canopy[:, :, None]) + crown * canopy[:, :, None]

    colour *= illumination_field(rng, height, width, illumination, vignette=0.2)[:, :, None]
    image = finish(rng, colour, blur_sigma=blur_sigma, noise_std=noise_std)
    if return_info:
        return image, label, {"occluded": (canopy > 0.5) & (label == 1), "shadowed": shadowed}
    return image, label


def make_synthetic_roads_dataset(
    num_images: int, *, size: int | Sequence[int] = (96, 96), seed: int = 0, **knobs
) -> tuple[np.ndarray, np.ndarray]:
    """``(images float32 [N, H, W, 3], labels uint8 [N, H, W])``; image i from ``[seed, 0, i]``.

    ``knobs`` are keyword options of `synthetic_roads_image` (``return_info`` excluded).
    """
    return draw_dataset(synthetic_roads_image, num_images, size, seed, 0, knobs)


def split_synthetic_roads(
    seed: int = 0, n_train: int = 64, n_val: int = 16, n_test: int = 16,
    size: int | Sequence[int] = (96, 96), **knobs,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val", "test"}: (images, labels)`` from the streams ``[seed, 1|2|3, i]``."""
    return draw_splits(synthetic_roads_image, seed, n_train, n_val, n_test, size, knobs)
