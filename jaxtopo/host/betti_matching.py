"""Betti matching of two images (host side): induced matchings through the comparison image.

Stucki et al. (ICML 2023; 2024). Conventions, tie order and the pixels of each pair are fixed in
docs/betti-matching.md; on the V-construction they are those of Betti-Matching-3D.

Two backends give identical results:

* ``"native"``: the C++ engine (`jaxtopo.host.native.betti_matching`), one GIL-free call per image.
* ``"python"``: `_python_betti_matching` below, plain union-find over numpy-built graphs. It is the
  readable statement of the algorithm and the fallback when the engine is missing (slow: about 4 s
  per 300x300 image).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jaxtopo.host import native
from jaxtopo.host.image_loss import TargetDiagramCache, filtration, likelihood_loss_and_grad
from jaxtopo.host.persistence import CONSTRUCTIONS

BACKENDS = ("native", "python")


@dataclasses.dataclass(frozen=True)
class BettiMatching:
    """The Betti matching of one prediction and one target in one homology dimension.

    ``pred_pairs`` and ``target_pairs`` are [n, 2] int64 arrays of flat row-major pixel indices
    (birth pixel, death pixel) into the filtration images; ``matched`` is [k, 2]: rows (index into
    pred_pairs, index into target_pairs). Pairs of zero persistence and essential classes are left out.
    """

    pred_pairs: np.ndarray
    target_pairs: np.ndarray
    matched: np.ndarray

    def unmatched_pred(self) -> np.ndarray:
        """Indices into pred_pairs of the prediction pairs that have no partner."""
        return np.setdiff1d(np.arange(len(self.pred_pairs)), self.matched[:, 0])

    def unmatched_target(self) -> np.ndarray:
        """Indices into target_pairs of the target pairs that have no partner."""
        return np.setdiff1d(np.arange(len(self.target_pairs)), self.matched[:, 1])


def default_backend() -> str:
    """"native" when the C++ engine was built, else "python" (with a one-time warning)."""
    return native.preferred_backend("python")


def betti_matching(f_pred: np.ndarray, f_target: np.ndarray, *, construction: str = "V",
                   dims=(0, 1), backend: str | None = None) -> dict[int, BettiMatching]:
    """Betti matching of two sublevel filtrations of one shape (``f = 1 - likelihood``), per dimension.

    The comparison image is ``min(f_pred, f_target)``. Values must be finite.
    """
    f_pred = np.asarray(f_pred)
    f_target = np.asarray(f_target)
    if f_pred.ndim != 2 or f_pred.shape != f_target.shape:
        raise ValueError(f"betti_matching: expected two 2D images of one shape, got {f_pred.shape} and {f_target.shape}")
    if f_pred.size == 0:
        raise ValueError(f"betti_matching: the images are empty (shape {f_pred.shape})")
    if not (np.all(np.isfinite(f_pred)) and np.all(np.isfinite(f_target))):
        raise ValueError("betti_matching: the images must be finite (no NaN or inf)")
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"betti_matching: construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"betti_matching: backend must be one of {BACKENDS}, got {backend!r}")
    dtype = _dtype_of(f_pred)
    f_pred = np.ascontiguousarray(f_pred, dtype=dtype)
    f_target = np.ascontiguousarray(f_target, dtype=dtype)
    if backend == "native":
        result = native.betti_matching(f_pred, f_target, construction)
    else:
        result = _python_betti_matching(f_pred, f_target, construction)
    return {dim: result[dim] for dim in dims}


def _dtype_of(f: np.ndarray):
    """The engine's precision for f: float32 stays float32, everything else is float64."""
    return np.float32 if f.dtype == np.float32 else np.float64


# --- the graphs (docs/betti-matching.md, "The complexes as two graphs") -------------------------

