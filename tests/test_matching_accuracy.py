"""jaxtopo.evaluation.matching_accuracy: scoring rules on hand-made matchings, the generator's
ground truth checked by construction (connected components and holes, not persistence), the
demo pair's known answer, perfect predictions, determinism, and the error plot."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage  # noqa: E402

from jaxtopo import viz  # noqa: E402
from jaxtopo.evaluation import (  # noqa: E402
    KINDS,
    METHODS,
    FeatureMatching,
    MatchingCase,
    feature_matching,
    identities,
    judge,
    make_case,
    matching_accuracy,
)
from jaxtopo.viz import demo  # noqa: E402

EIGHT = np.ones((3, 3), bool)  # T-construction: foreground 8-connected, background 4-connected


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- scoring rules on hand-made matchings ------------------------------------------------------

def _hand_case(regions0):
    """A case whose only use is its dimension-0 region map (10 x 10)."""
    empty = np.zeros((10, 10), np.float32)
    return MatchingCase("hand", (0,), empty, empty, {0: regions0, 1: np.zeros_like(regions0)}, {}, {}, {})


REGIONS = np.zeros((10, 10), np.int32)
REGIONS[0:3, 0:3] = 1  # a target object, cut in two in the prediction
REGIONS[0:3, 6:9] = 2  # another target object
REGIONS[6:9, 6:9] = 3  # a spurious blob (no target feature)
# predicted features: two pieces in region 1, one in 2, one in 3, one noise in 0, the essential
PRED = np.array([[0, 0], [2, 2], [1, 7], [7, 7], [5, 4], [-1, -1]])
PERS = np.array([0.9, 0.6, 0.8, 0.7, 0.3, 1.0])
TARGET = np.array([[2, 2], [2, 8], [-1, -1]])  # region 1, region 2, the essential


def _fm(matched_to, counted=None, decides_all=True, pers=PERS):
    counted = np.ones(len(PRED), bool) if counted is None else np.asarray(counted)
    return FeatureMatching(PRED, np.asarray(pers, float), TARGET, np.ones(len(TARGET)),
                           np.asarray(matched_to), counted, decides_all)


def test_identities_read_the_region_at_the_creator_and_minus_one_on_the_padding():
    np.testing.assert_array_equal(identities(REGIONS, PRED), [1, 1, 2, 3, 0, -1])
    np.testing.assert_array_equal(identities(REGIONS, np.array([[10, 0], [0, -1]])), [-1, -1])


def test_right_matching_with_a_second_piece_on_the_diagonal_is_all_right():
    v = judge(_hand_case(REGIONS), _fm([0, -1, 1, -1, -1, 2]), 0, threshold=0.25)
    # scored: the five image features above 0.25 (the essential never); targets 1 and 2
    np.testing.assert_array_equal(v.pred_scored, [1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(v.target_scored, [1, 1, 0])
    assert v.pred_correct[v.pred_scored].all() and v.target_correct[v.target_scored].all()
    assert v.pred_fate_correct[v.pred_scored].all()


def test_either_piece_of_a_cut_object_may_take_its_target():
    v = judge(_hand_case(REGIONS), _fm([-1, 0, 1, -1, -1, 2]), 0, threshold=0.25)
    assert v.pred_correct[:4].all() and v.target_correct[:2].all()


def test_swapped_targets_the_essential_and_a_kept_spurious_blob_are_wrong():
    # piece 1 -> target 2, region-2 feature -> target 1: both pairs and both targets wrong; the
    # second piece unmatched is wrong too (its target went elsewhere); the blob kept on the
    # essential target is wrong, and the essential prediction is never scored
    v = judge(_hand_case(REGIONS), _fm([1, -1, 0, 2, -1, -1]), 0, threshold=0.25)
    np.testing.assert_array_equal(v.pred_correct[:5], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(v.target_correct[:2], [0, 0])
    # fate: region 1 keeps exactly one (right), region 2 keeps one (right), the blob is kept (wrong)
    np.testing.assert_array_equal(v.pred_fate_correct[:5], [1, 1, 1, 0, 1])


def test_a_missing_feature_is_right_on_the_diagonal_or_on_its_remnant_but_not_on_noise_elsewhere():
    pers = [0.9, 0.6, 0.1, 0.7, 0.3, 1.0]  # region 2's feature is only a remnant below 0.25
    on_diagonal = judge(_hand_case(REGIONS), _fm([0, -1, -1, -1, -1, 2], pers=pers), 0, threshold=0.25)
    on_remnant = judge(_hand_case(REGIONS), _fm([0, -1, 1, -1, -1, 2], pers=pers), 0, threshold=0.25)
    on_noise = judge(_hand_case(REGIONS), _fm([0, -1, -1, -1, 1, 2], pers=pers), 0, threshold=0.25)
    assert on_diagonal.target_correct[1] and on_remnant.target_correct[1]
    assert not on_noise.target_correct[1] and not on_noise.pred_correct[4]


def test_undecided_features_are_wrong():
    # TCLoss-like: one counted pair (right), nothing else decided
    counted = [True, False, False, False, False, False]
    v = judge(_hand_case(REGIONS), _fm([0, -1, -1, -1, -1, -1], counted, decides_all=False), 0, threshold=0.25)
    np.testing.assert_array_equal(v.pred_correct[:5], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(v.target_correct[:2], [1, 0])


# --- the generator's ground truth, checked by construction -------------------------------------

def _components(mask):
    return ndimage.label(mask, structure=EIGHT)[1]


def _holes(mask):
    """4-connected background components that do not touch the border."""
    labels, n = ndimage.label(~mask)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))) - {0}
    return n - len(border)


@pytest.mark.parametrize("kind", KINDS)
def test_ground_truth_by_construction(kind):
    case = make_case(kind, (7, KINDS.index(kind), 0))
    # binarised below the dimmed level (>= 0.4 before noise) and far above the background (0.05)
    target, found = case.target > 0.5, case.likelihood > 0.3
    assert case.likelihood.dtype == np.float32 and 0 < case.likelihood.min() and case.likelihood.max() < 1
    for dim in (0, 1):
        labels = sorted(set(np.unique(case.regions[dim]).tolist()) - {0})
        for r in labels:
            inside = case.regions[dim] == r
            count = _components if dim == 0 else _holes
            # the target has one feature exactly in the regions that list one
            assert count(target & inside) == (r in case.target_features[dim]), (dim, r)
            # the prediction, binarised, holds the constructed number of features
            assert count(found & inside) == case.predicted_features[dim].get(r, 0), (dim, r)
        # nothing of either image lies outside the regions
        assert not (target & (case.regions[0] == 0)).any() and not (found & (case.regions[0] == 0)).any()
    wanted = [k for k in KINDS if k != "mixed"] if kind == "mixed" else [kind]
    assert sorted(case.perturbed) == sorted(wanted)


@pytest.mark.parametrize("kind", KINDS)
def test_persistence_finds_the_constructed_features_above_the_threshold(kind):
    case = make_case(kind, (7, KINDS.index(kind), 1))
    matching = feature_matching(case.likelihood, case.target, "SATLoss")
    for dim in (0, 1):
        v = judge(case, matching[dim], dim)
        assert sorted(v.target_identity[v.target_scored].tolist()) == list(case.target_features[dim])
        found = dict(zip(*np.unique(v.pred_identity[v.pred_scored], return_counts=True)))
        assert {int(k): int(n) for k, n in found.items()} == case.predicted_features[dim]


def test_cases_are_deterministic_by_seed():
    a, b, c = make_case("mixed", (3, 1)), make_case("mixed", (3, 1)), make_case("mixed", (3, 2))
    np.testing.assert_array_equal(a.likelihood, b.likelihood)
    np.testing.assert_array_equal(a.regions[1], b.regions[1])
    assert a.perturbed == b.perturbed and not np.array_equal(a.likelihood, c.likelihood)
    assert matching_accuracy(a, "SATLoss") == matching_accuracy(b, "SATLoss")


# --- known answers -----------------------------------------------------------------------------

def demo_case() -> MatchingCase:
    """matching_demo_pair with its regions drawn by hand from the demo's geometry: ring A (found
    a little off, weaker), ring B, the spurious ring C, the bar broken in two."""
    likelihood, target = viz.matching_demo_pair()
    rows, cols = np.mgrid[0:demo.SIZE, 0:demo.SIZE]
    loops = np.zeros(target.shape, np.int32)
    shifted = lambda c: (c[0] + demo.SHIFT[0], c[1] + demo.SHIFT[1])  # noqa: E731
    for label, centres in ((1, [demo.RING_A, shifted(demo.RING_A)]), (2, [demo.RING_B, shifted(demo.RING_B)]),
                           (3, [demo.RING_C])):
        for c in centres:
            loops[np.hypot(rows - c[0], cols - c[1]) <= demo.RING_RADIUS + 3] = label
    components = loops.copy()
    components[(np.abs(rows - demo.BAR_ROW) <= 2) & (cols >= demo.BAR_COLS[0] - 2) & (cols <= demo.BAR_COLS[1] + 2)] = 4
    return MatchingCase("demo", (0,), likelihood, target, {0: components, 1: loops},
                        {0: (1, 2, 4), 1: (1, 2)}, {0: {1: 1, 2: 1, 3: 1, 4: 2}, 1: {1: 1, 2: 1, 3: 1}}, {})


def test_demo_pair_spatial_matching_is_right_and_plain_wasserstein_is_not():
    case = demo_case()
    sat, plain = matching_accuracy(case, "SATLoss")[1], matching_accuracy(case, "Wasserstein")[1]
    # scored loops: predicted A (weak), B, C (spurious, stronger than A); target A, B
    assert sat.features == plain.features == 5
    assert sat.correct == 5
    # plain: C takes target A and the true loop A goes to the diagonal; only B and its target right
    assert plain.correct == 2
    # the fate score sees it too: A dropped and C kept are two wrong fates of three
    assert (sat.fate_correct, plain.fate_correct) == (3, 1)


@pytest.mark.parametrize("method", METHODS)
def test_perfect_prediction(method):
    case = make_case("mixed", (1, 6, 0))
    exact = dataclasses.replace(case, likelihood=case.target.copy())
    # every predicted feature is a target's own (0, 1) point: kept by every method that decides all
    for dim, counts in matching_accuracy(exact, method).items():
        if method == "TCLoss":  # one pair per dimension at most, and it is right
            assert counts.acted <= 1 and counts.acted_correct == counts.acted
        else:
            assert counts.fate_correct == counts.predicted > 0
        if method in ("He et al.", "Betti matching"):
            # identical diagrams: ranks (He) and the comparison image (BM) pair each with itself
            assert counts.correct == counts.features
    # off 0 and 1 the spatial weight separates the zero-distance ties: SATLoss is right everywhere
    soft = dataclasses.replace(case, likelihood=np.clip(case.target, 0.01, 0.99))
    if method in ("SATLoss", "Betti matching"):
        assert all(c.correct == c.features for c in matching_accuracy(soft, method).values())


def test_plot_matching_errors_marks_the_demo_mistakes():
    case = demo_case()
    fig, (left, right) = plt.subplots(1, 2)
    viz.plot_matching_errors(case, "SATLoss", 1, ax=left)
    viz.plot_matching_errors(case, "Wasserstein", 1, ax=right)

    def gid(ax, name):
        (found,) = [a for a in ax.collections if a.get_gid() == name]
        return found

    assert len(gid(left, "wrong_pairs").get_segments()) == 0 and len(gid(left, "right_pairs").get_segments()) == 2
    assert len(gid(left, "wrong_features").get_offsets()) == 0
    # plain: C -> target A is the wrong pair; wrong partners: A, C and target A
    (segment,) = gid(right, "wrong_pairs").get_segments()
    c_row, c_col = demo.RING_C
    assert np.hypot(segment[0][1] - c_row, segment[0][0] - c_col) <= demo.RING_RADIUS + 2
    assert len(gid(right, "wrong_features").get_offsets()) == 3
    assert "2 of 5" in right.get_title()
