"""Measurements of how the topological losses behave, on cases whose right answer is known.

* `matching_accuracy`: synthetic predictions with perturbations at known places (a branch cut, a
  loop opened or closed, a spurious blob or loop, a dimmed feature), and the fraction of
  persistence features that each loss's matching pairs with the right partner
  (docs/matching-accuracy.md).

``jaxtopo.evaluation.matching_accuracy`` is the function; its module is reached with
``from jaxtopo.evaluation.matching_accuracy import ...`` (the package exports every public name).
"""

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
    "identities",
    "judge",
    "make_case",
    "matching_accuracy",
]
