"""Cubical persistence with creator/destroyer pixels against gudhi and cripser."""

import os

import cripser
import gudhi
import numpy as np
import pytest

from jaxtopo.host.persistence import Diagram, available_backends, persistence_diagrams
from reference_satloss import reference_pairs

SHAPES = [(1, 1), (1, 7), (6, 1), (2, 2), (9, 9), (7, 12), (16, 5), (24, 24)]
KINDS = ["uniform", "quantised", "binary", "tubular"]


def make_image(kind, shape, rng):
    if kind == "uniform":
        return rng.random(shape)
    if kind == "quantised":  # many ties
        return np.round(rng.random(shape) * 4) / 4
    if kind == "binary":
        return (rng.random(shape) > 0.55).astype(np.float64)
    # thin bright lines on a noisy background
    img = 0.3 * rng.random(shape)
    img[rng.integers(0, shape[0]), :] = 0.9
    img[:, rng.integers(0, shape[1])] = 0.8
    return img


def sorted_points(points):
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points[np.lexsort((points[:, 1], points[:, 0]))]


def gudhi_points(f, construction, dim):
    """Diagram from gudhi's intervals (no pixels involved), essential death -> max f."""
    cc = (gudhi.CubicalComplex(top_dimensional_cells=f) if construction == "T"
          else gudhi.CubicalComplex(vertices=f))
    cc.persistence()
    pts = np.array(cc.persistence_intervals_in_dimension(dim)).reshape(-1, 2)
    pts[np.isinf(pts[:, 1]), 1] = f.max()
    return sorted_points(pts)


BACKENDS = available_backends()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("construction", ["T", "V"])
@pytest.mark.parametrize("kind", KINDS)
def test_diagrams_equal_gudhi(backend, construction, kind):
    rng = np.random.default_rng(["T", "V"].index(construction) * 10 + KINDS.index(kind))
    for shape in SHAPES:
        for _ in range(6):
            f = make_image(kind, shape, rng)
            ours = persistence_diagrams(f, construction=construction, backend=backend)
            for dim in (0, 1):
                np.testing.assert_array_equal(
                    sorted_points(ours[dim].points()), gudhi_points(f, construction, dim),
                    err_msg=f"{kind} {shape} dim {dim}",
                )
                # creator / destroyer pixels hold the reported values
                np.testing.assert_array_equal(f.ravel()[ours[dim].creator], ours[dim].birth)
                np.testing.assert_array_equal(f.ravel()[ours[dim].destroyer], ours[dim].death)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("construction", ["T", "V"])
def test_diagrams_equal_cripser(backend, construction):
    rng = np.random.default_rng(3)
    for shape in [(8, 8), (5, 11), (13, 6), (40, 33)]:
        f = rng.random(shape)
        ph = (cripser.computePH_T(f, maxdim=1) if construction == "T" else cripser.computePH(f, maxdim=1))
        ours = persistence_diagrams(f, construction=construction, backend=backend)
        for dim in (0, 1):
            rows = ph[ph[:, 0] == dim]
            pts = rows[:, 1:3].copy()
            pts[pts[:, 1] > f.max(), 1] = f.max()  # cripser's essential death is a huge number
            np.testing.assert_allclose(sorted_points(ours[dim].points()), sorted_points(pts))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pairs_equal_gudhi_cofaces_on_tie_free_images(backend):
    rng = np.random.default_rng(4)
    for shape in [(10, 10), (6, 13), (17, 4), (1, 9), (31, 29)]:
        f = rng.random(shape)
        ours = persistence_diagrams(f, backend=backend)
        ref = reference_pairs(f)  # gudhi's 2D-array path, a different index route
        for dim in (0, 1):
            ref_creator = np.ravel_multi_index(tuple(ref[dim][0].T), shape)
            ref_destroyer = np.ravel_multi_index(tuple(ref[dim][1].T), shape)
            assert sorted(zip(ours[dim].creator, ours[dim].destroyer)) == sorted(
                zip(ref_creator, ref_destroyer))


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_order_on_non_square_image(backend):
    # f is low (bright likelihood) on a ring centred at (2, 6) of a 5 x 9 image, with one
    # brightest pixel at (1, 7): the essential class starts there and the loop dies at the centre.
    f = np.full((5, 9), 0.9)
    f[1:4, 5:8] = 0.2
    f[2, 6] = 0.7
    f[1, 7] = 0.1
    f[4, 0] = 0.95
    d = persistence_diagrams(f, backend=backend)
    assert d[0].creator.tolist() == [1 * 9 + 7]
    assert d[0].destroyer.tolist() == [4 * 9 + 0]  # essential death at argmax f
    assert d[1].destroyer.tolist() == [2 * 9 + 6]
    assert d[1].death.tolist() == [0.7]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("construction", ["T", "V"])
