"""Procedural tubular-network images: the embedded default dataset (no download needed).

Each image shows a few branching, vessel- or road-like trees drawn over a textured, unevenly lit,
noisy background; the label is the exact binary mask of the drawn network. The generator is
built so that a plain pixel-wise (BCE) model makes *topological* mistakes:

* the finest branches are 1 px wide and many of them are drawn with a contrast of one to two
  noise standard deviations, so a pixel classifier breaks them into pieces (beta_0 errors);
* connector branches join two points of the network and close loops (beta_1 structure), often
  with thin faint segments, so a loop is easily opened;
* a fine-grained background texture produces short vessel-like streaks (spurious fragments).

Geometry (all lengths in pixels; pixel (i, j) has its centre at continuous coordinates (i, j)):

* a *branch* is a smooth, directed random curve: its heading meanders around the initial
  direction (`bend` radians, correlation length `turn_smoothness` px) plus a slight constant
  curvature; it is a polyline with vertices 1 px apart, and its radius tapers linearly along it
  and is never below 0.5 px (width >= 1 px, which keeps every branch 8-connected);
* a *tree* starts on the image border heading inwards (a trunk 2.4-4 px wide) and spawns
  children (Poisson, `branch_rate` per 100 px) at angles of 25-70 degrees, each 0.45-0.8 times
  as wide as its parent, up to `max_depth` generations;
* *connectors* are quadratic Bezier curves between two network points 15-45 % of the image
  apart, usually on the same tree, which creates loops; independent trees cross each other.

The label of a pixel is 1 iff its centre lies within the local radius of some branch polyline
(exact, no anti-aliasing). The image uses the soft coverage ``clip(r + 0.5 - d, 0, 1)`` of the same
polylines (d: distance to the polyline) times the branch contrast, so it is half a pixel wider
than the label at the edges, as real vessels are.

Appearance: background = base level + coarse smoothed noise (`texture_std`) + fine smoothed noise
(`fine_texture_std`, streak-like clutter); the network darkens it (`polarity="dark"`, retina-like)
or brightens it (`"bright"`, road-like); a multiplicative illumination field (linear gradient and
vignette, `illumination`); a Gaussian blur (`blur_sigma`, optics); a random colour tint per image
(`colour_jitter`); additive Gaussian noise, shared by the channels (`noise_std`) plus half as much
independent per channel; finally clipped to [0, 1].

Determinism: everything is drawn from the `numpy.random.Generator` passed in (or built from the
integer seed), so the same seed gives bit-identical arrays on any machine with the same numpy.
`make_synthetic_dataset` draws image ``i`` from the entropy ``(seed, 0, i)``: a larger dataset
with the same seed starts with the same images. `split_synthetic` uses streams 1, 2 and 3 for
train, val and test, so no split repeats an image of another or of `make_synthetic_dataset`.

Speed: about 7-9 ms per 96x96 image on one (shared) CPU core, ~60 ms per 275x275; the work is
vectorised numpy and scipy.ndimage, the rest is per-branch Python overhead (~15 branches).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

# the pieces every embedded dataset shares
from jaxtopo.data.synthetic_common import as_size as _as_size
from jaxtopo.data.synthetic_common import draw_dataset, draw_splits, illumination_field

__all__ = ["make_synthetic_dataset", "split_synthetic", "synthetic_image"]

# Branches are polylines with vertices this far apart (px); rasterisation is exact per segment.
_STEP = 1.0
# Smallest radius: a 1 px wide line whose pixels stay 8-connected.
_MIN_RADIUS = 0.5
# Image side that the default counts and lengths are calibrated for.
_REFERENCE_SIDE = 96.0

_POLARITIES = ("dark", "bright", "random")
_MAX_EXTRA_TREES = 8


def _as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator or an int seed; got {type(rng).__name__}"
    )


class _Branch:
    """One drawn curve: polyline vertices [n, 2] (row, col), radius [n] and one contrast."""

    __slots__ = ("points", "radius", "contrast")

    def __init__(self, points: np.ndarray, radius: np.ndarray, contrast: float):
        self.points = points
        self.radius = radius
        self.contrast = contrast


def _random_walk(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    length: float,
    bend: float,
    smoothness: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth, directed random curve from `start`; returns points [n, 2] and headings [n].

    The heading is ``heading + bend * (g(s) - g(0)) + k * s``: ``g`` a smooth random function
    (unit-normal values at knots `smoothness` px apart, joined by smoothstep interpolation), so
    the curve meanders without drifting and rarely spirals, and ``k`` a small constant curvature
    (gentle arcs).
    """
    n = max(int(length / _STEP), 2)
    knot_pos = np.arange(n) * (_STEP / smoothness) + rng.uniform()
    knots = rng.standard_normal(int(knot_pos[-1]) + 2)
    index = knot_pos.astype(np.int64)
    frac = knot_pos - index
    frac = frac * frac * (3.0 - 2.0 * frac)
    wander = knots[index] * (1.0 - frac) + knots[index + 1] * frac
    wander -= wander[0]
    arc = np.arange(n) * _STEP
    headings = heading + bend * wander + rng.uniform(-1.0, 1.0) * 0.008 * arc
    steps = _STEP * np.stack([np.sin(headings), np.cos(headings)], axis=1)
    points = start[None, :] + np.cumsum(steps, axis=0) - steps[0]
    return points, headings


