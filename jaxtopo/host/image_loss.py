"""Topological loss value and its gradient map for images (host side, numpy).

This is everything `jaxtopo.sat_loss` and friends run inside `jax.pure_callback`: persistence of
the prediction (and, cached, of the target), matching per homology dimension, and the gradient
of Eq. 7, which is non-zero only at creator and destroyer pixels.

Gradient: after matching, every counted predicted point p = (b, d) has a goal (b*, d*): its
matched target point, or its projection onto the diagonal. Its term is w * r^q with
r = ||(b - b*, d - d*)|| and w the spatial weight (1 for the diagonal), and b, d are the values of
f = 1 - L at the creator and destroyer pixels, so the term's derivative lands on those two pixels
only. Holding the goal fixed gives the exact derivative of the loss also for diagonal terms
(moving along the diagonal does not change the distance to it).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import os
import threading
import time
import zlib

import numpy as np

from jaxtopo import _validation
from jaxtopo.host import matching as matching_lib
from jaxtopo.host import native
from jaxtopo.host.persistence import (
    CONSTRUCTIONS,
    Diagram,
    available_backends,
    default_backend,
    persistence_diagrams,
)


@dataclasses.dataclass(frozen=True)
class TopoLossConfig:
    """Static options of a topological loss (hashable, so it can parameterise a callback)."""

    policy: str = "optimal"
    variant: str = "official"
    spatial: bool = True
    min_spatial_weight: float = 0.05
    construction: str = "T"
    pad: bool = True
    dims: tuple[int, ...] = (0, 1)
    backend: str | None = None

    def __post_init__(self):
        if self.policy not in matching_lib.POLICIES:
            raise ValueError(f"matching must be one of {matching_lib.POLICIES}, got {self.policy!r}")
        if self.variant not in matching_lib.VARIANTS:
            raise ValueError(f"variant must be one of {matching_lib.VARIANTS}, got {self.variant!r}")
        if self.construction not in CONSTRUCTIONS:
            raise ValueError(f"construction must be one of {CONSTRUCTIONS}, got {self.construction!r}")
        if not self.dims or any(d not in (0, 1) for d in self.dims) or len(set(self.dims)) != len(self.dims):
            raise ValueError(f"dims must be a non-empty subset of (0, 1), got {self.dims!r}")
        if not 0.0 <= self.min_spatial_weight <= 1.0:
            raise ValueError(f"min_spatial_weight must lie in [0, 1], got {self.min_spatial_weight!r}")
        # checked here, at trace time: an unknown name found inside the host callback would
        # surface only as jax's opaque "CpuCallback error"
        if self.backend is not None and self.backend not in available_backends():
            raise ValueError(f"backend must be one of {available_backends()} or None, got {self.backend!r}")

    @property
    def cost_model(self) -> matching_lib.CostModel:
        return matching_lib.CostModel(self.variant, self.spatial, self.min_spatial_weight)


def filtration(image: np.ndarray, *, pad: bool) -> np.ndarray:
    """f = 1 - clip(image, 0, 1), padded by one pixel of foreground (f = 0) when ``pad``.

    Computed in the image's own float precision, as the official code does, so diagram values
    are exactly the (1 - likelihood) values the network produced. The losses only pass images
    inside [0, 1] (`likelihood_loss_and_grad`); the clip serves direct callers of this function.
    """
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    one = image.dtype.type(1)
    f = np.clip(image, 0, one)
    np.subtract(one, f, out=f)  # in place: one array per call (fresh pages cost more than the sum)
    if pad:
        f = np.pad(f, 1, mode="constant", constant_values=0)
    return f


@dataclasses.dataclass(frozen=True)
class _PreparedDiagrams:
    """Per dimension: the diagram plus its points and normalised creator coordinates."""

    diagrams: dict[int, Diagram]
    points: dict[int, np.ndarray]
    creator_xy: dict[int, np.ndarray]


def _prepare(f: np.ndarray, image_shape: tuple[int, int], config: TopoLossConfig) -> _PreparedDiagrams:
    diagrams = persistence_diagrams(f, construction=config.construction, backend=config.backend)
    height, width = image_shape
    width_padded = f.shape[1]
    points, creator_xy = {}, {}
    for dim, diagram in diagrams.items():
        points[dim] = diagram.points()
        rows = diagram.creator // width_padded
        xy = np.empty((len(diagram), 2), dtype=np.float64)
        # normalised by the unpadded size, as in the paper and the official code
        np.divide(rows, height, out=xy[:, 0])
        np.divide(diagram.creator - rows * width_padded, width, out=xy[:, 1])
        creator_xy[dim] = xy
    return _PreparedDiagrams(diagrams, points, creator_xy)


class TargetDiagramCache:
    """LRU cache of target diagrams keyed by the target's bytes: a fixed target costs one hash.

    ``prepare(f, image_shape, config)`` makes an entry (default: the persistence diagrams of the
    other topological losses); the key holds the options of ``config`` that entries depend on.
    At most ``maxsize`` entries, and with ``max_bytes`` at most that many bytes of entries that
    say their size (an ``nbytes`` attribute); the least recently used go first.

    The key's digest is the sha256 of the bytes, unless the entries can tell whether they were
    made from given bytes (``holds(entry, f)``, e.g. a prepared target that keeps its values):
    then a CRC-32 is enough to find the entry, three times cheaper, and ``holds`` makes the hit
    exact (an entry whose CRC matches but whose bytes differ is prepared again and replaced).
    """

    def __init__(self, maxsize: int = 16384, prepare=None, max_bytes: int | None = None, holds=None):
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self._bytes = 0
        self._prepare = prepare or _prepare
        self._holds = holds
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, f: np.ndarray, image_shape, config: TopoLossConfig) -> _PreparedDiagrams:
        raw = memoryview(np.ascontiguousarray(f)).cast("B")  # no copy
        # sha256: twice as fast as blake2b here (hardware SHA); crc32 three times faster again
        digest = zlib.crc32(raw) if self._holds else hashlib.sha256(raw).digest()
        key = (digest, f.shape, str(f.dtype), image_shape, config.construction, config.backend)
        with self._lock:
            entry = self._entries.get(key)
        # checked outside the lock (a byte compare of the whole target): entries are never changed,
        # and this reference keeps the entry alive if another thread evicts it meanwhile
        if entry is not None and (self._holds is None or self._holds(entry, f)):
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                self.hits += 1
            return entry
        prepared = self._prepare(f, image_shape, config)
        with self._lock:
            self.misses += 1
            replaced = self._entries.pop(key, None)  # another thread's, or (CRC clash) another target's
            if replaced is not None:
                self._bytes -= getattr(replaced, "nbytes", 0)
            self._entries[key] = prepared
            self._bytes += getattr(prepared, "nbytes", 0)
            while len(self._entries) > self.maxsize or (
                self.max_bytes is not None and self._bytes > self.max_bytes and len(self._entries) > 1
            ):
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= getattr(evicted, "nbytes", 0)
        return prepared

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


TARGET_CACHE = TargetDiagramCache()


@dataclasses.dataclass(frozen=True)
class ImageMatching:
    """Everything one image's loss was made of (for tests, plots and debugging)."""

    value: float
    prediction: _PreparedDiagrams
    target: _PreparedDiagrams
    matchings: dict[int, matching_lib.Matching]


