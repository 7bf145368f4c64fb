"""Host-side options: persistence backends, the target-diagram cache, the host thread pool and
the checks of TopoLossConfig."""

import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import jaxtopo
from jaxtopo.host import TopoLossConfig, TargetDiagramCache, image_loss_and_grad
from jaxtopo.host import persistence
from jaxtopo.host.image_loss import batch_loss_and_grad
from jaxtopo.host.persistence import Diagram, available_backends, persistence_diagrams, register_backend


def _pair(seed=0, shape=(10, 10)):
    rng = np.random.default_rng(seed)
    likelihood = rng.random(shape).astype(np.float32)
    target = np.zeros(shape, np.float32)
    target[2:8, 2:8] = 1.0
    target[4:6, 4:6] = 0.0  # a square ring: one component, one loop
    return likelihood, target


# --------------------------------------------------------------------------- register_backend


@pytest.fixture
def own_registry(monkeypatch):
    """Backends registered in a test are gone after it."""
    monkeypatch.setattr(persistence, "_BACKENDS", dict(persistence._BACKENDS))


def test_registered_backend_computes_the_diagrams_of_the_loss(own_registry):
    calls = []

    def counting(f, construction):  # the reference backend, counting its calls
        calls.append((f.shape, construction))
        return persistence._gudhi_backend(f, construction)

    def blind(f, construction):  # sees no features at all
        empty = np.empty(0, np.int64)
        return {dim: Diagram.from_pixels(f, empty, empty) for dim in (0, 1)}

    register_backend("counting", counting)
    register_backend("blind", blind)
    assert {"counting", "blind", "gudhi"} <= set(available_backends())

    likelihood, target = _pair()
    f = 1.0 - likelihood
    got = persistence_diagrams(f, construction="V", backend="counting")
    want = persistence._gudhi_backend(f, "V")
    assert calls == [(f.shape, "V")]
    for dim in (0, 1):
        np.testing.assert_array_equal(got[dim].points(), want[dim].points())

    # through the loss (on the numpy path, which calls the backend for both images)
    probs, labels = likelihood[None], target[None]
    calls.clear()
    counted = float(jaxtopo.wasserstein_loss(probs, labels, backend="counting"))
    reference = float(jaxtopo.wasserstein_loss(probs, labels, backend="gudhi"))
    assert counted == pytest.approx(reference, rel=1e-6) and reference > 0.5
    padded = tuple(s + 2 for s in likelihood.shape)  # pad=True by default
    assert (padded, "T") in calls  # the prediction's diagrams (the target's may come from the cache)
    # with no features on either side nothing is matched: the loss is zero
    assert float(jaxtopo.wasserstein_loss(probs, labels, backend="blind")) == 0.0


def test_unknown_backend_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"'nope'.*available"):
        persistence_diagrams(np.zeros((3, 3)), backend="nope")


# --------------------------------------------------------------------------- the target cache


class _Counting:
    """A prepare function that records what it prepared and returns a fresh object per call."""

    def __init__(self, nbytes=None):
        self.prepared = []
        self.nbytes = nbytes

    def __call__(self, f, image_shape, config):
        entry = SimpleNamespace(f=f, nbytes=self.nbytes) if self.nbytes else SimpleNamespace(f=f)
        self.prepared.append(entry)
        return entry


CONFIG = SimpleNamespace(construction="T", backend=None)


def _images(n):
    return [np.full((3, 3), k, np.float32) for k in range(n)]


def test_cache_keeps_at_most_maxsize_entries_least_recently_used_out_first():
    prepare = _Counting()
    cache = TargetDiagramCache(maxsize=2, prepare=prepare)
    a, b, c = _images(3)
    first_a = cache.get(a, (3, 3), CONFIG)
    cache.get(b, (3, 3), CONFIG)
    assert cache.get(a, (3, 3), CONFIG) is first_a  # a hit, and a is now the most recent
    cache.get(c, (3, 3), CONFIG)  # a third entry: b, the least recently used, goes
    assert len(cache) == 2 and len(prepare.prepared) == 3
    assert cache.get(a, (3, 3), CONFIG) is first_a
    cache.get(c, (3, 3), CONFIG)
    assert len(prepare.prepared) == 3 and (cache.hits, cache.misses) == (3, 3)
    cache.get(b, (3, 3), CONFIG)  # evicted, so prepared again
    assert len(prepare.prepared) == 4 and cache.misses == 4 and len(cache) == 2


