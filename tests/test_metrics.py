"""Evaluation metrics: hand-worked cases, gudhi / skimage references, input checks."""

import gudhi
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.measure import euler_number, label
from skimage.morphology import skeletonize

from jaxtopo.metrics import (
    accuracy,
    betti_errors,
    betti_matching_error,
    betti_numbers,
    cldice,
    dice,
    euler_characteristic_error,
    segmentation_metrics,
)

# 3x3 hand example. Prediction binarised at p > 0.5 (0.5 itself is background):
#   P = [[1,0,1],[0,1,0],[0,1,0]]   T = [[1,0,0],[0,1,1],[0,1,0]]
# agreement 7/9; |P ∩ T| = 3, |P| = |T| = 4, Dice = 6/8.
PRED_3X3 = np.array([[0.9, 0.2, 0.7], [0.1, 0.6, 0.4], [0.5, 0.8, 0.0]])
TARGET_3X3 = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 0]])


def ring(shape=(7, 7), top=1, left=1, size=5):
    """A square annulus of width 1: one component, one hole."""
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    mask[top + 1 : top + size - 1, left + 1 : left + size - 1] = False
    return mask


def random_mask(shape, density, rng):
    return rng.random(shape) < density


def gudhi_betti(mask):
    """Diagram points per dimension of 1 - mask (T-construction), as the official evaluation."""
    cc = gudhi.CubicalComplex(top_dimensional_cells=1.0 - mask.astype(float))
    cc.persistence()
    return [len(cc.persistence_intervals_in_dimension(k)) for k in (0, 1)]


def direct_cldice(pred, target):
    """clDice straight from the definition, for masks with non-empty skeletons."""
    s_p, s_t = skeletonize(pred), skeletonize(target)
    tprec = np.sum(s_p & target) / np.sum(s_p)
    tsens = np.sum(s_t & pred) / np.sum(s_t)
    return 0.0 if tprec + tsens == 0 else 2 * tprec * tsens / (tprec + tsens)


# ---------------------------------------------------------------- accuracy and Dice


def test_accuracy_and_dice_hand_example():
    np.testing.assert_allclose(accuracy(PRED_3X3, TARGET_3X3), [7 / 9])
    np.testing.assert_allclose(dice(PRED_3X3, TARGET_3X3), [0.75])


def test_threshold_boundary_is_strict():
    half = np.full((2, 2), 0.5)
    full = np.ones((2, 2))
    np.testing.assert_allclose(dice(half, full), [0.0])  # 0.5 is not > 0.5
    np.testing.assert_allclose(dice(half, full, threshold=0.49), [1.0])
    np.testing.assert_array_equal(betti_numbers(half, convention="exact"), [[0, 0]])
    # targets use the same rule at 0.5
    np.testing.assert_allclose(accuracy(full, half), [0.0])


def test_dice_empty_and_disjoint():
    empty = np.zeros((4, 5))
    np.testing.assert_allclose(dice(empty, empty), [1.0])
    np.testing.assert_allclose(accuracy(empty, empty), [1.0])
    one = empty.copy()
    one[0, 0] = 1
    np.testing.assert_allclose(dice(one, empty), [0.0])
    np.testing.assert_allclose(dice(one, 1 - one), [0.0])


def test_bool_and_integer_inputs():
    p = PRED_3X3 > 0.5
    np.testing.assert_allclose(dice(p, TARGET_3X3.astype(bool)), [0.75])
    np.testing.assert_allclose(dice(p.astype(np.uint8), TARGET_3X3), [0.75])