def _clip_to_image(points: np.ndarray, height: int, width: int) -> int:
    """Number of leading points up to and including the first one outside the image.

    Keeping that one point lets the curve run across the border; cutting it there (instead of
    letting it wander just outside and come back) keeps every branch 8-connected in the image.
    """
    outside = (
        (points[:, 0] < 0)
        | (points[:, 0] > height - 1)
        | (points[:, 1] < 0)
        | (points[:, 1] > width - 1)
    )
    if not outside.any():
        return len(points)
    return int(np.argmax(outside)) + 1


def _border_start(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, float]:
    """A point on the image border and a heading pointing inwards (within +-50 degrees)."""
    side = rng.integers(4)
    if side == 0:  # top
        start, inward = np.array([0.0, rng.uniform(0, width - 1)]), math.pi / 2
    elif side == 1:  # bottom
        start, inward = np.array([height - 1.0, rng.uniform(0, width - 1)]), -math.pi / 2
    elif side == 2:  # left
        start, inward = np.array([rng.uniform(0, height - 1), 0.0]), 0.0
    else:  # right
        start, inward = np.array([rng.uniform(0, height - 1), width - 1.0]), math.pi
    return start, inward + rng.uniform(-0.9, 0.9)


def _branch_contrast(
    rng: np.random.Generator,
    radius: float,
    trunk_contrast: float,
    faint_fraction: float,
    faint_contrast: tuple[float, float],
) -> float:
    """Contrast of a branch: thinner is fainter; thin ones are near the noise level at random."""
    if radius <= 1.0 and rng.uniform() < faint_fraction:
        return rng.uniform(*faint_contrast)
    # 0.5 px radius -> 40 % of the trunk contrast, 2 px -> 100 %.
    scale = 0.4 + 0.6 * min(max((radius - _MIN_RADIUS) / 1.5, 0.0), 1.0)
    return trunk_contrast * scale * rng.uniform(0.8, 1.1)


