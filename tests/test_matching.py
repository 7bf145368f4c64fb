"""Diagram matching against POT's exact transport and brute force."""

import itertools

import numpy as np
import pytest

from jaxtopo.host.matching import DIAGONAL, CostModel, match, optimal_partial_matching
from reference_satloss import reference_matching_value


def random_diagram(k, rng):
    b = rng.random(k)
    return np.stack([b, b + rng.random(k) * (1 - b)], axis=1)


@pytest.mark.parametrize("variant,q", [("official", 1), ("paper", 2)])
@pytest.mark.parametrize("spatial", [True, False])
def test_optimal_value_equals_pot(variant, q, spatial):
    rng = np.random.default_rng(q + 10 * spatial)
    model = CostModel(variant=variant, spatial=spatial)
    for n, m in [(0, 0), (0, 3), (4, 0), (1, 1), (5, 5), (30, 4), (3, 25), (400, 60), (1500, 120)]:
        pred, target = random_diagram(n, rng), random_diagram(m, rng)
        pred_xy, target_xy = rng.random((n, 2)), rng.random((m, 2))
        got = match(pred, target, pred_xy, target_xy, cost_model=model)
        want = reference_matching_value(pred, target, pred_xy, target_xy, q=q, spatial=spatial)
        assert got.value == pytest.approx(want, rel=1e-9, abs=1e-12), (n, m)
        # the reported matching really costs the reported value
        w = model.spatial_weights(pred_xy, target_xy)
        costs = model.pair_costs(pred, target, w)
        total = sum(costs[i, j] if j != DIAGONAL else model.diagonal_costs(pred[i:i + 1])[0]
                    for i, j in enumerate(got.matched_to))
        unmatched = np.setdiff1d(np.arange(m), got.matched_to)
        total += model.diagonal_costs(target)[unmatched].sum() if m else 0.0
        assert total == pytest.approx(got.value, rel=1e-9, abs=1e-12)
        matched = got.matched_to[got.matched_to != DIAGONAL]
        assert len(set(matched.tolist())) == len(matched)  # each target used at most once


def brute_force_partial_matching(costs, pd, td):
    n, m = costs.shape
    best = np.inf
    # assign each target to a distinct predicted point or to its diagonal
    for choice in itertools.product(range(-1, n), repeat=m):
        used = [c for c in choice if c >= 0]
        if len(used) != len(set(used)):
            continue
        value = sum(td[j] if c < 0 else costs[c, j] for j, c in enumerate(choice))
        value += sum(pd[i] for i in range(n) if i not in used)
        best = min(best, value)
    return best


def test_optimal_matches_brute_force_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(40):
        n, m = rng.integers(0, 5), rng.integers(0, 4)
        costs = np.round(rng.random((n, m)) * 3) / 3  # ties on purpose
        pd, td = np.round(rng.random(n) * 3) / 3, np.round(rng.random(m) * 3) / 3
        _, value = optimal_partial_matching(costs, pd, td)
        assert value == pytest.approx(brute_force_partial_matching(costs, pd, td))


def test_longest_bars_policy_by_hand():
    pred = np.array([[0.0, 0.2], [0.1, 0.9], [0.0, 0.5]])
    target = np.array([[0.0, 1.0], [0.0, 0.4]])
    model = CostModel(variant="paper", spatial=False)
    got = match(pred, target, np.zeros((3, 2)), np.zeros((2, 2)), cost_model=model, policy="longest_bars")
    assert got.matched_to.tolist() == [DIAGONAL, 0, 1]
    want = (0.1**2 + 0.1**2) + (0.0 + 0.1**2) + 2 * 0.1**2  # pairs + bar 0 to the diagonal
    assert got.value == pytest.approx(want)


def test_hausdorff_policy_is_the_worst_term():
    rng = np.random.default_rng(2)
    model = CostModel(variant="official", spatial=False)
    for _ in range(30):
        pred, target = random_diagram(rng.integers(0, 6), rng), random_diagram(rng.integers(0, 6), rng)
        got = match(pred, target, np.zeros((len(pred), 2)), np.zeros((len(target), 2)),
                    cost_model=model, policy="hausdorff")
        dist = lambda a, b: np.hypot(*(a - b))
        diag = lambda a: abs(a[1] - a[0]) / np.sqrt(2)
        terms = [min([diag(p)] + [dist(p, t) for t in target]) for p in pred]
        terms += [min([diag(t)] + [dist(p, t) for p in pred]) for t in target]
        assert got.value == pytest.approx(max(terms, default=0.0))
        assert got.counted.sum() <= 1  # only one pair carries gradient


@pytest.mark.parametrize("variant,q", [("official", 1), ("paper", 2)])
def test_scipy_fallback_equals_pot(variant, q):
    """The pure-numpy path (used when the native engine is not built) is exact too."""
    rng = np.random.default_rng(20 + q)
    model = CostModel(variant=variant)
    for n, m in [(0, 2), (3, 0), (6, 6), (50, 9), (700, 40)]:
        pred, target = random_diagram(n, rng), random_diagram(m, rng)
        pred_xy, target_xy = rng.random((n, 2)), rng.random((m, 2))
        costs = model.pair_costs(pred, target, model.spatial_weights(pred_xy, target_xy))
        _, value = optimal_partial_matching(costs, model.diagonal_costs(pred), model.diagonal_costs(target),
                                            chunk=7)
        want = reference_matching_value(pred, target, pred_xy, target_xy, q=q)
        assert value == pytest.approx(want, rel=1e-9, abs=1e-12)


