"""The native persistence engine (C++, loaded with ctypes so calls run without the GIL).

The library is compiled by ``pip install`` (see setup.py). If it is missing (no compiler on the
platform) or switched off with ``JAXTOPO_NATIVE=0``, jaxtopo works on the gudhi reference backend
and says so once.
"""

from __future__ import annotations

import ctypes
import glob
import os
import warnings

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_LIBRARY = None
_LOAD_ERROR = None


def _load():
    global _LIBRARY, _LOAD_ERROR
    if _LIBRARY is not None or _LOAD_ERROR is not None:
        return _LIBRARY
    if os.environ.get("JAXTOPO_NATIVE", "1") == "0":  # e.g. to compare with the reference backend
        _LOAD_ERROR = "the native engine is switched off (JAXTOPO_NATIVE=0)"
        return None
    candidates = sorted(glob.glob(os.path.join(_HERE, "_engine*.so")) + glob.glob(os.path.join(_HERE, "_engine*.pyd")))
    if not candidates:
        _LOAD_ERROR = "the native engine was not built (no C++17 compiler at install time? install one and reinstall jaxtopo)"
        return None
    try:
        lib = ctypes.CDLL(candidates[0])
    except OSError as error:  # e.g. built for another platform
        _LOAD_ERROR = f"the native engine could not be loaded ({error})"
        return None
    i64p = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
    for name, real in (("jaxtopo_persistence_f32", np.float32), ("jaxtopo_persistence_f64", np.float64)):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int64
        fn.argtypes = [np.ctypeslib.ndpointer(real, flags="C_CONTIGUOUS"), ctypes.c_int32, ctypes.c_int32,
                       ctypes.c_int32, i64p, i64p, i64p, i64p, i64p, i64p]
    f64p = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    fn = lib.jaxtopo_optimal_matching
    fn.restype = ctypes.c_int64
    fn.argtypes = [f64p, f64p, ctypes.c_int64, f64p, f64p, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32,
                   ctypes.c_double, i64p, ctypes.POINTER(ctypes.c_double)]
    for name, real in (("jaxtopo_image_loss_f32", np.float32), ("jaxtopo_image_loss_f64", np.float64)):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int64
        fn.argtypes = [np.ctypeslib.ndpointer(real, flags="C_CONTIGUOUS"), ctypes.c_int32, ctypes.c_int32,
                       ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, f64p, f64p, i64p,
                       ctypes.c_int32, ctypes.c_int32, ctypes.c_double, f64p, ctypes.POINTER(ctypes.c_double)]
    for suffix, real in (("_f32", np.float32), ("_f64", np.float64)):
        array = np.ctypeslib.ndpointer(real, flags="C_CONTIGUOUS")
        fn = getattr(lib, "jaxtopo_bm_prepare" + suffix)
        fn.restype = ctypes.c_void_p
        fn.argtypes = [array, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, i64p]
        fn = getattr(lib, "jaxtopo_bm_free" + suffix)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p]
        fn = getattr(lib, "jaxtopo_bm_target_pairs" + suffix)
        fn.restype = ctypes.c_int64
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int32, i64p]
        fn = getattr(lib, "jaxtopo_bm_target_bytes" + suffix)
        fn.restype = ctypes.c_int64
        fn.argtypes = [ctypes.c_void_p]
        fn = getattr(lib, "jaxtopo_bm_target_holds" + suffix)
        fn.restype = ctypes.c_int32
        fn.argtypes = [ctypes.c_void_p, array]
        fn = getattr(lib, "jaxtopo_bm_loss" + suffix)
        fn.restype = ctypes.c_int64
        fn.argtypes = [array, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_double, ctypes.c_double,
                       ctypes.c_double, f64p, ctypes.POINTER(ctypes.c_double)]
        fn = getattr(lib, "jaxtopo_bm_match" + suffix)
        fn.restype = ctypes.c_int64
        fn.argtypes = [array, ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)), i64p]
    fn = lib.jaxtopo_bm_dual_parts_f64
    fn.restype = ctypes.c_int64
    fn.argtypes = [f64p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_double,
                   np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")]
    _LIBRARY = lib
    return lib


def available() -> bool:
    return _load() is not None


def unavailable_reason() -> str | None:
    _load()
    return _LOAD_ERROR


def _library():
    lib = _load()
    if lib is None:
        raise RuntimeError(f"jaxtopo: {_LOAD_ERROR}")
    return lib


def _for_dtype(f: np.ndarray, name: str):
    """(f as a C-contiguous float32 or float64 array, the engine function `name` for it)."""
    lib = _library()
    if f.dtype != np.float32:
        f = f.astype(np.float64, copy=False)
    suffix = "_f32" if f.dtype == np.float32 else "_f64"
    return np.ascontiguousarray(f), getattr(lib, name + suffix)


def persistence_pairs(f: np.ndarray, construction: str):
    """{dim: (creators, destroyers)} as flat C-order int64 arrays, for dims 0 and 1."""
    f, fn = _for_dtype(f, "jaxtopo_persistence")
    height, width = f.shape
    n = height * width
    out = [np.empty(n, np.int64) for _ in range(4)]
    counts = [np.zeros(1, np.int64), np.zeros(1, np.int64)]
    status = fn(f, height, width, 0 if construction == "T" else 1,
                out[0], out[1], counts[0], out[2], out[3], counts[1])
    if status == -3:
        raise ValueError(f"persistence: image of shape {f.shape} is too large for the native engine (2^31 cells)")
    if status != 0:
        raise RuntimeError(f"jaxtopo native persistence failed with status {status} on shape {f.shape}")
    k0, k1 = int(counts[0][0]), int(counts[1][0])
    return {0: (out[0][:k0], out[1][:k0]), 1: (out[2][:k1], out[3][:k1])}


def optimal_matching(pred, target, pred_xy, target_xy, *, q: int, weight_power: int, low: float):
    """Exact optimal partial matching (see jaxtopo.host.matching); returns (matched_to, value).

    weight_power: 1 = weight is the clamped creator distance, 2 = its square, 0 = no weight.
    """
    lib = _library()
    pred, target, pred_xy, target_xy = map(_as_points, (pred, target, pred_xy, target_xy))
    matched_to = np.empty(len(pred), np.int64)
    value = ctypes.c_double()
    status = lib.jaxtopo_optimal_matching(pred, pred_xy, len(pred), target, target_xy, len(target),
                                          q, weight_power, low, matched_to, ctypes.byref(value))
    if status == -2:
        raise ValueError("optimal_matching: diagram points and creator coordinates must be finite")
    if status != 0:
        raise RuntimeError(f"jaxtopo native matching failed with status {status}")
    return matched_to, value.value


def image_loss(f, image_shape, construction: str, dims, target_points, target_xy, *, q: int,
               weight_power: int, low: float):
    """(loss, d loss / d f) of one padded filtration f against a target's prepared diagrams.

    The whole of jaxtopo.host.image_loss's optimal-matching path (persistence of f, matching of
    each dimension in ``dims``, gradient map) in one call without the GIL. ``target_points`` and
    ``target_xy`` map each dimension to [m, 2] arrays; image_shape is the unpadded (H, W) that
    normalises creator coordinates.
    """
    f, fn = _for_dtype(f, "jaxtopo_image_loss")
    # both dimensions' target arrays back to back, dimension 0 first
    points = [_as_points(target_points.get(dim, np.empty((0, 2)))) for dim in (0, 1)]
    xy = [_as_points(target_xy.get(dim, np.empty((0, 2)))) for dim in (0, 1)]
    counts = np.array([len(points[0]), len(points[1])], np.int64)
    grad = np.empty(f.shape, np.float64)
    value = ctypes.c_double()
    mask = sum(1 << dim for dim in dims)
    status = fn(f, f.shape[0], f.shape[1], 0 if construction == "T" else 1, image_shape[0], image_shape[1], mask,
                np.concatenate(points), np.concatenate(xy), counts, q, weight_power, low, grad, ctypes.byref(value))
    if status == -2:
        raise ValueError("image_loss: the target diagrams must be finite")
    if status == -3:
        raise ValueError(f"image_loss: image of shape {f.shape} is too large for the native engine (2^31 cells)")
    if status != 0:
        raise RuntimeError(f"jaxtopo native image loss failed with status {status} on shape {f.shape}")
    return value.value, grad


class BettiMatchingTarget:
    """A target filtration prepared once for Betti matching against any number of predictions.

    Holds the target's pairs, the pair born at each pixel, the parts of its dual sweep and the
    sweep's last merges (see jaxtopo/host/native/betti_matching.cpp); ``nbytes`` says how much
    (float32, binary target: about 12 bytes per pixel plus the pairs). Frees itself.
    """

    def __init__(self, g: np.ndarray, construction: str):
        g, _ = _for_dtype(g, "jaxtopo_bm_prepare")
        self.dtype, self.shape, self.construction = g.dtype, g.shape, construction
        self._suffix = "_f32" if g.dtype == np.float32 else "_f64"
        lib = _library()
        status = np.zeros(1, np.int64)
        self._handle = getattr(lib, "jaxtopo_bm_prepare" + self._suffix)(
            g, g.shape[0], g.shape[1], 0 if construction == "T" else 1, status)
        _check_bm_status(int(status[0]), g.shape)
        self._free = getattr(lib, "jaxtopo_bm_free" + self._suffix)
        self.pairs = {}
        for dim in (0, 1):
            out = np.empty((g.size + 1, 2), np.int64)
            count = getattr(lib, "jaxtopo_bm_target_pairs" + self._suffix)(self._handle, dim, out)
            self.pairs[dim] = out[:count].copy()
            self.pairs[dim].setflags(write=False)  # shared by every match against this target
        self.nbytes = int(getattr(lib, "jaxtopo_bm_target_bytes" + self._suffix)(self._handle))

    def __del__(self):
        if getattr(self, "_handle", None):
            self._free(self._handle)
            self._handle = None

    def holds(self, g: np.ndarray) -> bool:
        """Whether this target was prepared from exactly these values (same shape, dtype, bytes)."""
        if g.shape != self.shape or g.dtype != self.dtype:
            return False
        return bool(getattr(_library(), "jaxtopo_bm_target_holds" + self._suffix)(self._handle, np.ascontiguousarray(g)))

    def _prediction(self, f: np.ndarray) -> np.ndarray:
        f = np.ascontiguousarray(f, dtype=self.dtype)
        if f.shape != self.shape:
            raise ValueError(f"betti_matching: prediction shape {f.shape} differs from the target's {self.shape}")
        return f

    def match(self, f: np.ndarray):
        """{dim: BettiMatching} of the prediction filtration f (same shape) against this target."""
        from jaxtopo.host.betti_matching import BettiMatching

        f = self._prediction(f)
        capacity = f.size + 1
        buffers = [np.empty((capacity, 2), np.int64) for _ in range(4)]
        pointers = (ctypes.POINTER(ctypes.c_int64) * 4)(
            *(b.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)) for b in buffers))
        counts = np.zeros(4, np.int64)
        status = getattr(_library(), "jaxtopo_bm_match" + self._suffix)(f, self._handle, pointers, counts)
        _check_bm_status(int(status), f.shape)
        # copies, so the results do not keep the full-size buffers alive
        return {dim: BettiMatching(buffers[2 * dim][: counts[2 * dim]].copy(), self.pairs[dim],
                                   buffers[2 * dim + 1][: counts[2 * dim + 1]].copy()) for dim in (0, 1)}


    def loss_and_grad(self, f: np.ndarray, *, dims, push_unmatched_to_1_0: bool, matched_weight: float,
                      unmatched_weight: float, min_persistence: float):
        """(BM-Loss, d loss / d f) of the prediction filtration f against this target, in one call.

        The same as `jaxtopo.host.betti_matching.loss_and_grad_of_matching` on `match(f)`.
        """
        f = self._prediction(f)
        grad = np.empty(f.shape, np.float64)
        value = ctypes.c_double()
        status = getattr(_library(), "jaxtopo_bm_loss" + self._suffix)(
            f, self._handle, sum(1 << d for d in dims), int(push_unmatched_to_1_0), matched_weight, unmatched_weight,
            min_persistence, grad, ctypes.byref(value))
        _check_bm_status(int(status), f.shape)
        return value.value, grad