def _grow_tree(rng, height, width, scale, knobs) -> list[_Branch]:
    """A trunk from the border and its child branches, breadth first."""
    start, heading = _border_start(rng, height, width)
    trunk_radius = rng.uniform(*knobs["trunk_radius"])
    trunk_contrast = rng.uniform(*knobs["contrast_range"])
    pending = [(start, heading, trunk_radius, rng.uniform(0.9, 1.5) * _REFERENCE_SIDE * scale, 0)]
    branches = []
    while pending:
        start, heading, radius0, length, depth = pending.pop(0)
        points, headings = _random_walk(
            rng, start, heading, length, knobs["bend"], knobs["turn_smoothness"]
        )
        n = _clip_to_image(points, height, width)
        if n < 4:
            continue
        points, headings = points[:n], headings[:n]
        taper = rng.uniform(0.55, 0.95)
        radius = np.maximum(radius0 * np.linspace(1.0, taper, n), _MIN_RADIUS)
        contrast = (
            trunk_contrast
            if depth == 0
            else _branch_contrast(
                rng,
                float(radius.mean()),
                trunk_contrast,
                knobs["faint_fraction"],
                knobs["faint_contrast"],
            )
        )
        branches.append(_Branch(points, radius, contrast))
        if depth >= knobs["max_depth"]:
            continue
        drawn_length = n * _STEP
        num_children = rng.poisson(knobs["branch_rate"] * drawn_length / 100.0)
        for _ in range(num_children):
            k = int(rng.uniform(0.1, 0.9) * n)
            side = 1.0 if rng.uniform() < 0.5 else -1.0
            child_heading = headings[k] + side * rng.uniform(0.45, 1.2)
            child_radius = max(radius[k] * rng.uniform(0.45, 0.8), _MIN_RADIUS)
            child_length = rng.uniform(0.25, 0.7) * _REFERENCE_SIDE
            pending.append((points[k], child_heading, child_radius, child_length, depth + 1))
    return branches


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Quadratic Bezier curve sampled at most `_STEP` px apart."""
    chord = np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p1)
    t = np.linspace(0.0, 1.0, max(int(math.ceil(chord / _STEP)) + 1, 2))[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _connectors(rng, branches_per_tree, height, width, count, knobs) -> list[_Branch]:
    """Curves between two network points; usually on one tree, so they close loops."""
    side = min(height, width)
    inner = []  # per tree: points at least 3 px inside the image
    for branches in branches_per_tree:
        pts = np.concatenate([b.points for b in branches]) if branches else np.zeros((0, 2))
        rows, cols = pts[:, 0], pts[:, 1]
        keep = (rows >= 3) & (rows <= height - 4) & (cols >= 3) & (cols <= width - 4)
        inner.append(pts[keep])
    all_points = np.concatenate(inner) if inner else np.zeros((0, 2))
    out = []
    for _ in range(count):
        if len(all_points) < 2:
            break
        tree = int(rng.integers(len(inner)))
        pool_a = inner[tree] if len(inner[tree]) else all_points
        a = pool_a[rng.integers(len(pool_a))]
        pool_b = inner[tree] if (rng.uniform() < 0.7 and len(inner[tree])) else all_points
        dist = np.linalg.norm(pool_b - a, axis=1)
        candidates = np.flatnonzero((dist >= 0.15 * side) & (dist <= 0.45 * side))
        if len(candidates) == 0:
            continue
        b = pool_b[candidates[rng.integers(len(candidates))]]
        normal = np.array([-(b - a)[1], (b - a)[0]])
        control = (a + b) / 2 + normal * rng.uniform(-0.4, 0.4)
        points = _bezier(a, control, b)
        radius_value = rng.uniform(_MIN_RADIUS, 1.2)
        radius = np.full(len(points), radius_value)
        contrast = _branch_contrast(
            rng,
            radius_value,
            rng.uniform(*knobs["contrast_range"]),
            knobs["faint_fraction"],
            knobs["faint_contrast"],
        )
        out.append(_Branch(points, radius, contrast))
    return out


def _rasterise(branches: list[_Branch], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact label and soft contrast map of all branches.

    Each branch is a polyline whose radius varies linearly along each segment; a pixel is
    labelled iff its centre lies within that radius of the polyline (so a branch of radius
    >= 0.5 is 8-connected), and its contrast is the maximum over segments of
    ``contrast * clip(r + 0.5 - distance, 0, 1)``.
    """
    label = np.zeros(height * width, dtype=np.uint8)
    strength = np.zeros(height * width, dtype=np.float64)
    segments = [b for b in branches if len(b.points) >= 2]
    if segments:
        start = np.concatenate([b.points[:-1] for b in segments])
        end = np.concatenate([b.points[1:] for b in segments])
        r_start = np.concatenate([b.radius[:-1] for b in segments])
        r_end = np.concatenate([b.radius[1:] for b in segments])
        contrast = np.concatenate([np.full(len(b.points) - 1, b.contrast) for b in segments])
        # Pixels within r + 0.5 of a segment lie in a window of this half-size around the pixel
        # of its midpoint; thin segments (the majority) get the small window.
        half_length = 0.5 * np.hypot(*(end - start).T)
        reach = np.ceil(np.maximum(r_start, r_end) + 0.5 + half_length).astype(np.int64)
        for window in np.unique(reach):
            sel = reach == window
            _stamp_segments(
                label, strength, start[sel], end[sel], r_start[sel], r_end[sel], contrast[sel],
                int(window), height, width,
            )
    return label.reshape(height, width), strength.reshape(height, width)