def test_cache_keeps_at_most_max_bytes_but_always_the_newest_entry():
    prepare = _Counting(nbytes=100)
    cache = TargetDiagramCache(maxsize=100, max_bytes=250, prepare=prepare)
    a, b, c, d = _images(4)
    for image in (a, b, c):  # 300 bytes > 250: a, the oldest, goes
        cache.get(image, (3, 3), CONFIG)
    assert len(cache) == 2
    cache.get(b, (3, 3), CONFIG)
    cache.get(c, (3, 3), CONFIG)
    assert len(prepare.prepared) == 3
    cache.get(a, (3, 3), CONFIG)
    assert len(prepare.prepared) == 4
    # one entry larger than the whole budget is still kept (the caller is about to use it)
    big = TargetDiagramCache(maxsize=100, max_bytes=50, prepare=_Counting(nbytes=100))
    entry = big.get(d, (3, 3), CONFIG)
    assert len(big) == 1 and big.get(d, (3, 3), CONFIG) is entry
    other = big.get(a, (3, 3), CONFIG)  # and replaced by the next one
    assert len(big) == 1 and big.get(a, (3, 3), CONFIG) is other


def test_cache_with_holds_checks_every_hit_and_replaces_a_crc_clash(monkeypatch):
    # with `holds`, the key is a CRC-32: make every image clash, so that only `holds` tells them apart
    from jaxtopo.host import image_loss

    monkeypatch.setattr(image_loss.zlib, "crc32", lambda raw: 7)
    prepare = _Counting()
    cache = TargetDiagramCache(prepare=prepare, holds=lambda entry, f: np.array_equal(entry.f, f))
    a, b = _images(2)
    entry_a = cache.get(a, (3, 3), CONFIG)
    assert cache.get(a.copy(), (3, 3), CONFIG) is entry_a  # same bytes: a hit
    entry_b = cache.get(b, (3, 3), CONFIG)  # same key, other bytes: prepared, replaces a
    assert entry_b is not entry_a and np.array_equal(entry_b.f, b)
    assert len(cache) == 1 and cache._bytes == 0 and (cache.hits, cache.misses) == (1, 2)
    assert np.array_equal(cache.get(a, (3, 3), CONFIG).f, a)  # never b's entry for a
    assert len(prepare.prepared) == 3


def test_native_target_holds_exactly_its_values():
    from jaxtopo.host import native

    if not native.available():
        pytest.skip("the native engine is not built")
    g = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    target = native.BettiMatchingTarget(g, "V")
    assert target.holds(g.copy())
    changed = g.copy()
    changed[4, 6] = np.nextafter(changed[4, 6], np.float32(2))
    assert not target.holds(changed)
    assert not target.holds(g.astype(np.float64)) and not target.holds(g[:, :6].copy())


def test_cache_keys_separate_construction_backend_dtype_and_shape():
    prepare = _Counting()
    cache = TargetDiagramCache(prepare=prepare)
    f = (np.arange(16, dtype=np.float32) / 16).reshape(4, 4)
    # every variant has the same bytes (so the same digest) as f, or the same f
    variants = [
        (f, (4, 4), CONFIG),
        (f, (4, 4), SimpleNamespace(construction="V", backend=None)),
        (f, (4, 4), SimpleNamespace(construction="T", backend="gudhi")),
        (f.view(np.int32), (4, 4), CONFIG),  # same bytes, another dtype
        (f.reshape(2, 8), (4, 4), CONFIG),  # same bytes, another shape
        (f, (2, 2), CONFIG),  # same filtration, another image size (the padding differs)
    ]
    entries = [cache.get(*v) for v in variants]
    assert len(prepare.prepared) == len(variants) == len(cache)
    assert len({id(e) for e in entries}) == len(variants)
    for v, entry in zip(variants, entries):  # each is found again, as itself
        assert cache.get(*v) is entry
    assert cache.hits == len(variants)
    # a copy with equal content is the same key
    assert cache.get(f.copy(), (4, 4), CONFIG) is entries[0]


def test_cached_target_of_one_construction_is_not_served_to_the_other():
    # two diagonal neighbours: one component when foreground is 8-connected (T), two when it is
    # 4-connected (V), so the two constructions' target diagrams differ
    target = np.zeros((6, 6), np.float32)
    target[2, 2] = target[3, 3] = 1.0
    likelihood = np.full((6, 6), 0.2, np.float32)
    likelihood[2, 2] = likelihood[3, 3] = 0.9
    cache = TargetDiagramCache()
    for construction in ("T", "V", "T"):
        config = TopoLossConfig(construction=construction, backend="gudhi")
        shared, _ = image_loss_and_grad(likelihood, target, config, cache=cache)
        fresh, _ = image_loss_and_grad(likelihood, target, config, cache=None)
        assert shared == fresh, construction
    assert len(cache) == 2
    values = {c: image_loss_and_grad(likelihood, target, TopoLossConfig(construction=c, backend="gudhi"),
                                     cache=None)[0] for c in ("T", "V")}
    assert values["T"] != values["V"]  # so a shared entry would have shown


