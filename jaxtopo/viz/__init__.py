"""Pictures of what the topological losses do (matplotlib).

* `plot_diagram_pair`, `plot_persistence_matching`: the prediction's and the target's persistence
  diagrams with the matching between them (Fig. 3 of the SATLoss paper).
* `plot_critical_pixels`, `plot_matched_creators`: creator and destroyer pixels on the image, and
  the matching drawn between creators in image space (what SATLoss's spatial weight measures).
* `plot_gradient`: a loss's gradient map, on a scale where every non-zero pixel shows.
* `plot_matching_comparison`: both views for several configs of one pair, e.g. spatial vs plain.
* `plot_training_curves`, `read_metrics`: curves from run folders' ``metrics.jsonl``.
* `plot_predictions`: image | label | predictions (the trainer's ``predictions.png``).
* `matching_demo_pair`: a small prediction/target pair on which spatial and plain matching differ.
* `plot_lambda_ablation`, `save_lambda_ablation`: a sweep's metrics against the loss weight
  lambda (Fig. 6 of the SATLoss paper; experiments/sweep.py draws it).
* `plot_matching_errors`: a method's matching on a case with known answers
  (`jaxtopo.evaluation`), right pairs and wrong partners marked.

Every function takes ``ax=`` (or ``fig=``) to draw into; without one it opens a pyplot figure.
"""

from jaxtopo.viz.ablation import plot_lambda_ablation, save_lambda_ablation
from jaxtopo.viz.comparison import plot_matching_comparison
from jaxtopo.viz.curves import plot_training_curves, read_metrics
from jaxtopo.viz.demo import matching_demo_pair
from jaxtopo.viz.diagrams import plot_diagram_pair, plot_persistence_matching
from jaxtopo.viz.matching_errors import plot_matching_errors
from jaxtopo.viz.pixels import (
    pixel_rows_cols,
    plot_critical_pixels,
    plot_gradient,
    plot_matched_creators,
    show_image,
)
from jaxtopo.viz.predictions import plot_predictions

__all__ = [
    "matching_demo_pair",
    "pixel_rows_cols",
    "plot_critical_pixels",
    "plot_diagram_pair",
    "plot_gradient",
    "plot_lambda_ablation",
    "plot_matched_creators",
    "plot_matching_errors",
    "plot_matching_comparison",
    "plot_persistence_matching",
    "plot_predictions",
    "plot_training_curves",
    "read_metrics",
    "save_lambda_ablation",
    "show_image",
]