def test_layouts_give_per_image_values():
    rng = np.random.default_rng(0)
    pred = rng.random((3, 8, 6))
    target = rng.random((3, 8, 6)) > 0.5
    p = pred > 0.5
    # per-image values straight from the definitions, in numpy / skimage
    direct = {
        accuracy: [np.mean(p[b] == target[b]) for b in range(3)],
        dice: [2 * np.sum(p[b] & target[b]) / (p[b].sum() + target[b].sum()) for b in range(3)],
        cldice: [direct_cldice(p[b], target[b]) for b in range(3)],
    }
    for metric in (accuracy, dice, cldice):
        per_image = metric(pred, target)
        np.testing.assert_allclose(per_image, direct[metric], rtol=1e-12)
        assert per_image.shape == (3,) and per_image.dtype == np.float64
        np.testing.assert_allclose(metric(pred[..., None], target[..., None]), per_image)
        np.testing.assert_allclose(metric(jnp.asarray(pred), jnp.asarray(target)), per_image)
        single = metric(pred[1], target[1])
        assert single.shape == (1,)
        np.testing.assert_allclose(single, per_image[1:2])
    np.testing.assert_array_equal(betti_numbers(pred[0]), [gudhi_betti(p[0])])
    want = [np.abs(np.subtract(gudhi_betti(p[b]), gudhi_betti(target[b]))) for b in range(3)]
    np.testing.assert_array_equal(betti_errors(pred, target), want)
    chi = lambda mask: gudhi_betti(mask)[0] - gudhi_betti(mask)[1]
    np.testing.assert_array_equal(
        euler_characteristic_error(pred, target), [abs(chi(p[b]) - chi(target[b])) for b in range(3)]
    )


def test_jax_bfloat16_prediction():
    pred = jnp.asarray(PRED_3X3, dtype=jnp.bfloat16)
    np.testing.assert_allclose(dice(pred, TARGET_3X3), [0.75])


# ---------------------------------------------------------------- clDice


def test_cldice_hand_cases():
    rng = np.random.default_rng(1)
    blob = np.zeros((20, 20), dtype=bool)
    blob[3:15, 5:9] = True
    blob[8:11, 2:18] = True
    np.testing.assert_allclose(cldice(blob, blob), [1.0])
    lines_a = np.zeros((9, 9))
    lines_a[2, 1:8] = 1
    lines_b = np.zeros((9, 9))
    lines_b[6, 1:8] = 1
    np.testing.assert_allclose(cldice(lines_a, lines_b), [0.0])
    empty = np.zeros((9, 9))
    np.testing.assert_allclose(cldice(empty, empty), [1.0])
    np.testing.assert_allclose(cldice(empty, lines_a), [0.0])
    np.testing.assert_allclose(cldice(lines_a, empty), [0.0])
    # against empty targets (documented: both skeletons empty -> 1, exactly one empty -> 0); a
    # random mask binarises to a non-empty mask, whose 2D skeleton is never empty
    noise = rng.random((9, 9))
    assert skeletonize(noise > 0.5).any()
    batch = np.stack([empty, lines_a, noise])
    np.testing.assert_array_equal(cldice(batch, np.stack([empty, empty, empty])), [1.0, 0.0, 0.0])
    # and a random pair from the definition (both skeletons non-empty)
    other = rng.random((9, 9))
    np.testing.assert_allclose(cldice(noise, other), [direct_cldice(noise > 0.5, other > 0.5)])


