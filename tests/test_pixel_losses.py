"""Tests of jaxtopo.losses.pixel: BCE (probabilities and logits) and soft Dice."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtopo.losses.pixel import bce_loss, bce_with_logits_loss, soft_dice_loss
from gradcheck import call, finite_difference_check, x64

LOSSES = [bce_loss, bce_with_logits_loss, soft_dice_loss]
SHAPE = (3, 4, 5)  # one shape for most tests: eager mode compiles each op once per shape


def random_pair(shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.02, 0.98, size=shape).astype(dtype)
    targets = rng.random(shape) > 0.5
    return probs, targets


# --------------------------------------------------------------------------------------------
# BCE


@pytest.mark.parametrize("jitted", [False, True])
def test_bce_hand_value_2x2(jitted):
    probs = np.array([[[0.9, 0.2], [0.6, 0.1]]], np.float32)
    targets = np.array([[[1, 0], [0, 1]]], np.float32)
    # -log(p) where t = 1, -log(1 - p) where t = 0
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.1)) / 4
    assert float(call(bce_loss, jitted, probs, targets)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("jitted", [False, True])
def test_bce_equals_logits_form_of_logit(jitted):
    probs, targets = random_pair(SHAPE)
    logits = np.log(probs) - np.log1p(-probs)
    from_probs = call(bce_loss, jitted, probs, targets, reduction="none")
    from_logits = call(bce_with_logits_loss, jitted, logits, targets, reduction="none")
    np.testing.assert_allclose(from_probs, from_logits, rtol=1e-5)


def test_bce_clips_saturated_probabilities():
    probs = np.array([[[0.0, 1.0], [0.0, 1.0]]], np.float32)
    targets = np.array([[[0, 1], [1, 0]]], np.float32)
    # a confidently wrong pixel costs -log(eps), not inf; 1 - eps is rounded in float32
    wrong_at_zero = -math.log(1e-7)
    wrong_at_one = -math.log1p(-float(np.float32(1 - 1e-7)))
    value = float(bce_loss(probs, targets))
    assert value == pytest.approx((wrong_at_zero + wrong_at_one) / 4, rel=1e-5)
    assert (wrong_at_zero + wrong_at_one) / 4 > 7.9  # far from the ~0 of the right pixels
    larger_eps = float(bce_loss(probs, targets, eps=1e-3))
    assert larger_eps == pytest.approx(-math.log(1e-3) / 2, rel=1e-3)


@pytest.mark.parametrize("jitted", [False, True])
def test_bce_with_logits_extreme_logits_are_finite_and_exact(jitted):
    logits = np.array([[[1000.0, -1000.0], [1000.0, -1000.0]]], np.float32)
    targets = np.array([[[1, 0], [0, 1]]], np.float32)
    # right with huge confidence costs 0, wrong costs |x| = 1000
    value = call(bce_with_logits_loss, jitted, logits, targets)
    assert float(value) == pytest.approx(500.0, rel=1e-6)
    grad = jax.grad(lambda x: call(bce_with_logits_loss, jitted, x, targets))(logits)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, (jax.nn.sigmoid(logits) - targets) / 4, atol=1e-7)


@pytest.mark.parametrize("jitted", [False, True])
def test_bce_with_logits_gradient_is_sigmoid_minus_target(jitted):
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=3.0, size=SHAPE).astype(np.float32)
    targets = rng.random(SHAPE) > 0.5
    pixels = SHAPE[1] * SHAPE[2]
    # "sum" adds the per-image pixel means, so each pixel's gradient is (sigmoid(x) - t) / N;
    # "mean" only divides by B (see the reduction test)
    grad = jax.grad(lambda x: call(bce_with_logits_loss, jitted, x, targets, reduction="sum"))(
        logits
    )
    expected = (jax.nn.sigmoid(logits) - targets) / pixels
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------------------------
# shared behaviour: reductions, channel axis, target dtypes


def inputs_for(fn, shape, seed=0):
    probs, targets = random_pair(shape, seed)
    if fn is bce_with_logits_loss:
        probs = np.log(probs) - np.log1p(-probs)
    return probs, targets


@pytest.mark.parametrize("fn", LOSSES)
@pytest.mark.parametrize("jitted", [False, True])
def test_reductions_shapes_and_relations(fn, jitted):
    probs, targets = inputs_for(fn, SHAPE)
    per_image = call(fn, jitted, probs, targets, reduction="none")
    total = call(fn, jitted, probs, targets, reduction="sum")
    mean = call(fn, jitted, probs, targets, reduction="mean")
    default = call(fn, jitted, probs, targets)
    assert per_image.shape == SHAPE[:1] and total.shape == () and mean.shape == ()
    assert float(jnp.std(per_image)) > 0  # per-image values, not one value broadcast
    np.testing.assert_allclose(total, np.sum(per_image), rtol=1e-6)
    np.testing.assert_allclose(mean, np.mean(per_image), rtol=1e-6)
    np.testing.assert_allclose(default, mean, rtol=0)


@pytest.mark.parametrize("fn", LOSSES)
def test_per_image_values_are_independent_of_the_batch(fn):
    probs, targets = inputs_for(fn, SHAPE)
    batch = fn(probs, targets, reduction="none")
    singles = [float(fn(probs[i : i + 1], targets[i : i + 1])) for i in range(SHAPE[0])]
    np.testing.assert_allclose(batch, singles, rtol=1e-6)


@pytest.mark.parametrize("fn", LOSSES)
def test_trailing_channel_equals_no_channel(fn):
    probs, targets = inputs_for(fn, SHAPE)
    plain = fn(probs, targets, reduction="none")
    channel = fn(probs[..., None], targets[..., None], reduction="none")
    np.testing.assert_allclose(plain, channel, rtol=0)


@pytest.mark.parametrize("fn", LOSSES)
def test_target_dtypes_agree(fn):
    probs, targets = inputs_for(fn, SHAPE)
    dtypes = (bool, np.int32, np.float32, np.float64)
    values = [float(fn(probs, targets.astype(dtype))) for dtype in dtypes]
    assert values == pytest.approx([values[0]] * 4, rel=1e-7)


@pytest.mark.parametrize("fn", LOSSES)
def test_half_precision_inputs_are_computed_in_float32(fn):
    probs, targets = inputs_for(fn, SHAPE)
    half = fn(probs.astype(jnp.float16), targets)
    assert half.dtype == jnp.float32
    np.testing.assert_allclose(half, fn(probs, targets), rtol=2e-3)


# --------------------------------------------------------------------------------------------
# soft Dice


@pytest.mark.parametrize("jitted", [False, True])
def test_soft_dice_identical_masks_give_zero(jitted):
    _, targets = random_pair(SHAPE)
    value = call(soft_dice_loss, jitted, targets.astype(np.float32), targets, reduction="none")
    np.testing.assert_allclose(value, 0.0, atol=1e-7)


@pytest.mark.parametrize("jitted", [False, True])
def test_soft_dice_disjoint_masks_give_one(jitted):
    mask = np.zeros((1, 6, 6), np.float32)
    mask[:, :3] = 1
    value = call(soft_dice_loss, jitted, mask, 1 - mask, smooth=1e-6)
    assert float(value) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("jitted", [False, True])
def test_soft_dice_hand_value(jitted):
    probs = np.array([[[0.5, 1.0], [0.0, 0.25]]], np.float32)
    targets = np.array([[[1, 1], [0, 0]]], np.float32)
    # intersection 1.5, sum p = 1.75, sum t = 2: 1 - (3 + 1) / (3.75 + 1)
    expected = 1 - 4 / 4.75
    assert float(call(soft_dice_loss, jitted, probs, targets)) == pytest.approx(expected, rel=1e-6)
    # smoothing matters: with smooth=0 the value is 1 - 3 / 3.75
    unsmoothed = call(soft_dice_loss, jitted, probs, targets, smooth=0.0)
    assert float(unsmoothed) == pytest.approx(1 - 3 / 3.75, rel=1e-6)


def test_soft_dice_two_empty_masks_give_zero():
    empty = np.zeros(SHAPE, np.float32)
    np.testing.assert_allclose(soft_dice_loss(empty, empty, reduction="none"), 0.0)


def test_soft_dice_gradient_matches_finite_differences():
    """jax.grad of the library's soft_dice_loss (probabilities and logits) against central
    differences of the same function, in float64."""
    with x64():
        probs, targets = random_pair((2, 4, 5), dtype=np.float64)
        x = jnp.asarray(probs)
        assert x.dtype == jnp.float64
        finite_difference_check(lambda p: soft_dice_loss(p, targets, smooth=0.5), x)
        logits = jnp.log(x) - jnp.log1p(-x)
        finite_difference_check(lambda z: soft_dice_loss(z, targets, from_logits=True), logits)


def test_soft_dice_gradient_closed_form():
    """With I = sum p t, S = sum p + sum t and smooth s, the per-image loss 1 - (2 I + s) / (S + s)
    has d/dp_k = -(2 t_k (S + s) - (2 I + s)) / (S + s)^2; "mean" divides by the batch size."""
    probs, targets = random_pair(SHAPE, seed=3, dtype=np.float64)
    t = targets.astype(np.float64)
    s = 0.5
    intersection = np.sum(probs * t, axis=(1, 2), keepdims=True)
    total = np.sum(probs, axis=(1, 2), keepdims=True) + np.sum(t, axis=(1, 2), keepdims=True)
    expected = -(2 * t * (total + s) - (2 * intersection + s)) / (total + s) ** 2 / SHAPE[0]
    grad = jax.jit(jax.grad(lambda p: soft_dice_loss(p, targets, smooth=s)))(jnp.asarray(probs, jnp.float32))
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("fn", LOSSES)
def test_volume_input_raises(fn):
    volume = np.zeros((1, 3, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="2D-only"):
        fn(volume, volume)


def test_bce_gradient_survives_saturation():
    """A background pixel predicted as exactly 1.0 (saturated sigmoid) still gets pushed down."""
    probs = jnp.array([[[1.0, 0.0]]], jnp.float32)
    targets = jnp.array([[[0.0, 1.0]]], jnp.float32)
    grad = jax.grad(lambda p: bce_loss(p, targets))(probs)
    assert np.all(np.isfinite(np.asarray(grad)))
    assert grad[0, 0, 0] > 0 and grad[0, 0, 1] < 0