def _stamp_segments(label, strength, start, end, r_start, r_end, contrast, reach, height, width):
    offsets = np.arange(-reach, reach + 1)
    middle = np.rint(0.5 * (start + end)).astype(np.int64)
    rows = middle[:, 0, None, None] + offsets[None, :, None]  # [n, K, 1]
    cols = middle[:, 1, None, None] + offsets[None, None, :]  # [n, 1, K]
    d_r = (end[:, 0] - start[:, 0])[:, None, None]
    d_c = (end[:, 1] - start[:, 1])[:, None, None]
    rel_r = rows - start[:, 0, None, None]
    rel_c = cols - start[:, 1, None, None]
    # Projection parameter of each window pixel on its segment, clamped to the segment.
    t = np.clip((rel_r * d_r + rel_c * d_c) / np.maximum(d_r * d_r + d_c * d_c, 1e-12), 0.0, 1.0)
    dist_sq = (rel_r - t * d_r) ** 2 + (rel_c - t * d_c) ** 2
    radius = r_start[:, None, None] + t * (r_end - r_start)[:, None, None]
    in_image = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    touched = in_image & (dist_sq < (radius + 0.5) ** 2)
    flat = (rows * width + cols)[touched]
    dist = np.sqrt(dist_sq[touched])
    radius = radius[touched]
    label[flat[dist <= radius]] = 1
    values = np.minimum(radius + 0.5 - dist, 1.0) * np.broadcast_to(
        contrast[:, None, None], touched.shape
    )[touched]
    np.maximum.at(strength, flat, values)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return field / (field.std() + 1e-12)


def _check_knobs(non_negative: dict, unit: dict, ranges: dict) -> None:
    for name, value in non_negative.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0; got {value}")
    for name, value in unit.items():
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1]; got {value}")
    for name, value in ranges.items():
        if len(value) != 2 or not 0 <= value[0] <= value[1]:
            raise ValueError(
                f"{name} must be a (low, high) pair with 0 <= low <= high; got {value}"
            )
    if ranges["trunk_radius"][0] < _MIN_RADIUS:
        raise ValueError(f"trunk_radius must be >= {_MIN_RADIUS}; got {ranges['trunk_radius']}")


