"""Slow, independent reference of Betti matching for tiny images: boundary matrices over Z/2.

Written from docs/betti-matching.md, not from jaxtopo's code. No union-find and no duality: the
complexes are built cell by cell, with their boundary matrices, and every persistence pair comes
out of the textbook column reduction (Edelsbrunner, Letscher, Zomorodian; Cohen-Steiner,
Edelsbrunner, Morozov). Image persistence of ``H(f_t) -> H(c_t)`` is the reduction of the same
boundary matrix with its columns in ``c``-order and its rows in ``f``-order (Cohen-Steiner,
Edelsbrunner, Harer, Morozov 2009; Bauer and Schmahl 2022): a reduced column ``j`` with lowest row
``i`` is an image bar born at the cell ``i`` (in ``f``) and dead at the cell ``j`` (in ``c``).

The induced matching, exactly as the doc states it: an ``f`` bar goes to the image bar with the
same birth cell, an image bar to the ``c`` bar with the same death cell; an ``f`` pair and a ``g``
pair are matched iff both reach the same ``c`` bar, that ``c`` bar has non-zero persistence and
both of them have non-zero persistence. Essential classes are never matched (they are not pairs).
The image bar's own length plays no part (the doc's union-find does not look at it either; it can
even be "empty", born in ``f`` after the ``c`` bar died).

Complexes and the total order of their cells
--------------------------------------------

Every cell has a value (from ``f``, ``g`` or ``c`` = min(f, g)) and an index; a filtration orders
cells by ``(value, dimension, index)`` (faces never come after their cofaces: a face's value is
never larger, and at equal value the lower dimension comes first). Column reduction of the
boundary matrix between dimensions p and p + 1 only sees the order of the p-cells among
themselves and of the (p + 1)-cells among themselves, so only the per-dimension orders matter:

* ``"V"`` (pixels are vertices): the cubical complex of the H x W grid of pixels. Vertices =
  pixels, index = flat pixel index. Edges = 4-neighbour pairs, value max, index ``anchor * 2 +
  type`` (type 0 = down, 1 = right). Squares = 2x2 blocks, value max of four, index
  ``row * (W - 1) + col``.

  Why this order reproduces the doc's graphs: in dimension 0, the reduction of ``d1`` with
  vertices by ``(value, pixel)`` and edges by ``(value, edge index)`` is Kruskal with the elder
  rule by ``(value, pixel)``. In dimension 1, the pairs of homology and of cohomology are the same
  (de Silva, Morozov, Vejdemo-Johansson 2011); cohomology reduces the anti-transposed ``d2``:
  edges processed in *decreasing* ``(value, edge index)``, each edge column holding its (one or
  two) squares, and the pivot of a column is the square *earliest* in the filtration. That is
  Kruskal on the dual graph in decreasing ``(value, edge index)`` where the square later in the
  filtration, i.e. larger ``(value, square index)``, is older and survives: the doc's dual merge.
  (The doc's exterior node is a row after all squares; a column's parity is even, so it can never
  be a pivot and changes no pair.) Hence squares by increasing ``(value, square index)`` and edges
  by increasing ``(value, edge index)``, the same edge order in both dimensions.

* ``"T"`` (pixels are closed unit squares; the sublevel set is their union):

  - dimension 1 on the cubical complex of the (H + 1) x (W + 1) grid of pixel corners: squares
    = pixels (index = pixel), grid edges with value = min of their one or two adjacent pixels,
    vertices likewise (min of up to four). A grid edge between two pixels is the doc's dual
    4-neighbour edge (index ``anchor * 3 + type``, type 0 = the pixel below, 1 = the pixel to the
    right); a grid edge on the image border is the dual edge of its pixel to the exterior (index
    ``pixel * 3 + 2``; a corner pixel has two such grid edges, which get the same index and are
    told apart by a last key that changes nothing: they have one value and one pixel). By the
    duality argument above, squares by ``(value, pixel)`` and edges by ``(value, dual edge
    index)`` give the doc's dual Kruskal (larger ``(value, pixel)`` older).
  - dimension 0 on the nerve of the closed pixel squares (nerve theorem: homotopy equivalent,
    naturally in t, to the sublevel set): vertices = pixels, edges = 8-neighbour pairs (pixels
    that share an edge or a corner), value max, index ``anchor * 4 + type`` (down, right,
    down-right, down-left). Only the 1-skeleton matters for H0. This is the doc's primal graph
    with its order, so dimension 0 is pinned on pixels too.

  The cubical complex of the corners also gives dimension 0 (see `cubical_t_dim0_values`): its
  persistence values must equal the nerve's; with ties its cell order differs from the doc's,
  so only values are comparable there.

Pixels of a cell (the doc's "pixels of a pair"): a V vertex / V edge / V square and a nerve
vertex / nerve edge: its pixel of largest value, ties to the largest flat index. A T grid edge:
its pixel of smallest value, ties to the largest flat index (a border edge has one pixel). A T
square: its pixel. A pair's pixels are those of its birth cell and of its death cell.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np


# --- the complexes: for each homology dimension, its p-cells (rows) and (p + 1)-cells (columns) --

@dataclasses.dataclass(frozen=True)
class Level:
    """Cells of dimensions p (rows) and p + 1 (columns) with their boundary matrix.

    Every cell is (index, pixels): the tie-breaking index of the doc and the pixels whose values
    give the cell's value (``agg`` of them). ``boundary[j]`` lists the rows of column j.
    """

    rows: tuple
    cols: tuple
    boundary: tuple
    row_agg: str  # "max" or "min"
    col_agg: str


@functools.lru_cache(maxsize=None)
def complex_levels(height: int, width: int, construction: str) -> dict:
    """{0: Level, 1: Level} for the given image shape and construction."""
    if construction == "V":
        vertices = [(p, (p,)) for p in range(height * width)]
        edges, edge_id = [], {}
        for r in range(height):
            for c in range(width):
                p = r * width + c
                for kind, (dr, dc) in enumerate([(1, 0), (0, 1)]):  # type 0 down, 1 right
                    if r + dr < height and c + dc < width:
                        edge_id[(p, kind)] = len(edges)
                        edges.append((p * 2 + kind, (p, p + dr * width + dc)))
        d1 = tuple((u, v) for _, (u, v) in edges)
        squares, d2 = [], []
        for r in range(height - 1):
            for c in range(width - 1):
                p = r * width + c
                squares.append((r * (width - 1) + c, (p, p + 1, p + width, p + width + 1)))
                # top, bottom (right edges), left, right (down edges)
                d2.append((edge_id[(p, 1)], edge_id[(p + width, 1)], edge_id[(p, 0)], edge_id[(p + 1, 0)]))
        return {0: Level(tuple(vertices), tuple(edges), d1, "max", "max"),
                1: Level(tuple(edges), tuple(squares), tuple(d2), "max", "max")}
    if construction != "T":
        raise ValueError(construction)
    # dimension 0: the nerve's 1-skeleton, the 8-neighbour graph
    vertices = [(p, (p,)) for p in range(height * width)]
    edges = []
    for r in range(height):
        for c in range(width):
            p = r * width + c
            for kind, (dr, dc) in enumerate([(1, 0), (0, 1), (1, 1), (1, -1)]):
                if r + dr < height and 0 <= c + dc < width:
                    edges.append((p * 4 + kind, (p, p + dr * width + dc)))
    level0 = Level(tuple(vertices), tuple(edges), tuple(pixels for _, pixels in edges), "max", "max")
    # dimension 1: grid edges of the corner grid (rows), pixels as squares (columns)
    grid_edges, horizontal, vertical = [], {}, {}
    for i in range(height + 1):  # horizontal grid edge (i, j)-(i, j+1): pixels (i-1, j) and (i, j)
        for j in range(width):
            above, below = (i - 1) * width + j, i * width + j
            if 0 < i < height:
                key, pixels = above * 3 + 0, (above, below)
            else:
                pixel = below if i == 0 else above
                key, pixels = pixel * 3 + 2, (pixel,)
            horizontal[(i, j)] = len(grid_edges)
            grid_edges.append((key, pixels))
    for i in range(height):  # vertical grid edge (i, j)-(i+1, j): pixels (i, j-1) and (i, j)
        for j in range(width + 1):
            left, right = i * width + j - 1, i * width + j
            if 0 < j < width:
                key, pixels = left * 3 + 1, (left, right)
            else:
                pixel = right if j == 0 else left
                key, pixels = pixel * 3 + 2, (pixel,)
            vertical[(i, j)] = len(grid_edges)
            grid_edges.append((key, pixels))
    squares = [(i * width + j, (i * width + j,)) for i in range(height) for j in range(width)]
    d2 = tuple((horizontal[(i, j)], horizontal[(i + 1, j)], vertical[(i, j)], vertical[(i, j + 1)])
               for i in range(height) for j in range(width))
    level1 = Level(tuple(grid_edges), tuple(squares), d2, "min", "min")
    return {0: level0, 1: level1}


@functools.lru_cache(maxsize=None)
def cubical_t_level0(height: int, width: int) -> Level:
    """Corner vertices and grid edges of the T cubical complex (values min of adjacent pixels)."""
    def pixels_of(cells):
        return tuple(r * width + c for r, c in cells if 0 <= r < height and 0 <= c < width)

    corners = [((i * (width + 1) + j), pixels_of([(i - 1, j - 1), (i - 1, j), (i, j - 1), (i, j)]))
               for i in range(height + 1) for j in range(width + 1)]
    edges, d1 = [], []
    for i in range(height + 1):
        for j in range(width):
            edges.append((len(edges), pixels_of([(i - 1, j), (i, j)])))
            d1.append((i * (width + 1) + j, i * (width + 1) + j + 1))
    for i in range(height):
        for j in range(width + 1):
            edges.append((len(edges), pixels_of([(i, j - 1), (i, j)])))
            d1.append((i * (width + 1) + j, (i + 1) * (width + 1) + j))
    return Level(tuple(corners), tuple(edges), tuple(d1), "min", "min")


# --- one image on one level: values, pixels, filtration order ------------------------------------

def _cell_data(cells, agg: str, x: np.ndarray):
    """(values, pixels, order) of the cells under image x; order = cells by (value, index, id)."""
    values, pixels = [], []
    for _, pix in cells:
        vals = [float(x[p]) for p in pix]
        if agg == "max":  # largest value, ties to the largest index
            value, pixel = max(zip(vals, pix))
        else:  # smallest value, ties to the largest index
            value, neg = min((v, -p) for v, p in zip(vals, pix))
            pixel = -neg
        values.append(value)
        pixels.append(pixel)
    order = sorted(range(len(cells)), key=lambda k: (values[k], cells[k][0], k))
    return values, pixels, order


def _reduce(level: Level, row_order, col_order):
    """Column reduction over Z/2: {column cell: row cell of its lowest one} for non-zero columns."""
    position = {cell: k for k, cell in enumerate(row_order)}
    pivot_of = {}  # lowest row position -> reduced column (an int used as a bit set)
    low_of = {}
    for j in col_order:
        column = 0
        for i in level.boundary[j]:
            column ^= 1 << position[i]
        while column:
            low = column.bit_length() - 1
            if low not in pivot_of:
                pivot_of[low] = column
                low_of[j] = row_order[low]
                break
            column ^= pivot_of[low]
    return low_of


@dataclasses.dataclass(frozen=True)
class ReferenceMatching:
    """Same layout as jaxtopo's BettiMatching, plus the values of each pair."""

    pred_pairs: np.ndarray    # [n, 2] int64 (birth pixel, death pixel)
    target_pairs: np.ndarray  # [m, 2]
    matched: np.ndarray       # [k, 2] rows into pred_pairs, target_pairs
    pred_values: np.ndarray   # [n, 2] float64 (birth value, death value)
    target_values: np.ndarray

    def unmatched_pred(self):
        return np.setdiff1d(np.arange(len(self.pred_pairs)), self.matched[:, 0])

    def unmatched_target(self):
        return np.setdiff1d(np.arange(len(self.target_pairs)), self.matched[:, 1])


