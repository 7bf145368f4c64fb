"""The training objective: pixel loss + lambda * topological loss, chosen by the config.

Pixel losses: ``bce``, ``dice`` (soft Dice), ``dice_cldice``. Topological losses: ``sat``, ``wt``,
``he``, ``tc`` (`jaxtopo.topological_loss`) and ``bm`` (`jaxtopo.betti_matching_loss`, BM-Loss);
``loss.pad`` and ``loss.construction`` (None: the loss's own default) are passed to them, and
so is the trainer's device mesh (``mesh=``, batch axis ``"data"``), so that each device hands the
host only its own images.

``loss.start_epoch`` and ``loss.ramp_epochs`` schedule lambda over training (`topological_weight`,
docs/conventions.md section 12); the loop passes the scheduled value to `objective` as a traced
scalar, so one compiled train step serves the whole schedule.
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

# the name of the trainer's mesh axis that splits the batch over devices
BATCH_AXIS = "data"


def _construction(loss) -> dict:
    """The loss's own default construction unless the config names one (configs written before
    the field existed have none)."""
    construction = loss.get("construction")
    return {} if construction is None else {"construction": construction}


def _matching_loss(matching: str, spatial: bool):
    """A persistence-diagram matching loss (`jaxtopo.topological_loss`) with the config's options."""
    def loss_fn(probs, labels, loss, mesh):
        return topological_loss(probs, labels, matching=matching, spatial=spatial, variant=loss.variant,
                                pad=loss.pad, mesh=mesh, batch_axis=BATCH_AXIS, **_construction(loss))
    return loss_fn


def _betti_matching_loss(probs, labels, loss, mesh):
    return betti_matching_loss(probs, labels, pad=loss.pad, mesh=mesh, batch_axis=BATCH_AXIS,
                               **_construction(loss))


# config name -> fn(probs, labels, loss config, mesh) -> the topological term
TOPOLOGICAL_LOSSES = {
    "none": None,
    "sat": _matching_loss("optimal", True),
    "wt": _matching_loss("optimal", False),
    "he": _matching_loss("longest_bars", False),
    "tc": _matching_loss("hausdorff", False),
    "bm": _betti_matching_loss,  # Betti matching (BM-Loss)
}


def _schedule(loss) -> tuple[int, int]:
    """(start_epoch, ramp_epochs); configs written before the fields existed have neither."""
    return loss.get("start_epoch", 0), loss.get("ramp_epochs", 0)


def is_scheduled(loss) -> bool:
    """Whether lambda changes during training. An unscheduled run keeps lambda a compile-time
    constant, so its losses stay bitwise what they were before schedules existed."""
    return loss.topological != "none" and _schedule(loss) != (0, 0)


def topological_weight(loss, step: int, steps_per_epoch: int) -> float:
    """lambda for the 0-based ``step``: 0 before epoch ``loss.start_epoch``, then rising linearly
    over ``loss.ramp_epochs`` epochs to ``loss.weight`` (reached at the last step of the ramp; its
    first step already has weight / ramp steps, so the term is on from start_epoch as the name says).
    ramp_epochs = 0 switches the term on at full weight."""
    start_epoch, ramp_epochs = _schedule(loss)
    since_start = step - start_epoch * steps_per_epoch
    if since_start < 0:
        return 0.0
    ramp_steps = ramp_epochs * steps_per_epoch
    if since_start + 1 >= ramp_steps:
        return float(loss.weight)
    return float(loss.weight) * (since_start + 1) / ramp_steps


def check_loss_config(loss) -> None:
    if loss.pixel not in PIXEL_LOSSES:
        raise ValueError(f"loss.pixel must be one of {PIXEL_LOSSES}, got {loss.pixel!r}")
    if loss.topological not in TOPOLOGICAL_LOSSES:
        raise ValueError(f"loss.topological must be one of {tuple(TOPOLOGICAL_LOSSES)}, got {loss.topological!r}")
    if loss.get("construction") not in (None, "T", "V"):
        raise ValueError(f"loss.construction must be None, 'T' or 'V', got {loss.construction!r}")
    for field, value in zip(("start_epoch", "ramp_epochs"), _schedule(loss)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"loss.{field} must be a whole number >= 0, got {value!r}")
    if loss.topological == "none" and _schedule(loss) != (0, 0):
        # dice_cldice's alpha is a pixel-loss mix, not a topological term: it is never scheduled,
        # and a schedule that would silently do nothing is refused
        raise ValueError(f"loss.start_epoch and loss.ramp_epochs schedule the topological term, and "
                         f"loss.topological is 'none'; got start_epoch={_schedule(loss)[0]!r}, "
                         f"ramp_epochs={_schedule(loss)[1]!r}")


def objective(logits: jax.Array, labels: jax.Array, loss, *, weight=None, mesh=None) -> tuple[jax.Array, dict]:
    """(total loss, measurements) for logits [B, H, W, 1] and labels [B, H, W].

    ``mesh``: the `jax.sharding.Mesh` whose ``"data"`` axis (`BATCH_AXIS`) splits the batch, or
    None. Only the topological term uses it: the host callback then runs once per device on that
    device's images instead of on the whole batch gathered onto one device. The pixel terms need
    nothing, as `jax.jit` already computes them over the global batch.

    ``weight``: lambda of the topological term, a (possibly traced) scalar; None uses
    ``loss.weight`` as a constant. With a ``weight``, the term is computed only where weight > 0
    (`jax.lax.cond`), so a scheduled run makes no host call while the term is off; the
    measurements then hold 0 for it.
    """
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
        if weight is None:
            topo = topological(probs, labels, loss, mesh)
            weight = loss.weight
        else:
            def on(probs):
                return topological(probs, labels, loss, mesh)

            # the branches must agree in dtype; eval_shape traces without calling the host
            off_value = jax.eval_shape(on, probs)

            def off(probs):
                return jnp.zeros(off_value.shape, off_value.dtype)

            weight = jnp.asarray(weight, jnp.float32)
            topo = jax.lax.cond(weight > 0, on, off, probs)
        parts["topological"] = topo
        total = total + weight * topo
    parts["loss"] = total
    return total, {k: jnp.asarray(v, jnp.float32) for k, v in parts.items()}