@functools.lru_cache(maxsize=64)
def _graphs(height: int, width: int, construction: str):
    """Edge endpoints in edge-index order: (primal u, primal v, dual a, dual b, number of dual nodes).

    Primal edges join pixels; dual edges join dual nodes, whose last index is the exterior.
    """
    pix = np.arange(height * width, dtype=np.int64).reshape(height, width)
    if construction == "V":
        offsets = [(1, 0), (0, 1)]  # types 0 = down, 1 = right
    else:
        offsets = [(1, 0), (0, 1), (1, 1), (1, -1)]  # down, right, down-right, down-left
    u, v = _neighbour_edges(pix, offsets)
    if construction == "V":
        squares = (height - 1) * (width - 1)
        exterior = squares
        rows, cols = u // width, u % width
        down = v - u == width  # a down edge separates the squares to its left and right
        a = np.where(down, np.where(cols == 0, exterior, rows * (width - 1) + cols - 1),
                     np.where(rows == 0, exterior, (rows - 1) * (width - 1) + cols))
        b = np.where(down, np.where(cols == width - 1, exterior, rows * (width - 1) + cols),
                     np.where(rows == height - 1, exterior, rows * (width - 1) + cols))
        return u, v, a, b, squares + 1
    # T: dual nodes are the pixels and the exterior; 4-neighbour edges and one exterior edge per
    # border pixel, interleaved in edge-index order (pixel * 3 + type)
    exterior = height * width
    du, dv = _neighbour_edges(pix, [(1, 0), (0, 1)])
    border = np.zeros((height, width), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    bp = pix[border]
    anchors = np.concatenate([du, bp])
    types = np.concatenate([np.where(dv - du == width, 0, 1), np.full(bp.shape, 2)])
    order = np.argsort(anchors * 3 + types, kind="stable")
    a = anchors[order]
    b = np.concatenate([dv, np.full(bp.shape, exterior)])[order]
    return u, v, a, b, exterior + 1


def _neighbour_edges(pix: np.ndarray, offsets):
    """(u, v) of every pair (pixel, pixel + offset) inside the image, ordered by u * K + type."""
    height, width = pix.shape
    us, vs, keys = [], [], []
    for k, (dr, dc) in enumerate(offsets):
        r0, r1 = 0, height - dr
        c0, c1 = max(0, -dc), width - max(0, dc)
        us.append(pix[r0:r1, c0:c1].ravel())
        vs.append(pix[r0 + dr:r1 + dr, c0 + dc:c1 + dc].ravel())
        keys.append(us[-1] * len(offsets) + k)
    order = np.argsort(np.concatenate(keys), kind="stable")
    return np.concatenate(us)[order], np.concatenate(vs)[order]


@dataclasses.dataclass
class _Filtered:
    """One image's values on both graphs, their orders and the pixel of every node and edge."""

    node_age: np.ndarray       # primal: smaller is older
    edge_value: np.ndarray
    edge_pixel: np.ndarray
    edge_order: np.ndarray     # primal edges by increasing (value, index)
    dual_node_value: np.ndarray
    dual_node_age: np.ndarray  # dual: smaller is older (exterior oldest)
    dual_node_pixel: np.ndarray
    dual_edge_value: np.ndarray
    dual_edge_pixel: np.ndarray
    dual_edge_order: np.ndarray  # dual edges by decreasing (value, index)
    values: np.ndarray


def _rank(values: np.ndarray) -> np.ndarray:
    """Position of each element in increasing (value, index) order."""
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(values), np.int64)
    rank[order] = np.arange(len(values))
    return rank


def _filtered(f: np.ndarray, construction: str) -> _Filtered:
    height, width = f.shape
    u, v, a, b, n_dual = _graphs(height, width, construction)
    flat = f.ravel().astype(np.float64)
    edge_value = np.maximum(flat[u], flat[v])
    edge_pixel = np.where(flat[u] > flat[v], u, v)  # larger value, ties to the larger index (v)
    if construction == "V":
        corners = [(1, 1), (1, 0), (0, 1), (0, 0)]  # largest flat index first: wins ties
        stack = np.stack([f[dr:height - 1 + dr, dc:width - 1 + dc].ravel().astype(np.float64) for dr, dc in corners])
        pixel_of = np.stack([(np.arange(height - 1)[:, None] + dr) * width + np.arange(width - 1)[None, :] + dc
                             for dr, dc in corners]).reshape(4, -1)
        best = np.argmax(stack, axis=0)  # first maximum = largest index among ties
        dual_value = np.append(stack.max(axis=0) if stack.size else np.empty(0), np.inf)
        dual_pixel = np.append(pixel_of[best, np.arange(pixel_of.shape[1])], -1)
        dual_edge_value, dual_edge_pixel = edge_value, edge_pixel
    else:
        dual_value = np.append(flat, np.inf)
        dual_pixel = np.append(np.arange(height * width), -1)
        exterior = b == n_dual - 1
        vb = np.where(exterior, a, b)
        dual_edge_value = np.where(exterior, flat[a], np.minimum(flat[a], flat[vb]))
        dual_edge_pixel = np.where(exterior, a, np.where(flat[a] < flat[vb], a, vb))
    return _Filtered(
        node_age=_rank(flat),
        edge_value=edge_value,
        edge_pixel=edge_pixel,
        edge_order=np.argsort(edge_value, kind="stable"),
        dual_node_value=dual_value,
        dual_node_age=-_rank(dual_value),  # larger (value, index) is older; the exterior (inf) oldest
        dual_node_pixel=dual_pixel,
        dual_edge_value=dual_edge_value,
        dual_edge_pixel=dual_edge_pixel,
        dual_edge_order=np.argsort(dual_edge_value, kind="stable")[::-1],
        values=flat,
    )


