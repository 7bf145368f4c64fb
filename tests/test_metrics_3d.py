"""Metrics on volumes: Betti numbers of hand-made volumes, gudhi as a reference, and the 3D keys of
segmentation_metrics."""

import gudhi
import numpy as np
import pytest
from skimage.morphology import skeletonize

from jaxtopo.metrics import (
    betti_errors,
    betti_matching_error,
    betti_numbers,
    euler_characteristic_error,
    segmentation_metrics,
)
from jaxtopo.metrics.topology import _euler_characteristic


def _box(shape, lo, hi):
    """Bool volume of ``shape``, foreground on the box [lo, hi) (per axis)."""
    vol = np.zeros(shape, bool)
    vol[tuple(slice(a, b) for a, b in zip(lo, hi))] = True
    return vol


def _betti3(vol, convention="exact"):
    return tuple(betti_numbers(vol, spatial_dims=3, convention=convention)[0])


# ------------------------------------------------------------------ volumes with known answers


def test_solid_cube():
    assert _betti3(_box((5, 5, 5), (1, 1, 1), (4, 4, 4))) == (1, 0, 0)


def test_hollow_cube_shell_encloses_one_cavity():
    shell = _box((7, 7, 7), (1, 1, 1), (6, 6, 6)) & ~_box((7, 7, 7), (2, 2, 2), (5, 5, 5))
    assert _betti3(shell) == (1, 0, 1)


def test_shell_filling_the_volume_still_encloses_its_cavity():
    # the border of the volume is background outside, so a shell touching it is still closed
    shell = np.ones((4, 4, 4), bool)
    shell[1:3, 1:3, 1:3] = False
    assert _betti3(shell) == (1, 0, 1)


def test_cup_open_to_the_outside_has_no_cavity():
    cup = _box((6, 6, 6), (1, 1, 1), (5, 5, 5)) & ~_box((6, 6, 6), (2, 2, 2), (4, 4, 5))
    assert _betti3(cup) == (1, 0, 0)


def test_solid_torus_has_one_tunnel():
    # a square annulus (7x7 with a 3x3 hole) extruded over 3 slices
    torus = _box((5, 9, 9), (1, 1, 1), (4, 8, 8)) & ~_box((5, 9, 9), (0, 3, 3), (5, 6, 6))
    assert _betti3(torus) == (1, 1, 0)


def test_hollow_torus_surface():
    # the solid torus of cross-section 3x3 with its core loop removed: a torus surface,
    # beta = (1, 2, 1) and chi = 0
    solid = _box((5, 11, 11), (1, 1, 1), (4, 10, 10)) & ~_box((5, 11, 11), (0, 4, 4), (5, 7, 7))
    core = _box((5, 11, 11), (2, 2, 2), (3, 9, 9)) & ~_box((5, 11, 11), (0, 3, 3), (5, 8, 8))
    assert _betti3(solid & ~core) == (1, 2, 1)


def test_two_blobs():
    vol = _box((4, 8, 8), (1, 1, 1), (3, 3, 3)) | _box((4, 8, 8), (1, 5, 5), (3, 7, 7))
    assert _betti3(vol) == (2, 0, 0)


def test_ring_of_voxels():
    ring = np.zeros((3, 5, 5), bool)
    ring[1, 1:4, 1:4] = True
    ring[1, 2, 2] = False
    assert _betti3(ring) == (1, 1, 0)


def test_ring_of_voxels_touching_along_edges():
    # four voxels around an empty one, each touching the next along an edge only: the closed
    # cubes form a loop around the vertical line through the centre, although the centre voxel
    # is not enclosed (it reaches the outside through its face neighbours above and below)
    ring = np.zeros((3, 3, 3), bool)
    for y, x in [(0, 1), (1, 0), (2, 1), (1, 2)]:
        ring[1, y, x] = True
    assert _betti3(ring) == (1, 1, 0)


def test_ring_of_voxels_touching_at_corners_in_3d():
    # a closed loop of 4 voxels, consecutive ones sharing only a vertex (26- but not
    # 18-connected), winding through three layers
    loop = np.zeros((5, 5, 5), bool)
    for z, y, x in [(1, 1, 1), (2, 2, 2), (3, 1, 3), (2, 0, 2)]:
        loop[z, y, x] = True
    assert _betti3(loop) == (1, 1, 0)


def test_cubes_touching_at_one_vertex_are_one_component():
    vol = np.zeros((2, 2, 2), bool)
    vol[0, 0, 0] = vol[1, 1, 1] = True
    assert _betti3(vol) == (1, 0, 0)


def test_empty_and_full_volumes_and_the_conventions():
    empty = np.zeros((3, 4, 5), bool)
    assert _betti3(empty, "exact") == (0, 0, 0)
    assert _betti3(empty, "satloss") == (1, 0, 0)
    assert _betti3(~empty) == (1, 0, 0)


