"""jaxtopo: topology-preserving segmentation losses, metrics and training in JAX.

Losses are pure JAX functions ``fn(predictions, targets, *, options, reduction) -> jax.Array``:

    >>> import jaxtopo
    >>> loss = jaxtopo.bce_loss(probs, labels) + 1e-3 * jaxtopo.sat_loss(probs, labels)

Host-side evaluation metrics live in `jaxtopo.metrics`; persistence, matching and the native
engine in `jaxtopo.host`. The heavier subpackages `jaxtopo.data`, `jaxtopo.models`,
`jaxtopo.training` and `jaxtopo.viz` (flax, orbax, matplotlib) load on first use, so
``import jaxtopo`` stays light and ``jaxtopo.viz.plot_diagram(...)`` still works.
"""

import importlib as _importlib

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

# imported by __getattr__ below on first attribute access (PEP 562)
_LAZY_SUBPACKAGES = ("data", "models", "training", "viz")


def __getattr__(name):
    if name in _LAZY_SUBPACKAGES:
        return _importlib.import_module(f"jaxtopo.{name}")
    raise AttributeError(f"module 'jaxtopo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBPACKAGES))


__all__ = [
    "bce_loss",
    "betti_matching_loss",
    "bce_with_logits_loss",
    "data",
    "dice_cldice_loss",
    "he_loss",
    "host",
    "metrics",
    "models",
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
    "training",
    "viz",
    "wasserstein_loss",
]
