"""The training objective: pixel loss + lambda * topological loss, chosen by the config.

Pixel losses: ``bce``, ``dice`` (soft Dice), ``dice_cldice``. Topological losses: ``sat``, ``wt``,
``he``, ``tc`` (`jaxtopo.topological_loss`) and ``bm`` (`jaxtopo.betti_matching_loss`, BM-Loss);
``loss.pad`` and ``loss.construction`` (None: the loss's own default) are passed to them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxtopo.losses.betti_matching import betti_matching_loss
from jaxtopo.losses.cldice import dice_cldice_loss
from jaxtopo.losses.pixel import bce_with_logits_loss, soft_dice_loss
from jaxtopo.losses.topological import topological_loss

# "dice" is MONAI's DiceLoss(sigmoid=True) (smoothing 1e-5), the pixel loss of the Betti matching
# papers' DiceBettiMatchingLoss
PIXEL_LOSSES = ("bce", "dice", "dice_cldice")
DICE_SMOOTH = 1e-5


def _construction(loss) -> dict:
    """The loss's own default construction unless the config names one (configs written before
    the field existed have none)."""
    construction = loss.get("construction")
    return {} if construction is None else {"construction": construction}


def _matching_loss(matching: str, spatial: bool):
    """A persistence-diagram matching loss (`jaxtopo.topological_loss`) with the config's options."""
    def loss_fn(probs, labels, loss):
        return topological_loss(probs, labels, matching=matching, spatial=spatial, variant=loss.variant,
                                pad=loss.pad, **_construction(loss))
    return loss_fn


def _betti_matching_loss(probs, labels, loss):
    return betti_matching_loss(probs, labels, pad=loss.pad, **_construction(loss))


# config name -> fn(probs, labels, loss config) -> the topological term
TOPOLOGICAL_LOSSES = {
    "none": None,
    "sat": _matching_loss("optimal", True),
    "wt": _matching_loss("optimal", False),
    "he": _matching_loss("longest_bars", False),
    "tc": _matching_loss("hausdorff", False),
    "bm": _betti_matching_loss,  # Betti matching (BM-Loss)
}


def check_loss_config(loss) -> None:
    if loss.pixel not in PIXEL_LOSSES:
        raise ValueError(f"loss.pixel must be one of {PIXEL_LOSSES}, got {loss.pixel!r}")
    if loss.topological not in TOPOLOGICAL_LOSSES:
        raise ValueError(f"loss.topological must be one of {tuple(TOPOLOGICAL_LOSSES)}, got {loss.topological!r}")
    if loss.get("construction") not in (None, "T", "V"):
        raise ValueError(f"loss.construction must be None, 'T' or 'V', got {loss.construction!r}")


def objective(logits: jax.Array, labels: jax.Array, loss) -> tuple[jax.Array, dict]:
    """(total loss, measurements) for logits [B, H, W, 1] and labels [B, H, W]."""
    probs = jax.nn.sigmoid(logits)
    parts = {}
    if loss.pixel == "bce":
        parts["bce"] = bce_with_logits_loss(logits, labels)
    elif loss.pixel == "dice":
        parts["soft_dice"] = soft_dice_loss(probs, labels, smooth=DICE_SMOOTH)
    else:
        parts["dice_cldice"] = dice_cldice_loss(probs, labels, alpha=loss.weight,
                                                iterations=loss.cldice_iterations)
    total = sum(parts.values())
    topological = TOPOLOGICAL_LOSSES[loss.topological]
    if topological is not None:
        topo = topological(probs, labels, loss)
        parts["topological"] = topo
        total = total + loss.weight * topo
    parts["loss"] = total
    return total, {k: jnp.asarray(v, jnp.float32) for k, v in parts.items()}
