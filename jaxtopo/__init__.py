"""jaxtopo: topology-preserving segmentation losses, metrics and training in JAX.

Losses are pure JAX functions ``fn(predictions, targets, *, options, reduction) -> jax.Array``:

    >>> import jaxtopo
    >>> loss = jaxtopo.bce_loss(probs, labels) + 1e-3 * jaxtopo.sat_loss(probs, labels)

Host-side evaluation metrics live in `jaxtopo.metrics`; persistence, matching and the native
engine in `jaxtopo.host`.
"""

from jaxtopo import host, metrics
from jaxtopo.losses.betti_matching import betti_matching_loss
from jaxtopo.losses.cldice import (
    dice_cldice_loss,
    soft_cldice_loss,
    soft_dilate,
    soft_erode,
    soft_open,
    soft_skeleton,
)
from jaxtopo.losses.pixel import bce_loss, bce_with_logits_loss, soft_dice_loss
from jaxtopo.losses.topological import (
    he_loss,
    sat_loss,
    tc_loss,
    topological_loss,
    wasserstein_loss,
)
from jaxtopo.metrics import segmentation_metrics

__version__ = "0.1.0"

__all__ = [
    "bce_loss",
    "betti_matching_loss",
    "bce_with_logits_loss",
    "dice_cldice_loss",
    "he_loss",
    "host",
    "metrics",
    "sat_loss",
    "segmentation_metrics",
    "soft_cldice_loss",
    "soft_dice_loss",
    "soft_dilate",
    "soft_erode",
    "soft_open",
    "soft_skeleton",
    "tc_loss",
    "topological_loss",
    "wasserstein_loss",
]
