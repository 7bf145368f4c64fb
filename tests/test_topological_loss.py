"""sat_loss and the other topological losses: values, gradients, JAX transformations, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtopo.host import TARGET_CACHE, TopoLossConfig, match_image
from jaxtopo.host.matching import DIAGONAL
from jaxtopo.losses.topological import he_loss, sat_loss, tc_loss, topological_loss, wasserstein_loss
from gradcheck import x64
from reference_he_tc import reference_image_loss
from reference_satloss import reference_diagrams, reference_pairs, reference_sat_loss


def random_pair(shape, rng, *, binary_prediction=False):
    likelihood = rng.random(shape)
    if binary_prediction:
        likelihood = (likelihood > 0.5).astype(np.float64)
    target = (rng.random(shape) > 0.65).astype(np.float64)
    return likelihood, target


# ---------------------------------------------------------------- value parity with the official code


@pytest.mark.parametrize("variant,q", [("official", 1), ("paper", 2)])
@pytest.mark.parametrize("spatial", [True, False])
@pytest.mark.parametrize("construction", ["T", "V"])
def test_value_equals_reference_square(variant, q, spatial, construction):
    rng = np.random.default_rng(0)
    probs, targets = zip(*[random_pair((16, 16), rng, binary_prediction=(i == 3)) for i in range(4)])
    probs, targets = np.stack(probs).astype(np.float32), np.stack(targets).astype(np.float32)
    got = sat_loss(probs, targets, variant=variant, spatial=spatial, pad=False,
                   construction=construction, reduction="none")
    want = [reference_sat_loss(p, t, pad=False, q=q, spatial=spatial, construction=construction)
            for p, t in zip(probs.astype(np.float64), targets)]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)
    assert float(sat_loss(probs, targets, variant=variant, spatial=spatial, pad=False,
                          construction=construction)) == pytest.approx(np.mean(want), rel=1e-5)


@pytest.mark.parametrize("shape", [(9, 14), (20, 7)])
def test_value_equals_reference_non_square_padded(shape):
    """Non-square images: jaxtopo pads by one and indexes correctly (the official code does not)."""
    rng = np.random.default_rng(1)
    likelihood, target = random_pair(shape, rng)
    got = sat_loss(likelihood[None].astype(np.float32), target[None], pad=True)
    want = reference_sat_loss(likelihood.astype(np.float32).astype(np.float64), target, pad=True)
    assert float(got) == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- hand-worked cases


def ring(shape=(15, 15), centre=(7, 7), radii=(3, 5)):
    rows, cols = np.indices(shape)
    r = np.hypot(rows - centre[0], cols - centre[1])
    return ((r >= radii[0]) & (r <= radii[1])).astype(np.float32)


@pytest.mark.parametrize("variant", ["official", "paper"])
def test_perfect_ring_prediction_has_zero_loss(variant):
    target = ring()
    assert float(sat_loss(target[None], target[None], variant=variant)) == pytest.approx(0.0, abs=1e-7)
    # a confident, nearly perfect prediction has a small loss
    probs = 0.95 * target + 0.02
    assert 0.0 < float(sat_loss(probs[None], target[None], variant=variant)) < 0.25


def line_with_gap():
    target = np.zeros((9, 15), np.float32)
    target[4, 2:13] = 1.0
    probs = 0.05 + 0.9 * target
    probs[4, 7] = 0.3  # the gap
    return probs, target


def test_gap_in_a_line_is_closed_by_the_gradient():
    probs, target = line_with_gap()
    loss = sat_loss(probs[None], target[None])
    assert float(loss) > 0.1
    grad = np.asarray(jax.grad(lambda p: sat_loss(p, target[None]))(jnp.asarray(probs[None])))[0]
    assert grad[4, 7] < 0  # gradient descent raises the gap pixel
    assert np.abs(grad[4, 7]) == np.abs(grad).max()


def test_spurious_blob_is_lowered_by_the_gradient():
    target = np.zeros((12, 12), np.float32)
    target[2, 1:11] = 1.0
    probs = 0.05 + 0.9 * target
    probs[7:10, 7:10] = 0.6
    probs[8, 8] = 0.8  # the blob's creator
    grad = np.asarray(jax.grad(lambda p: sat_loss(p, target[None]))(jnp.asarray(probs[None])))[0]
    assert float(sat_loss(probs[None], target[None])) > 0.1
    assert grad[8, 8] > 0  # gradient descent lowers the blob's creator
    assert np.count_nonzero(grad[7:10, 7:10]) == 1


# ---------------------------------------------------------------- gradients


def critical_pixels(result):
    pixels = set()
    for dim, diagram in result.prediction.diagrams.items():
        pixels |= set(diagram.creator.tolist()) | set(diagram.destroyer.tolist())
    return pixels


def fixed_matching_value(likelihood, result, config):
    """Loss recomputed from pixel values with the matching held fixed (independent formula)."""
    f = 1.0 - likelihood
    total = 0.0
    q = config.cost_model.q
    for dim, m in result.matchings.items():
        d = result.prediction.diagrams[dim]
        target_pts = result.target.points[dim]
        for i in np.flatnonzero(m.counted):
            p = np.array([f.ravel()[d.creator[i]], f.ravel()[d.destroyer[i]]])
            j = m.matched_to[i]
            if j == DIAGONAL:
                goal, w = np.full(2, p.mean()), 1.0
            else:
                goal = target_pts[j]
                dist = np.hypot(*(result.prediction.creator_xy[dim][i] - result.target.creator_xy[dim][j]))
                w = np.clip(dist if q == 1 else dist**2, config.min_spatial_weight, 1.0) if config.spatial else 1.0
            r = np.hypot(*(p - goal))
            total += w * (r if q == 1 else r**2)
        total += m.constant
    return total


@pytest.mark.parametrize("policy", ["optimal", "longest_bars", "hausdorff"])
@pytest.mark.parametrize("variant", ["official", "paper"])
def test_gradient_equals_finite_differences_with_fixed_matching(policy, variant):
    rng = np.random.default_rng(7)
    likelihood, target = random_pair((10, 10), rng)
    config = TopoLossConfig(policy=policy, variant=variant, pad=False)
    result = match_image(likelihood, target, config, cache=None)
    assert fixed_matching_value(likelihood, result, config) == pytest.approx(result.value, rel=1e-12)
    grad = np.asarray(jax.grad(lambda p: topological_loss(
        p, target[None], matching=policy, variant=variant, pad=False))(jnp.asarray(likelihood[None], jnp.float32)))[0]
    critical = critical_pixels(result)
    assert set(np.flatnonzero(grad).tolist()) <= critical  # gradient only at critical pixels
    eps = 1e-6
    for k in sorted(critical):
        bumped = [likelihood.copy(), likelihood.copy()]
        bumped[0].ravel()[k] += eps
        bumped[1].ravel()[k] -= eps
        fd = (fixed_matching_value(bumped[0], result, config) - fixed_matching_value(bumped[1], result, config)) / (2 * eps)
        assert grad.ravel()[k] == pytest.approx(fd, rel=1e-4, abs=1e-5), k


def dotted_image(shape=(10, 10), seed=0):
    """A target of three single-pixel dots and a noisy likelihood that peaks on them.

    Each dot is a target component whose creator is the dot itself, and the predicted component
    around it is created at the same pixel (its likelihood maximum), so these pairs sit at
    creator distance 0: the spatial weight there is the clamp's lower bound, 0.05, not 0. The
    noise makes values distinct, so small bumps change neither pairs nor matchings.
    """
    rng = np.random.default_rng(seed)
    target = np.zeros(shape)
    for row, col in [(2, 2), (2, 7), (7, 4)]:
        target[row, col] = 1.0
    likelihood = 0.05 + 0.3 * rng.random(shape) + 0.55 * target
    return likelihood, target


def weak_dot_image(shape=(8, 8), seed=2):
    """Two target dots; the prediction finds one confidently and the other weakly.

    The weak dot's point (0.3, about 0.93) is nearer to the target point (0, 1) than to the
    diagonal and farther from it than anything else is from its nearest partner, so TCLoss's
    worst term is a predicted point with a target partner, and its gradient must pull that
    point towards (0, 1), not towards the diagonal.
    """
    rng = np.random.default_rng(seed)
    target = np.zeros(shape)
    target[2, 2] = target[5, 5] = 1.0
    likelihood = 0.08 * rng.random(shape)
    likelihood[2, 2] = 0.97
    likelihood[5, 5] = 0.7
    return likelihood, target


def reference_critical_pixels(likelihood, *, pad=True):
    """Flat indices of the image pixels that create or destroy a pair, according to gudhi."""
    height, width = likelihood.shape
    x = np.pad(likelihood, 1, constant_values=1.0) if pad else likelihood
    pixels = set()
    for creators, destroyers in reference_pairs(1.0 - x).values():
        for row, col in np.concatenate([creators, destroyers]) - (1 if pad else 0):
            if 0 <= row < height and 0 <= col < width:
                pixels.add(int(row * width + col))
    return pixels


FULL_LOSSES = {
    # name: (jaxtopo loss of [1, H, W], independent reference value of one [H, W] image)
    "sat-official": (lambda p, t: sat_loss(p, t), lambda x, t: reference_sat_loss(x, t, pad=True)),
    "sat-paper": (lambda p, t: sat_loss(p, t, variant="paper"),
                  lambda x, t: reference_sat_loss(x, t, pad=True, q=2)),
    "he": (lambda p, t: he_loss(p, t), lambda x, t: reference_image_loss("longest_bars", x, t)),
    "tc": (lambda p, t: tc_loss(p, t), lambda x, t: reference_image_loss("hausdorff", x, t)),
}


def test_dotted_image_has_pairs_at_creator_distance_zero():
    # what the gradient test below relies on: the dots create components in both diagrams
    likelihood, target = dotted_image()
    pred, tgt = reference_diagrams(likelihood, pad=True), reference_diagrams(target, pad=True)
    shared = {tuple(xy) for xy in pred[0][1].tolist()} & {tuple(xy) for xy in tgt[0][1].tolist()}
    assert len(shared) >= 3


@pytest.mark.parametrize("name,image", [("sat-official", dotted_image), ("sat-paper", dotted_image),
                                        ("he", dotted_image), ("tc", dotted_image), ("tc", weak_dot_image)])
def test_gradient_equals_finite_differences_of_the_reference_loss(name, image):
    """jax.grad of the whole loss against central differences of the gudhi + POT / hand-written
    reference, on every critical pixel of the reference diagrams (zero gradients included) and on
    a sample of the other pixels, whose gradient must be exactly zero."""
    loss, reference = FULL_LOSSES[name]
    likelihood, target = image()
    with x64():  # float64 through the host, so the comparison can be tight
        grad = np.asarray(jax.grad(lambda p: loss(p, target[None]))(jnp.asarray(likelihood[None])))[0]
    critical = reference_critical_pixels(likelihood)
    others = sorted(set(range(likelihood.size)) - critical)
    sample = np.random.default_rng(1).choice(others, size=min(15, len(others)), replace=False)
    assert np.all(grad.ravel()[others] == 0)  # Eq. 7: only critical pixels carry gradient
    step = 1e-6
    for k in sorted(critical) + sample.tolist():
        up, down = likelihood.copy(), likelihood.copy()
        up.ravel()[k] += step
        down.ravel()[k] -= step
        numeric = (reference(up, target) - reference(down, target)) / (2 * step)
        assert grad.ravel()[k] == pytest.approx(numeric, rel=1e-5, abs=1e-7), k


def test_jit_grad_vmap_and_no_retrace():
    rng = np.random.default_rng(9)
    probs = jnp.asarray(rng.random((3, 12, 12)), jnp.float32)
    targets = jnp.asarray(rng.random((3, 12, 12)) > 0.6)
    traces = []

    @jax.jit
    def step(p, t):
        traces.append(1)
        return jax.value_and_grad(lambda x: sat_loss(x, t))(p)

    value, grad = step(probs, targets)
    eager_value, eager_grad = jax.value_and_grad(lambda x: sat_loss(x, targets))(probs)
    assert float(value) == pytest.approx(float(eager_value), rel=1e-6)
    np.testing.assert_allclose(grad, eager_grad, rtol=1e-6)
    for _ in range(3):
        step(probs + 0.01, targets)
    assert len(traces) == 1
    per_image = jax.vmap(lambda p, t: sat_loss(p[None], t[None]))(probs, targets)
    np.testing.assert_allclose(per_image, sat_loss(probs, targets, reduction="none"), rtol=1e-6)
    # vmap over a [2, 3, H, W] stack of two different batches: entry [s, b] is image b of
    # stack s, each against the gudhi + POT reference (a mixed-up batch axis gives other numbers)
    stack = jnp.stack([probs, probs**2])
    stacked = np.asarray(jax.vmap(lambda p: sat_loss(p, targets, reduction="none"))(stack))
    want = [[reference_sat_loss(np.asarray(stack[s, b], np.float64), np.asarray(targets[b], np.float64), pad=True)
             for b in range(3)] for s in range(2)]
    np.testing.assert_allclose(stacked, want, rtol=1e-5)
    # gradient of the mean is the per-image map divided by B
    g_sum = jax.grad(lambda x: sat_loss(x, targets, reduction="sum"))(probs)
    np.testing.assert_allclose(g_sum / 3, grad, rtol=1e-6)


def test_channel_axis_and_reductions():
    rng = np.random.default_rng(10)
    probs = rng.random((2, 10, 10, 1)).astype(np.float32)
    targets = (rng.random((2, 10, 10, 1)) > 0.6)
    none = sat_loss(probs, targets, reduction="none")
    assert none.shape == (2,)
    assert float(sat_loss(probs, targets, reduction="sum")) == pytest.approx(float(none.sum()), rel=1e-6)
    np.testing.assert_allclose(none, sat_loss(probs[..., 0], targets[..., 0], reduction="none"))


def test_baselines_equal_their_references_and_are_ordered():
    rng = np.random.default_rng(11)
    likelihood, target = random_pair((12, 12), rng)
    p, t = likelihood[None].astype(np.float32), target[None]
    x = p[0].astype(np.float64)
    wt, he, tc = float(wasserstein_loss(p, t)), float(he_loss(p, t)), float(tc_loss(p, t))
    # WTLoss is the optimal matching without spatial weights (gudhi + POT reference), which on
    # this image differs from the weighted SATLoss, so a wasserstein_loss that kept the weights fails
    assert wt == pytest.approx(reference_sat_loss(x, target, pad=True, spatial=False), rel=1e-5)
    assert wt != pytest.approx(reference_sat_loss(x, target, pad=True), rel=1e-2)
    # He et al.'s matching is one particular matching under WTLoss's costs, so it costs at least
    # the optimum; TCLoss keeps, per dimension, one term no larger than the cost that the point
    # pays in the optimal matching (its nearest partner is at most as far), so it is smaller still
    assert tc <= wt + 1e-6 and wt <= he + 1e-6
    assert tc < he  # and the three are not one value


@pytest.mark.parametrize("variant", ["official", "paper"])
@pytest.mark.parametrize("pad", [True, False])
@pytest.mark.parametrize("shape", [(9, 9), (7, 12)])
def test_he_and_tc_values_equal_their_references(variant, pad, shape):
    """He et al. and TCLoss against the independent references of reference_he_tc.py, with the
    library defaults (spatial=False for both) and, for TCLoss, with spatial weights."""
    rng = np.random.default_rng(shape[1] + 2 * pad + (variant == "paper"))
    probs, targets = zip(*[random_pair(shape, rng) for _ in range(4)])
    probs, targets = np.stack(probs).astype(np.float32), np.stack(targets)
    # a row-major ramp: one component and (padded) one loop, fewer bars than the target has,
    # so He et al.'s unmatched target bars cost their diagonal distance
    probs[3] = 0.2 + 0.6 * np.arange(probs[3].size).reshape(shape) / probs[3].size
    images = list(zip(probs.astype(np.float64), targets))
    options = dict(pad=pad, variant=variant)
    for policy, fn in [("longest_bars", he_loss), ("hausdorff", tc_loss)]:
        default = np.asarray(fn(probs, targets, reduction="none", **options))
        want = [reference_image_loss(policy, x, y, **options) for x, y in images]
        np.testing.assert_allclose(default, want, rtol=1e-5, err_msg=policy)
        # the default really is spatial=False: the weighted reference is another number on at
        # least one image (TCLoss's worst term can be a diagonal one, which is never weighted)
        weighted = [reference_image_loss(policy, x, y, spatial=True, **options) for x, y in images]
        assert np.any(np.abs(np.subtract(weighted, want)) > 1e-2 * np.abs(want)), policy
    # TCLoss's weighted value has no tie-order question (all minima and maxima), so check it too
    got = np.asarray(tc_loss(probs, targets, spatial=True, reduction="none", **options))
    want = [reference_image_loss("hausdorff", x, y, spatial=True, **options) for x, y in images]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_target_diagrams_are_cached():
    rng = np.random.default_rng(12)
    likelihood, target = random_pair((11, 11), rng)
    TARGET_CACHE.clear()
    first = float(sat_loss(likelihood[None].astype(np.float32), target[None]))
    misses = TARGET_CACHE.misses
    second = float(sat_loss(likelihood[None].astype(np.float32), target[None]))
    assert first == second
    assert TARGET_CACHE.misses == misses and TARGET_CACHE.hits >= 1


# ---------------------------------------------------------------- edge cases and bad input


def test_non_finite_likelihood_gives_nan_and_zero_gradient():
    rng = np.random.default_rng(13)
    probs = rng.random((2, 8, 8)).astype(np.float32)
    probs[0, 3, 3] = np.nan
    probs[1, 0, 0] = np.inf
    targets = rng.random((2, 8, 8)) > 0.5
    values = sat_loss(probs, targets, reduction="none")
    assert np.all(np.isnan(np.asarray(values)))
    grad = jax.grad(lambda p: sat_loss(p, targets, reduction="sum"))(jnp.asarray(probs))
    assert np.all(np.asarray(grad)[np.isfinite(probs)] == 0)


def test_hand_worked_values_on_degenerate_inputs():
    """Worked out by hand with the default options (official variant, spatial weights, pad=True).

    The one-pixel foreground frame of the padding is then the only target component and it
    encloses one hole, so an all-background target has exactly the points (0, 1) in dimension 0
    (the essential class, death = max f = 1) and (0, 1) in dimension 1. A likelihood constant at
    c inside the frame has f = 1 - c there: its frame is the essential class (0, 1 - c) and
    closes one loop (0, 1 - c); every inner pixel touches the frame, so it starts no component.
    Both frames are identical, so creators coincide, the spatial weight is its lower bound 0.05,
    and each dimension costs 0.05 * ||(0, 1 - c) - (0, 1)|| = 0.05 c (far below the diagonal
    costs (1 - c) / sqrt 2 + 1 / sqrt 2 of leaving both unmatched).
    """
    c = 0.5
    flat = np.full((1, 9, 9), c, np.float32)
    empty = np.zeros((1, 9, 9), np.float32)
    assert float(sat_loss(flat, empty)) == pytest.approx(2 * 0.05 * c, rel=1e-6)
    assert float(sat_loss(flat, empty, spatial=False)) == pytest.approx(2 * c, rel=1e-6)
    # paper variant: squared distances, weight clamp(0.0 ** 2, 0.05, 1): 0.05 c^2 per dimension
    assert float(sat_loss(flat, empty, variant="paper")) == pytest.approx(2 * 0.05 * c**2, rel=1e-6)
    # raising every pixel by t raises the loss by 0.1 t: the gradient sums to 0.1 whichever
    # tied pixels the two destroyers are
    grad = np.asarray(jax.grad(lambda p: sat_loss(p, empty))(jnp.asarray(flat)))
    assert grad.sum() == pytest.approx(2 * 0.05, rel=1e-5)
    assert np.count_nonzero(grad) <= 2

    # a random likelihood against the all-background target: the gudhi + POT reference
    probs = np.random.default_rng(14).random((1, 9, 9)).astype(np.float32)
    want = reference_sat_loss(probs[0].astype(np.float64), empty[0], pad=True)
    assert float(sat_loss(probs, empty)) == pytest.approx(want, rel=1e-5)

    # 1 x 1 image of likelihood L = 0.7, target 1, so a = 1 - L = 0.3. Padded: the prediction
    # is the frame (0, a) plus the loop it closes (0, a); the all-foreground target has only
    # (0, max f) = (0, 0). Dimension 0 matches at weight 0.05 (same frame creator): 0.05 a;
    # the loop goes to the diagonal: a / sqrt 2.
    one = np.full((1, 1, 1), 0.7, np.float32)
    a = 1 - float(one[0, 0, 0])
    padded = sat_loss(one, np.ones((1, 1, 1)), pad=True)
    assert float(padded) == pytest.approx(a * (0.05 + 1 / np.sqrt(2)), rel=1e-5)
    grad = jax.grad(lambda p: sat_loss(p, np.ones((1, 1, 1))))(jnp.asarray(one))
    assert float(grad[0, 0, 0]) == pytest.approx(-(0.05 + 1 / np.sqrt(2)), rel=1e-5)  # d/dL = -d/da
    # unpadded: both diagrams are single essential points on the diagonal, (a, a) and (0, 0),
    # which cost nothing left unmatched
    assert float(sat_loss(one, np.ones((1, 1, 1)), pad=False)) == 0.0


def test_bad_input_raises_at_trace_time():
    p = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"\(2, 8, 8\).*\(2, 8, 9\)"):
        sat_loss(p, np.zeros((2, 8, 9)))
    with pytest.raises(TypeError, match="floating"):
        sat_loss(np.zeros((2, 8, 8), np.int32), p)
    with pytest.raises(ValueError, match="2D-only"):
        sat_loss(np.zeros((2, 4, 8, 8, 1), np.float32), np.zeros((2, 4, 8, 8, 1)))
    with pytest.raises(ValueError, match="rank 2"):
        sat_loss(np.zeros((8, 8), np.float32), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="variant"):
        sat_loss(p, p, variant="nope")
    with pytest.raises(ValueError, match="construction"):
        sat_loss(p, p, construction="X")
    with pytest.raises(ValueError, match="dims"):
        sat_loss(p, p, dims=(2,))
    with pytest.raises(ValueError, match="reduction"):
        sat_loss(p, p, reduction="avg")
    with pytest.raises(ValueError, match="shape"):
        jax.jit(lambda a, b: sat_loss(a, b))(p, np.zeros((3, 8, 8)))


@pytest.mark.skipif("native" not in __import__("jaxtopo").host.available_backends(), reason="native engine not built")
@pytest.mark.parametrize("variant", ["official", "paper"])
@pytest.mark.parametrize("pad", [True, False])
def test_native_and_reference_backends_agree(variant, pad):
    rng = np.random.default_rng(15)
    probs = rng.random((4, 17, 23)).astype(np.float32)
    probs[3] = (probs[3] > 0.5)  # a binary prediction: all ties
    targets = rng.random((4, 17, 23)) > 0.7
    TARGET_CACHE.clear()  # target diagrams are cached per backend; start clean anyway

    def value_and_grad(backend):
        fn = lambda p: sat_loss(p, targets, variant=variant, pad=pad, backend=backend, reduction="sum")
        return jax.value_and_grad(fn)(jnp.asarray(probs))

    (v_native, g_native), (v_ref, g_ref) = value_and_grad("native"), value_and_grad("gudhi")
    assert float(v_native) == pytest.approx(float(v_ref), rel=1e-6)
    # tie-free images: the very same gradient; on the binary one components may die at other
    # tied pixels, so only its value (inside the sum above) has to agree
    np.testing.assert_allclose(g_native[:3], g_ref[:3], rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(g_native[3])))


@pytest.mark.skipif("native" not in __import__("jaxtopo").host.available_backends(), reason="native engine not built")
def test_fused_native_path_equals_the_numpy_path():
    """image_loss_and_grad runs natively in one call for the optimal policy; it must give the
    value and gradient map of match_image + gradient_map (its numpy reference) on the same
    backend, for every option that changes the work."""
    from jaxtopo.host.image_loss import _runs_natively, gradient_map, image_loss_and_grad

    rng = np.random.default_rng(21)
    options = [dict(), dict(variant="paper"), dict(spatial=False), dict(construction="V"), dict(pad=False),
               dict(dims=(0,)), dict(dims=(1,)), dict(min_spatial_weight=0.0)]
    for k, option in enumerate(options):
        config = TopoLossConfig(backend="native", **option)
        assert _runs_natively(config)
        for shape, dtype in [((13, 9), np.float32), ((20, 20), np.float64), ((1, 1), np.float32)]:
            likelihood = rng.random(shape).astype(dtype)
            if k % 2:
                likelihood = np.round(likelihood * 3) / 3  # ties
            target = (rng.random(shape) > 0.6).astype(dtype)
            value, grad = image_loss_and_grad(likelihood, target, config, cache=None)
            result = match_image(likelihood, target, config, cache=None)
            padded = tuple(s + 2 for s in shape) if config.pad else shape
            want = -gradient_map(result, config, padded)
            want = want[1:-1, 1:-1] if config.pad else want
            assert value == pytest.approx(result.value, rel=1e-12, abs=1e-12), (option, shape)
            np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-12, err_msg=str(option))
