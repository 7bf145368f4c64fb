"""The Betti-matching error metric: hand-worked masks, patches, and the host Betti matching counts.

On a binary mask every persistence pair is born at 0 and dies at 1: dimension 0 has one pair per
foreground component but the oldest (the component that never dies is left out), dimension 1 one
pair per hole. The error counts the pairs of either image without a partner in the other.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtopo.host.betti_matching import betti_matching
from jaxtopo.metrics import betti_errors, betti_matching_error, betti_numbers


def blobs(shape, *corners, size=2):
    """A bool mask with size x size squares at the given top-left corners."""
    mask = np.zeros(shape, dtype=bool)
    for r, c in corners:
        mask[r:r + size, c:c + size] = True
    return mask


def ring(shape=(9, 9), top=1, left=1, size=6):
    """A square annulus of width 1 (4-connected): one component, one hole."""
    mask = np.zeros(shape, dtype=bool)
    mask[top:top + size, left:left + size] = True
    mask[top + 1:top + size - 1, left + 1:left + size - 1] = False
    return mask


def host_counts(pred, target, construction="V"):
    """[dim 0, dim 1] unmatched prediction + unmatched target pairs, straight from the host API."""
    m = betti_matching(1.0 - pred.astype(np.float64), 1.0 - target.astype(np.float64),
                       construction=construction, backend="python")
    return [len(m[d].unmatched_pred()) + len(m[d].unmatched_target()) for d in (0, 1)]


def test_identical_masks_have_no_error():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 16, 16)) < 0.5
    np.testing.assert_array_equal(betti_matching_error(masks, masks), np.zeros((3, 3)))
    np.testing.assert_array_equal(betti_matching_error(ring(), ring(), construction="T"), [[0, 0, 0]])
    # the metric skips identical masks; the host matching agrees that every pair is matched
    for mask in masks:
        m = betti_matching(1.0 - mask, 1.0 - mask.astype(np.float64), backend="python")
        assert len(m[0].pred_pairs) > 0
        assert host_counts(mask, mask) == [0, 0]


def test_one_extra_blob_is_one_unmatched_component():
    target = blobs((12, 12), (5, 5))
    after = target | blobs((12, 12), (9, 9))
    before = target | blobs((12, 12), (0, 0))  # the extra blob is the older component
    for pred in (after, before):
        np.testing.assert_array_equal(betti_matching_error(pred, target), [[1, 0, 1]])
        np.testing.assert_array_equal(betti_matching_error(target, pred), [[1, 0, 1]])
    two_extra = after | blobs((12, 12), (0, 9))
    np.testing.assert_array_equal(betti_matching_error(two_extra, target), [[2, 0, 2]])


def test_a_misplaced_component_counts_twice_where_the_betti_error_sees_nothing():
    target = blobs((12, 12), (1, 1), (1, 8))
    pred = blobs((12, 12), (1, 1), (8, 8))  # the second blob moved to where the target has none
    np.testing.assert_array_equal(betti_errors(pred, target), [[0, 0]])
    np.testing.assert_array_equal(betti_matching_error(pred, target), [[2, 0, 2]])
    # overlapping the target's blob, it is matched
    shifted = blobs((12, 12), (1, 1), (2, 9))
    np.testing.assert_array_equal(betti_matching_error(shifted, target), [[0, 0, 0]])


def test_broken_ring():
    target = ring()
    one_gap = target.copy()
    one_gap[1, 3] = False  # still one component, no hole
    np.testing.assert_array_equal(betti_matching_error(one_gap, target), [[0, 1, 1]])
    np.testing.assert_array_equal(betti_matching_error(target, one_gap), [[0, 1, 1]])
    two_gaps = one_gap.copy()
    two_gaps[6, 4] = False  # two pieces: one more component than the target
    np.testing.assert_array_equal(betti_matching_error(two_gaps, target), [[1, 1, 2]])
    # a ring at another place: one component each (no pair), but its hole is not the target's
    moved = ring((16, 16), top=9, left=9)
    np.testing.assert_array_equal(betti_matching_error(moved, ring((16, 16))), [[0, 2, 2]])


def test_empty_masks():
    empty = np.zeros((9, 9), dtype=bool)
    np.testing.assert_array_equal(betti_matching_error(empty, empty), [[0, 0, 0]])
    # the target's only component never dies, so it is no pair: only its hole counts
    np.testing.assert_array_equal(betti_matching_error(empty, ring()), [[0, 1, 1]])
    np.testing.assert_array_equal(betti_matching_error(ring(), empty), [[0, 1, 1]])
    np.testing.assert_array_equal(betti_matching_error(empty, blobs((9, 9), (0, 0), (5, 5))), [[1, 0, 1]])
    # an all-foreground prediction has no pair either (a documented blind spot)
    np.testing.assert_array_equal(betti_matching_error(~empty, blobs((9, 9), (3, 3))), [[0, 0, 0]])


def test_constructions_differ_on_diagonal_contacts():
    diamond = np.zeros((5, 5), dtype=bool)
    diamond[[1, 2, 2, 3], [2, 1, 3, 2]] = True  # 8-connected loop around (2, 2)
    empty = np.zeros_like(diamond)
    # V: pixels are vertices, four separate components and no loop
    np.testing.assert_array_equal(betti_matching_error(diamond, empty), [[3, 0, 3]])
    # T: pixels are squares, one component enclosing a hole
    np.testing.assert_array_equal(betti_matching_error(diamond, empty, construction="T"), [[0, 1, 1]])


@pytest.mark.parametrize("construction", ["V", "T"])
def test_random_masks_agree_with_the_host_matching(construction):
    rng = np.random.default_rng(1)
    pred = rng.random((6, 20, 20)) < 0.55
    target = rng.random((6, 20, 20)) < 0.55
    errors = betti_matching_error(pred, target, construction=construction)
    assert errors.shape == (6, 3) and errors.dtype == np.float64
    for b in range(6):
        expected = host_counts(pred[b], target[b], construction)
        np.testing.assert_array_equal(errors[b], expected + [sum(expected)])
    assert errors[:, 2].sum() > 0
    if construction == "T":
        # with the T-construction the pairs are the Betti numbers of jaxtopo.metrics (8-connected
        # foreground, 4-connected holes) minus the component that never dies, so the Betti
        # error is a lower bound of the Betti-matching error
        for mask in (pred, target):
            betti = betti_numbers(mask, convention="exact")
            m = [betti_matching(1.0 - x.astype(float), 1.0 - x.astype(float), construction="T",
                                backend="python") for x in mask]
            np.testing.assert_array_equal([len(r[0].pred_pairs) for r in m], np.maximum(betti[:, 0] - 1, 0))
            np.testing.assert_array_equal([len(r[1].pred_pairs) for r in m], betti[:, 1])
        assert np.all(errors[:, :2] >= betti_errors(pred, target, convention="exact"))


def test_patches_average_over_the_patches_of_an_image():
    target = np.zeros((2, 10, 10), dtype=bool)
    pred = target.copy()
    pred[0, 8, 8] = pred[0, 9, 9] = True  # two components in the 2x2 corner patch (V)
    pred[1, 0:2, 0] = pred[1, 0:2, 2] = True  # two components in the first 4x4 patch
    # 10 = 4 + 4 + 2: 3 x 3 patches, the last row and column 2 pixels wide
    np.testing.assert_allclose(betti_matching_error(pred, target, patch_size=4),
                               [[1 / 9, 0, 1 / 9], [1 / 9, 0, 1 / 9]])
    np.testing.assert_array_equal(betti_matching_error(pred, target), [[1, 0, 1], [1, 0, 1]])
    # the mean of the patches, each matched on its own; (height, width) patches too
    rng = np.random.default_rng(2)
    p, t = rng.random((12, 13)) < 0.5, rng.random((12, 13)) < 0.5
    for size, (ph, pw) in ((5, (5, 5)), ((4, 6), (4, 6))):
        crops = [betti_matching_error(p[r:r + ph, c:c + pw], t[r:r + ph, c:c + pw])[0]
                 for r in range(0, 12, ph) for c in range(0, 13, pw)]
        np.testing.assert_allclose(betti_matching_error(p, t, patch_size=size)[0], np.mean(crops, axis=0))
    # a patch at least as large as the image is the full image
    np.testing.assert_array_equal(betti_matching_error(p, t, patch_size=13), betti_matching_error(p, t))
    # splitting can cut a component (and hide an extra one alone in its patch)
    assert not np.array_equal(betti_matching_error(p, t, patch_size=5), betti_matching_error(p, t))


def test_inputs_and_layouts():
    target = ring()
    pred = np.where(target, 0.9, 0.1)
    pred[1, 3] = 0.5  # p == threshold is background: the ring is broken
    np.testing.assert_array_equal(betti_matching_error(pred, target), [[0, 1, 1]])
    np.testing.assert_array_equal(betti_matching_error(pred, target, threshold=0.4), [[0, 0, 0]])
    batch = np.stack([pred, np.where(target, 0.9, 0.1)])
    labels = np.stack([target, target]).astype(np.float32)
    expected = [[0, 1, 1], [0, 0, 0]]
    np.testing.assert_array_equal(betti_matching_error(batch, labels), expected)
    np.testing.assert_array_equal(betti_matching_error(batch[..., None], labels[..., None]), expected)
    np.testing.assert_array_equal(betti_matching_error(jnp.asarray(batch), jnp.asarray(labels)), expected)


def test_bad_inputs():
    mask = ring()
    with pytest.raises(ValueError, match=r"betti_matching_error: .*\(9, 9\).*\(9, 8\)"):
        betti_matching_error(mask, mask[:, :8])
    nan = np.where(mask, 0.9, 0.1)
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="betti_matching_error: prediction contains 1 NaN"):
        betti_matching_error(nan, mask)
    with pytest.raises(ValueError, match="construction"):
        betti_matching_error(mask, mask, construction="X")
    for bad in (0, -1, 2.5, True, (4,), (4, 0), "4"):
        with pytest.raises(ValueError, match="patch_size"):
            betti_matching_error(mask, mask, patch_size=bad)
