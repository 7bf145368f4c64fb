"""Matching a predicted persistence diagram to a target diagram (host side, numpy + scipy).

Each predicted point is matched to one target point or to the diagonal; each target point to at
most one predicted point. Costs (see docs/conventions.md, section 5), with q = 1 for the "official"
variant and q = 2 for the "paper" variant (Eq. 4):

    C_ij = s_ij * ||p_i - t_j||^q        s_ij = spatial weight of the creators (1 without spatial)
    D(p) = ||p - proj(p)||^q             proj(p) = ((b + d) / 2, (b + d) / 2), never weighted

Matching policies (the paper's baselines on one machinery):

* ``"optimal"``: minimum-cost partial matching (SATLoss; with spatial=False the Wasserstein
  loss of Hu et al. 2019).
* ``"longest_bars"`` (He et al. 2023): the k longest predicted bars go to the k longest target
  bars in order of length, k = min(n, m); every other predicted bar to the diagonal.
* ``"hausdorff"`` (TCLoss, Qi et al. 2023): only the worst pair of the directed Hausdorff
  distances between the diagrams (diagonal included) counts.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from jaxtopo.host import native

POLICIES = ("optimal", "longest_bars", "hausdorff")
VARIANTS = ("official", "paper")
DIAGONAL = -1  # matched_to value of a predicted point sent to the diagonal


def _pairwise_squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, m] squared distances between 2D points a [n, 2] and b [m, 2], without [n, m, 2] temporaries."""
    dx = np.subtract.outer(a[:, 0], b[:, 0])
    dy = np.subtract.outer(a[:, 1], b[:, 1])
    dx *= dx
    dy *= dy
    dx += dy
    return dx


