"""A method's matching on a case with known answers, its mistakes marked (docs/matching-accuracy.md).

On the likelihood, with the target outlined and the identity regions dotted: the creators of the
scored target features (diamonds) and predicted features (dots), a line for every pair the method
matched (right: solid green; wrong: dashed red) and a red circle on every scored feature whose
partner is wrong, matched or not. A wrong pair may end at a feature that is not scored (noise
below the threshold, or a feature born on the padding ring, drawn just outside the image).

Artists carry gids: ``"right_pairs"``, ``"wrong_pairs"``, ``"prediction_creators"``,
``"target_creators"``, ``"wrong_features"``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection

from jaxtopo.evaluation.matching_accuracy import DEFAULT_THRESHOLD, MatchingCase, feature_matching, judge
from jaxtopo.host.matching import DIAGONAL
from jaxtopo.viz.diagrams import PREDICTION_COLOUR, TARGET_COLOUR
from jaxtopo.viz.pixels import show_image

RIGHT_COLOUR = "tab:green"
WRONG_COLOUR = "red"


def plot_matching_errors(case: MatchingCase, method: str, dim: int = 1, *, construction: str = "T",
                         threshold: float = DEFAULT_THRESHOLD, ax=None, title: str | None = None):
    """Draws ``method``'s matching of dimension ``dim`` on ``case`` with its errors; returns the Axes.

    Args:
      case: a `jaxtopo.evaluation.MatchingCase` (e.g. ``make_case("mixed", 0)``).
      method: one of `jaxtopo.evaluation.METHODS`.
      dim: 0 (components) or 1 (loops).
      threshold: features of persistence at or below it are not scored (nor drawn, unless they
        are the far end of a pair).
      title: default: the method, the dimension and "k of n right".
    """
    matching = feature_matching(case.likelihood, case.target, method, construction=construction)[dim]
    v = judge(case, matching, dim, threshold=threshold)
    ax = show_image(case.likelihood, ax=ax, vmin=0.0, vmax=1.0, padded=True)
    ax.contour(np.asarray(case.target, np.float32), levels=[0.5], colors=TARGET_COLOUR, linewidths=0.7, alpha=0.8)
    ax.contour((case.regions[dim] > 0).astype(np.float32), levels=[0.5], colors="white", linewidths=0.6,
               linestyles="dotted", alpha=0.7)

    def xy(creators):  # (x, y) = (column, row), imshow's pixel centres
        return np.asarray(creators, np.float64)[:, ::-1].reshape(-1, 2)

    pairs = np.flatnonzero(matching.counted & (matching.matched_to != DIAGONAL))
    # a pair is shown when one of its features is scored (noise-to-noise pairs would only clutter)
    pairs = pairs[v.pred_scored[pairs] | v.target_scored[matching.matched_to[pairs]]]
    for right, gid, colour, style in ((True, "right_pairs", RIGHT_COLOUR, "solid"),
                                      (False, "wrong_pairs", WRONG_COLOUR, "dashed")):
        chosen = pairs[v.pair_correct[pairs] == right]
        ends = matching.target_creator[matching.matched_to[chosen]]
        segments = np.stack([xy(matching.pred_creator[chosen]), xy(ends)], axis=1)
        ax.add_collection(LineCollection(segments.reshape(-1, 2, 2), colors=colour, linewidths=1.8, linestyles=style,
                                         gid=gid, zorder=2, label=f"{'right' if right else 'wrong'} pair"))
    pred_xy, target_xy = xy(matching.pred_creator), xy(matching.target_creator)
    ax.scatter(*pred_xy[v.pred_scored].T, s=26, color=PREDICTION_COLOUR, zorder=3, gid="prediction_creators",
               label="predicted creators")
    ax.scatter(*target_xy[v.target_scored].T, s=70, marker="D", facecolors="none", edgecolors=TARGET_COLOUR,
               linewidths=1.5, zorder=4, gid="target_creators", label="target creators")
    wrong_pred = v.pred_scored & ~v.pred_correct
    wrong_target = v.target_scored & ~v.target_correct
    wrong = np.concatenate([pred_xy[wrong_pred], target_xy[wrong_target]])
    ax.scatter(*wrong.reshape(-1, 2).T, s=170, facecolors="none", edgecolors=WRONG_COLOUR, linewidths=1.6, zorder=5,
               gid="wrong_features", label="wrong partner")
    if title is None:
        scored = int(v.pred_scored.sum() + v.target_scored.sum())
        right = scored - int(wrong_pred.sum() + wrong_target.sum())
        title = f"{method}, H{dim}: {right} of {scored} right"
    ax.set_title(title, fontsize="medium")
    return ax
