"""jaxtopo.betti_matching_loss: values and gradients against independent references, JAX contract.

References used here, none of them the library's own loss code:

* Betti-Matching-3D (when `jaxtopo.host.bm3d.load()` finds it): its matched / unmatched pixel
  coordinates, and the loss formula of topolosses' ``BettiMatchingLoss(use_base_loss=False)``
  re-implemented below in numpy (`formula`), its gradient by exact central differences with the
  pixels held fixed.
* The pairs of `jaxtopo.host.betti_matching.betti_matching` (backend "python") fed to the same
  formula: the pairs themselves are tested in tests/test_betti_matching.py.
* Hand-worked 1x3 and 3x3 images with the loss and gradient written out.
* Central differences of the full loss on tie-free images.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

import jaxtopo
from jaxtopo import betti_matching_loss
from jaxtopo.host import bm3d as bm3d_loader
from jaxtopo.host import native
from jaxtopo.host.betti_matching import BettiMatchingConfig, betti_matching, image_loss_and_grad
from gradcheck import finite_difference_check, x64

BM3D, BM3D_MISSING = bm3d_loader.load()
needs_bm3d = pytest.mark.skipif(BM3D is None, reason=str(BM3D_MISSING))
HAS_NATIVE = native.available() and hasattr(native, "betti_matching")


# ---------------------------------------------------------------- the reference formula


def formula(F, g, groups, *, push=False, matched_weight=1.0, unmatched_weight=1.0, min_persistence=0.0):
    """topolosses' BettiMatchingLoss._single_betti_loss, written again in numpy, for a stack of f.

    F: [N, P] float64, N flat filtrations of the prediction; g: [P] the target's. groups: per
    dimension a dict of [k, 2] flat (birth, death) pixel indices: pm / tm (pred / target matched,
    row by row), pu (pred unmatched), tu (target unmatched). The min_persistence threshold selects
    pairs on F[0] (a fixed selection, as a fixed matching). Returns [N] values.
    """
    total = np.zeros(F.shape[0])
    for grp in groups:
        pm, tm, pu, tu = (np.asarray(grp[k], np.int64).reshape(-1, 2) for k in ("pm", "tm", "pu", "tu"))
        total += 2.0 * matched_weight * np.sum((F[:, pm[:, 0]] - g[tm[:, 0]]) ** 2 + (F[:, pm[:, 1]] - g[tm[:, 1]]) ** 2, axis=1)
        pu = pu[np.abs(F[0, pu[:, 0]] - F[0, pu[:, 1]]) > min_persistence]
        b, d = F[:, pu[:, 0]], F[:, pu[:, 1]]
        tb, td = g[tu[:, 0]], g[tu[:, 1]]
        if push:
            total += 2.0 * unmatched_weight * np.sum((b - 1.0) ** 2 + d ** 2, axis=1)
            total += 2.0 * np.sum((tb - 1.0) ** 2 + td ** 2)
        else:
            total += unmatched_weight * np.sum((b - d) ** 2, axis=1)
            total += np.sum((tb - td) ** 2)
    return total


def formula_value_and_grad_f(f, g, groups, *, step=1e-3, **options):
    """(value, d value / d f [H, W]) in float64 with the pixels held fixed.

    The gradient is the central difference at every pixel the formula reads (it reads no other,
    so the rest is 0): the formula is quadratic in each pixel value, so the central difference is
    its derivative exactly (up to rounding, ~1e-12 here).
    """
    f = np.asarray(f, np.float64)
    flat = f.ravel()
    read = np.unique(np.concatenate([np.asarray(grp[k], np.int64).ravel() for grp in groups for k in ("pm", "pu")]))
    bump = np.zeros((len(read), flat.size))
    bump[np.arange(len(read)), read] = step
    F = np.concatenate([flat[None], flat + bump, flat - bump])
    values = formula(F, np.asarray(g, np.float64).ravel(), groups, **options)
    grad = np.zeros(flat.size)
    grad[read] = (values[1:len(read) + 1] - values[len(read) + 1:]) / (2 * step)
    return float(values[0]), grad.reshape(f.shape)


def filtrations(likelihood, target):
    """f = 1 - L computed in float32 (as topolosses does on float32 tensors), then float64; g = 1 - T."""
    f = (np.float32(1) - np.asarray(likelihood, np.float32)).astype(np.float64)
    g = 1.0 - np.asarray(target, np.float64)
    return f, g


def bm3d_groups(f, g):
    """Betti-Matching-3D's matched / unmatched coordinates as flat indices, per dimension."""
    result = BM3D.compute_matching([np.ascontiguousarray(f, np.float64)], [np.ascontiguousarray(g, np.float64)])[0]
    width = f.shape[1]

    def flat(name, dim):
        coords = np.asarray(getattr(result, name)[dim]).reshape(-1, 2)
        return coords[:, 0] * width + coords[:, 1]

    def pairs(who, what, dim):
        return np.stack([flat(f"{who}_{what}_birth_coordinates", dim), flat(f"{who}_{what}_death_coordinates", dim)], 1)

    return [dict(pm=pairs("input1", "matched", d), tm=pairs("input2", "matched", d),
                 pu=pairs("input1", "unmatched", d), tu=pairs("input2", "unmatched", d)) for d in (0, 1)]


