"""Slow, independent image-level references of He et al.'s loss and TCLoss (values only).

Built from the definitions in docs/conventions.md (section 7) and the docstrings of
`jaxtopo.losses.topological.he_loss` / `tc_loss` and `jaxtopo.host.matching`, with diagrams from
gudhi (`reference_satloss.reference_diagrams`), never from jaxtopo.host. Gradients are checked
against central differences of these values, so only values are needed here.

Shared cost model (per homology dimension, q = 1 for "official", 2 for "paper"):

    pair cost     C(p, t) = s(p, t) * ||p - t||^q       s = 1 without spatial weights, else
                  clamp(distance of the creators, w, 1) (official) or clamp(its square, w, 1) (paper)
    diagonal cost D(p)    = (|death - birth| / sqrt 2)^q   (distance to the projection, unweighted)
"""

from __future__ import annotations

import numpy as np

from reference_satloss import reference_diagrams


def _pair_cost(p, t, p_xy, t_xy, *, q, spatial, min_w):
    cost = float(np.hypot(*(p - t))) ** q
    if not spatial:
        return cost
    distance = float(np.hypot(*(p_xy - t_xy)))
    return float(np.clip(distance if q == 1 else distance**2, min_w, 1.0)) * cost


def _diagonal_cost(p, *, q):
    return (abs(p[1] - p[0]) / np.sqrt(2.0)) ** q


def he_value(pred, target, pred_xy, target_xy, *, q=1, spatial=False, min_w=0.05):
    """He et al. 2023 on one dimension: rank both diagrams by bar length (longest first); the
    r-th longest predicted bar goes to the r-th longest target bar for r < min(n, m); every other
    predicted bar goes to the diagonal, and every target bar left over costs its own diagonal
    distance (as an unmatched point does in the Wasserstein loss)."""
    k = min(len(pred), len(target))
    # Python's sort is stable, so equal lengths keep diagram order; on a binary target all bars
    # are (0, 1), and without spatial weights which of them is taken does not change the value
    pred_rank = sorted(range(len(pred)), key=lambda i: -(pred[i][1] - pred[i][0]))
    target_rank = sorted(range(len(target)), key=lambda j: -(target[j][1] - target[j][0]))
    total = 0.0
    for r in range(k):
        i, j = pred_rank[r], target_rank[r]
        total += _pair_cost(pred[i], target[j], pred_xy[i], target_xy[j], q=q, spatial=spatial, min_w=min_w)
    total += sum(_diagonal_cost(pred[i], q=q) for i in pred_rank[k:])
    total += sum(_diagonal_cost(target[j], q=q) for j in target_rank[k:])
    return total


def tc_value(pred, target, pred_xy, target_xy, *, q=1, spatial=False, min_w=0.05):
    """TCLoss (Qi et al. 2023) on one dimension: the Hausdorff distance of the two diagrams with
    the diagonal belonging to both, i.e. the largest over all points of either diagram of the
    cost to the nearest point of the other diagram or to the diagonal, whichever is cheaper."""
    cost = lambda i, j: _pair_cost(pred[i], target[j], pred_xy[i], target_xy[j], q=q, spatial=spatial, min_w=min_w)
    terms = [min([_diagonal_cost(pred[i], q=q)] + [cost(i, j) for j in range(len(target))])
             for i in range(len(pred))]
    terms += [min([_diagonal_cost(target[j], q=q)] + [cost(i, j) for i in range(len(pred))])
              for j in range(len(target))]
    return max(terms, default=0.0)


def reference_image_loss(policy, likelihood, target, *, pad=True, variant="official", spatial=False,
                         construction="T", dims=(0, 1), min_w=0.05):
    """He ("longest_bars") or TC ("hausdorff") loss of one image, summed over ``dims``."""
    value_of = {"longest_bars": he_value, "hausdorff": tc_value}[policy]
    q = 1 if variant == "official" else 2
    pred = reference_diagrams(likelihood, pad=pad, construction=construction)
    tgt = reference_diagrams(target, pad=pad, construction=construction)
    total = 0.0
    for d in dims:
        (p, p_xy), (t, t_xy) = pred[d], tgt[d]
        total += value_of(p, t, p_xy, t_xy, q=q, spatial=spatial, min_w=min_w)
    return total