def synthetic_image(
    rng: np.random.Generator | int,
    size: int | Sequence[int] = (96, 96),
    *,
    num_trees: int | None = None,
    max_depth: int = 2,
    branch_rate: float = 2.5,
    num_loops: int | None = None,
    trunk_radius: tuple[float, float] = (1.2, 2.0),
    bend: float = 0.5,
    turn_smoothness: float = 12.0,
    contrast_range: tuple[float, float] = (0.2, 0.35),
    faint_fraction: float = 0.5,
    faint_contrast: tuple[float, float] = (0.06, 0.125),
    noise_std: float = 0.05,
    texture_std: float = 0.06,
    fine_texture_std: float = 0.03,
    illumination: float = 0.3,
    blur_sigma: float = 0.6,
    colour_jitter: float = 0.35,
    polarity: str = "dark",
    min_foreground: float = 0.04,
) -> tuple[np.ndarray, np.ndarray]:
    """One procedural tubular-network image and its exact binary label.

    Args:
      rng: a `numpy.random.Generator` (consumed) or an int seed.
      size: ``(height, width)`` or one int for a square; any size >= 4, odd and non-square included.
      num_trees: trees growing in from the border; None draws 2-4 per 96x96 area (scaled by
        ``sqrt(H * W) / 96``).
      max_depth: generations of child branches below each trunk.
      branch_rate: expected children per 100 px of parent branch (Poisson).
      num_loops: connector curves that join two network points (loops, tree-to-tree links);
        None draws 1-3 per 96x96 area.
      trunk_radius: range of the trunk radius in px (width = 2 * radius); children are 0.45-0.8
        times their parent at the branching point, radii never below 0.5 px (1 px wide).
      bend: standard deviation (radians) of a branch's heading around its initial direction;
        larger values give more meandering curves.
      turn_smoothness: correlation length (px) of those meanders (larger = smoother curves).
      contrast_range: range of the trunk contrast (intensity units, image in [0, 1]); other
        branches get 40-100 % of it, decreasing with radius.
      faint_fraction: probability that a branch with mean radius <= 1 px (width <= 2 px) is
        drawn faint instead.
      faint_contrast: range of the faint contrast (intensity units); the default is 1.2-2.5
        times the default `noise_std`, before the blur, which lowers the peak contrast of a
        1 px line by about a third, and before the colour gains.
      noise_std: standard deviation of the additive noise shared by the channels; each channel
        gets another independent half of it.
      texture_std: amplitude of the coarse background texture (smoothed noise, sigma ~ side / 12).
      fine_texture_std: amplitude of the fine texture (sigma 1.2 px), streak-like clutter.
      illumination: strength of the multiplicative illumination field (gradient + vignette);
        0 gives uniform lighting.
      blur_sigma: Gaussian blur (px) of the noiseless image; 0 disables it.
      colour_jitter: each channel's gain is drawn from ``[1 - colour_jitter, 1]``.
      polarity: ``"dark"`` (network darker than background, retina-like), ``"bright"``
        (road-like) or ``"random"`` (drawn per image).
      min_foreground: while the label covers less than this fraction of the image, another
        tree is added (at most 8 times; tiny images may stay below it).

    Returns:
      ``(image, label)``: image float32 [H, W, 3] in [0, 1]; label uint8 [H, W] in {0, 1}.
    """
    height, width = _as_size(size)
    rng = _as_rng(rng)
    if polarity not in _POLARITIES:
        raise ValueError(f"polarity must be one of {_POLARITIES}; got {polarity!r}")
    _check_knobs(
        non_negative=dict(
            max_depth=max_depth, branch_rate=branch_rate, bend=bend, noise_std=noise_std,
            texture_std=texture_std, fine_texture_std=fine_texture_std,
            illumination=illumination, blur_sigma=blur_sigma,
        ),
        unit=dict(
            faint_fraction=faint_fraction,
            colour_jitter=colour_jitter,
            min_foreground=min_foreground,
        ),
        ranges=dict(
            trunk_radius=trunk_radius, contrast_range=contrast_range, faint_contrast=faint_contrast
        ),
    )
    if turn_smoothness <= 0:
        raise ValueError(f"turn_smoothness must be > 0; got {turn_smoothness}")
    if (num_trees is not None and num_trees < 0) or (num_loops is not None and num_loops < 0):
        raise ValueError(f"num_trees and num_loops must be >= 0; got {num_trees}, {num_loops}")
    knobs = dict(
        max_depth=max_depth,
        branch_rate=branch_rate,
        trunk_radius=trunk_radius,
        bend=bend,
        turn_smoothness=turn_smoothness,
        contrast_range=contrast_range,
        faint_fraction=faint_fraction,
        faint_contrast=faint_contrast,
    )
    scale = math.sqrt(height * width) / _REFERENCE_SIDE
    if num_trees is None:
        num_trees = max(1, int(round(rng.uniform(2.0, 4.49) * scale)))
    if num_loops is None:
        num_loops = int(round(rng.uniform(0.6, 3.4) * scale))

    trees = [_grow_tree(rng, height, width, scale, knobs) for _ in range(num_trees)]
    branches = [b for tree in trees for b in tree]
    branches += _connectors(rng, trees, height, width, num_loops, knobs)
    label, strength = _rasterise(branches, height, width)
    # A tree that leaves the image right away can leave an almost empty image: add trees.
    for _ in range(_MAX_EXTRA_TREES):
        if label.mean() >= min_foreground:
            break
        extra_label, extra_strength = _rasterise(
            _grow_tree(rng, height, width, scale, knobs), height, width
        )
        label |= extra_label
        np.maximum(strength, extra_strength, out=strength)

    # Background: base level, coarse and fine texture.
    background = rng.uniform(0.45, 0.62) + texture_std * _smooth_noise(
        rng, (height, width), max(height, width) / 12.0
    )
    background += fine_texture_std * _smooth_noise(rng, (height, width), 1.2)
    if polarity == "random":
        polarity = "dark" if rng.uniform() < 0.5 else "bright"
    sign = -1.0 if polarity == "dark" else 1.0
    grey = background + sign * strength

    grey = grey * illumination_field(rng, height, width, illumination, vignette=0.35)
    if blur_sigma > 0:
        grey = ndimage.gaussian_filter(grey, blur_sigma, mode="reflect")

    gains = rng.uniform(1.0 - colour_jitter, 1.0, size=3)
    image = grey[:, :, None] * gains[None, None, :]
    image += noise_std * rng.standard_normal((height, width, 1))
    image += 0.5 * noise_std * rng.standard_normal((height, width, 3))
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return image, label