def test_euler_characteristic_by_cell_counting():
    # one voxel: 8 vertices, 12 edges, 6 faces, 1 cube
    assert _euler_characteristic(np.ones((1, 1, 1), bool)) == 8 - 12 + 6 - 1
    # two voxels sharing a face: 12 - 20 + 11 - 2
    assert _euler_characteristic(np.ones((1, 1, 2), bool)) == 1
    # in 2D the same counting gives beta_0 - beta_1 of the 2D labelling
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    assert _euler_characteristic(ring) == 0


# ------------------------------------------------------------------ gudhi as a reference


def _gudhi_betti(vol):
    """Betti numbers of the union of closed foreground voxels: the sublevel set at 0 of the
    T-construction cubical complex of ``1 - vol`` (classes born at 0 and alive after it)."""
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=(~vol).astype(np.float64))
    complex_.compute_persistence()
    return tuple(
        sum(1 for birth, death in complex_.persistence_intervals_in_dimension(d) if birth <= 0 < death)
        for d in range(vol.ndim)
    )


@pytest.mark.parametrize("seed", range(12))
def test_betti_numbers_match_gudhi_on_random_volumes(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(3, 8, size=3))
    vol = rng.random(shape) < rng.uniform(0.3, 0.8)
    assert _betti3(vol) == _gudhi_betti(vol)


def test_betti_numbers_match_gudhi_on_random_images():
    # the 2D labelling and the 3D code read masks the same way
    rng = np.random.default_rng(99)
    for _ in range(10):
        image = rng.random((9, 9)) < 0.55
        assert tuple(betti_numbers(image, convention="exact")[0]) == _gudhi_betti(image)


# ------------------------------------------------------------------ errors and segmentation_metrics


def test_betti_and_euler_errors_of_volumes():
    shell = _box((7, 7, 7), (1, 1, 1), (6, 6, 6)) & ~_box((7, 7, 7), (2, 2, 2), (5, 5, 5))
    solid = _box((7, 7, 7), (1, 1, 1), (6, 6, 6))
    blobs = _box((7, 7, 7), (0, 0, 0), (2, 2, 2)) | _box((7, 7, 7), (4, 4, 4), (7, 7, 7))
    pred = np.stack([solid, blobs])[..., None]  # [B, D, H, W, 1]
    target = np.stack([shell, shell])[..., None]
    np.testing.assert_array_equal(
        betti_errors(pred, target, spatial_dims=3), [[0.0, 0.0, 1.0], [1.0, 0.0, 1.0]]
    )
    # chi: shell 2, solid 1, two blobs 2
    np.testing.assert_array_equal(euler_characteristic_error(pred, target, spatial_dims=3), [1.0, 0.0])


def test_segmentation_metrics_of_volumes():
    shape = (7, 7, 7)
    solid = _box(shape, (1, 1, 1), (6, 6, 6))  # 125 voxels
    shell = solid & ~_box(shape, (2, 2, 2), (5, 5, 5))  # 98 voxels, one cavity
    drilled = solid & ~_box(shape, (1, 3, 3), (6, 4, 4))  # 120 voxels, one tunnel
    # image 0: a solid cube for a shell (27 wrong voxels, beta_2 off by one);
    # image 1: a cube with a tunnel for a solid cube (5 wrong voxels, beta_1 off by one)
    pred = np.where(np.stack([solid, drilled]), 0.9, 0.1)
    target = np.stack([shell, solid]).astype(np.uint8)
    result = segmentation_metrics(pred, target, spatial_dims=3)
    assert set(result) == {"accuracy", "dice", "cldice", "betti_0_error", "betti_1_error",
                           "betti_2_error"}
    assert result["accuracy"] == pytest.approx(1 - (27 + 5) / (2 * 343))
    assert result["dice"] == pytest.approx((2 * 98 / (125 + 98) + 2 * 120 / (120 + 125)) / 2)
    assert [result[f"betti_{k}_error"] for k in range(3)] == [0.0, 0.5, 0.5]
    # clDice from skimage's 3D skeletons
    values = []
    for p, t in [(solid, shell), (drilled, solid)]:
        sp, st = skeletonize(p), skeletonize(t)
        tprec, tsens = np.sum(sp & t) / sp.sum(), np.sum(st & p) / st.sum()
        values.append(2 * tprec * tsens / (tprec + tsens))
    assert result["cldice"] == pytest.approx(np.mean(values))


def test_segmentation_metrics_2d_keys_unchanged():
    target = np.zeros((1, 8, 8))
    target[0, 2:6, 2:6] = 1
    assert set(segmentation_metrics(target, target)) == {
        "accuracy", "dice", "cldice", "betti_0_error", "betti_1_error",
        "betti_matching_error_0", "betti_matching_error_1", "betti_matching_error",
    }


def test_volume_without_spatial_dims_gets_the_right_hint():
    vol = np.zeros((2, 4, 4, 4, 1))
    with pytest.raises(ValueError, match="pass spatial_dims=3"):
        segmentation_metrics(vol, vol)
    with pytest.raises(ValueError, match="pass spatial_dims=3"):
        betti_numbers(vol)
    # the Betti-matching error is 2D-only, and says so
    with pytest.raises(ValueError, match="2D-only"):
        betti_matching_error(vol, vol)
