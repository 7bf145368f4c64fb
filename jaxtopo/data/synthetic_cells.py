"""Embedded benchmark "synthetic_cells": membrane-like cell boundaries, as in CREMI (EM).

The label is the membrane (foreground, 1) between cells; every cell is one 4-connected
background component of the label, so beta_0 of the background equals the number of cells and
a single broken wall in a prediction merges two cells, a topological error that costs few pixels.

What makes it hard:

* walls are thin (1-3 px) and their contrast varies: stretches of weak walls (contrast reduced
  to `weak_factor` of the normal) and short gaps where the image shows no wall at all over 5-7
  px while the label wall continues; a pixel loss is cheap to satisfy there with a broken wall;
* the cytoplasm carries clutter as dark as membranes: mitochondria-like dark ellipses and
  vesicle-like small dark rings (tiny closed "walls"), plus fine and coarse texture, which invite
  spurious fragments and loops.

Why it is learnable: away from the gaps every wall pixel is darker than the cytoplasm around it by
at least about two noise standard deviations (weak stretches included); walls form a tessellation
(long, thin, meeting at junctions of three) while organelles are compact and at least 2 px from
any wall; gaps are short and lie in the middle of walls, away from junctions, so the wall can be
completed from both ends.

Geometry:

* cell centres by dart throwing with a minimum distance `min_cell_distance` (px), so every cell
  has room for an interior; `num_cells` per 96 x 96 area sets their density (a larger image
  holds proportionally more);
* a Voronoi tessellation of those centres computed on coordinates displaced by a smooth random
  field (`warp` px, correlation ~10 px), so walls are gently curved;
* a pixel is wall when its distance to its cell's boundary (bisector distance in the warped
  coordinates) is at most half the wall's width (1-3 px, `wall_width`, one width per pair of
  cells), and in any case when it has a 4-neighbour in a cell of higher index: the second rule
  guarantees that no two cells touch through 4-connected background, whatever the width;
* a wall stub that would cut a cell's interior in two, or a cell left without interior, is
  resolved in the label (stray pieces become wall, empty cells are not counted), so the number
  of 4-connected background components is exactly ``info["num_cells"]``; a cell loses its whole
  interior only as a sliver in an image corner (about one image in 200).

Appearance: cytoplasm at a random grey level with coarse and fine texture; walls darker by
`wall_contrast` times a weakness factor (1 on normal stretches, `weak_factor` on weak ones, 0 in
gaps); organelles (`organelle_rate` per cell, two thirds ellipses, one third rings) darker by
0.7-1.1 times the wall contrast; a mild illumination field, blur and Gaussian noise. Grey
images, float32 [H, W, 1], as CREMI.

`synthetic_cells_image(..., return_info=True)` also returns ``{"num_cells", "num_drawn" (cells
of the tessellation that own a pixel; one left without interior would make num_cells smaller),
"centres" (an
interior pixel per cell, [num_cells, 2] int), "gaps" ([G, 2] float (row, col) gap centres),
"gap_radius" ([G]), "gap_cells" ([G, 2] int: the indices into "centres" of the two cells the gap
separates)}``.

Speed: about 50 ms of CPU time per 96x96 image (numpy, one core; the default set takes ~11 ms
on the same machine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from jaxtopo.data.synthetic import _as_rng, _smooth_noise
from jaxtopo.data.synthetic_common import (
    as_size,
    check_non_negative,
    check_range,
    draw_dataset,
    draw_splits,
    finish,
    illumination_field,
)

__all__ = ["make_synthetic_cells_dataset", "split_synthetic_cells", "synthetic_cells_image"]

_FOUR = ndimage.generate_binary_structure(2, 1)


def _dart_throw(rng, height, width, count, min_distance) -> np.ndarray:
    """Up to `count` points in the image, pairwise at least `min_distance` apart ([n, 2])."""
    points = np.zeros((0, 2))
    for _ in range(30 * count):  # enough tries to reach `count` unless the image is full
        if len(points) == count:
            break
        candidate = rng.uniform([0, 0], [height - 1, width - 1])
        if not len(points) or np.min(np.hypot(*(points - candidate).T)) >= min_distance:
            points = np.vstack([points, candidate])
    return points


def _tessellation(rng, height, width, centres, warp):
    """Cell index per pixel and, per pixel, the distances to the two nearest cell boundaries.

    In the (warped) plane the distance from a point x of cell a to the bisector with cell j is
    ``(|x - c_j|^2 - |x - c_a|^2) / (2 |c_a - c_j|)``; the smallest over j is the distance to
    the cell's boundary, and its argmin the neighbouring cell across it.
    """
    rows, cols = np.mgrid[:height, :width].astype(np.float64)
    if warp > 0:
        rows = rows + warp * _smooth_noise(rng, (height, width), 10.0)
        cols = cols + warp * _smooth_noise(rng, (height, width), 10.0)
    points = np.stack([rows.ravel(), cols.ravel()], axis=1)  # [P, 2]
    sq = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)  # [P, n]
    cell = np.argmin(sq, axis=1)
    own = sq[np.arange(len(points)), cell]
    pair_distance = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)  # [n, n]
    separation = pair_distance[cell]  # [P, n]: |c_a - c_j| for each pixel's cell a
    with np.errstate(divide="ignore", invalid="ignore"):
        to_bisector = (sq - own[:, None]) / (2.0 * separation)
    to_bisector[np.arange(len(points)), cell] = np.inf
    if centres.shape[0] < 3:  # keep two columns for the partition below
        to_bisector = np.concatenate([to_bisector, np.full((len(points), 2), np.inf)], axis=1)
    nearest_two = np.partition(to_bisector, 1, axis=1)[:, :2]
    neighbour = np.argmin(to_bisector, axis=1)
    shape = (height, width)
    return (cell.reshape(shape), neighbour.reshape(shape), nearest_two[:, 0].reshape(shape),
            nearest_two[:, 1].reshape(shape))


def _cell_walls(cell, neighbour, boundary_distance, half_width) -> np.ndarray:
    """Wall mask: within the pair's half width of the boundary, or facing a higher cell index."""
    n = half_width.shape[0]
    neighbour = np.minimum(neighbour, n - 1)  # the padding columns of tiny tessellations
    wall = boundary_distance <= half_width[cell, neighbour]
    # One-sided 4-neighbour rule: of two 4-adjacent pixels of different cells, the one in the
    # lower-index cell is wall, so cells never touch through 4-connected background.
    down = cell[1:, :] != cell[:-1, :]
    right = cell[:, 1:] != cell[:, :-1]
    wall[:-1, :] |= down & (cell[:-1, :] < cell[1:, :])
    wall[1:, :] |= down & (cell[1:, :] < cell[:-1, :])
    wall[:, :-1] |= right & (cell[:, :-1] < cell[:, 1:])
    wall[:, 1:] |= right & (cell[:, 1:] < cell[:, :-1])
    return wall


