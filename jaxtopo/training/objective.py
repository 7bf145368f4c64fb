"""The training objective: pixel loss + lambda * topological loss, chosen by the config."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxtopo.losses.cldice import dice_cldice_loss
from jaxtopo.losses.pixel import bce_with_logits_loss
from jaxtopo.losses.topological import topological_loss

PIXEL_LOSSES = ("bce", "dice_cldice")
# config name -> (matching policy, spatial weights)
TOPOLOGICAL_LOSSES = {
    "none": None,
    "sat": ("optimal", True),
    "wt": ("optimal", False),
    "he": ("longest_bars", False),
    "tc": ("hausdorff", False),
}


def check_loss_config(loss) -> None:
    if loss.pixel not in PIXEL_LOSSES:
        raise ValueError(f"loss.pixel must be one of {PIXEL_LOSSES}, got {loss.pixel!r}")
    if loss.topological not in TOPOLOGICAL_LOSSES:
        raise ValueError(f"loss.topological must be one of {tuple(TOPOLOGICAL_LOSSES)}, got {loss.topological!r}")


def objective(logits: jax.Array, labels: jax.Array, loss) -> tuple[jax.Array, dict]:
    """(total loss, measurements) for logits [B, H, W, 1] and labels [B, H, W]."""
    probs = jax.nn.sigmoid(logits)
    parts = {}
    if loss.pixel == "bce":
        parts["bce"] = bce_with_logits_loss(logits, labels)
    else:
        parts["dice_cldice"] = dice_cldice_loss(probs, labels, alpha=loss.weight,
                                                iterations=loss.cldice_iterations)
    total = sum(parts.values())
    policy = TOPOLOGICAL_LOSSES[loss.topological]
    if policy is not None:
        matching, spatial = policy
        topo = topological_loss(probs, labels, matching=matching, spatial=spatial,
                                variant=loss.variant, pad=loss.pad)
        parts["topological"] = topo
        total = total + loss.weight * topo
    parts["loss"] = total
    return total, {k: jnp.asarray(v, jnp.float32) for k, v in parts.items()}