def match_image(likelihood: np.ndarray, target: np.ndarray, config: TopoLossConfig, *, cache=TARGET_CACHE) -> ImageMatching:
    """Persistence of both images and the matching in every requested dimension."""
    likelihood = np.asarray(likelihood)
    target = np.asarray(target)
    if likelihood.ndim != 2 or likelihood.shape != target.shape:
        raise ValueError(
            f"expected two 2D images of one shape, got {likelihood.shape} and {target.shape}"
        )
    image_shape = likelihood.shape
    pred = _prepare(filtration(likelihood, pad=config.pad), image_shape, config)
    target_f = filtration(target.astype(likelihood.dtype, copy=False), pad=config.pad)
    tgt = cache.get(target_f, image_shape, config) if cache is not None else _prepare(target_f, image_shape, config)
    matchings = {}
    for dim in config.dims:
        matchings[dim] = matching_lib.match(
            pred.points[dim],
            tgt.points[dim],
            pred.creator_xy[dim],
            tgt.creator_xy[dim],
            cost_model=config.cost_model,
            policy=config.policy,
        )
    value = float(sum(m.value for m in matchings.values()))
    return ImageMatching(value, pred, tgt, matchings)


def gradient_map(result: ImageMatching, config: TopoLossConfig, padded_shape) -> np.ndarray:
    """d loss / d f on the (padded) image: non-zero only at creator and destroyer pixels."""
    grad = np.zeros(int(np.prod(padded_shape)), dtype=np.float64)
    cost_model = config.cost_model
    for dim, matching in result.matchings.items():
        diagram = result.prediction.diagrams[dim]
        target = result.target.diagrams[dim]
        # every point counts except under "hausdorff"; skip the gather when all do
        idx = slice(None) if matching.counted.all() else np.flatnonzero(matching.counted)
        birth, death, partner = diagram.birth[idx], diagram.death[idx], matching.matched_to[idx]
        if birth.size == 0:
            continue
        # goal: the matched target point, or the point's projection onto the diagonal
        goal_birth = (birth + death) / 2.0
        goal_death = goal_birth.copy()
        weights = np.ones_like(birth)
        matched = np.flatnonzero(partner != matching_lib.DIAGONAL)
        if matched.size:
            targets = partner[matched]
            goal_birth[matched] = target.birth[targets]
            goal_death[matched] = target.death[targets]
            pred_xy = result.prediction.creator_xy[dim][idx][matched]
            weights[matched] = cost_model.spatial_weights_of_pairs(pred_xy, result.target.creator_xy[dim][targets])
        delta_birth, delta_death = birth - goal_birth, death - goal_death
        if cost_model.q == 1:  # d (w r) = w (delta / r)
            r = np.sqrt(delta_birth * delta_birth + delta_death * delta_death)
            scale = np.divide(weights, r, out=np.zeros_like(r), where=r > 0)
        else:  # d (w r^2) = 2 w delta
            scale = 2.0 * weights
        np.add.at(grad, diagram.creator[idx], scale * delta_birth)
        np.add.at(grad, diagram.destroyer[idx], scale * delta_death)
    return grad.reshape(padded_shape)


