"""Tests of jaxtopo.losses.cldice: soft morphology, soft skeleton and the clDice losses."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxtopo.losses.cldice import (
    dice_cldice_loss,
    soft_cldice_loss,
    soft_dilate,
    soft_erode,
    soft_open,
    soft_skeleton,
)
from jaxtopo.losses.pixel import soft_dice_loss
from gradcheck import call, finite_difference_check, x64

# few shapes and iteration counts: each (shape, iterations) pair compiles the skeleton loop once
SHAPE = (2, 12, 12)
VOLUME_SHAPE = (3, 7, 7, 8)


def random_probs(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def tubes():
    """Binary [2, 12, 12] masks with thin and thick curvilinear parts."""
    masks = np.zeros(SHAPE, np.float32)
    masks[0, 2, 1:11] = 1  # 1-pixel line
    masks[0, 5:8, 1:11] = 1  # 3-pixel-thick bar
    masks[0, 2:8, 6] = 1  # joining them
    masks[1, 1:11, 3:5] = 1  # 2-pixel-thick vertical tube
    masks[1, 9:11, 3:10] = 1  # an L-shape
    return masks


def with_batch_footprint(footprint):
    return footprint[None]  # size 1 along the batch axis: images do not mix


# --------------------------------------------------------------------------------------------
# soft morphology against scipy.ndimage


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("jitted", [False, True])
def test_soft_erode_is_plus_shaped_grey_erosion(spatial_dims, jitted):
    x = random_probs((2, 5, 6, 7)[: spatial_dims + 1])
    plus = ndimage.generate_binary_structure(spatial_dims, 1)  # 4- / 6-neighbourhood
    expected = ndimage.grey_erosion(x, footprint=with_batch_footprint(plus), mode="nearest")
    got = call(soft_erode, jitted, x, spatial_dims=spatial_dims)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("jitted", [False, True])
def test_soft_dilate_is_box_grey_dilation(spatial_dims, jitted):
    x = random_probs((2, 5, 6, 7)[: spatial_dims + 1], seed=1)
    box = (1,) + (3,) * spatial_dims
    expected = ndimage.grey_dilation(x, size=box, mode="nearest")
    got = call(soft_dilate, jitted, x, spatial_dims=spatial_dims)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_soft_open_is_scipy_box_dilation_of_plus_erosion(spatial_dims):
    # opening as the spec defines it (section 5): the plus-shaped erosion, then the 3x3 (3x3x3)
    # box dilation, both by scipy; "nearest" repeats edge pixels, which never change a min or max
    x = random_probs((2, 5, 6, 7)[: spatial_dims + 1], seed=2)
    plus = ndimage.generate_binary_structure(spatial_dims, 1)
    eroded = ndimage.grey_erosion(x, footprint=with_batch_footprint(plus), mode="nearest")
    expected = ndimage.grey_dilation(eroded, size=(1,) + (3,) * spatial_dims, mode="nearest")
    np.testing.assert_array_equal(soft_open(x, spatial_dims=spatial_dims), expected)


def test_soft_open_hand_worked():
    # a 3 x 3 block of 0.8 with a spike of 1.0 in its middle, on a 0.1 background (5 x 6 image)
    x = np.full((1, 5, 6), 0.1, np.float32)
    x[0, 1:4, 1:4] = 0.8
    x[0, 2, 2] = 1.0
    # erosion (min over the pixel and its 4 neighbours) leaves 0.8 only at the block's centre,
    # the one block pixel whose 4 neighbours are all in the block, and drops the spike to 0.8;
    # dilation (max over the 3 x 3 box) spreads that single 0.8 back over the whole block
    expected = np.full((1, 5, 6), 0.1, np.float32)
    expected[0, 1:4, 1:4] = 0.8
    np.testing.assert_array_equal(soft_open(x), expected)


def test_soft_open_removes_thin_lines_and_keeps_blocks():
    image = np.zeros(SHAPE, np.float32)
    image[0, 2, 1:11] = 1  # 1 pixel thick: removed
    image[1, 2:5, 2:5] = 1  # 3 x 3 block: kept
    expected = image.copy()
    expected[0] = 0
    np.testing.assert_array_equal(soft_open(image), expected)


# --------------------------------------------------------------------------------------------
# soft skeleton


ITERATIONS = 5


def line_image(kind):
    """[2, 12, 12]: a 1-pixel-wide line in image 0, image 1 empty."""
    image = np.zeros(SHAPE, np.float32)
    if kind == "horizontal":
        image[0, 4, 1:10] = 1
    elif kind == "vertical":
        image[0, :, 5] = 1  # touching the top and bottom border
    elif kind == "diagonal":
        rows = np.arange(1, 9)
        image[0, rows, rows + 2] = 1  # 8-connected only
    elif kind == "border":
        image[0, 0, :] = 1  # along the edge: padding must not thicken it
    return image


@pytest.mark.parametrize("kind", ["horizontal", "vertical", "diagonal", "border"])
@pytest.mark.parametrize("jitted", [False, True])
def test_skeleton_of_thin_line_is_the_line(kind, jitted):
    line = line_image(kind)
    skeleton = call(soft_skeleton, jitted, line, iterations=ITERATIONS)
    np.testing.assert_array_equal(skeleton, line)


def test_skeleton_keeps_a_trailing_channel():
    line = line_image("diagonal")[..., None]
    skeleton = soft_skeleton(line, ITERATIONS)
    assert skeleton.shape == line.shape
    np.testing.assert_array_equal(skeleton, line)


def filled_square():
    image = np.zeros((1, 19, 19), np.float32)
    image[0, 2:17, 2:17] = 1  # 15 x 15
    return image


SQUARE_ITERATIONS = (1, 7, 10)  # 1 too few, 7 just enough (the bar test checks 1 vs 2)


def test_skeleton_iterations_are_honoured_on_a_square():
    square = filled_square()
    centre_only = np.zeros_like(square)
    centre_only[0, 9, 9] = 1
    # erosion shrinks the square by one pixel per side and opening restores it, so nothing is
    # added until a single pixel is left, after 7 erosions: then the centre enters the skeleton
    for iterations in SQUARE_ITERATIONS:
        expected = centre_only if iterations >= 7 else np.zeros_like(square)
        np.testing.assert_array_equal(soft_skeleton(square, iterations), expected)


def test_skeleton_of_a_bar_is_its_medial_line():
    bar = np.zeros(SHAPE, np.float32)
    bar[0, 3:8, 1:10] = 1  # 5 x 9: two erosions leave the 1 x 5 medial line
    medial_line = np.zeros_like(bar)
    medial_line[0, 5, 3:8] = 1
    np.testing.assert_array_equal(soft_skeleton(bar, 1), np.zeros_like(bar))
    np.testing.assert_array_equal(soft_skeleton(bar, 2), medial_line)
    np.testing.assert_array_equal(soft_skeleton(bar, ITERATIONS), medial_line)


@pytest.mark.parametrize(
    "mask, counts",
    [(filled_square(), SQUARE_ITERATIONS), (tubes(), (0, 1, 2, ITERATIONS))],
    ids=["square", "tubes"],
)
def test_binary_skeleton_is_binary_inside_the_mask_and_grows_with_iterations(mask, counts):
    previous = np.zeros_like(mask)
    for iterations in counts:
        skeleton = np.asarray(soft_skeleton(mask, iterations))
        assert set(np.unique(skeleton)) <= {0.0, 1.0}
        assert np.all(skeleton <= mask)
        assert np.all(skeleton >= previous)
        previous = skeleton
    assert previous.sum() > 0


def test_soft_skeleton_of_probabilities_stays_in_unit_interval():
    skeleton = soft_skeleton(random_probs(SHAPE, seed=3), ITERATIONS)
    assert float(jnp.min(skeleton)) >= 0.0 and float(jnp.max(skeleton)) <= 1.0


@pytest.mark.parametrize("channel", [False, True])
def test_skeleton_of_3d_thin_lines(channel):
    volume = np.zeros(VOLUME_SHAPE, np.float32)
    volume[0, 3, 3, 1:7] = 1  # along W
    volume[1, :, 2, 4] = 1  # along D, touching both ends
    steps = np.arange(6)
    volume[2, steps, steps + 1, steps + 2] = 1  # 26-connected diagonal
    if channel:
        volume = volume[..., None]
    skeleton = soft_skeleton(volume, ITERATIONS, spatial_dims=3)
    assert skeleton.shape == volume.shape
    np.testing.assert_array_equal(skeleton, volume)


def test_skeleton_of_3d_cube_is_its_centre():
    cube = np.zeros(VOLUME_SHAPE, np.float32)
    cube[1, 1:6, 1:6, 2:7] = 1  # 5 x 5 x 5: two erosions leave the centre voxel
    centre = np.zeros_like(cube)
    centre[1, 3, 3, 4] = 1
    np.testing.assert_array_equal(soft_skeleton(cube, 1, spatial_dims=3), np.zeros_like(cube))
    np.testing.assert_array_equal(soft_skeleton(cube, ITERATIONS, spatial_dims=3), centre)


def test_foreground_touching_the_border_continues_beyond_it():
    # the +inf padding of the min-pool never erodes from outside the image, so a cube touching
    # the last depth slice is skeletonised like a longer box: a segment reaching the border
    cube = np.zeros(VOLUME_SHAPE, np.float32)
    cube[1, 2:7, 1:6, 2:7] = 1
    segment = np.zeros_like(cube)
    segment[1, 4:7, 3, 4] = 1
    np.testing.assert_array_equal(soft_skeleton(cube, ITERATIONS, spatial_dims=3), segment)


# --------------------------------------------------------------------------------------------
# losses


@pytest.mark.parametrize("jitted", [False, True])
def test_cldice_of_identical_masks_is_zero(jitted):
    masks = tubes()
    # little smoothing, so smoothing cannot hide a mismatch (and the same options as below)
    value = call(
        soft_cldice_loss, jitted, masks, masks, iterations=ITERATIONS, smooth=1e-3, reduction="none"
    )
    np.testing.assert_allclose(value, 0.0, atol=1e-6)


@pytest.mark.parametrize("jitted", [False, True])
def test_cldice_of_disjoint_masks_is_near_one(jitted):
    masks = tubes()
    shifted = np.zeros_like(masks)
    shifted[0, 10, 1:11] = 1  # lines that touch no foreground of the other mask
    shifted[1, 1:8, 8] = 1
    options = dict(iterations=ITERATIONS, smooth=1e-3, reduction="none")
    value = call(soft_cldice_loss, jitted, shifted, masks, **options)
    np.testing.assert_allclose(value, 1.0, atol=1e-3)


@pytest.mark.parametrize("jitted", [False, True])
def test_cldice_hand_value(jitted):
    target = np.zeros(SHAPE, np.float32)
    target[0, 2, 0:5] = 1
    pred = np.zeros_like(target)
    pred[0, 2, 2:7] = 0.5  # overlap of 3 pixels, half confidence
    # lines are their own skeletons: Tprec = (0.5 * 3 + 1) / (0.5 * 5 + 1) = 5/7,
    # Tsens = (0.5 * 3 + 1) / (5 + 1) = 5/12, clDice = 2 Tprec Tsens / (Tprec + Tsens) = 10/19;
    # image 1 is empty in both: Tprec = Tsens = smooth / smooth = 1, loss 0
    value = call(soft_cldice_loss, jitted, pred, target, iterations=ITERATIONS, reduction="none")
    np.testing.assert_allclose(value, [9 / 19, 0.0], rtol=1e-6, atol=1e-7)


def test_cldice_in_unit_interval_on_random_input_and_reductions():
    probs = random_probs(SHAPE, seed=4)
    per_image = soft_cldice_loss(probs, tubes(), reduction="none")
    assert per_image.shape == (2,)
    assert np.all((per_image > 0) & (per_image < 1))
    np.testing.assert_allclose(soft_cldice_loss(probs, tubes()), per_image.mean(), rtol=1e-6)
    np.testing.assert_allclose(
        soft_cldice_loss(probs, tubes(), reduction="sum"), per_image.sum(), rtol=1e-6
    )
    # the iteration count reaches the loss
    assert float(soft_cldice_loss(probs, tubes(), iterations=0)) != pytest.approx(
        float(soft_cldice_loss(probs, tubes(), iterations=ITERATIONS)), rel=1e-4
    )


def test_cldice_3d_identical_masks_and_channel_axis():
    volume = np.zeros(VOLUME_SHAPE, np.float32)
    volume[0, 2, 1:5, 1:6] = 1  # a plate
    volume[0, 1:4, 3, 3] = 1  # a stick through it
    volume[1, 1:4, 2:6, 2:7] = 1  # a block
    probs = random_probs(volume.shape, seed=5)
    options = dict(iterations=ITERATIONS, spatial_dims=3, reduction="none")
    np.testing.assert_allclose(soft_cldice_loss(volume, volume, **options), 0.0, atol=1e-6)
    np.testing.assert_allclose(
        soft_cldice_loss(probs, volume, **options),
        soft_cldice_loss(probs[..., None], volume[..., None], **options),
        rtol=0,
    )


def test_combined_loss_interpolates_dice_and_cldice():
    probs, masks = random_probs(SHAPE, seed=6), tubes()
    options = dict(iterations=ITERATIONS, reduction="none")
    dice = soft_dice_loss(probs, masks, reduction="none")
    cldice = soft_cldice_loss(probs, masks, **options)
    combined = lambda alpha: dice_cldice_loss(probs, masks, alpha=alpha, **options)
    np.testing.assert_allclose(combined(0.0), dice, rtol=1e-6)
    np.testing.assert_allclose(combined(1.0), cldice, rtol=1e-6)
    np.testing.assert_allclose(combined(0.3), 0.7 * dice + 0.3 * cldice, rtol=1e-6)
    jitted = call(dice_cldice_loss, True, probs, masks, alpha=0.3, **options)
    np.testing.assert_allclose(jitted, combined(0.3), rtol=1e-6)


def test_combined_loss_3d_alpha_zero_is_soft_dice_of_the_volume():
    probs = random_probs(VOLUME_SHAPE, seed=7)
    targets = random_probs(VOLUME_SHAPE, seed=8) > 0.5
    value = dice_cldice_loss(
        probs, targets, alpha=0.0, iterations=ITERATIONS, spatial_dims=3, reduction="none"
    )
    batch, depth, height, width = VOLUME_SHAPE
    # soft Dice only sums pixels, so stacking the slices into one 2D image must not matter
    flat = lambda a: a.reshape(batch, depth * height, width)
    expected = soft_dice_loss(flat(probs), flat(targets), reduction="none")
    np.testing.assert_allclose(value, expected, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# gradients


def test_cldice_gradient_is_finite_and_nonzero():
    # plain jax.grad here; the finite-difference check below runs under jax.jit
    probs = random_probs(SHAPE, seed=9)
    loss = functools.partial(soft_cldice_loss, targets=tubes(), iterations=ITERATIONS)
    grad = jax.grad(loss)(probs)
    assert grad.shape == probs.shape
    assert np.all(np.isfinite(grad))
    assert float(jnp.max(jnp.abs(grad))) > 1e-4
    # more predicted probability on the target tubes lowers the loss
    assert float(jnp.sum(grad * tubes())) < 0


def test_combined_loss_gradient_matches_finite_differences():
    with x64():
        # distinct random values: no ties in the pools, so the loss is smooth near x
        x = jnp.asarray(random_probs((1, 6, 7), seed=10, dtype=np.float64))
        assert x.dtype == jnp.float64
        targets = random_probs((1, 6, 7), seed=11) > 0.5
        loss = lambda p: dice_cldice_loss(p, targets, alpha=0.5, iterations=2)
        finite_difference_check(loss, x)


# --------------------------------------------------------------------------------------------
# bad input

LOSSES = [soft_cldice_loss, dice_cldice_loss]


@pytest.mark.parametrize("fn", LOSSES + [soft_skeleton])
def test_volume_input_to_2d_raises(fn):
    volume = np.zeros((1, 3, 4, 4, 1), np.float32)
    args = (volume, 3) if fn is soft_skeleton else (volume, volume)
    # the message names the 2D-only layout or points to spatial_dims=3 (wording of the checks)
    with pytest.raises(ValueError, match="2D-only|spatial_dims=3"):
        fn(*args)


@pytest.mark.parametrize("iterations", [-1, 2.0, True, "3", None])
def test_bad_iterations_raise(iterations):
    x = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="iterations"):
        soft_skeleton(x, iterations)
    with pytest.raises(ValueError, match="iterations"):
        soft_cldice_loss(x, x, iterations=iterations)


def test_traced_iterations_raise():
    x = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="iterations"):
        jax.jit(lambda k: soft_skeleton(x, k))(3)


def test_numpy_integer_iterations_are_accepted():
    line = line_image("horizontal")
    np.testing.assert_array_equal(soft_skeleton(line, np.int64(ITERATIONS)), line)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_bad_alpha_raises(alpha):
    x = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="alpha"):
        dice_cldice_loss(x, x, alpha=alpha)


@pytest.mark.parametrize("fn", [soft_erode, soft_dilate, soft_open])
def test_morphology_checks_rank_and_spatial_dims(fn):
    with pytest.raises(ValueError, match="rank 4"):
        fn(np.zeros((1, 4, 4, 1), np.float32))  # no channel axis here
    with pytest.raises(ValueError, match="spatial_dims"):
        fn(np.zeros((1, 4, 4), np.float32), spatial_dims=1)


def test_loss_rejects_bad_spatial_dims():
    x = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="spatial_dims"):
        soft_cldice_loss(x, x, spatial_dims=4)