@dataclasses.dataclass(frozen=True)
class CostModel:
    """How pair costs are computed: the variant's exponent and the spatial weighting."""

    variant: str = "official"
    spatial: bool = True
    min_spatial_weight: float = 0.05

    @property
    def q(self) -> int:
        return 1 if self.variant == "official" else 2

    @property
    def weight_power(self) -> int:
        """The native engine's code for the weight: 0 none, 1 clamped distance, 2 clamped square."""
        return 0 if not self.spatial else 1 if self.variant == "official" else 2

    def spatial_weights(self, pred_xy: np.ndarray, target_xy: np.ndarray) -> np.ndarray:
        """[n, m] weights from normalised creator coordinates ([n, 2] and [m, 2])."""
        return self._weight(_pairwise_squared_distances(pred_xy, target_xy))

    def spatial_weights_of_pairs(self, pred_xy: np.ndarray, target_xy: np.ndarray) -> np.ndarray:
        """[k] weights of the aligned pairs (pred_xy[i], target_xy[i])."""
        return self._weight(np.sum((pred_xy - target_xy) ** 2, axis=1))

    def _weight(self, squared_distance: np.ndarray) -> np.ndarray:
        if not self.spatial:
            return np.ones_like(squared_distance)
        # official: Euclidean distance clamped to [w, 1]; paper (Eq. 4): squared distance, same clamp.
        weight = np.sqrt(squared_distance, out=squared_distance) if self.variant == "official" else squared_distance
        return np.clip(weight, self.min_spatial_weight, 1.0, out=weight)

    def pair_costs(self, pred: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """[n, m] costs between diagram points pred [n, 2] and target [m, 2]."""
        squared = _pairwise_squared_distances(pred, target)
        if self.q == 1:
            np.sqrt(squared, out=squared)
        squared *= weights
        return squared

    def pair_costs_of_pairs(self, pred, target, pred_xy, target_xy) -> np.ndarray:
        """[k] costs of the aligned pairs (pred[i], target[i]) with creators pred_xy[i], target_xy[i]."""
        squared = np.sum((pred - target) ** 2, axis=1)
        weights = self.spatial_weights_of_pairs(pred_xy, target_xy)
        return weights * (np.sqrt(squared) if self.q == 1 else squared)

    def diagonal_costs(self, points: np.ndarray) -> np.ndarray:
        """[k] costs of sending points [k, 2] to the diagonal."""
        half_length = (points[:, 1] - points[:, 0]) / 2.0
        squared = 2.0 * half_length**2
        return np.sqrt(squared) if self.q == 1 else squared


@dataclasses.dataclass(frozen=True)
class Matching:
    """Result of matching n predicted points to m target points.

    ``matched_to[i]`` is the target index of predicted point i or DIAGONAL (-1); ``counted[i]``
    says whether point i's term is part of the loss (always True except for "hausdorff").
    ``value`` is the loss value: the sum of the counted terms plus ``constant`` (cost of target
    points that no counted predicted point covers; it carries no gradient).
    """

    matched_to: np.ndarray
    counted: np.ndarray
    value: float
    constant: float


CostRows = Callable[[int, int], np.ndarray]


def optimal_partial_matching(
    cost_rows: "CostRows | np.ndarray",
    pred_diagonal: np.ndarray,
    target_diagonal: np.ndarray,
    *,
    chunk: int = 256,
) -> tuple[np.ndarray, float]:
    """Exact minimum-cost partial matching; returns (matched_to [n], total cost).

    ``cost_rows(j0, j1)`` gives the pair costs of target points j0..j1-1 against all n predicted
    points, shape [j1 - j0, n] (an [n, m] cost matrix is accepted too); rows are requested in
    chunks so the full matrix never has to exist.

    Solved as a rectangular assignment with one row per target point: column i < n costs
    ``C_ji - D(p_i)`` (the saving of not sending p_i to the diagonal), column n + j costs
    ``D(t_j)`` and is open to row j only; total = sum_i D(p_i) + assignment value. Two exact
    prunings make it sparse: a row never needs a column that costs more than its own diagonal
    column, nor one outside its m cheapest (m - 1 other rows can occupy at most m - 1 of them).
    The sparse problem goes to scipy's LAPJVsp (`min_weight_full_bipartite_matching`).
    """
    if isinstance(cost_rows, np.ndarray):
        matrix = cost_rows
        cost_rows = lambda j0, j1: matrix[:, j0:j1].T  # noqa: E731
    n, m = len(pred_diagonal), len(target_diagonal)
    matched_to = np.full(n, DIAGONAL, dtype=np.int64)
    base = float(np.sum(pred_diagonal))
    if m == 0:
        return matched_to, base
    if n == 0:
        return matched_to, float(np.sum(target_diagonal))
    keep = min(m, n)
    rows, cols, vals = [], [], []
    for j0 in range(0, m, chunk):
        j1 = min(m, j0 + chunk)
        reduced = cost_rows(j0, j1) - pred_diagonal[None, :]  # [rows, n]
        if keep < n:
            cheapest = np.argpartition(reduced, keep - 1, axis=1)[:, :keep]
        else:
            cheapest = np.broadcast_to(np.arange(n), reduced.shape)
        cheapest_values = np.take_along_axis(reduced, cheapest, axis=1)
        useful = cheapest_values < target_diagonal[j0:j1, None]
        rows.append(np.nonzero(useful)[0] + j0)
        cols.append(cheapest[useful])
        vals.append(cheapest_values[useful])
    # each row's own diagonal column n + j
    rows.append(np.arange(m))
    cols.append(n + np.arange(m))
    vals.append(np.asarray(target_diagonal, dtype=np.float64))
    rows, cols, vals = (np.concatenate(a) for a in (rows, cols, vals))
    # LAPJVsp needs non-zero weights; every row is matched once, so a shift changes nothing
    shift = 1.0 - min(0.0, float(vals.min()))
    graph = scipy.sparse.csr_array((vals + shift, (rows, cols)), shape=(m, n + m))
    matched_rows, chosen = min_weight_full_bipartite_matching(graph)
    weights = np.asarray(graph[matched_rows, chosen]).ravel()
    total = base + float(np.sum(weights - shift))
    to_point = chosen < n
    matched_to[chosen[to_point]] = matched_rows[to_point]
    return matched_to, total


def _longest_bars(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    n, m = len(pred), len(target)
    matched_to = np.full(n, DIAGONAL, dtype=np.int64)
    k = min(n, m)
    # stable sorts so equal lengths keep diagram order: the result is deterministic
    pred_order = np.argsort(-(pred[:, 1] - pred[:, 0]), kind="stable")[:k]
    target_order = np.argsort(-(target[:, 1] - target[:, 0]), kind="stable")[:k]
    matched_to[pred_order] = target_order
    return matched_to


def match(
    pred: np.ndarray,
    target: np.ndarray,
    pred_xy: np.ndarray,
    target_xy: np.ndarray,
    *,
    cost_model: CostModel,
    policy: str = "optimal",
) -> Matching:
    """Matches pred [n, 2] to target [m, 2] (diagram points) with creators at pred_xy / target_xy."""
    pred_diagonal = cost_model.diagonal_costs(pred)
    target_diagonal = cost_model.diagonal_costs(target)
    if policy == "optimal" and native.available():
        matched_to, value = native.optimal_matching(
            pred, target, pred_xy, target_xy, q=cost_model.q, low=cost_model.min_spatial_weight,
            weight_power=cost_model.weight_power,
        )
    elif policy == "optimal":
        def cost_rows(j0, j1):
            weights = cost_model.spatial_weights(target_xy[j0:j1], pred_xy)
            return cost_model.pair_costs(target[j0:j1], pred, weights)

        matched_to, value = optimal_partial_matching(cost_rows, pred_diagonal, target_diagonal)
    elif policy == "longest_bars":
        matched_to, value = _longest_bars(pred, target), None
    elif policy == "hausdorff":
        weights = cost_model.spatial_weights(pred_xy, target_xy)
        return _hausdorff(cost_model.pair_costs(pred, target, weights), pred_diagonal, target_diagonal)
    else:
        raise ValueError(f"matching policy must be one of {POLICIES}, got {policy!r}")
    # per predicted point: its pair cost, or its diagonal cost when unmatched
    terms = pred_diagonal.copy()
    i = np.flatnonzero(matched_to != DIAGONAL)
    j = matched_to[i]
    terms[i] = cost_model.pair_costs_of_pairs(pred[i], target[j], pred_xy[i], target_xy[j])
    uncovered = np.ones(len(target), dtype=bool)
    uncovered[j] = False
    constant = float(target_diagonal[uncovered].sum())
    if value is None:
        value = float(terms.sum()) + constant
    return Matching(matched_to, np.ones(len(pred), dtype=bool), value, constant)


def _hausdorff(costs: np.ndarray, pred_diagonal: np.ndarray, target_diagonal: np.ndarray) -> Matching:
    """Worst term of the two directed Hausdorff distances (diagonal allowed on both sides)."""
    n, m = costs.shape
    matched_to = np.full(n, DIAGONAL, dtype=np.int64)
    counted = np.zeros(n, dtype=bool)
    best_value, best_pred, best_target = 0.0, -1, DIAGONAL
    if n:
        # each predicted point's nearest target point or the diagonal
        nearest = np.argmin(costs, axis=1) if m else np.zeros(n, dtype=np.int64)
        nearest_cost = costs[np.arange(n), nearest] if m else np.full(n, np.inf)
        to_diagonal = pred_diagonal <= nearest_cost
        per_pred = np.where(to_diagonal, pred_diagonal, nearest_cost)
        i = int(np.argmax(per_pred))
        best_value, best_pred = float(per_pred[i]), i
        best_target = DIAGONAL if to_diagonal[i] else int(nearest[i])
    if m:
        nearest = np.argmin(costs, axis=0) if n else np.zeros(m, dtype=np.int64)
        nearest_cost = costs[nearest, np.arange(m)] if n else np.full(m, np.inf)
        to_diagonal = target_diagonal <= nearest_cost
        per_target = np.where(to_diagonal, target_diagonal, nearest_cost)
        j = int(np.argmax(per_target))
        if per_target[j] > best_value:
            best_value = float(per_target[j])
            # a target point closest to the diagonal has no predicted point to move: constant
            best_pred, best_target = (-1, DIAGONAL) if to_diagonal[j] else (int(nearest[j]), j)
    if best_pred < 0:
        return Matching(matched_to, counted, best_value, best_value)
    matched_to[best_pred] = best_target
    counted[best_pred] = True
    return Matching(matched_to, counted, best_value, 0.0)