def _runs_natively(config: TopoLossConfig) -> bool:
    """Whether the fused native path applies: the optimal policy on the native backend."""
    return config.policy == "optimal" and (config.backend or default_backend()) == "native"


def _native_loss_and_grad(likelihood: np.ndarray, target: np.ndarray, config: TopoLossConfig, cache):
    """image_loss_and_grad's work in one native call (no GIL): same value and gradient map."""
    image_shape = likelihood.shape
    f = filtration(likelihood, pad=config.pad)
    target_f = filtration(target.astype(likelihood.dtype, copy=False), pad=config.pad)
    tgt = cache.get(target_f, image_shape, config) if cache is not None else _prepare(target_f, image_shape, config)
    cost_model = config.cost_model
    return native.image_loss(f, image_shape, config.construction, config.dims, tgt.points, tgt.creator_xy,
                             q=cost_model.q, weight_power=cost_model.weight_power,
                             low=cost_model.min_spatial_weight)


def image_loss_and_grad(likelihood: np.ndarray, target: np.ndarray, config: TopoLossConfig, *, cache=TARGET_CACHE):
    """(loss value, d loss / d likelihood [H, W]) for one image; NaN value if any input value lies
    outside [0, 1] (NaN and inf included).

    With the native backend and the optimal policy the work runs in one native call; otherwise
    (and as its reference) through `match_image` and `gradient_map`.
    """
    def on_filtration(likelihood, target):
        if _runs_natively(config):
            return _native_loss_and_grad(likelihood, target, config, cache)
        result = match_image(likelihood, target, config, cache=cache)
        padded_shape = tuple(s + 2 for s in likelihood.shape) if config.pad else likelihood.shape
        return result.value, gradient_map(result, config, padded_shape)

    return likelihood_loss_and_grad(likelihood, target, config.pad, on_filtration)


