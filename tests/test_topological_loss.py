"""sat_loss and the other topological losses: values, gradients, JAX transformations, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtopo.host import TARGET_CACHE, TopoLossConfig, match_image
from jaxtopo.host.matching import DIAGONAL
from jaxtopo.losses.topological import he_loss, sat_loss, tc_loss, topological_loss, wasserstein_loss
from reference_satloss import reference_sat_loss


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


def test_gradient_equals_finite_differences_of_the_full_loss():
    """On a tie-free image small bumps change neither the pairs nor the matching."""
    rng = np.random.default_rng(8)
    likelihood, target = random_pair((8, 8), rng)
    f64 = lambda x: float(reference_sat_loss(x, target, pad=True))
    grad = np.asarray(jax.grad(lambda p: sat_loss(p, target[None]))(jnp.asarray(likelihood[None], jnp.float32)))[0]
    for k in np.flatnonzero(grad)[:12]:
        up, down = likelihood.copy(), likelihood.copy()
        up.ravel()[k] += 1e-7
        down.ravel()[k] -= 1e-7
        assert grad.ravel()[k] == pytest.approx((f64(up) - f64(down)) / 2e-7, rel=2e-3, abs=1e-4)


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
    # nested vmap over a [2, 3, H, W] stack
    stacked = jax.vmap(lambda p: sat_loss(p, targets, reduction="none"))(jnp.stack([probs, probs]))
    assert stacked.shape == (2, 3)
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


def test_baselines_are_the_right_special_cases():
    rng = np.random.default_rng(11)
    likelihood, target = random_pair((12, 12), rng)
    p, t = likelihood[None].astype(np.float32), target[None]
    assert float(wasserstein_loss(p, t)) == pytest.approx(float(sat_loss(p, t, spatial=False)))
    assert float(sat_loss(p, t, spatial=False)) >= float(he_loss(p, t)) * 0 + 0  # defined
    # WTLoss is optimal among matchings without spatial weights: He et al.'s matching costs more
    assert float(he_loss(p, t)) >= float(wasserstein_loss(p, t)) - 1e-6
    # the Hausdorff term is one of the terms: never larger than the summed optimal cost... of
    # itself, and positive here
    assert 0 < float(tc_loss(p, t)) <= float(he_loss(p, t)) + 1e-6


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


def test_defined_behaviour_on_degenerate_inputs():
    rng = np.random.default_rng(14)
    probs = rng.random((1, 9, 9)).astype(np.float32)
    # all-background target: every predicted feature but the essential one goes to the diagonal
    empty = float(sat_loss(probs, np.zeros((1, 9, 9))))
    assert np.isfinite(empty) and empty > 0
    # constant prediction: one essential class of zero length in dim 0, nothing else
    const = float(sat_loss(np.full((1, 9, 9), 0.5, np.float32), rng.random((1, 9, 9)) > 0.5))
    assert np.isfinite(const)
    # 1 x 1 image, padded and not
    for pad in (True, False):
        value = sat_loss(np.full((1, 1, 1), 0.7, np.float32), np.ones((1, 1, 1)), pad=pad)
        assert np.isfinite(float(value))
    assert float(sat_loss(np.ones((1, 1, 1), np.float32), np.ones((1, 1, 1)), pad=False)) == 0.0


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