def persistence_pairs(x: np.ndarray, construction: str, dim: int):
    """Ordinary persistence pairs of non-zero persistence: [(birth pixel, death pixel, birth, death)]."""
    x = np.asarray(x, np.float64)
    level = complex_levels(*x.shape, construction)[dim]
    rv, rp, ro = _cell_data(level.rows, level.row_agg, x.ravel())
    cv, cp, co = _cell_data(level.cols, level.col_agg, x.ravel())
    return sorted((rp[b], cp[d], rv[b], cv[d]) for d, b in _reduce(level, ro, co).items() if rv[b] != cv[d])


def cubical_t_dim0_values(x: np.ndarray):
    """Dimension-0 (birth, death) values of the T cubical complex (corner grid), zero-length dropped."""
    x = np.asarray(x, np.float64)
    level = cubical_t_level0(*x.shape)
    rv, _, ro = _cell_data(level.rows, level.row_agg, x.ravel())
    cv, _, co = _cell_data(level.cols, level.col_agg, x.ravel())
    return sorted((rv[b], cv[d]) for d, b in _reduce(level, ro, co).items() if rv[b] != cv[d])


def reference_betti_matching(f, g, construction: str = "V", dims=(0, 1)) -> dict:
    """{dim: ReferenceMatching} of prediction filtration f and target filtration g (sublevel sets)."""
    f = np.asarray(f, np.float64)
    g = np.asarray(g, np.float64)
    assert f.ndim == 2 and f.shape == g.shape
    images = {"f": f.ravel(), "g": g.ravel(), "c": np.minimum(f, g).ravel()}
    result = {}
    for dim in dims:
        level = complex_levels(*f.shape, construction)[dim]
        rows = {k: _cell_data(level.rows, level.row_agg, x) for k, x in images.items()}
        cols = {k: _cell_data(level.cols, level.col_agg, x) for k, x in images.items()}
        # c's ordinary pairs, by death cell, and whether each has non-zero persistence
        c_pairs = _reduce(level, rows["c"][2], cols["c"][2])
        c_alive = {d: rows["c"][0][b] != cols["c"][0][d] for d, b in c_pairs.items()}
        found = {}
        for k in ("f", "g"):
            (rv, rp, ro), (cv, cp, co) = rows[k], cols[k]
            pairs = [(b, d) for d, b in _reduce(level, ro, co).items() if rv[b] != cv[d]]
            # image persistence: columns in c-order, rows in k-order; birth cell -> death cell
            image = {b: d for d, b in _reduce(level, ro, cols["c"][2]).items()}
            keys = []
            for b, _ in pairs:
                death = image.get(b)
                assert death is None or death in c_pairs  # image deaths are c deaths
                keys.append(death if death is not None and c_alive[death] else None)
            found[k] = (np.asarray([(rp[b], cp[d]) for b, d in pairs], np.int64).reshape(-1, 2),
                        np.asarray([(rv[b], cv[d]) for b, d in pairs], np.float64).reshape(-1, 2),
                        keys)
        target_row = {key: n for n, key in enumerate(found["g"][2]) if key is not None}
        matched = [(n, target_row[key]) for n, key in enumerate(found["f"][2]) if key in target_row]
        result[dim] = ReferenceMatching(found["f"][0], found["g"][0], np.asarray(matched, np.int64).reshape(-1, 2),
                                        found["f"][1], found["g"][1])
    return result