def likelihood_loss_and_grad(likelihood, target, pad: bool, on_filtration):
    """The frame of every per-image host loss around ``on_filtration(likelihood, target)``, which
    returns (value, d value / d f) on the (padded) filtration f = 1 - L.

    A value outside [0, 1] in either image (NaN and inf included) gives a NaN value and a zero
    gradient, the host side of the policy in `jaxtopo._validation` (nothing may raise inside the
    host callback, and a clipped value must not get a gradient); the gradient is cropped to the
    image and turned into d value / d L.
    """
    likelihood = np.asarray(likelihood)
    target = np.asarray(target)
    if not (_validation.all_inside_unit_interval(likelihood) and _validation.all_inside_unit_interval(target)):
        return float("nan"), np.zeros(likelihood.shape, dtype=np.float64)
    if likelihood.ndim != 2 or likelihood.shape != target.shape:
        raise ValueError(f"expected two 2D images of one shape, got {likelihood.shape} and {target.shape}")
    value, grad_f = on_filtration(likelihood, target)
    if pad:
        grad_f = grad_f[1:-1, 1:-1]
    # f = 1 - L; in place: every on_filtration returns a fresh array (saves an allocation per image)
    return value, np.negative(grad_f, out=grad_f)


class HostClock:
    """Wall time during which host topology work ran, so trainers can report it next to device time.

    Under a mesh every device's callback runs at the same time; the clock counts the time during
    which at least one ran (not the sum over devices, which could exceed the step's wall time).
    Thread-safe: callbacks arrive on several threads.
    """

    def __init__(self):
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()
        self._active = 0
        self._since = 0.0

    def enter(self) -> None:
        with self._lock:
            if self._active == 0:
                self._since = time.perf_counter()
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            self.calls += 1
            if self._active == 0:
                self.seconds += time.perf_counter() - self._since

    def take(self) -> float:
        """Seconds accumulated since the last take()."""
        with self._lock:
            seconds, self.seconds = self.seconds, 0.0
        return seconds


HOST_CLOCK = HostClock()


def batch_loss_and_grad(likelihoods: np.ndarray, targets: np.ndarray, config: TopoLossConfig, image_fn=None):
    """Per-image values [...] and gradient maps [..., H, W] for any leading batch dimensions.

    ``image_fn(likelihood, target) -> (value, gradient map)`` is the per-image loss; by default
    `image_loss_and_grad` with ``config`` (other host losses, e.g. Betti matching, pass their own).
    """
    HOST_CLOCK.enter()
    if image_fn is None:
        image_fn = functools.partial(image_loss_and_grad, config=config)
    try:
        return _batch_loss_and_grad(likelihoods, targets, image_fn)
    finally:
        HOST_CLOCK.leave()


def _host_threads() -> int:
    """Worker threads for a batch: $JAXTOPO_HOST_THREADS, else one per available core."""
    value = os.environ.get("JAXTOPO_HOST_THREADS")
    if value:
        return max(1, int(value))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=None)
def _executor(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="jaxtopo-host")


def _batch_loss_and_grad(likelihoods: np.ndarray, targets: np.ndarray, image_fn):
    likelihoods = np.asarray(likelihoods)
    targets = np.broadcast_to(np.asarray(targets), likelihoods.shape)
    lead, image_shape = likelihoods.shape[:-2], likelihoods.shape[-2:]
    flat_l = likelihoods.reshape((-1,) + image_shape)
    flat_t = targets.reshape((-1,) + image_shape)
    values = np.empty(flat_l.shape[0], dtype=np.float64)
    grads = np.empty(flat_l.shape, dtype=np.float64)

    def one(b):
        values[b], grads[b] = image_fn(flat_l[b], flat_t[b])

    # images are independent; the native engine releases the GIL, so threads run in parallel.
    # One pool of the full size for every call: under a mesh each device's callback hands over
    # only its few images at the same moment, and they must share all the threads, not a pool
    # sized by one call's batch.
    threads = _host_threads()
    if threads > 1 and flat_l.shape[0] > 1:
        list(_executor(threads).map(one, range(flat_l.shape[0])))
    else:
        for b in range(flat_l.shape[0]):
            one(b)
    return values.reshape(lead), grads.reshape(likelihoods.shape)