def make_synthetic_dataset(
    num_images: int, *, size: int | Sequence[int] = (96, 96), seed: int = 0, **knobs
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of procedural tubular-network images (see the module docstring).

    Args:
      num_images: number of images N.
      size: ``(height, width)`` or one int; any size >= 4.
      seed: non-negative int; image ``i`` is drawn from ``numpy.random.default_rng([seed, 0, i])``,
        so the same seed gives bit-identical arrays and a longer dataset extends a shorter one.
      **knobs: keyword options of `synthetic_image`, e.g. ``noise_std=0.08`` or
        ``polarity="bright"``.

    Returns:
      ``(images, labels)``: float32 [N, H, W, 3] in [0, 1] and uint8 [N, H, W] in {0, 1}.
    """
    return draw_dataset(synthetic_image, num_images, size, seed, 0, knobs)


def split_synthetic(
    seed: int = 0,
    n_train: int = 64,
    n_val: int = 16,
    n_test: int = 16,
    size: int | Sequence[int] = (96, 96),
    **knobs,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train / val / test splits drawn from disjoint random streams.

    The splits use the entropies ``[seed, 1, i]``, ``[seed, 2, i]`` and ``[seed, 3, i]``, distinct
    from each other and from `make_synthetic_dataset` (stream 0).

    Returns:
      ``{"train": (images, labels), "val": (...), "test": (...)}`` with the layouts of
      `make_synthetic_dataset`.
    """
    return draw_splits(synthetic_image, seed, n_train, n_val, n_test, size, knobs)