# --- comparison helpers ----------------------------------------------------------------------

def pixel_sets(matching) -> tuple:
    """(matched, unmatched pred, unmatched target) as sorted lists of pixel tuples (multisets).

    matched rows are (pred birth, pred death, target birth, target death). Works on jaxtopo's
    BettiMatching and on ReferenceMatching alike.
    """
    pred = np.asarray(matching.pred_pairs, np.int64).reshape(-1, 2)
    target = np.asarray(matching.target_pairs, np.int64).reshape(-1, 2)
    matched = np.asarray(matching.matched, np.int64).reshape(-1, 2)
    rows = np.concatenate([pred[matched[:, 0]], target[matched[:, 1]]], axis=1)
    free_pred = np.setdiff1d(np.arange(len(pred)), matched[:, 0])
    free_target = np.setdiff1d(np.arange(len(target)), matched[:, 1])
    return (sorted(map(tuple, rows.tolist())), sorted(map(tuple, pred[free_pred].tolist())),
            sorted(map(tuple, target[free_target].tolist())))


def value_sets(matching, f, g) -> tuple:
    """The same as `pixel_sets` with each pixel replaced by its value in f (pred) or g (target)."""
    f = np.asarray(f, np.float64).ravel()
    g = np.asarray(g, np.float64).ravel()
    matched, free_pred, free_target = pixel_sets(matching)
    return (sorted((f[a], f[b], g[c], g[d]) for a, b, c, d in matched),
            sorted((f[a], f[b]) for a, b in free_pred),
            sorted((g[a], g[b]) for a, b in free_target))
