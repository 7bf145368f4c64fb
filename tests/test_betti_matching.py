"""Betti matching (jaxtopo.host.betti_matching) against hand-worked cases, the boundary-matrix
reference (tests/reference_betti_matching.py) and, where its compiled module is around,
Betti-Matching-3D.

All images are filtrations (sublevel sets), as `betti_matching` takes them. Results are compared
as multisets of pixel tuples: (pred birth, pred death, target birth, target death) for the matched
pairs, (birth, death) for the unmatched ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from jaxtopo.host import bm3d as bm3d_loader
from jaxtopo.host import native
from jaxtopo.host.betti_matching import betti_matching
from reference_betti_matching import (cubical_t_dim0_values, persistence_pairs, pixel_sets,
                                      reference_betti_matching, value_sets)


def available_backends():
    backends = ["python"]
    if native.available() and hasattr(native, "betti_matching"):
        backends.append("native")
    return backends


BACKENDS = available_backends()


def run(f, g, construction, backend):
    result = betti_matching(np.asarray(f, np.float64), np.asarray(g, np.float64),
                            construction=construction, backend=backend)
    for m in result.values():  # the documented layout, and a matching (each row used once)
        for name in ("pred_pairs", "target_pairs", "matched"):
            array = getattr(m, name)
            assert array.dtype == np.int64 and array.ndim == 2 and array.shape[1] == 2, name
        assert len(set(m.matched[:, 0].tolist())) == len(m.matched) == len(set(m.matched[:, 1].tolist()))
        assert np.all((m.matched >= 0) & (m.matched < [len(m.pred_pairs), len(m.target_pairs)]))
    return {dim: pixel_sets(m) for dim, m in result.items()}


def reference(f, g, construction):
    return {dim: pixel_sets(m) for dim, m in reference_betti_matching(f, g, construction).items()}


# --- hand-worked cases ---------------------------------------------------------------------------
# Edge index = anchor * K + type; V: K = 2, type 0 down, 1 right. Kruskal in increasing
# (value, edge index); the component whose oldest pixel has the larger (value, index) dies.

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("construction", ["V", "T"])
def test_1x3_two_minima(backend, construction):
    # f = [.2 .9 .4]: minima at pixels 0 (0.2) and 2 (0.4); edges (0,1) idx 1 and (1,2) idx 3, both
    # 0.9. Edge 1: pixel 1 (born 0.9) dies at once (zero persistence). Edge 3: {2} is younger than
    # {0, 1}: pair (birth 2, death = edge pixel of larger value = 1). In 1xN, T equals V (the
    # 8-neighbours are the 4-neighbours).
    # g = [0 1 0]: pixels 0 and 2 tie at 0, the larger index 2 is younger: pair (2, 1).
    # c = min = [0 .9 0]: pair (2, 1) of persistence 0.9; the component dying there is born at 2
    # in f and in g, so f's (2, 1) and g's (2, 1) are matched.
    f, g = [[0.2, 0.9, 0.4]], [[0.0, 1.0, 0.0]]
    want = {0: ([(2, 1, 2, 1)], [], []), 1: ([], [], [])}
    assert run(f, g, construction, backend) == want
    assert reference(f, g, construction) == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_1x3_component_missing_in_target(backend):
    # f = [0 1 0] has the pair (2, 1) as above; g = [0 1 1] is one component from the start (no
    # pair). c = f, so c's pair (2, 1) exists, but no g pair is born at 2: f's pair is unmatched.
    f, g = [[0.0, 1.0, 0.0]], [[0.0, 1.0, 1.0]]
    want = {0: ([], [(2, 1)], []), 1: ([], [], [])}
    assert run(f, g, "V", backend) == want
    assert reference(f, g, "V") == want
    # swapped roles: the target's pair is the unmatched one
    assert run(g, f, "V", backend) == {0: ([], [], [(2, 1)]), 1: ([], [], [])}


@pytest.mark.parametrize("backend", BACKENDS)
def test_1x3_matched_through_an_empty_image_bar(backend):
    # f = [0 .9 .5]: pair (2, 1) = (0.5, 0.9). g = [0 .2 0]: pair (2, 1) = (0, 0.2). c = [0 .2 0]:
    # pair (2, 1) = (0, 0.2), dying component born at 2 in f and in g: matched, as the doc's rule
    # (and Betti-Matching-3D) has it, although the image bar [0.5 in f, 0.2 in c) is empty.
    f, g = [[0.0, 0.9, 0.5]], [[0.0, 0.2, 0.0]]
    want = {0: ([(2, 1, 2, 1)], [], []), 1: ([], [], [])}
    assert run(f, g, "V", backend) == want
    assert reference(f, g, "V") == want


RING = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_3x3_ring(backend):
    # V: the eight ring edges have value 0, the last of them in edge-index order, (7, 8) idx 15,
    # closes the loop: birth pixel 8 (tie, larger index). Dual merge in decreasing (value, index):
    # the value-1 edges (4,5) idx 9, (4,7) idx 8, (3,4) idx 7 join the four squares (all value 1,
    # largest index 3 eldest); then edge 15 joins square 3 to the exterior: square 3 dies, its
    # pixel is its largest value, the centre 4. Pair (8, 4). The centre (born 1) dies at once in
    # dimension 0, so no dim-0 pair.
    # T: dual edges all have value 0; in decreasing index: exterior edges 26 (8), 23 (7), 20 (6),
    # 17 (5) merge pixels 8, 7, 6, 5 into the exterior (zero persistence; 22, 19, 15 close dual
    # cycles), then edge 13 = (4, 5), right of 4, merges the centre (value 1) into the exterior:
    # the centre dies, born at the edge's smaller-value pixel 5. Pair (5, 4).
    # f = g: everything matched; f = ring, g = all 0: the loop is unmatched.
    for construction, pair in (("V", (8, 4)), ("T", (5, 4))):
        want = {0: ([], [], []), 1: ([pair + pair], [], [])}
        assert run(RING, RING, construction, backend) == want
        assert reference(RING, RING, construction) == want
        flat = np.zeros_like(RING)
        assert run(RING, flat, construction, backend) == {0: ([], [], []), 1: ([], [pair], [])}
        assert run(flat, RING, construction, backend) == {0: ([], [], []), 1: ([], [], [pair])}


@pytest.mark.parametrize("backend", BACKENDS)
def test_diagonal_pixels_connect_in_t_only(backend):
    # f = [[0 1] [1 0]]: V: edges (0,2) idx 0, (0,1) idx 1, (1,3) idx 2 at value 1 attach 2 and 1
    # (zero persistence), then {3} (younger than {0, ...}) dies at (1, 3), pixel 1: pair (3, 1).
    # T: the diagonal (0, 3) has value 0, one component from the start, and no loop (1 and 2 touch
    # the exterior). g = f: matched with itself.
    f = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert run(f, f, "V", backend) == {0: ([(3, 1, 3, 1)], [], []), 1: ([], [], [])}
    assert run(f, f, "T", backend) == {0: ([], [], []), 1: ([], [], [])}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("construction", ["V", "T"])
def test_identical_images_match_everything(backend, construction):
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (1, 6), (5, 1), (4, 4), (6, 9), (12, 10)]:
        for f in (rng.random(shape), np.round(rng.random(shape) * 2) / 2, (rng.random(shape) > 0.5) * 1.0):
            got = run(f, f, construction, backend)
            for dim in (0, 1):
                matched, free_pred, free_target = got[dim]
                assert free_pred == [] and free_target == [], (shape, dim)
                assert all(row[:2] == row[2:] for row in matched), (shape, dim)
                # every pair of non-zero persistence of f is there
                want = sorted((b, d) for b, d, _, _ in persistence_pairs(f, construction, dim))
                assert sorted(row[:2] for row in matched) == want, (shape, dim)


# --- against the boundary-matrix reference on many small images ------------------------------------

# the sparse kinds have a target with little foreground, so that the comparison image differs
# from the prediction on few pixels and the engine derives its edge order from the prediction's
KINDS = ["continuous", "quantised", "binary_target", "quantised_binary", "binary", "sparse_target",
         "quantised_sparse"]
SHAPES = [(1, 1), (1, 2), (1, 7), (6, 1), (2, 2), (2, 5), (5, 2), (3, 3), (4, 6), (7, 4), (5, 8), (8, 8)]
REPEATS = 4


def make_pair(kind, shape, rng):
    quantised = lambda: rng.integers(0, 3, shape) / 2.0  # noqa: E731  values in {0, .5, 1}
    binary = lambda: (rng.random(shape) > 0.5) * 1.0  # noqa: E731
    if kind == "continuous":
        return rng.random(shape), rng.random(shape)
    if kind == "quantised":
        return quantised(), quantised()
    if kind == "binary_target":
        return rng.random(shape), binary()
    if kind == "quantised_binary":
        return quantised(), binary()
    sparse = lambda: (rng.random(shape) < 0.92) * 1.0  # noqa: E731  foreground (g = 0) on 1 pixel in 12
    if kind == "sparse_target":
        return rng.random(shape), sparse()
    if kind == "quantised_sparse":
        return quantised(), sparse()
    return binary(), binary()


def small_cases(kind):
    rng = np.random.default_rng(100 + KINDS.index(kind))
    return [make_pair(kind, shape, rng) for shape in SHAPES for _ in range(REPEATS)]


_REFERENCE_CACHE = {}


def cached_reference(kind, construction):
    key = (kind, construction)
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = [reference(f, g, construction) for f, g in small_cases(kind)]
    return _REFERENCE_CACHE[key]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("kind", KINDS)
def test_equals_matrix_reduction_reference(backend, construction, kind):
    # V: the doc's order is the reference's cell order, pixels must agree exactly, ties included.
    # T: the reference aligns the order too (nerve 1-skeleton for dim 0, corner cubical complex for
    # dim 1), so pixels are compared exactly as well; on tie-free inputs (kind "continuous") that is
    # the same as comparing values.
    for (f, g), want in zip(small_cases(kind), cached_reference(kind, construction)):
        assert run(f, g, construction, backend) == want, (f.tolist(), g.tolist())


def targets_without_pairs_in_a_dimension(shape=(10, 12)):
    """Targets (g = 1 - label) with no finite pair in dimension 0, 1 or either: the engine skips the
    comparison's sweeps of such a dimension, which must change nothing."""
    bar = np.ones(shape)
    bar[4, :] = 0  # connected, no hole
    dots = np.ones(shape)
    dots[1::4, 1::4] = 0  # components, no hole: no dimension-1 pair
    one_ring = np.ones(shape)
    one_ring[2:7, 2] = one_ring[2:7, 6] = one_ring[2, 2:7] = one_ring[6, 2:7] = 0  # one hole, connected
    return {"bar": bar, "dots": dots, "ring": one_ring, "empty": np.ones(shape), "full": np.zeros(shape)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("construction", ["V", "T"])
def test_targets_without_pairs_in_a_dimension(backend, construction):
    rng = np.random.default_rng(7)
    for name, g in targets_without_pairs_in_a_dimension().items():
        f = rng.random(g.shape)
        f_quantised = rng.integers(0, 3, g.shape) / 2.0
        for pred in (f, f_quantised):
            got, want = run(pred, g, construction, backend), reference(pred, g, construction)
            assert got == want, (name, construction)
            # the case is what it says: the target has no pair in some dimension (matched +
            # unmatched pairs, per dimension), the continuous prediction pairs in both
            target_pairs = [len(got[dim][0]) + len(got[dim][2]) for dim in (0, 1)]
            assert 0 in target_pairs, (name, target_pairs)
            if pred is f:
                assert all(len(got[dim][0]) + len(got[dim][1]) > 0 for dim in (0, 1)), name


def test_t_continuous_values():
    # T on tie-free images, on values (independent of how ties between cells are broken): the
    # python backend against the reference.
    rng = np.random.default_rng(5)
    for shape in SHAPES:
        for _ in range(REPEATS):
            f, g = rng.random(shape), rng.random(shape)
            for backend in BACKENDS:
                got = betti_matching(f, g, construction="T", backend=backend)
                want = reference_betti_matching(f, g, "T")
                for dim in (0, 1):
                    assert value_sets(got[dim], f, g) == value_sets(want[dim], f, g)


def test_reference_persistence_equals_gudhi():
    # the reference's ordinary pairs (values) against gudhi's cubical complexes; and the T cubical
    # complex of pixel corners gives the nerve's dimension-0 values
    gudhi = pytest.importorskip("gudhi")
    rng = np.random.default_rng(11)
    for shape in SHAPES:
        for x in (rng.random(shape), np.round(rng.random(shape) * 4) / 4, (rng.random(shape) > 0.5) * 1.0):
            for construction in ("V", "T"):
                cc = (gudhi.CubicalComplex(top_dimensional_cells=x) if construction == "T"
                      else gudhi.CubicalComplex(vertices=x))
                cc.persistence()
                for dim in (0, 1):
                    intervals = np.asarray(cc.persistence_intervals_in_dimension(dim)).reshape(-1, 2)
                    want = sorted((b, d) for b, d in intervals.tolist() if np.isfinite(d) and b != d)
                    got = sorted((b, d) for _, _, b, d in persistence_pairs(x, construction, dim))
                    assert got == want, (x.tolist(), construction, dim)
            assert sorted((b, d) for _, _, b, d in persistence_pairs(x, "T", 0)) == cubical_t_dim0_values(x)


# --- backends agree with each other ----------------------------------------------------------------

@pytest.mark.skipif("native" not in BACKENDS, reason="native betti_matching not available (engine not built, or JAXTOPO_NATIVE=0)")
@pytest.mark.parametrize("construction", ["V", "T"])
def test_backends_agree(construction):
    rng = np.random.default_rng(21)
    for kind in KINDS:
        for _ in range(4):
            f, g = make_pair(kind, (20, 30), rng)
            assert run(f, g, construction, "native") == run(f, g, construction, "python"), kind
            f32, g32 = f.astype(np.float32), g.astype(np.float32)
            assert ({d: pixel_sets(m) for d, m in betti_matching(f32, g32, construction=construction, backend="native").items()}
                    == {d: pixel_sets(m) for d, m in betti_matching(f32, g32, construction=construction, backend="python").items()})


def dual_parts_reference(g, construction, threshold):
    """Each dual node's part (edges above threshold) as its oldest node, from scipy's labelling."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    h, w = g.shape
    pairs = []  # (value, node, node) of every dual edge
    if construction == "V":
        sw, ext = w - 1, (h - 1) * (w - 1)
        square = lambda r, c: ext if r < 0 or c < 0 or r >= h - 1 or c >= w - 1 else r * sw + c  # noqa: E731
        for r in range(h):
            for c in range(w):
                if r + 1 < h:  # the down edge of pixel (r, c) lies between squares (r, c - 1) and (r, c)
                    pairs.append((max(g[r, c], g[r + 1, c]), square(r, c - 1), square(r, c)))
                if c + 1 < w:  # the right edge: between squares (r - 1, c) and (r, c)
                    pairs.append((max(g[r, c], g[r, c + 1]), square(r - 1, c), square(r, c)))
        corners = [g[dr:h - 1 + dr, dc:w - 1 + dc].ravel() for dr in (0, 1) for dc in (0, 1)]
        value = np.max(corners, axis=0) if ext else np.zeros(0)
    else:
        ext = h * w
        for r in range(h):
            for c in range(w):
                p = r * w + c
                if r + 1 < h:
                    pairs.append((min(g[r, c], g[r + 1, c]), p, p + w))
                if c + 1 < w:
                    pairs.append((min(g[r, c], g[r, c + 1]), p, p + 1))
                if r in (0, h - 1) or c in (0, w - 1):
                    pairs.append((g[r, c], p, ext))
        value = g.ravel()
    nodes = ext + 1
    kept = [(a, b) for v, a, b in pairs if v > threshold]
    rows = [a for a, _ in kept] + list(range(nodes))
    cols = [b for _, b in kept] + list(range(nodes))
    _, labels = connected_components(coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(nodes, nodes)))
    age = np.append(value, np.inf)  # older: larger (value, index); the exterior is the oldest
    oldest = {}
    for v in range(nodes):
        o = oldest.get(labels[v])
        if o is None or (age[v], v) > (age[o], o):
            oldest[labels[v]] = v
    return np.array([oldest[labels[v]] for v in range(nodes)], dtype=np.int32)


@pytest.mark.skipif("native" not in BACKENDS, reason="native betti_matching not available (engine not built, or JAXTOPO_NATIVE=0)")
@pytest.mark.parametrize("construction", ["V", "T"])
def test_dual_parts_above_a_value_equal_a_labelling(construction):
    # the engine's row-scan shortcut for the comparison's partition and the target's parts
    rng = np.random.default_rng(5)
    shapes = [(1, 1), (1, 6), (5, 1), (2, 2), (2, 7), (6, 2), (7, 9), (16, 13), (24, 24)]
    for shape in shapes:
        for g in (rng.random(shape), rng.integers(0, 3, shape) / 2.0, (rng.random(shape) < 0.7) * 1.0,
                  (rng.random(shape) < 0.3) * 1.0):
            for threshold in (-1.0, 0.0, 0.25, 0.5, float(np.median(g)), 0.9, 1.0):
                want = dual_parts_reference(g, construction, threshold)
                got = native.dual_parts(g, construction, threshold)
                np.testing.assert_array_equal(got, want, err_msg=f"{shape} {threshold} {g.tolist()}")


# --- tie order: flipping changes the matching ------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_flip_changes_the_matching(backend):
    # V. f = [[1 1] [0 1] [1 0]], g = [[1 0] [1 1] [1 0]]; everything but the minima has value 1, so
    # all edges tie at value 1 and the edge index decides.
    # f: minima 2 and 5 (not 4-adjacent); 5 is younger and dies at edge (3,5) idx 6 (the last edge
    # touching 5 after (1,3) idx 2 linked 3 to 0's component): pair (5, 3). g: minima 1 and 5: pair (5, 3).
    # c = [[1 0] [0 1] [1 0]], minima 1, 2, 5. Edge (0,2) idx 0 attaches 0; edge (0,1) idx 1 joins
    # {0, 2} and {1}: c's pair (2, 0) dies there; in f that component is {1} (f(1) = 1 > f(2)),
    # no f pair is born at 1: nothing matched. Edge (3,5) idx 6: c's pair (5, 3), born at 5 in f
    # and in g: f's (5, 3) and g's (5, 3) matched. Error 0.
    # Flipped upside down, f' = [[1 0] [0 1] [1 1]] has minima 1 and 2 and its pair is (2, 0) (edge
    # (0,1) idx 1 joins {0, 2} to the elder {1}); g' = g and c' = c. At c's edge idx 1 the dying
    # component is born at 2 in f' (pair (2, 0)) and at 0 in g' (no pair); at idx 6 at 5 in f'
    # (f'(5) = 1, no pair) and in g' (pair (5, 3)): nothing matched. Error 2. In the original
    # coordinates: f pair (2, 4), g pair (1, 3).
    f = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    g = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    want = {0: ([(5, 3, 5, 3)], [], []), 1: ([], [], [])}
    want_flipped = {0: ([], [(2, 0)], [(5, 3)]), 1: ([], [], [])}
    assert reference(f, g, "V") == want
    assert reference(np.flipud(f), np.flipud(g), "V") == want_flipped
    assert run(f, g, "V", backend) == want
    assert run(np.flipud(f), np.flipud(g), "V", backend) == want_flipped
    # a larger tied example, expected values from the reference: 1 matched pair, 2 when flipped
    f = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    g = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    for a, b in ((f, g), (np.flipud(f), np.flipud(g)), (f.T, g.T)):
        assert run(a, b, "V", backend) == reference(a, b, "V")
    assert len(reference(f, g, "V")[0][0]) == 1 and len(reference(np.flipud(f), np.flipud(g), "V")[0][0]) == 2


# --- Betti-Matching-3D ------------------------------------------------------------------------------

BM3D, BM3D_MISSING = bm3d_loader.load()
needs_bm3d = pytest.mark.skipif(BM3D is None, reason=str(BM3D_MISSING))


def bm3d(f, g):
    """Betti-Matching-3D's result as `pixel_sets` per dimension (V construction, sublevel sets)."""
    result = BM3D.compute_matching([np.ascontiguousarray(f, np.float64)], [np.ascontiguousarray(g, np.float64)])[0]
    width = f.shape[1]
    out = {}
    for dim in (0, 1):
        def flat(name):
            coords = np.asarray(getattr(result, name)[dim]).reshape(-1, 2)
            return (coords[:, 0] * width + coords[:, 1]).tolist()
        columns = lambda who, what: [flat(f"{who}_{what}_birth_coordinates"), flat(f"{who}_{what}_death_coordinates")]  # noqa: E731
        matched = columns("input1", "matched") + columns("input2", "matched")
        out[dim] = (sorted(zip(*matched)), sorted(zip(*columns("input1", "unmatched"))),
                    sorted(zip(*columns("input2", "unmatched"))))
    return out


def orientations(f, g):
    yield "as is", f, g
    yield "flipud", np.flipud(f), np.flipud(g)
    yield "transposed", f.T, g.T


@needs_bm3d
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_equals_betti_matching_3d(backend, kind):
    rng = np.random.default_rng(200 + KINDS.index(kind))
    shapes = [(1, 5), (4, 1), (2, 2), (5, 7), (9, 6), (13, 11), (16, 16)]
    for shape in shapes:
        for _ in range(3):
            f, g = make_pair(kind, shape, rng)
            for name, a, b in orientations(f, g):
                assert run(a, b, "V", backend) == bm3d(a, b), (kind, shape, name, a.tolist(), b.tolist())


@needs_bm3d
def test_reference_equals_betti_matching_3d_and_flips_matter():
    # the reference itself against Betti-Matching-3D on tied images in three orientations, and the
    # orientation changes the matching on some of them (so the tie order is really pinned)
    rng = np.random.default_rng(300)
    changed = 0
    for shape in [(3, 3), (4, 5), (6, 4), (7, 7)]:
        for kind in ("quantised", "quantised_binary", "binary"):
            for _ in range(4):
                f, g = make_pair(kind, shape, rng)
                results = {}
                for name, a, b in orientations(f, g):
                    results[name] = reference(a, b, "V")
                    assert results[name] == bm3d(a, b), (name, a.tolist(), b.tolist())
                counts = {name: [len(r[d][0]) for d in (0, 1)] for name, r in results.items()}
                changed += len({tuple(c) for c in counts.values()}) > 1
    assert changed > 0


# --- the target cache ------------------------------------------------------------------------------

def test_target_cache_is_bounded_by_bytes_least_recently_used_first():
    from types import SimpleNamespace

    from jaxtopo.host.image_loss import TargetDiagramCache

    prepared = []
    cache = TargetDiagramCache(maxsize=100, max_bytes=250,
                               prepare=lambda g, shape, config: prepared.append(g) or SimpleNamespace(nbytes=100))
    config = SimpleNamespace(construction="V", backend=None)
    images = [np.full((2, 2), float(k)) for k in range(4)]
    for k in (0, 1, 0, 2):  # 0 is used again, so 1 is the least recently used when 2 arrives
        cache.get(images[k], (2, 2), config)
    assert len(cache) == 2 and len(prepared) == 3
    cache.get(images[0], (2, 2), config)  # still there
    assert len(prepared) == 3
    cache.get(images[1], (2, 2), config)  # was evicted: prepared again
    assert len(prepared) == 4 and len(cache) == 2


@pytest.mark.skipif("native" not in BACKENDS, reason="the native engine prepares targets")
def test_prepared_target_says_its_size():
    # values, born-pixel table and part labels: at least 12 bytes a pixel (float32); each pair
    # adds 16 bytes, so a noisy target weighs more than a binary one of the same shape
    rng = np.random.default_rng(3)
    binary = (rng.random((40, 40)) < 0.5).astype(np.float32)
    noisy = rng.random((40, 40)).astype(np.float32)
    small, large = native.BettiMatchingTarget(binary, "V"), native.BettiMatchingTarget(noisy, "V")
    pairs = sum(len(large.pairs[d]) for d in (0, 1))
    assert small.nbytes >= 12 * binary.size
    assert large.nbytes >= 12 * noisy.size + 16 * pairs > small.nbytes


def test_loss_prepares_each_target_once():
    from jaxtopo.host import betti_matching as bm

    if "native" not in BACKENDS:
        pytest.skip("the target cache serves the native backend")
    rng = np.random.default_rng(5)
    target = (rng.random((16, 16)) > 0.6).astype(np.float32)
    config = bm.BettiMatchingConfig()
    bm.TARGET_CACHE.clear()
    for _ in range(3):
        bm.image_loss_and_grad(rng.random((16, 16)).astype(np.float32), target, config)
    assert (bm.TARGET_CACHE.misses, bm.TARGET_CACHE.hits) == (1, 2)
