"""Host-side evaluation metrics: pixel accuracy, Dice, clDice, Betti, Euler and Betti-matching errors.

All take numpy (or jax) arrays, return numpy arrays with one row per image, and never return NaN
for empty masks. All but the Betti-matching error also take volumes (``spatial_dims=3``). See
`jaxtopo.metrics.segmentation` for the shared input conventions, `jaxtopo.metrics.topology` for
the connectivity used by the Betti and Euler errors (2D and 3D) and
`jaxtopo.metrics.betti_matching` for the Betti-matching error (2D only).
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from jaxtopo.metrics.betti_matching import betti_matching_error
from jaxtopo.metrics.segmentation import _binarised_pair, accuracy, cldice, dice
from jaxtopo.metrics.topology import (
    CONVENTIONS,
    _check_convention,
    betti_errors,
    betti_numbers,
    euler_characteristic_error,
)

__all__ = [
    "CONVENTIONS",
    "accuracy",
    "betti_errors",
    "betti_matching_error",
    "betti_numbers",
    "cldice",
    "dice",
    "euler_characteristic_error",
    "segmentation_metrics",
]


def segmentation_metrics(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    threshold: float = 0.5,
    convention: str = "satloss",
    spatial_dims: int = 2,
) -> dict[str, float]:
    """The five Table-1 columns of the SATLoss paper and the Betti-matching error, batch means.

    Volumes (``spatial_dims=3``) get accuracy, Dice, clDice and the Betti errors of dimensions
    0, 1 and 2, but no Betti-matching error: the host Betti matching is 2D-only, so those keys
    are absent rather than computed on slices.

    Conventions:
      * prediction foreground where ``p > threshold`` (bool masks used as they are); target
        foreground where ``t > 0.5``;
      * Dice of two empty masks is 1.0; clDice follows `cldice` (skimage skeletons, 1.0 when both
        skeletons are empty, 0.0 when exactly one is);
      * Betti numbers count 8-connected foreground components and 4-connected background holes
        not touching the border (volumes: 26-connected components, 6-connected cavities, and
        tunnels from the Euler characteristic; `jaxtopo.metrics.topology`);
        ``convention="satloss"`` (default) reports beta_0 = 1 for an empty mask as the
        SATLoss / Hu et al. evaluation does, ``"exact"`` reports 0;
      * the Betti-matching error follows `betti_matching_error` on the full image with the
        V-construction (the Betti matching papers' evaluation); ``convention`` does not apply.

    Args:
      pred: probabilities or bool masks, [H, W], [B, H, W] or [B, H, W, 1] (with
        ``spatial_dims=3``: [D, H, W], [B, D, H, W] or [B, D, H, W, 1]).
      target: binary ground truth of the same shape.
      threshold: binarisation threshold of the prediction.
      convention: Betti convention, ``"satloss"`` or ``"exact"``.
      spatial_dims: 2 for images, 3 for volumes.

    Returns:
      2D: ``{"accuracy", "dice", "cldice", "betti_0_error", "betti_1_error",
      "betti_matching_error_0", "betti_matching_error_1", "betti_matching_error"}`` as Python
      floats, each the mean over the batch of the per-image values; ``betti_matching_error`` is
      the total (dimension 0 plus dimension 1). 3D: ``{"accuracy", "dice", "cldice",
      "betti_0_error", "betti_1_error", "betti_2_error"}``.
    """
    fn = "segmentation_metrics"
    _check_convention(convention, fn=fn)
    # Check and binarise once, so errors name this function; the bool masks then pass through
    # each metric unchanged (bool inputs are never re-thresholded).
    p, t = _binarised_pair(
        pred, target, fn=fn, threshold=threshold, spatial_dims=spatial_dims, supports_3d=True
    )
    dims = {"spatial_dims": spatial_dims}
    errors = betti_errors(p, t, convention=convention, **dims)
    results = {
        "accuracy": float(accuracy(p, t, **dims).mean()),
        "dice": float(dice(p, t, **dims).mean()),
        "cldice": float(cldice(p, t, **dims).mean()),
    }
    results.update({f"betti_{k}_error": float(errors[:, k].mean()) for k in range(spatial_dims)})
    if spatial_dims == 2:
        matching_errors = betti_matching_error(p, t)
        results.update({
            "betti_matching_error_0": float(matching_errors[:, 0].mean()),
            "betti_matching_error_1": float(matching_errors[:, 1].mean()),
            "betti_matching_error": float(matching_errors[:, 2].mean()),
        })
    return results