def test_essential_class_dies_at_the_first_argmax(backend, construction):
    """Convention: the essential class's destroyer is the first maximum of f in C order.

    The maximum 0.9 is reached at (0, 4), (2, 1) and (3, 3); the first in C order is (0, 4). A
    rule taking the last argmax would answer (3, 3).
    """
    f = np.full((4, 5), 0.5)
    f[1, 1] = 0.1  # the one component's birth
    f[0, 4] = f[2, 1] = f[3, 3] = 0.9
    d = persistence_diagrams(f, construction=construction, backend=backend)
    essential = np.flatnonzero(d[0].death == f.max())
    assert d[0].destroyer[essential].tolist() == [0 * 5 + 4]
    assert d[0].creator[essential].tolist() == [1 * 5 + 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_tie_order_is_decreasing_c_index(backend):
    """Binary image: each component's creator is its largest row-major pixel index."""
    t = np.zeros((6, 7))
    t[0, 1] = t[1, 2] = 1  # diagonal neighbours: one component under 8-connectivity
    t[4, 4:6] = 1
    t[3, 0] = 1
    d = persistence_diagrams(1.0 - t, backend=backend)
    assert sorted(d[0].creator.tolist()) == sorted([1 * 7 + 2, 4 * 7 + 5, 3 * 7 + 0])
    # the essential class is the component entered first: the one holding the largest index
    assert d[0].creator[-1] == 4 * 7 + 5 and d[0].death[-1] == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_official_call_sees_the_same_pixels_on_binary_images(backend):
    """The official code calls gudhi with dimensions=x.shape and a C-flattened square image.

    On binary (all-ties) images both backends give the same (birth, death, creator) triples as
    that call, and the same loop pairs, so the spatial weights of binary targets agree with the
    official code. Which of the equal (0, 1) components is called essential, and where
    components die, may differ in the native engine; neither enters the loss of a target.
    """
    rng = np.random.default_rng(5)
    for _ in range(60):
        side = int(rng.integers(3, 20))
        f = np.pad(1.0 - (rng.random((side, side)) > 0.6), 1)  # padded like the loss
        cc = gudhi.CubicalComplex(dimensions=f.shape, top_dimensional_cells=f.flatten())
        cc.persistence()
        regular, essential = cc.cofaces_of_persistence_pairs()
        ours = persistence_diagrams(f, backend=backend)
        flat = f.ravel()
        for dim in (0, 1):
            pairs = regular[dim] if dim < len(regular) else np.zeros((0, 2), int)
            creators = pairs[:, 0].tolist() + (essential[dim].tolist() if dim < len(essential) else [])
            want = sorted((flat[c], c) for c in creators)
            assert sorted(zip(ours[dim].birth.tolist(), ours[dim].creator.tolist())) == want
            if dim == 1:
                assert sorted(map(tuple, pairs.tolist())) == sorted(
                    zip(ours[1].creator.tolist(), ours[1].destroyer.tolist()))
            if backend == "gudhi":
                k = len(pairs)
                assert sorted(map(tuple, pairs.tolist())) == sorted(
                    zip(ours[dim].creator[:k].tolist(), ours[dim].destroyer[:k].tolist()))


@pytest.mark.skipif("native" not in BACKENDS, reason="native engine not built")
def test_native_equals_gudhi_on_thousands_of_images():
    rng = np.random.default_rng(6)
    for i in range(1500):
        shape = tuple(int(s) for s in rng.integers(1, 24, 2))
        f = make_image(KINDS[i % 4], shape, rng)
        if i % 5 == 0:
            f = f.astype(np.float32)
        construction = "TV"[i % 2]
        native = persistence_diagrams(f, construction=construction, backend="native")
        ref = persistence_diagrams(f, construction=construction, backend="gudhi")
        for dim in (0, 1):
            np.testing.assert_array_equal(sorted_points(native[dim].points()), sorted_points(ref[dim].points()))
            if KINDS[i % 4] == "uniform":  # tie-free: the very same pairs
                assert sorted(zip(native[dim].creator, native[dim].destroyer)) == sorted(
                    zip(ref[dim].creator, ref[dim].destroyer))


def test_bad_input():
    with pytest.raises(ValueError, match="2D"):
        persistence_diagrams(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="construction"):
        persistence_diagrams(np.zeros((3, 3)), construction="X")
    with pytest.raises(ValueError, match="backend"):
        persistence_diagrams(np.zeros((3, 3)), backend="nope")
    with pytest.raises(ValueError, match="finite"):
        persistence_diagrams(np.array([[0.0, np.nan], [1.0, 0.5]]))
    assert "gudhi" in available_backends()
    assert isinstance(persistence_diagrams(np.zeros((1, 1)))[0], Diagram)


@pytest.mark.skipif("native" not in BACKENDS or not os.path.exists("/proc/self/statm"), reason="Linux + native")
@pytest.mark.parametrize("work", ["persistence", "whole image loss"])
def test_native_engine_memory_stays_flat(work):
    from jaxtopo.host import TopoLossConfig, image_loss_and_grad

    def resident_pages():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1])

    rng = np.random.default_rng(7)
    f = rng.random((64, 64))
    target = (rng.random((64, 64)) > 0.7).astype(np.float64)
    config = TopoLossConfig(backend="native")
    # persistence alone, or the fused native call (persistence, matching, gradient map)
    call = ((lambda: persistence_diagrams(f, backend="native")) if work == "persistence"
            else (lambda: image_loss_and_grad(f, target, config)))
    for _ in range(200):  # warm-up: allocator pools settle
        call()
    before = resident_pages()
    for _ in range(3000):
        call()
    grown_mib = (resident_pages() - before) * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert grown_mib < 8, f"resident memory grew by {grown_mib:.1f} MiB over 3000 calls"