def noisy_diagram_with_structure(n_noise, n_persistent, rng):
    """Like a real likelihood's diagram: many points near the diagonal, a few far from it."""
    b = rng.random(n_noise)
    noise = np.stack([b, b + 0.03 * rng.random(n_noise)], axis=1)
    structure = np.stack([0.2 * rng.random(n_persistent), 1 - 0.2 * rng.random(n_persistent)], axis=1)
    return np.concatenate([noise, structure])


@pytest.mark.parametrize("variant,q", [("official", 1), ("paper", 2)])
@pytest.mark.parametrize("spatial,min_w", [(True, 0.05), (True, 0.0), (False, 0.05)])
def test_bucket_pruned_matching_equals_pot_on_realistic_diagrams(variant, q, spatial, min_w):
    """The native engine prunes whole buckets of points by lower bounds; it must stay exact on
    diagrams shaped like real ones, with quantised (tied) creators and coincident points."""
    rng = np.random.default_rng(q + 3 * spatial + int(100 * min_w))
    model = CostModel(variant=variant, spatial=spatial, min_spatial_weight=min_w)
    for n_noise, n_persistent, m in [(2000, 40, 35), (600, 5, 80), (300, 0, 12), (50, 30, 30)]:
        pred = noisy_diagram_with_structure(n_noise, n_persistent, rng)
        target = np.tile([[0.0, 1.0]], (m, 1))  # a binary target: every point is (0, 1)
        pred_xy = np.round(rng.random((len(pred), 2)) * 20) / 20
        target_xy = np.round(rng.random((m, 2)) * 20) / 20
        pred_xy[:3] = target_xy[0]  # creators on top of a target creator
        got = match(pred, target, pred_xy, target_xy, cost_model=model)
        want = reference_matching_value(pred, target, pred_xy, target_xy, q=q, spatial=spatial, min_w=min_w)
        assert got.value == pytest.approx(want, rel=1e-9, abs=1e-12), (n_noise, n_persistent, m)


def test_native_matching_rejects_non_finite_points():
    from jaxtopo.host import native

    if not native.available():
        pytest.skip("native engine not built")
    pred = np.array([[0.0, np.nan]])
    with pytest.raises(ValueError, match="finite"):
        native.optimal_matching(pred, [[0.0, 1.0]], [[0.0, 0.0]], [[0.0, 0.0]], q=1, weight_power=1, low=0.05)


def grid_of_lines(side, rng):
    """A likelihood of crossing bright lines plus noise, and its label: each grid cell is a loop,
    so every target loop wants the same persistent predicted loops (a dense, tied problem)."""
    label = np.zeros((side, side), bool)
    for _ in range(max(2, side // 25)):
        label[rng.integers(0, side), :] = True
        label[:, rng.integers(0, side)] = True
    likelihood = np.clip(0.8 * label + 0.25 * rng.random((side, side)), 0, 1)
    return likelihood.astype(np.float32), label.astype(np.float32)


@pytest.mark.parametrize("variant", ["official", "paper"])
def test_matching_of_real_grid_images_equals_scipy(variant):
    """Images whose target loops all compete for the same predicted loops make the native
    engine switch to its dense search; its value must equal scipy's exact sparse assignment
    (the reference path), and the matching it returns must cost what it reports."""
    from jaxtopo.host import TopoLossConfig
    from jaxtopo.host.image_loss import filtration, _prepare

    config = TopoLossConfig(variant=variant)
    model = config.cost_model
    rng = np.random.default_rng(7)
    for side in (100, 160, 240):
        likelihood, label = grid_of_lines(side, rng)
        pred = _prepare(filtration(likelihood, pad=True), likelihood.shape, config)
        target = _prepare(filtration(label, pad=True), label.shape, config)
        p, t = pred.points[1], target.points[1]
        p_xy, t_xy = pred.creator_xy[1], target.creator_xy[1]
        assert len(t) >= 16  # enough loops to compete
        got = match(p, t, p_xy, t_xy, cost_model=model)

        def cost_rows(j0, j1):
            return model.pair_costs(p, t[j0:j1], model.spatial_weights(p_xy, t_xy[j0:j1])).T

        _, want = optimal_partial_matching(cost_rows, model.diagonal_costs(p), model.diagonal_costs(t))
        assert got.value == pytest.approx(want, rel=1e-9), side
        # the returned matching is a valid one of that cost
        matched = got.matched_to != DIAGONAL
        assert len(np.unique(got.matched_to[matched])) == matched.sum()
        unmatched_targets = np.setdiff1d(np.arange(len(t)), got.matched_to[matched])
        cost = (model.pair_costs_of_pairs(p[matched], t[got.matched_to[matched]], p_xy[matched],
                                          t_xy[got.matched_to[matched]]).sum()
                + model.diagonal_costs(p[~matched]).sum() + model.diagonal_costs(t[unmatched_targets]).sum())
        assert cost == pytest.approx(want, rel=1e-9), side