@pytest.mark.parametrize("shape", [(16, 16), (7, 11), (24, 9)])
def test_cldice_matches_direct_computation(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    preds, targets = [], []
    while len(preds) < 8:
        p = random_mask(shape, rng.uniform(0.3, 0.8), rng)
        t = random_mask(shape, rng.uniform(0.3, 0.8), rng)
        if skeletonize(p).any() and skeletonize(t).any():
            preds.append(p)
            targets.append(t)
    expected = [direct_cldice(p, t) for p, t in zip(preds, targets)]
    np.testing.assert_allclose(cldice(np.stack(preds), np.stack(targets)), expected)


def test_cldice_3d():
    tube = np.zeros((10, 12, 12), dtype=bool)
    tube[1:9, 4:7, 4:7] = True  # odd width: skimage's 3D skeleton of some even widths is empty
    np.testing.assert_allclose(cldice(tube, tube, spatial_dims=3), [1.0])
    broken = tube.copy()
    broken[4:6] = False  # a gap: the prediction misses part of the centreline
    value = cldice(broken, tube, spatial_dims=3)
    np.testing.assert_allclose(value, [direct_cldice(broken, tube)])
    assert 0.0 < value[0] < 1.0
    batch = np.stack([tube, broken])[..., None].astype(np.float32)
    np.testing.assert_allclose(
        cldice(batch, np.stack([tube, tube])[..., None], spatial_dims=3), [1.0, value[0]]
    )
    box = np.zeros((10, 12, 12), dtype=bool)
    box[1:9, 4:8, 4:8] = True  # non-empty, but its skimage skeleton vanishes
    assert not skeletonize(box).any()
    # documented: scored as an empty prediction, exactly one skeleton empty -> 0, not NaN
    np.testing.assert_array_equal(cldice(box, tube, spatial_dims=3), [0.0])
    with pytest.raises(ValueError, match="shape"):
        cldice(tube[None], tube[None])  # [1, D, H, W] read as 2D without spatial_dims=3


# ---------------------------------------------------------------- Betti numbers


def test_betti_ring_and_diagonal_cases():
    np.testing.assert_array_equal(betti_numbers(ring()), [[1, 1]])
    diagonal = np.array([[1, 0], [0, 1]])
    np.testing.assert_array_equal(betti_numbers(diagonal), [[1, 0]])
    # a diamond of four pixels: the centre touches the outside only through corners, and the
    # background is 4-connected, so it is a hole
    diamond = np.zeros((5, 5))
    diamond[1, 2] = diamond[2, 1] = diamond[2, 3] = diamond[3, 2] = 1
    np.testing.assert_array_equal(betti_numbers(diamond), [[1, 1]])


def test_betti_border_cases():
    # the outer edge of a ring on the border does not matter, its hole is still enclosed
    np.testing.assert_array_equal(betti_numbers(ring((3, 3), 0, 0, 3)), [[1, 1]])
    # a "C" open at the right border: its would-be hole touches the border, no hole
    c_shape = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(betti_numbers(c_shape), [[1, 0]])
    np.testing.assert_array_equal(gudhi_betti(c_shape), [1, 0])


def test_betti_empty_and_full():
    empty = np.zeros((6, 4))
    full = np.ones((6, 4))
    np.testing.assert_array_equal(betti_numbers(empty), [[1, 0]])
    np.testing.assert_array_equal(betti_numbers(empty, convention="exact"), [[0, 0]])
    np.testing.assert_array_equal(betti_numbers(full), [[1, 0]])
    np.testing.assert_array_equal(betti_numbers(full, convention="exact"), [[1, 0]])


def test_betti_several_components_and_holes():
    mask = np.zeros((12, 20), dtype=bool)
    mask |= ring((12, 20), 0, 0, 5)
    mask |= ring((12, 20), 6, 8, 5)
    mask[1, 12] = mask[10, 1] = True
    np.testing.assert_array_equal(betti_numbers(mask, convention="exact"), [[4, 2]])


def test_betti_matches_gudhi_diagram_counts():
    rng = np.random.default_rng(2)
    shapes = [(1, 1), (1, 9), (9, 1), (2, 2), (7, 11), (11, 7), (16, 16), (5, 23)]
    densities = [0.0, 0.15, 0.4, 0.6, 0.85, 1.0]
    # every shape at fixed densities (empty and full included), then random densities
    masks = [
        random_mask(shape, density, rng) for shape in shapes for density in densities
    ] + [random_mask(shapes[i % len(shapes)], rng.random(), rng) for i in range(56)]
    for mask in masks:
        np.testing.assert_array_equal(
            betti_numbers(mask)[0], gudhi_betti(mask), err_msg=f"mask\n{mask.astype(int)}"
        )
    # the batch path agrees with the per-image path
    same_shape = [m for m in masks if m.shape == (16, 16)]
    np.testing.assert_array_equal(
        betti_numbers(np.stack(same_shape)), [gudhi_betti(m) for m in same_shape]
    )


def test_beta0_matches_skimage_8_connected_labels():
    rng = np.random.default_rng(3)
    for shape in [(16, 16), (7, 11), (1, 13), (30, 9)]:
        for density in (0.2, 0.45, 0.7):
            mask = random_mask(shape, density, rng)
            expected = label(mask, connectivity=2).max()
            assert betti_numbers(mask, convention="exact")[0, 0] == expected


def test_betti_matches_cripser_t_construction():
    # a second persistence engine: CubicalRipser's T-construction of 1 - mask, counting the
    # pairs with positive persistence (essential classes die at +inf)
    cripser = pytest.importorskip("cripser")
    rng = np.random.default_rng(6)
    for i in range(40):
        shape = [(7, 11), (16, 16), (1, 9), (9, 1), (1, 1)][i % 5]
        mask = random_mask(shape, rng.random(), rng)
        pairs = cripser.computePH_T(1.0 - mask.astype(float), maxdim=1)
        counts = [np.sum((pairs[:, 0] == k) & (pairs[:, 2] > pairs[:, 1])) for k in (0, 1)]
        np.testing.assert_array_equal(betti_numbers(mask)[0], counts)


def test_betti_errors_conventions():
    empty = np.zeros((7, 7))
    np.testing.assert_array_equal(betti_errors(empty, ring()), [[0.0, 1.0]])
    np.testing.assert_array_equal(betti_errors(empty, ring(), convention="exact"), [[1.0, 1.0]])
    two_rings = ring((7, 14)) | ring((7, 14), 1, 8, 5)
    pred = np.stack([two_rings, ring((7, 14))]).astype(np.float32) * 0.9
    target = np.stack([np.zeros((7, 14)), two_rings])
    errors = betti_errors(pred, target)
    assert errors.dtype == np.float64
    np.testing.assert_array_equal(errors, [[1.0, 2.0], [1.0, 1.0]])


# ---------------------------------------------------------------- Euler characteristic


def test_euler_error_matches_skimage():
    rng = np.random.default_rng(4)
    for shape in [(16, 16), (7, 11), (1, 9)]:
        preds = random_mask((6, *shape), 0.5, rng)
        targets = random_mask((6, *shape), 0.35, rng)
        chi_p = np.array([euler_number(p, connectivity=2) for p in preds])
        chi_t = np.array([euler_number(t, connectivity=2) for t in targets])
        np.testing.assert_array_equal(
            euler_characteristic_error(preds, targets, convention="exact"), np.abs(chi_p - chi_t)
        )


def test_euler_error_hand_cases():
    empty = np.zeros((7, 7))
    # chi(ring) = 0; chi(empty) = 1 under "satloss", 0 under "exact"
    np.testing.assert_array_equal(euler_characteristic_error(empty, ring()), [1.0])
    np.testing.assert_array_equal(
        euler_characteristic_error(empty, ring(), convention="exact"), [0.0]
    )
    blob = np.zeros((7, 7))
    blob[2:5, 2:5] = 1
    np.testing.assert_array_equal(euler_characteristic_error(blob, ring()), [1.0])


# ---------------------------------------------------------------- summary dict


def test_segmentation_metrics_are_batch_means():
    rng = np.random.default_rng(5)
    pred = rng.random((4, 12, 10))
    target = rng.random((4, 12, 10)) > 0.6
    result = segmentation_metrics(pred, target)
    assert list(result) == ["accuracy", "dice", "cldice", "betti_0_error", "betti_1_error",
                            "betti_matching_error_0", "betti_matching_error_1", "betti_matching_error"]
    assert all(isinstance(v, float) for v in result.values())
    errors = betti_errors(pred, target)
    matching_errors = betti_matching_error(pred, target)
    assert result["betti_matching_error_0"] == pytest.approx(matching_errors[:, 0].mean())
    assert result["betti_matching_error_1"] == pytest.approx(matching_errors[:, 1].mean())
    assert result["betti_matching_error"] == pytest.approx(matching_errors[:, 2].mean())
    assert result["betti_matching_error"] > 0
    assert result["accuracy"] == pytest.approx(accuracy(pred, target).mean())
    assert result["dice"] == pytest.approx(dice(pred, target).mean())
    assert result["cldice"] == pytest.approx(cldice(pred, target).mean())
    assert result["betti_0_error"] == pytest.approx(errors[:, 0].mean())
    assert result["betti_1_error"] == pytest.approx(errors[:, 1].mean())
    exact = segmentation_metrics(np.zeros((7, 7)), ring(), convention="exact")
    assert exact["betti_0_error"] == 1.0 and exact["betti_1_error"] == 1.0
    # the ring's only component never dies, so only its hole is unmatched
    assert (exact["betti_matching_error_0"], exact["betti_matching_error_1"], exact["betti_matching_error"]) == (0, 1, 1)
    # the threshold reaches every metric: at 0.5 the half mask is empty, below it is full
    half, full = np.full((5, 5), 0.5), np.ones((5, 5))
    assert segmentation_metrics(half, full)["dice"] == 0.0
    assert segmentation_metrics(half, full, threshold=0.4) == {
        "accuracy": 1.0, "dice": 1.0, "cldice": 1.0, "betti_0_error": 0.0, "betti_1_error": 0.0,
        "betti_matching_error_0": 0.0, "betti_matching_error_1": 0.0, "betti_matching_error": 0.0,
    }


# ---------------------------------------------------------------- bad input


def test_shape_mismatch_names_both_shapes():
    for metric in (
        accuracy, dice, cldice, betti_errors, euler_characteristic_error, betti_matching_error,
        segmentation_metrics,
    ):
        with pytest.raises(ValueError, match=r"\(2, 5, 5\).*\(2, 5, 6\)"):
            metric(np.zeros((2, 5, 5)), np.zeros((2, 5, 6)))


def test_nan_prediction_is_refused():
    pred = PRED_3X3.copy()
    pred[0, 0] = pred[2, 2] = np.nan
    for metric in (accuracy, dice, cldice, betti_errors, betti_matching_error):
        with pytest.raises(ValueError, match=rf"{metric.__name__}: prediction contains 2 NaN"):
            metric(pred, TARGET_3X3)
    with pytest.raises(ValueError, match="betti_numbers: mask contains 2 NaN"):
        betti_numbers(pred)
    with pytest.raises(ValueError, match="segmentation_metrics: prediction contains 2 NaN"):
        segmentation_metrics(pred, TARGET_3X3)
    # a NaN target would silently become background, so it is refused too
    with pytest.raises(ValueError, match="dice: target contains 2 NaN"):
        dice(TARGET_3X3, pred)


def test_bad_dtypes_and_options():
    with pytest.raises(TypeError, match="complex"):
        dice(PRED_3X3.astype(complex), TARGET_3X3)
    with pytest.raises(TypeError, match="object"):
        dice(PRED_3X3, TARGET_3X3.astype(object))
    with pytest.raises(TypeError, match="target must be a real or boolean array"):
        accuracy(PRED_3X3, TARGET_3X3.astype(str))
    with pytest.raises(ValueError, match="convention"):
        betti_numbers(TARGET_3X3, convention="gudhi")
    with pytest.raises(ValueError, match="convention"):
        betti_errors(PRED_3X3, TARGET_3X3, convention="padded")
    with pytest.raises(ValueError, match="convention"):
        segmentation_metrics(PRED_3X3, TARGET_3X3, convention="")
    with pytest.raises(ValueError, match="spatial_dims"):
        cldice(PRED_3X3, TARGET_3X3, spatial_dims=1)
    with pytest.raises(ValueError, match="threshold"):
        dice(PRED_3X3, TARGET_3X3, threshold=float("nan"))


def test_bad_layouts():
    with pytest.raises(ValueError, match=r"\(2, 4, 4, 3\)"):
        dice(np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="3D"):
        betti_numbers(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="empty axis"):
        accuracy(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="shape"):
        accuracy(np.zeros(5), np.zeros(5))