def dual_parts(g: np.ndarray, construction: str, threshold: float) -> np.ndarray:
    """For the tests: each dual node's part under the dual edges of g above ``threshold``, as the
    part's oldest node (the engine's shortcut for Betti matching; the exterior node is last)."""
    g = np.ascontiguousarray(g, dtype=np.float64)
    height, width = g.shape
    nodes = (max(height - 1, 0) * max(width - 1, 0) if construction == "V" else height * width) + 1
    root = np.empty(nodes, np.int32)
    count = _library().jaxtopo_bm_dual_parts_f64(g, height, width, 0 if construction == "T" else 1, threshold, root)
    _check_bm_status(int(count) if count < 0 else 0, g.shape)
    return root


def _check_bm_status(status: int, shape) -> None:
    if status == -2:
        raise ValueError("betti_matching: the images must be finite")
    if status == -3:
        raise ValueError(f"betti_matching: image of shape {shape} is too large for the native engine")
    if status != 0:
        raise RuntimeError(f"jaxtopo native Betti matching failed with status {status} on shape {shape}")


def betti_matching(f: np.ndarray, g: np.ndarray, construction: str):
    """{dim: BettiMatching} of two filtrations of one shape (see jaxtopo.host.betti_matching)."""
    return BettiMatchingTarget(g, construction).match(f)


def _as_points(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).reshape(-1, 2))


def warn_if_unavailable(fallback: str = "gudhi") -> None:
    if not available():
        warnings.warn(f"jaxtopo: {_LOAD_ERROR}; using the slower {fallback} backend", RuntimeWarning, stacklevel=4)


_WARNED_FALLBACKS = set()


def preferred_backend(fallback: str) -> str:
    """"native" when the engine loads, else ``fallback``, saying so once per fallback."""
    if available():
        return "native"
    if fallback not in _WARNED_FALLBACKS:
        _WARNED_FALLBACKS.add(fallback)
        warn_if_unavailable(fallback)
    return fallback