# --------------------------------------------------------------------------- $JAXTOPO_HOST_THREADS


def _threads_used(n_images, parties):
    """The threads that ran each image of a batch of n_images. With parties > 1 every call waits
    at a barrier for parties - 1 others, which passes only if that many calls run at once (the
    timeout only ends a hang on failure)."""
    barrier = threading.Barrier(parties, timeout=30) if parties > 1 else None
    seen = []

    def image_fn(likelihood, target):
        seen.append(threading.get_ident())
        if barrier is not None:
            barrier.wait()
        return 0.0, np.zeros_like(likelihood, dtype=np.float64)

    zeros = np.zeros((n_images, 4, 4), np.float32)
    values, grads = batch_loss_and_grad(zeros, zeros, None, image_fn=image_fn)
    assert values.shape == (n_images,) and grads.shape == (n_images, 4, 4)
    return seen


def test_host_threads_variable_sets_the_pool_size(monkeypatch):
    # 3 threads for 6 images: 3 calls meet at the barrier twice, on exactly 3 pool threads
    monkeypatch.setenv("JAXTOPO_HOST_THREADS", "3")
    seen = _threads_used(6, parties=3)
    assert len(seen) == 6 and len(set(seen)) == 3
    assert threading.get_ident() not in seen


def test_one_host_thread_runs_the_batch_in_the_calling_thread(monkeypatch):
    monkeypatch.setenv("JAXTOPO_HOST_THREADS", "1")
    assert set(_threads_used(5, parties=1)) == {threading.get_ident()}


# --------------------------------------------------------------------------- TopoLossConfig


@pytest.mark.parametrize("option,value,named", [
    ("policy", "nearest", "matching"),  # the public name of the option (topological_loss's matching)
    ("variant", "fast", "variant"),
    ("construction", "X", "construction"),
    ("dims", (), "dims"),
    ("dims", (0, 2), "dims"),
    ("dims", (1, 1), "dims"),
    ("min_spatial_weight", -0.1, "min_spatial_weight"),
    ("min_spatial_weight", 1.5, "min_spatial_weight"),
    ("min_spatial_weight", math.nan, "min_spatial_weight"),
])
def test_topo_loss_config_rejects_a_bad_option_naming_it(option, value, named):
    with pytest.raises(ValueError, match=rf"^{named}\b.*{value!r}".replace("(", r"\(").replace(")", r"\)")):
        TopoLossConfig(**{option: value})


def test_topo_loss_config_rejects_an_unknown_backend():
    # at trace time: inside the host callback jax would report it only as "CpuCallback error"
    with pytest.raises(ValueError, match=r"backend.*'nope'"):
        TopoLossConfig(backend="nope")
    with pytest.raises(ValueError, match=r"backend.*'nope'"):
        jaxtopo.sat_loss(np.full((1, 8, 8), 0.5, np.float32), np.zeros((1, 8, 8), np.float32), backend="nope")


def test_topo_loss_config_accepts_its_documented_choices():
    for policy in ("optimal", "longest_bars", "hausdorff"):
        for variant in ("official", "paper"):
            for construction in ("T", "V"):
                for dims in ((0,), (1,), (0, 1), (1, 0)):
                    TopoLossConfig(policy=policy, variant=variant, construction=construction, dims=dims)
    TopoLossConfig(min_spatial_weight=0.0)
    TopoLossConfig(min_spatial_weight=1.0)


def test_public_loss_rejects_a_bad_matching_naming_it():
    probs = np.full((1, 4, 4), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"matching.*'nearest'"):
        jaxtopo.topological_loss(probs, probs > 0.5, matching="nearest")


def test_host_clock_counts_overlapping_callbacks_once(monkeypatch):
    """Under a mesh the devices' callbacks overlap: the clock must give the wall time during which
    any ran (here 0..4 s = 4 s), not their sum (3 + 3 = 6 s), or device time = step - host goes
    negative. The clock reads time.perf_counter; a fake one makes this exact."""
    from jaxtopo.host import image_loss

    now = [0.0]
    monkeypatch.setattr(image_loss.time, "perf_counter", lambda: now[0])
    clock = image_loss.HostClock()
    clock.enter()          # device 0 starts at 0 s
    now[0] = 1.0
    clock.enter()          # device 1 starts at 1 s
    now[0] = 3.0
    clock.leave()          # device 0 ends at 3 s
    now[0] = 4.0
    clock.leave()          # device 1 ends at 4 s
    now[0] = 10.0
    clock.enter()          # a later step: 10..12 s
    now[0] = 12.0
    clock.leave()
    assert clock.calls == 3
    assert clock.take() == 6.0 and clock.take() == 0.0
