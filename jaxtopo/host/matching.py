"""Matching a predicted persistence diagram to a target diagram (host side, numpy + scipy).

Each predicted point is matched to one target point or to the diagonal; each target point to at
most one predicted point. Costs (see satloss-spec.md, section 2), with q = 1 for the "official"
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

import numpy as np
from scipy.optimize import linear_sum_assignment

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


def optimal_partial_matching(
    costs: np.ndarray, pred_diagonal: np.ndarray, target_diagonal: np.ndarray
) -> tuple[np.ndarray, float]:
    """Exact minimum-cost partial matching; returns (matched_to [n], total cost).

    Solved as a rectangular assignment with one row per target point: column i < n costs
    ``C_ji - D(p_i)`` (the saving of not sending p_i to the diagonal), column n + j costs
    ``D(t_j)`` and is open to row j only; total = sum_i D(p_i) + assignment value. Two exact
    prunings keep it small: a row never needs a column that costs more than its own diagonal
    column, nor one outside its m cheapest (m - 1 other rows can occupy at most m - 1 of them).
    """
    n, m = costs.shape
    matched_to = np.full(n, DIAGONAL, dtype=np.int64)
    base = float(np.sum(pred_diagonal))
    if m == 0:
        return matched_to, base
    if n == 0:
        return matched_to, float(np.sum(target_diagonal))
    reduced = costs.T - pred_diagonal[None, :]  # [m, n]
    useful = reduced < target_diagonal[:, None]
    if m < n:
        cheapest = np.argpartition(reduced, m - 1, axis=1)[:, :m]
        keep = np.zeros_like(useful)
        np.put_along_axis(keep, cheapest, True, axis=1)
        useful &= keep
    columns = np.flatnonzero(useful.any(axis=0))
    diagonal_block = np.full((m, m), np.inf)
    np.fill_diagonal(diagonal_block, target_diagonal)
    problem = np.concatenate([reduced[:, columns], diagonal_block], axis=1)
    rows, chosen = linear_sum_assignment(problem)
    total = base + float(problem[rows, chosen].sum())
    to_point = chosen < len(columns)
    matched_to[columns[chosen[to_point]]] = rows[to_point]
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
    weights = cost_model.spatial_weights(pred_xy, target_xy)
    costs = cost_model.pair_costs(pred, target, weights)
    pred_diagonal = cost_model.diagonal_costs(pred)
    target_diagonal = cost_model.diagonal_costs(target)
    n, m = costs.shape
    counted = np.ones(n, dtype=bool)

    if policy == "optimal":
        matched_to, value = optimal_partial_matching(costs, pred_diagonal, target_diagonal)
        return Matching(matched_to, counted, value, value - _term_sum(costs, pred_diagonal, matched_to))
    if policy == "longest_bars":
        matched_to = _longest_bars(pred, target)
        uncovered = np.setdiff1d(np.arange(m), matched_to)
        constant = float(target_diagonal[uncovered].sum())
        return Matching(matched_to, counted, _term_sum(costs, pred_diagonal, matched_to) + constant, constant)
    if policy == "hausdorff":
        return _hausdorff(costs, pred_diagonal, target_diagonal)
    raise ValueError(f"matching policy must be one of {POLICIES}, got {policy!r}")


def _term_sum(costs: np.ndarray, pred_diagonal: np.ndarray, matched_to: np.ndarray) -> float:
    return float(np.sum(_terms(costs, pred_diagonal, matched_to)))


def _terms(costs: np.ndarray, pred_diagonal: np.ndarray, matched_to: np.ndarray) -> np.ndarray:
    """Per predicted point: its pair cost, or its diagonal cost when unmatched."""
    on_diagonal = matched_to == DIAGONAL
    safe = np.where(on_diagonal, 0, matched_to)
    pair = costs[np.arange(len(matched_to)), safe] if costs.shape[1] else np.zeros(len(matched_to))
    return np.where(on_diagonal, pred_diagonal, pair)


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