class _UnionFind:
    """Union-find whose roots are their component's oldest node (smallest age)."""

    def __init__(self, age: np.ndarray):
        self.parent = list(range(len(age)))
        self.age = age.tolist()

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union_roots(self, x: int, y: int) -> int:
        """Links two roots; returns the younger one, which now hangs below the elder."""
        if self.age[x] < self.age[y]:
            x, y = y, x
        self.parent[x] = y
        return x


def _python_betti_matching(f_pred, f_target, construction: str) -> dict[int, BettiMatching]:
    u, v, a, b, _ = _graphs(*f_pred.shape, construction)
    images = [_filtered(f, construction) for f in (f_pred, f_target, np.minimum(f_pred, f_target))]
    result = {}

    # dimension 0: pairs of each input, keyed by birth node
    pairs, by_birth = [], []
    for im in images[:2]:
        uf, found, keyed = _UnionFind(im.node_age), [], {}
        for e in im.edge_order.tolist():
            x, y = uf.find(u[e]), uf.find(v[e])
            if x != y:
                young = uf.union_roots(x, y)
                if im.values[young] != im.edge_value[e]:
                    keyed[young] = len(found)
                    found.append((young, im.edge_pixel[e]))
        pairs.append(found)
        by_birth.append(keyed)
    comp = images[2]
    ufs = [_UnionFind(im.node_age) for im in images]  # f-, g- and c-aged, one partition
    matched = []
    for e in comp.edge_order.tolist():
        roots = [uf.find(u[e]) for uf in ufs], [uf.find(v[e]) for uf in ufs]
        if roots[0][2] == roots[1][2]:
            continue
        young = [uf.union_roots(x, y) for uf, x, y in zip(ufs, *roots)]
        if comp.values[young[2]] != comp.edge_value[e] and young[0] in by_birth[0] and young[1] in by_birth[1]:
            matched.append((by_birth[0][young[0]], by_birth[1][young[1]]))
    result[0] = _as_result(pairs, matched)

    # dimension 1: pairs of each input, keyed by the node that dies in the c-aged union-find
    pairs, by_key = [], []
    for im in images[:2]:
        uf, uf_c, found, keyed = _UnionFind(im.dual_node_age), _UnionFind(comp.dual_node_age), [], {}
        for e in im.dual_edge_order.tolist():
            x, y = uf.find(a[e]), uf.find(b[e])
            if x != y:
                young = uf.union_roots(x, y)
                young_c = uf_c.union_roots(uf_c.find(a[e]), uf_c.find(b[e]))
                if im.dual_edge_value[e] != im.dual_node_value[young]:
                    keyed[young_c] = len(found)
                    found.append((im.dual_edge_pixel[e], im.dual_node_pixel[young]))
        pairs.append(found)
        by_key.append(keyed)
    uf, matched = _UnionFind(comp.dual_node_age), []
    for e in comp.dual_edge_order.tolist():
        x, y = uf.find(a[e]), uf.find(b[e])
        if x != y:
            young = uf.union_roots(x, y)
            if comp.dual_edge_value[e] != comp.dual_node_value[young] and young in by_key[0] and young in by_key[1]:
                matched.append((by_key[0][young], by_key[1][young]))
    result[1] = _as_result(pairs, matched)
    return result


def _as_result(pairs, matched) -> BettiMatching:
    as_array = lambda rows: np.asarray(rows, np.int64).reshape(-1, 2)  # noqa: E731
    return BettiMatching(as_array(pairs[0]), as_array(pairs[1]), as_array(matched))


# --- the loss (docs/betti-matching.md, "Loss and metric") ---------------------------------------

@dataclasses.dataclass(frozen=True)
class BettiMatchingConfig:
    """Static options of `jaxtopo.betti_matching_loss` (hashable, so it can parameterise a callback)."""

    construction: str = "V"
    dims: tuple[int, ...] = (0, 1)
    pad: bool = False
    push_unmatched_to_1_0: bool = False
    matched_weight: float = 1.0
    unmatched_weight: float = 1.0
    min_persistence: float = 0.0
    backend: str | None = None

    def __post_init__(self):
        if self.construction not in CONSTRUCTIONS:
            raise ValueError(f"construction must be one of {CONSTRUCTIONS}, got {self.construction!r}")
        if not self.dims or any(d not in (0, 1) for d in self.dims) or len(set(self.dims)) != len(self.dims):
            raise ValueError(f"dims must be a non-empty subset of (0, 1), got {self.dims!r}")
        for name in ("matched_weight", "unmatched_weight", "min_persistence"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.backend is not None and self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} or None, got {self.backend!r}")