def host_groups(f, g, construction="V", backend="python", dims=(0, 1)):
    """The same groups from jaxtopo's host matching."""
    groups = []
    for m in betti_matching(f, g, construction=construction, backend=backend, dims=dims).values():
        groups.append(dict(pm=m.pred_pairs[m.matched[:, 0]], tm=m.target_pairs[m.matched[:, 1]],
                           pu=m.pred_pairs[m.unmatched_pred()], tu=m.target_pairs[m.unmatched_target()]))
    return groups


def reference_batch(probs, targets, groups_of, **options):
    """Per-image values [B] and d value / d L [B, H, W] from the formula."""
    values, grads = [], []
    for likelihood, target in zip(probs, targets):
        f, g = filtrations(likelihood, target)
        value, grad_f = formula_value_and_grad_f(f, g, groups_of(f, g), **options)
        values.append(value)
        grads.append(-grad_f)  # f = 1 - L
    return np.array(values), np.stack(grads)


def loss_values_and_grads(probs, targets, **options):
    """The library's per-image values and per-image gradient maps (gradient of the sum)."""
    values, pullback = jax.vjp(lambda p: betti_matching_loss(p, targets, reduction="none", **options), jnp.asarray(probs))
    (grads,) = pullback(jnp.ones_like(values))  # the gradient of the sum: image b's map in row b
    return np.asarray(values), np.asarray(grads)


# ---------------------------------------------------------------- images


