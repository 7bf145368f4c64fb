"""Evaluation beyond the per-patch metrics: how the topological losses behave on cases whose
right answer is known, and metrics of full images stitched back from their patches.

* `matching_accuracy`: synthetic predictions with perturbations at known places (a branch cut, a
  loop opened or closed, a spurious blob or loop, a dimmed feature), and the fraction of
  persistence features that each loss's matching pairs with the right partner
  (docs/matching-accuracy.md).
* `full_image_metrics`: metrics of whole images stitched back from their patches (the SATLoss
  paper's F columns next to the patch P ones); `stitch_patches` / `stitch_images` reverse
  `jaxtopo.data.common.patch_grid`, `full_image_results` gives results.json's ``*_full`` keys.

``jaxtopo.evaluation.matching_accuracy`` is the function; its module is reached with
``from jaxtopo.evaluation.matching_accuracy import ...`` (the package exports every public name).
"""

from jaxtopo.evaluation.full_image import full_image_metrics, full_image_results, stitch_images, stitch_patches
from jaxtopo.evaluation.matching_accuracy import (
    KINDS,
    METHODS,
    DimensionAccuracy,
    FeatureMatching,
    MatchingCase,
    Verdicts,
    feature_matching,
    identities,
    judge,
    make_case,
    matching_accuracy,
)

__all__ = [
    "KINDS",
    "METHODS",
    "DimensionAccuracy",
    "FeatureMatching",
    "MatchingCase",
    "Verdicts",
    "feature_matching",
    "full_image_metrics",
    "full_image_results",
    "identities",
    "judge",
    "make_case",
    "matching_accuracy",
    "stitch_images",
    "stitch_patches",
]