def _one_interior_per_cell(cell, wall):
    """Makes each cell's interior one 4-connected piece: stray pieces become wall.

    Returns the updated wall mask and the indices of the cells that keep an interior.
    """
    components, count = ndimage.label(~wall, structure=_FOUR)
    if count == 0:
        return wall, np.zeros(0, np.int64)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    owner = np.zeros(count + 1, np.int64)  # the cell each component lies in (one by construction)
    owner[components.ravel()] = cell.ravel()
    # For each cell keep its largest component.
    order = np.lexsort((-sizes[1:], owner[1:])) + 1  # by cell, largest first
    keep = np.zeros(count + 1, bool)
    seen = set()
    for component in order:
        if owner[component] not in seen:
            seen.add(int(owner[component]))
            keep[component] = True
    wall = wall | ((components > 0) & ~keep[components])
    return wall, np.array(sorted(seen), np.int64)


def _ellipse(rows, cols, centre, axes, angle):
    u = (rows - centre[0]) * math.cos(angle) + (cols - centre[1]) * math.sin(angle)
    v = -(rows - centre[0]) * math.sin(angle) + (cols - centre[1]) * math.cos(angle)
    return np.hypot(u / axes[0], v / axes[1])  # 1 on the outline


def synthetic_cells_image(
    rng: np.random.Generator | int,
    size: int | Sequence[int] = (96, 96),
    *,
    num_cells: tuple[float, float] = (20.0, 30.0),
    min_cell_distance: float = 11.0,
    warp: float = 2.5,
    wall_width: tuple[float, float] = (1.0, 3.0),
    wall_contrast: tuple[float, float] = (0.25, 0.35),
    weak_fraction: float = 0.25,
    weak_factor: float = 0.5,
    num_gaps: tuple[float, float] = (2.0, 5.0),
    gap_length: tuple[float, float] = (5.0, 7.0),
    organelle_rate: float = 0.8,
    noise_std: float = 0.04,
    texture_std: float = 0.04,
    fine_texture_std: float = 0.03,
    illumination: float = 0.2,
    blur_sigma: float = 0.5,
    return_info: bool = False,
):
    """One membrane image and its exact wall label (see the module docstring).

    Args:
      rng: a `numpy.random.Generator` (consumed) or an int seed.
      size: ``(height, width)`` or one int; any size >= 4.
      num_cells: range of the number of cells per 96 x 96 area (fewer when the image is full).
      min_cell_distance: minimum distance (px) between cell centres; cells are at least about
        this wide, so even a 3 px wall leaves an interior.
      warp: amplitude (px) of the smooth displacement that bends the Voronoi walls; 0 = straight.
      wall_width: range of the wall widths (px), one per pair of neighbouring cells.
      wall_contrast: range of the darkening of a normal wall (intensity units; the image is in
        [0, 1]); the lower end is six times the default `noise_std`.
      weak_fraction: about this fraction of the wall length lies in weak stretches.
      weak_factor: contrast factor of the weak stretches; with the defaults a weak wall is
        still ~3 noise std darker than the cytoplasm before the blur.
      num_gaps: range of the number of gaps per 96 x 96 area.
      gap_length: range of the gap lengths along the wall (px); a gap is a disc of that
        diameter, enlarged when needed to at least the wall's width plus 4 px, so that it always
        clears the wall's full width and soft edges.
      organelle_rate: expected organelles per cell (Poisson).
      noise_std: standard deviation of the additive Gaussian noise.
      texture_std: amplitude of the coarse cytoplasm texture (sigma 6 px).
      fine_texture_std: amplitude of the fine cytoplasm texture (sigma 1 px).
      illumination: strength of the multiplicative lighting field.
      blur_sigma: Gaussian blur (px) of the noiseless image.
      return_info: also return the dict described in the module docstring.

    Returns:
      ``(image, label)`` or ``(image, label, info)``: image float32 [H, W, 1] in [0, 1], label
      uint8 [H, W] in {0, 1} (1 = wall).
    """
    height, width = as_size(size)
    rng = _as_rng(rng)
    check_non_negative(min_cell_distance=min_cell_distance, warp=warp, organelle_rate=organelle_rate,
                       noise_std=noise_std, texture_std=texture_std, fine_texture_std=fine_texture_std,
                       illumination=illumination, blur_sigma=blur_sigma)
    for name, value in dict(weak_fraction=weak_fraction, weak_factor=weak_factor).items():
        check_range(name, (value, value), 0.0, 1.0)
    num_cells = check_range("num_cells", num_cells)
    wall_width = check_range("wall_width", wall_width, 1.0)
    wall_contrast = check_range("wall_contrast", wall_contrast)
    num_gaps = check_range("num_gaps", num_gaps)
    gap_length = check_range("gap_length", gap_length)
    area = height * width / 96.0**2

    count = max(1, int(round(rng.uniform(*num_cells) * area)))
    centres = _dart_throw(rng, height, width, count, min_cell_distance)
    n = len(centres)
    cell, neighbour, boundary, second_boundary = _tessellation(rng, height, width, centres, warp)
    half = rng.uniform(*wall_width, size=(n, n)) / 2
    half = np.triu(half) + np.triu(half, 1).T  # one width per pair of cells
    wall = _cell_walls(cell, neighbour, boundary, half)
    wall, kept = _one_interior_per_cell(cell, wall)
    label = wall.astype(np.uint8)
    neighbour = np.minimum(neighbour, n - 1)
    pair_half = half[cell, neighbour]

    # Wall darkness: soft edge (half a pixel wider than the label, as a real membrane blurs into
    # the cytoplasm), the unit contrast of the pair of cells, times the weakness factor.
    coverage = np.clip(pair_half + 0.5 - boundary, 0.0, 1.0)
    coverage[wall] = 1.0
    contrast = rng.uniform(*wall_contrast, size=(n, n))
    contrast = (np.triu(contrast) + np.triu(contrast, 1).T)[cell, neighbour]
    # Weak stretches: where a smooth random field exceeds its (1 - weak_fraction) quantile, with
    # a soft transition over about a tenth of the field's range.
    field = _smooth_noise(rng, (height, width), 4.0)
    threshold = np.quantile(field[wall], 1.0 - weak_fraction) if wall.any() else np.inf
    weakness = np.clip((field - threshold) / 0.3 + 0.5, 0.0, 1.0)
    factor = 1.0 - (1.0 - weak_factor) * weakness

    # Gaps: discs centred on the middle of a wall between exactly two cells (away from
    # junctions and from the image border), wide enough to cut through the wall.
    gaps, gap_radius, gap_cells = [], [], []
    rows, cols = np.mgrid[:height, :width]
    candidates = wall & (boundary <= 0.5) & np.isin(cell, kept) & np.isin(neighbour, kept)
    candidates = np.argwhere(candidates)
    wanted = int(round(rng.uniform(*num_gaps) * area)) if len(candidates) else 0
    for _ in range(10 * wanted):  # a draw near a junction, the border or another gap is retried
        if len(gaps) == wanted:
            break
        radius = rng.uniform(*gap_length) / 2
        r, c = candidates[rng.integers(len(candidates))]
        # Clear the wall's full width and its soft edge (half a pixel beyond), with a pixel to
        # spare for the warp, so the image shows cytoplasm straight across.
        radius = max(radius, pair_half[r, c] + 2.0)
        if (min(r, c, height - 1 - r, width - 1 - c) < radius + 2
                or second_boundary[r, c] < radius + 3
                or any(math.hypot(r - g[0], c - g[1]) < 2 * radius + 4 for g in gaps)):
            continue
        disc = np.hypot(rows - r, cols - c)
        factor = np.minimum(factor, np.clip(disc - radius, 0.0, 1.0))  # 0 inside, 1 px ramp
        gaps.append((float(r), float(c)))
        gap_radius.append(radius)
        gap_cells.append((int(cell[r, c]), int(neighbour[r, c])))

    # Organelles inside the interior, >= 2 px from any wall: ellipses (mitochondria) and rings
    # (vesicles), as dark as membranes.
    interior_distance = ndimage.distance_transform_edt(label == 0)
    organelles = np.zeros((height, width))
    for _ in range(rng.poisson(organelle_rate * len(kept))):
        ring = rng.uniform() < 1 / 3
        if ring:
            axes = np.full(2, rng.uniform(1.5, 2.5))
        else:
            axes = np.array([rng.uniform(1.2, 2.0), rng.uniform(2.5, 4.5)])
        room = interior_distance >= axes.max() + 2.5
        darkness = rng.uniform(0.7, 1.1) * rng.uniform(*wall_contrast)
        angle = rng.uniform(0, math.pi)
        if not room.any():
            continue
        centre = np.argwhere(room)[rng.integers(int(room.sum()))]
        radial = _ellipse(rows, cols, centre, axes, angle)
        scale = axes.min()  # radial units per pixel, about
        if ring:  # a 1 px dark outline around a cytoplasm-level centre
            shape = np.clip(1.0 - np.abs(radial - 1.0) * scale, 0.0, 1.0)
        else:
            shape = np.clip((1.0 - radial) * scale + 0.5, 0.0, 1.0)
        np.maximum(organelles, darkness * shape, out=organelles)

    cytoplasm = rng.uniform(0.55, 0.7)
    grey = cytoplasm + texture_std * _smooth_noise(rng, (height, width), 6.0)
    grey += fine_texture_std * _smooth_noise(rng, (height, width), 1.0)
    grey -= np.maximum(coverage * contrast * factor, organelles)
    grey *= illumination_field(rng, height, width, illumination, vignette=0.2)
    image = finish(rng, grey[:, :, None], blur_sigma=blur_sigma, noise_std=noise_std)
    if not return_info:
        return image, label

    # Report cells by their rank among the kept ones, each with its deepest interior pixel.
    rank = {int(k): i for i, k in enumerate(kept)}
    centre_pixels = np.zeros((len(kept), 2), np.int64)
    depth = np.where(label == 0, interior_distance, -1.0)
    for i, k in enumerate(kept):
        inside = np.where(cell == k, depth, -1.0)
        centre_pixels[i] = np.unravel_index(np.argmax(inside), inside.shape)
    info = {
        "num_cells": len(kept),
        "num_drawn": len(np.unique(cell)),
        "centres": centre_pixels,
        "gaps": np.array(gaps, np.float64).reshape(-1, 2),
        "gap_radius": np.array(gap_radius, np.float64),
        "gap_cells": np.array([(rank[a], rank[b]) for a, b in gap_cells], np.int64).reshape(-1, 2),
    }
    return image, label, info


def make_synthetic_cells_dataset(
    num_images: int, *, size: int | Sequence[int] = (96, 96), seed: int = 0, **knobs
) -> tuple[np.ndarray, np.ndarray]:
    """``(images float32 [N, H, W, 1], labels uint8 [N, H, W])``; image i from ``[seed, 0, i]``.

    ``knobs`` are keyword options of `synthetic_cells_image` (``return_info`` excluded).
    """
    return draw_dataset(synthetic_cells_image, num_images, size, seed, 0, knobs)


def split_synthetic_cells(
    seed: int = 0, n_train: int = 64, n_val: int = 16, n_test: int = 16,
    size: int | Sequence[int] = (96, 96), **knobs,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val", "test"}: (images, labels)`` from the streams ``[seed, 1|2|3, i]``."""
    return draw_splits(synthetic_cells_image, seed, n_train, n_val, n_test, size, knobs)