def tubular_pair(shape, rng):
    """A binary network of thick lines (loops and branches) and a noisy, blurred likelihood of it."""
    h, w = shape
    target = np.zeros(shape, bool)
    for r in rng.choice(np.arange(2, h - 3), 3, replace=False):
        target[r:r + 2, rng.integers(0, w // 3):w - rng.integers(0, w // 3)] = True
    for c in rng.choice(np.arange(2, w - 3), 3, replace=False):
        target[rng.integers(0, h // 3):h - rng.integers(0, h // 3), c:c + 2] = True
    blurred = target.astype(np.float64)
    for axis in (0, 1):  # a cheap box blur
        blurred = (np.roll(blurred, 1, axis) + blurred + np.roll(blurred, -1, axis)) / 3.0
    likelihood = np.clip(0.1 + 0.8 * blurred + 0.15 * rng.standard_normal(shape), 0.0, 1.0)
    likelihood[rng.random(shape) < 0.02] = 0.0  # a few breaks
    return likelihood.astype(np.float32), target.astype(np.float32)


def random_pair(shape, rng):
    return rng.random(shape).astype(np.float32), (rng.random(shape) > 0.65).astype(np.float32)


def batch(kind, shape, n, seed):
    rng = np.random.default_rng(seed)
    make = tubular_pair if kind == "tubular" else random_pair
    probs, targets = zip(*[make(shape, rng) for _ in range(n)])
    return np.stack(probs), np.stack(targets)


ORIENTATIONS = {
    "as is": lambda x: x,
    "flipud": lambda x: x[:, ::-1, :],
    "fliplr": lambda x: x[:, :, ::-1],
    "transposed": lambda x: np.swapaxes(x, 1, 2),
}


def tie_free(shape, seed):
    """A float64 likelihood whose values are a permutation of (k + .5) / n: pairwise 1 / n apart,
    none 0 or 1, so f has no ties, nor ties with the binary target's g."""
    rng = np.random.default_rng(seed)
    n = shape[0] * shape[1]
    levels = (np.arange(n) + 0.5) / n
    likelihood = rng.permutation(levels).reshape(shape)
    target = (rng.random(shape) > 0.6).astype(np.float64)
    return likelihood, target


# ---------------------------------------------------------------- 1. against Betti-Matching-3D

BM3D_OPTIONS = {
    "defaults": dict(),
    "push": dict(push_unmatched_to_1_0=True),
    "weights": dict(matched_weight=2.5, unmatched_weight=0.4),
    "min_persistence": dict(min_persistence=0.3),
    "all": dict(push_unmatched_to_1_0=True, matched_weight=0.7, unmatched_weight=1.8, min_persistence=0.2),
}


def formula_options(options):
    return dict(push=options.get("push_unmatched_to_1_0", False),
                matched_weight=options.get("matched_weight", 1.0),
                unmatched_weight=options.get("unmatched_weight", 1.0),
                min_persistence=options.get("min_persistence", 0.0))


@needs_bm3d
@pytest.mark.parametrize("option", list(BM3D_OPTIONS))
@pytest.mark.parametrize("kind,shape,n", [("tubular", (40, 36), 3), ("random", (24, 24), 2)])
def test_value_and_gradient_equal_betti_matching_3d(kind, shape, n, option):
    options = BM3D_OPTIONS[option]
    probs, targets = batch(kind, shape, n, seed=100 * list(BM3D_OPTIONS).index(option) + len(kind))
    for name, orient in ORIENTATIONS.items():
        if option != "defaults" and name in ("fliplr", "transposed"):
            continue  # every orientation once with the defaults; two with each option
        p, t = np.ascontiguousarray(orient(probs)), np.ascontiguousarray(orient(targets))
        want_values, want_grads = reference_batch(p, t, bm3d_groups, **formula_options(options))
        assert np.all(want_values > 0)
        values, grads = loss_values_and_grads(p, t, **options)
        np.testing.assert_allclose(values, want_values, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(grads, want_grads, rtol=0, atol=1e-5, err_msg=name)
        if name == "as is":  # the reduction of the reference: the mean over the batch, value and gradient
            mean, grad_mean = jax.value_and_grad(lambda x: betti_matching_loss(x, t, **options))(jnp.asarray(p))
            assert float(mean) == pytest.approx(np.mean(want_values), rel=1e-5)
            np.testing.assert_allclose(grad_mean, want_grads / n, rtol=0, atol=1e-5 / n)


@needs_bm3d
def test_betti_matching_3d_reference_sees_ties_on_flips():
    # the flip cases above are meaningful: on the tied (binary) targets Betti-Matching-3D's matching
    # and hence the loss change with orientation for some images; jaxtopo follows (the test above)
    probs, targets = batch("tubular", (40, 36), 3, seed=0)
    probs = np.round(probs * 2) / 2  # ties in the prediction too: values 0, .5, 1
    values = {name: reference_batch(np.ascontiguousarray(o(probs)), np.ascontiguousarray(o(targets)), bm3d_groups)[0]
              for name, o in ORIENTATIONS.items()}
    assert any(not np.allclose(v, values["as is"]) for v in values.values())
    for name, o in ORIENTATIONS.items():
        got = betti_matching_loss(np.ascontiguousarray(o(probs)), np.ascontiguousarray(o(targets)), reduction="none")
        np.testing.assert_allclose(got, values[name], rtol=1e-5, err_msg=name)


# ---------------------------------------------------------------- 2. against the host pairs (always)

BACKENDS = ["python"] + (["native"] if HAS_NATIVE else [])


@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("option", ["defaults", "all"])
def test_value_and_gradient_equal_formula_on_host_pairs(construction, option):
    options = BM3D_OPTIONS[option]
    probs, targets = batch("tubular", (32, 30), 2, seed=11)
    probs[1], targets[1] = random_pair((32, 30), np.random.default_rng(12))
    groups_of = functools.partial(host_groups, construction=construction, backend="python")
    want_values, want_grads = reference_batch(probs, targets, groups_of, **formula_options(options))
    results = {}
    for backend in BACKENDS:
        results[backend] = loss_values_and_grads(probs, targets, construction=construction, backend=backend, **options)
        np.testing.assert_allclose(results[backend][0], want_values, rtol=1e-5, err_msg=backend)
        np.testing.assert_allclose(results[backend][1], want_grads, rtol=0, atol=1e-5, err_msg=backend)
    if "native" in results:  # identical, not just close
        np.testing.assert_array_equal(results["native"][0], results["python"][0])
        np.testing.assert_array_equal(results["native"][1], results["python"][1])


@pytest.mark.parametrize("construction", ["V", "T"])
def test_pad_is_the_formula_on_padded_filtrations(construction):
    # a U open at the top border: pad=True closes it into a loop (pad value f = 0, likelihood 1)
    rng = np.random.default_rng(13)
    target = np.zeros((16, 14), np.float32)
    target[0:12, 3:5] = target[0:12, 9:11] = target[10:12, 3:11] = 1
    probs = np.stack([np.clip(0.1 + 0.8 * target + 0.1 * rng.standard_normal(target.shape), 0, 1),
                      rng.random(target.shape)]).astype(np.float32)
    targets = np.stack([target, (rng.random(target.shape) > 0.6).astype(np.float32)])
    want_values, want_grads = [], []
    for likelihood, t in zip(probs, targets):
        f, g = filtrations(likelihood, t)
        f, g = np.pad(f, 1, constant_values=0.0), np.pad(g, 1, constant_values=0.0)
        value, grad_f = formula_value_and_grad_f(f, g, host_groups(f, g, construction))
        want_values.append(value)
        want_grads.append(-grad_f[1:-1, 1:-1])
    for backend in BACKENDS:
        values, grads = loss_values_and_grads(probs, targets, construction=construction, pad=True, backend=backend)
        np.testing.assert_allclose(values, want_values, rtol=1e-5)
        np.testing.assert_allclose(grads, np.stack(want_grads), rtol=0, atol=1e-5)
        assert grads.shape == probs.shape
        config = BettiMatchingConfig(construction=construction, pad=True, backend=backend)
        host_value, host_grad = image_loss_and_grad(probs[0], targets[0], config)
        assert host_grad.shape == probs[0].shape and host_value == pytest.approx(want_values[0], rel=1e-12)
    # padding matters here: the target's U becomes a loop only when padded
    unpadded = np.asarray(betti_matching_loss(probs, targets, construction=construction, reduction="none"))
    assert abs(unpadded[0] - want_values[0]) > 1e-3
    f, g = filtrations(probs[0], targets[0])
    # padded, the target has two loops: the U's inside and the background ring inside the pad
    assert len(betti_matching(np.pad(f, 1), np.pad(g, 1), construction=construction)[1].target_pairs) == 2
    assert len(betti_matching(f, g, construction=construction)[1].target_pairs) == 0


# ---------------------------------------------------------------- 3. hand-worked cases


@pytest.mark.parametrize("construction", ["V", "T"])
def test_hand_worked_1x3_matched_pair(construction):
    # L = [.75 .125 .5] -> f = [.25 .875 .5]; T = [1 0 1] -> g = [0 1 0]. (In 1 x N, T equals V.)
    # f: minima 0 (.25) and 2 (.5). Edge (0,1) (index 1) attaches pixel 1, born at .875, dying at
    # .875 (zero persistence, left out); edge (1,2) (index 3, value .875) merges {2}, younger, into
    # {0, 1}: pair (birth pixel 2, death pixel 1) = (.5, .875).
    # g: pixels 0 and 2 tie at 0, the larger index 2 is younger: pair (2, 1) = (0, 1).
    # c = [0 .875 0]: pair (2, 1); the dying component is born at 2 in f and in g: matched.
    # Loss = 2 ((.5 - 0)^2 + (.875 - 1)^2) = 2 (.25 + .015625) = .53125.
    # d/df: pixel 2: 4 (.5 - 0) = 2; pixel 1: 4 (.875 - 1) = -.5; d/dL = -d/df.
    probs = np.array([[[0.75, 0.125, 0.5]]], np.float32)
    targets = np.array([[[1.0, 0.0, 1.0]]], np.float32)
    value, grad = jax.value_and_grad(lambda p: betti_matching_loss(p, targets, construction=construction))(probs)
    assert float(value) == 0.53125
    np.testing.assert_array_equal(np.asarray(grad), [[[0.0, 0.5, -2.0]]])
    # matched_weight scales both; unmatched_weight and push do not touch a matched pair
    assert float(betti_matching_loss(probs, targets, matched_weight=3.0, construction=construction)) == 3 * 0.53125
    assert float(betti_matching_loss(probs, targets, unmatched_weight=7.0, push_unmatched_to_1_0=True,
                                     construction=construction)) == 0.53125
    # dims=(1,) sees nothing in one row
    assert float(betti_matching_loss(probs, targets, dims=(1,), construction=construction)) == 0.0


RING_PROBS = np.array([[[0.75, 0.75, 0.75], [0.75, 0.25, 0.75], [0.75, 0.75, 0.75]]], np.float32)


@pytest.mark.parametrize("construction,birth", [("V", 8), ("T", 5)])
def test_hand_worked_3x3_unmatched_loop(construction, birth):
    # f = 1 - L: ring .25, centre .75; the target is all foreground (g = 0): no target pairs.
    # Dimension 0: the centre is born at .75 and joins at once (all its edges have value .75).
    # Dimension 1: one loop (.25, .75); its death pixel is the centre (4); its birth pixel is the
    # ring pixel whose edge closes it: V: edge (7, 8), tie to the larger index, 8; T: the dual
    # edge (4, 5), the smaller-value pixel 5 (pinned in tests/test_betti_matching.py, test_3x3_ring).
    # c = min(f, g) = 0: no pair to match through, the loop is unmatched.
    # Default: (b - d)^2 = .25; d/df = 2 (b - d) = -1 at birth, +1 at death; d/dL the negatives.
    # push: 2 ((b - 1)^2 + d^2) = 2 (.5625 + .5625) = 2.25; d/df = 4 (b - 1) = -3 at birth, 4 d = 3 at death.
    targets = np.ones_like(RING_PROBS)
    cases = [(dict(), 0.25, 1.0), (dict(push_unmatched_to_1_0=True), 2.25, 3.0),
             (dict(unmatched_weight=0.5), 0.125, 0.5), (dict(matched_weight=9.0), 0.25, 1.0),
             (dict(min_persistence=0.49), 0.25, 1.0),
             (dict(min_persistence=0.5), 0.0, 0.0)]  # |b - d| = .5 is not > .5: left out
    for options, want_value, g in cases:
        value, grad = jax.value_and_grad(lambda p: betti_matching_loss(
            p, targets, construction=construction, **options))(RING_PROBS)
        want_grad = np.zeros(9)
        want_grad[birth], want_grad[4] = g, -g
        assert float(value) == want_value, options
        np.testing.assert_array_equal(np.asarray(grad).ravel(), want_grad, err_msg=str(options))
    assert float(betti_matching_loss(RING_PROBS, targets, construction=construction, dims=(0,))) == 0.0


@pytest.mark.parametrize("construction", ["V", "T"])
def test_hand_worked_3x3_unmatched_target_loop_is_a_constant(construction):
    # L = .75 everywhere (f = .25, no pairs); the target is a ring: g = 0 ring, 1 centre, one loop
    # (0, 1), unmatched. Loss (0 - 1)^2 = 1, with push 2 ((0 - 1)^2 + 1^2) = 4, whatever the
    # unmatched_weight (the target term is not weighted); gradient zero.
    probs = np.full((1, 3, 3), 0.75, np.float32)
    targets = (1.0 - np.array([[[0, 0, 0], [0, 1, 0], [0, 0, 0]]], np.float32))
    for options, want in [(dict(), 1.0), (dict(push_unmatched_to_1_0=True), 4.0), (dict(unmatched_weight=5.0), 1.0)]:
        value, grad = jax.value_and_grad(lambda p: betti_matching_loss(
            p, targets, construction=construction, **options))(probs)
        assert float(value) == want, options
        assert not np.any(np.asarray(grad)), options


# ---------------------------------------------------------------- 4. finite differences


def prediction_pixels(f, g, construction, dims=(0, 1)):
    pixels = set()
    for m in betti_matching(f, g, construction=construction, dims=dims).values():
        pixels |= set(m.pred_pairs.ravel().tolist())
    return pixels


def pair_signature(f, g, construction):
    return {d: (m.pred_pairs.tolist(), m.target_pairs.tolist(), m.matched.tolist())
            for d, m in betti_matching(f, g, construction=construction).items()}


@pytest.mark.parametrize("construction,options", [
    ("V", dict()), ("T", dict()),
    ("V", dict(push_unmatched_to_1_0=True, matched_weight=1.5, unmatched_weight=0.5, min_persistence=0.1)),
], ids=["V", "T", "V-push-weights-threshold"])
def test_gradient_equals_central_differences(construction, options):
    shape, step = (12, 13), 1e-6
    likelihood, target = tie_free(shape, seed=21)
    f, g = 1.0 - likelihood, 1.0 - target
    critical = sorted(prediction_pixels(f, g, construction))
    threshold = options.get("min_persistence", 0.0)
    counted = set()  # pixels of the pairs that count: matched, or unmatched and longer than the threshold
    for m in betti_matching(f, g, construction=construction).values():
        counted |= set(m.pred_pairs[m.matched[:, 0]].ravel().tolist())
        free = m.pred_pairs[m.unmatched_pred()]
        counted |= set(free[np.abs(f.ravel()[free[:, 0]] - f.ravel()[free[:, 1]]) > threshold].ravel().tolist())
    assert len(counted) >= 20 and (threshold == 0) == (counted == set(critical))
    rng = np.random.default_rng(22)
    others = rng.choice(sorted(set(range(likelihood.size)) - set(critical)), 20, replace=False).tolist()
    pixels = critical + others
    with x64():
        fn = jax.jit(lambda p: betti_matching_loss(p, np.broadcast_to(target, p.shape), construction=construction,
                                                   reduction="none", **options))
        grad = np.asarray(jax.grad(lambda p: jnp.sum(fn(p)))(jnp.asarray(likelihood[None])))[0]
        assert grad.dtype == np.float64
        bumped = np.repeat(likelihood[None], 2 * len(pixels), axis=0)
        for i, k in enumerate(pixels):
            bumped[2 * i].ravel()[k] += step
            bumped[2 * i + 1].ravel()[k] -= step
        values = np.asarray(fn(jnp.asarray(bumped)))
    # the premise: steps this small change neither the pairs nor the matching
    base = pair_signature(f, g, construction)
    for bumped_image in bumped:
        assert pair_signature(1.0 - bumped_image, g, construction) == base
    fd = (values[0::2] - values[1::2]) / (2 * step)
    np.testing.assert_allclose(grad.ravel()[pixels], fd, rtol=1e-6, atol=1e-6)
    for i, k in enumerate(pixels):
        if k in counted:
            assert grad.ravel()[k] != 0 and abs(fd[i]) > 1e-3, k
        else:  # other pixels, and pixels of pairs left out by the threshold: 0 both ways
            assert grad.ravel()[k] == 0 and fd[i] == 0, k
    # and along random directions moving every pixel (the shared float64 helper)
    with x64():
        finite_difference_check(lambda p: betti_matching_loss(p[None], target[None], construction=construction, **options),
                                jnp.asarray(likelihood), seed=23, step=1e-6, rtol=1e-6)


# ---------------------------------------------------------------- 5. the contract shared with sat_loss


def test_shapes_with_and_without_channel():
    probs, targets = batch("random", (14, 11), 3, seed=31)
    values, grads = loss_values_and_grads(probs, targets)
    values_c, grads_c = loss_values_and_grads(probs[..., None], targets[..., None])
    assert values.shape == (3,) and grads_c.shape == (3, 14, 11, 1)
    np.testing.assert_array_equal(values, values_c)
    np.testing.assert_array_equal(grads, grads_c[..., 0])
    assert np.asarray(betti_matching_loss(probs, targets)).shape == ()
    assert betti_matching_loss(probs, targets).dtype == jnp.float32


def test_jit_grad_value_and_grad_vmap_and_reductions():
    probs, targets = batch("tubular", (20, 18), 3, seed=32)
    p, t = jnp.asarray(probs), jnp.asarray(targets)
    eager_value, eager_grad = jax.value_and_grad(lambda x: betti_matching_loss(x, t))(p)
    jit_value, jit_grad = jax.jit(jax.value_and_grad(lambda x, y: betti_matching_loss(x, y)))(p, t)
    assert float(jit_value) == float(eager_value) > 0
    np.testing.assert_array_equal(jit_grad, eager_grad)
    np.testing.assert_array_equal(jax.grad(lambda x: betti_matching_loss(x, t))(p), eager_grad)
    # reductions: mean = sum / B = mean of none; gradients likewise
    none = np.asarray(betti_matching_loss(p, t, reduction="none"))
    assert float(betti_matching_loss(p, t, reduction="sum")) == pytest.approx(none.sum(), rel=1e-6)
    assert float(eager_value) == pytest.approx(none.mean(), rel=1e-6)
    grad_sum = jax.grad(lambda x: betti_matching_loss(x, t, reduction="sum"))(p)
    np.testing.assert_allclose(np.asarray(grad_sum) / 3, eager_grad, rtol=1e-6)
    jacobian = np.asarray(jax.jacrev(lambda x: betti_matching_loss(x, t, reduction="none"))(p))
    for i, row in enumerate(jacobian):  # image i's value depends on image i only
        np.testing.assert_array_equal(row[i], np.asarray(grad_sum)[i])
        assert not np.any(np.delete(row, i, axis=0))
    # vmap over an extra batch axis equals the loop
    stack_p = jnp.stack([p, p[::-1]])
    stack_t = jnp.stack([t, t[::-1]])
    vmapped = jax.vmap(lambda a, b: betti_matching_loss(a, b, reduction="none"))(stack_p, stack_t)
    looped = np.stack([np.asarray(betti_matching_loss(a, b, reduction="none")) for a, b in zip(stack_p, stack_t)])
    assert vmapped.shape == (2, 3)
    np.testing.assert_allclose(vmapped, looped, rtol=1e-6)
    vgrad = jax.vmap(jax.grad(lambda a, b: betti_matching_loss(a, b)))(stack_p, stack_t)
    np.testing.assert_allclose(vgrad[0], eager_grad, rtol=1e-6)
    np.testing.assert_allclose(vgrad[1], np.asarray(eager_grad)[::-1], rtol=1e-6)


@pytest.mark.parametrize("where,bad", [("probs", np.nan), ("probs", np.inf), ("targets", np.nan), ("targets", -np.inf)])
def test_non_finite_input_gives_nan_and_zero_gradient(where, bad):
    probs, targets = batch("random", (12, 12), 3, seed=33)
    clean_values, clean_grads = loss_values_and_grads(probs, targets)
    if where == "probs":
        probs = probs.copy()
        probs[1, 4, 5] = bad
    else:
        targets = targets.copy()
        targets[1, 0, 0] = bad
    values, grads = loss_values_and_grads(probs, targets)
    assert np.isnan(values[1])
    assert np.all(grads[1] == 0)  # exactly zero, even at the bad pixel
    np.testing.assert_array_equal(values[[0, 2]], clean_values[[0, 2]])
    np.testing.assert_array_equal(grads[[0, 2]], clean_grads[[0, 2]])
    assert np.isnan(float(betti_matching_loss(probs, targets)))


def test_bad_arguments_raise_at_trace_time_naming_the_problem():
    p = np.zeros((2, 8, 8), np.float32)
    loss = betti_matching_loss
    cases = [
        (ValueError, r"betti_matching_loss: probs has shape \(8, 8\) \(rank 2\)", lambda: loss(p[0], p[0])),
        (ValueError, r"probs shape \(2, 8, 8\) and targets shape \(2, 8, 9\)", lambda: loss(p, np.zeros((2, 8, 9)))),
        (ValueError, r"probs has shape \(2, 8, 8, 3\).*channel", lambda: loss(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 3)))),
        (TypeError, r"betti_matching_loss: probs must be a floating-point array.*int32", lambda: loss(p.astype(np.int32), p)),
        (ValueError, r"betti_matching_loss: reduction .*'avg'", lambda: loss(p, p, reduction="avg")),
        (ValueError, r"betti_matching_loss: construction .*'X'", lambda: loss(p, p, construction="X")),
        (ValueError, r"betti_matching_loss: dims .*\(2,\)", lambda: loss(p, p, dims=(2,))),
        (ValueError, r"betti_matching_loss: dims", lambda: loss(p, p, dims=())),
        (ValueError, r"betti_matching_loss: dims", lambda: loss(p, p, dims=(0, 0))),
        (ValueError, r"betti_matching_loss: matched_weight .*-1", lambda: loss(p, p, matched_weight=-1.0)),
        (ValueError, r"betti_matching_loss: unmatched_weight .*-0.5", lambda: loss(p, p, unmatched_weight=-0.5)),
        (ValueError, r"betti_matching_loss: unmatched_weight .*nan", lambda: loss(p, p, unmatched_weight=float("nan"))),
        (ValueError, r"betti_matching_loss: min_persistence .*-0.1", lambda: loss(p, p, min_persistence=-0.1)),
        (ValueError, r"betti_matching_loss: backend .*'gudhi'", lambda: loss(p, p, backend="gudhi")),
    ]
    for error, pattern, call in cases:
        with pytest.raises(error, match=pattern):
            call()
    # under jit the same checks run while tracing
    with pytest.raises(ValueError, match=r"probs shape \(2, 8, 8\) and targets shape \(3, 8, 8\)"):
        jax.jit(lambda a, b: loss(a, b))(p, np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="backend"):
        jax.jit(lambda a: loss(a, a, backend="cuda"))(p)


@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("min_persistence", [0.0, 0.25])
def test_gradient_support_is_the_prediction_pair_pixels(construction, min_persistence):
    likelihood, target = tie_free((24, 22), seed=34)
    likelihood = likelihood.astype(np.float32)
    grad = np.asarray(jax.grad(lambda p: betti_matching_loss(
        p, target[None], construction=construction, min_persistence=min_persistence))(likelihood[None]))[0]
    f = (np.float32(1) - likelihood)
    want = set()
    for m in betti_matching(f, 1.0 - target.astype(np.float32), construction=construction).values():
        want |= set(m.pred_pairs[m.matched[:, 0]].ravel().tolist())
        free = m.pred_pairs[m.unmatched_pred()]
        free = free[np.abs(f.ravel()[free[:, 0]] - f.ravel()[free[:, 1]]) > min_persistence]
        want |= set(free.ravel().tolist())
    assert len(want) > 10
    assert set(np.flatnonzero(grad).tolist()) == want
    if min_persistence:  # the threshold really dropped pairs here
        assert want != prediction_pixels(f, 1.0 - target.astype(np.float32), construction)


@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("pad", [False, True])
def test_perfect_prediction_has_zero_loss_and_gradient(construction, pad):
    _, targets = batch("tubular", (30, 28), 2, seed=35)
    probs = targets.astype(np.float32)
    for options in (dict(), dict(push_unmatched_to_1_0=True, matched_weight=2.0)):
        values, grads = loss_values_and_grads(probs, targets, construction=construction, pad=pad, **options)
        np.testing.assert_array_equal(values, 0.0)
        assert not np.any(grads)
    # the target has topology, so this is not trivially zero: an all-background prediction (f = 1,
    # constant: no pairs) leaves every target pair unmatched, each (0 - 1)^2 = 1 (g is binary).
    # Padded, f is 1 inside a ring of 0: one loop (0, 1), matched at no cost with the target's loop
    # of background inside the pad ring, so one target pair fewer costs.
    counts = []
    for t in targets:
        g = np.pad(1.0 - t, 1) if pad else 1.0 - t
        counts.append(sum(len(m.target_pairs) for m in betti_matching(g, g, construction=construction).values()) - pad)
    assert min(counts) >= 1
    assert float(betti_matching_loss(np.zeros_like(probs), targets, construction=construction, pad=pad)) == np.mean(counts)


def test_bool_and_float_targets_agree():
    probs, targets = batch("tubular", (22, 26), 2, seed=36)
    for construction in ("V", "T"):
        as_float = loss_values_and_grads(probs, targets, construction=construction)
        as_bool = loss_values_and_grads(probs, targets.astype(bool), construction=construction)
        as_int = loss_values_and_grads(probs, targets.astype(np.int32), construction=construction)
        for other in (as_bool, as_int):
            np.testing.assert_array_equal(other[0], as_float[0])
            np.testing.assert_array_equal(other[1], as_float[1])


def test_exported_at_top_level():
    assert jaxtopo.betti_matching_loss is betti_matching_loss


# ---------------------------------------------------------------- 6. a training step


def test_gradient_descent_on_logits_cuts_a_false_bridge():
    # target: two separate blobs; prediction: both blobs plus a faint bridge (likelihood .55)
    # joining them, and a little noise. The blobs' second component is matched and dies too early
    # (f = .45 at the bridge instead of 1): loss about 2 (.45 - 1)^2 ~ .6 + noise pairs. SGD on the
    # logits must lower the bridge's weakest pixel until it separates, then mop up noise pairs.
    target = np.zeros((24, 24), np.float32)
    target[5:19, 3:9] = target[5:19, 15:21] = 1
    rng = np.random.default_rng(37)
    probs = 0.05 + 0.9 * target
    probs[11:13, 9:15] = 0.55
    probs = np.clip(probs + 0.02 * rng.standard_normal(probs.shape), 0.01, 0.99).astype(np.float32)
    logits = jnp.log(probs / (1 - probs))[None]
    step = jax.jit(jax.value_and_grad(lambda z: betti_matching_loss(jax.nn.sigmoid(z), target[None])))
    first, _ = step(logits)
    assert 0.5 < float(first) < 0.8
    for _ in range(20):
        value, grad = step(logits)
        logits = logits - 5.0 * grad
    last, _ = step(logits)
    assert float(last) < 0.1 * float(first)
    # the bridge is cut: at 0.5 the prediction has two 4-connected components (it had one)
    assert scipy.ndimage.label(probs > 0.5)[1] == 1
    assert scipy.ndimage.label(np.asarray(jax.nn.sigmoid(logits))[0] > 0.5)[1] == 2
    # the blobs were left alone (no pixel of the blobs' interiors was pushed below .5)
    assert np.all(np.asarray(jax.nn.sigmoid(logits))[0][target > 0] > 0.5)