TARGET_CACHE = TargetDiagramCache(
    maxsize=4096, max_bytes=1 << 30,
    prepare=lambda g, shape, config: native.BettiMatchingTarget(g, config.construction),
    holds=lambda prepared, g: prepared.holds(g))
"""Targets prepared by the native engine, keyed by content: each says its size (``nbytes``; a binary
300x300 target about 1.1 MB, a noisy one up to about 3.3 MB), at most 1 GiB in all
(``TARGET_CACHE.max_bytes``). A prepared target keeps its values, so a hit is checked byte for byte
and the key needs only a CRC-32."""


def image_loss_and_grad(likelihood: np.ndarray, target: np.ndarray, config: BettiMatchingConfig):
    """(loss value, d loss / d likelihood [H, W]) of one image; NaN value and zero gradient if any
    input is not finite."""

    def on_filtration(likelihood, target):
        f = filtration(likelihood, pad=config.pad)
        g = filtration(target.astype(likelihood.dtype, copy=False), pad=config.pad)
        if (config.backend or default_backend()) == "native":  # one call; the target prepared once, cached
            prepared = TARGET_CACHE.get(np.ascontiguousarray(g, dtype=_dtype_of(f)), g.shape, config)
            return prepared.loss_and_grad(
                f, dims=config.dims, push_unmatched_to_1_0=config.push_unmatched_to_1_0,
                matched_weight=config.matched_weight, unmatched_weight=config.unmatched_weight,
                min_persistence=config.min_persistence)
        matchings = betti_matching(f, g, construction=config.construction, dims=config.dims, backend=config.backend)
        return loss_and_grad_of_matching(f, g, matchings, config)

    return likelihood_loss_and_grad(likelihood, target, config.pad, on_filtration)


def loss_and_grad_of_matching(f: np.ndarray, g: np.ndarray, matchings: dict[int, BettiMatching],
                              config: BettiMatchingConfig):
    """BM-Loss of the given matchings and its gradient with respect to f (same shape as f)."""
    f_flat = f.ravel()
    g_flat = g.ravel()
    push = config.push_unmatched_to_1_0
    total = 0.0
    pixels, slopes = [], []  # d loss / d f at pixels (a pixel may appear more than once)
    for m in matchings.values():
        pb, pd = f_flat[m.pred_pairs[:, 0]].astype(np.float64), f_flat[m.pred_pairs[:, 1]].astype(np.float64)
        tb, td = g_flat[m.target_pairs[:, 0]].astype(np.float64), g_flat[m.target_pairs[:, 1]].astype(np.float64)
        # matched: 2 ((b_p - b_t)^2 + (d_p - d_t)^2) w_m
        i, j = m.matched[:, 0], m.matched[:, 1]
        db, dd = pb[i] - tb[j], pd[i] - td[j]
        w = config.matched_weight
        total += 2.0 * w * float(np.dot(db, db) + np.dot(dd, dd))
        pixels += [m.pred_pairs[i, 0], m.pred_pairs[i, 1]]
        slopes += [4.0 * w * db, 4.0 * w * dd]
        # unmatched prediction pairs, longer than min_persistence
        unmatched = np.ones(len(pb), bool)
        unmatched[i] = False
        k = np.flatnonzero(unmatched & (np.abs(pb - pd) > config.min_persistence))
        b, d, w = pb[k], pd[k], config.unmatched_weight
        if push:  # 2 ((b - 1)^2 + d^2) w_u: towards (1, 0), i.e. likelihood 0 at birth, 1 at death
            total += 2.0 * w * float(np.dot(b - 1.0, b - 1.0) + np.dot(d, d))
            slopes += [4.0 * w * (b - 1.0), 4.0 * w * d]
        else:  # (b - d)^2 w_u: towards the diagonal
            total += w * float(np.dot(b - d, b - d))
            slopes += [2.0 * w * (b - d), -2.0 * w * (b - d)]
        pixels += [m.pred_pairs[k, 0], m.pred_pairs[k, 1]]
        # unmatched target pairs: a constant
        unmatched = np.ones(len(tb), bool)
        unmatched[j] = False
        b, d = tb[unmatched], td[unmatched]
        total += 2.0 * float(np.dot(b - 1.0, b - 1.0) + np.dot(d, d)) if push else float(np.dot(b - d, b - d))
    grad = np.bincount(np.concatenate(pixels), np.concatenate(slopes), minlength=f_flat.size) if pixels else \
        np.zeros(f_flat.size)
    return total, grad.reshape(f.shape)
