"""Pixel-wise segmentation losses: binary cross-entropy (from probabilities or logits), soft Dice.

Every loss is computed per image and then reduced over the batch, so ``reduction="none"`` gives
one value per image ([B]). Computation runs in at least float32 (float16/bfloat16 inputs are
promoted) so that sums over large images and logs near 0 and 1 stay accurate.

Targets, and probabilities, must lie in [0, 1]: an eager call with a finite value outside raises
ValueError; under jit the image's loss is NaN with a zero gradient (`jaxtopo._validation`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxtopo import _validation


def _pixel_axes(x: jnp.ndarray) -> tuple[int, ...]:
    """All axes but the batch axis, for any spatial rank."""
    return tuple(range(1, x.ndim))


def _soft_dice_per_image(probs: jnp.ndarray, targets: jnp.ndarray, smooth: float) -> jnp.ndarray:
    """1 - soft Dice for validated [B, *spatial] arrays of any spatial rank; returns [B].

    Shared by `soft_dice_loss` and the clDice losses so there is one definition of soft Dice.
    """
    axes = _pixel_axes(probs)
    intersection = jnp.sum(probs * targets, axis=axes)
    total = jnp.sum(probs, axis=axes) + jnp.sum(targets, axis=axes)
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


def bce_loss(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    eps: float = 1e-7,
    reduction: str = "mean",
) -> jax.Array:
    """Binary cross-entropy between predicted probabilities and binary targets.

    Per image b, with p clipped into [eps, 1 - eps] so that log never sees 0:

        loss_b = -mean_pixels( t * log(p) + (1 - t) * log(1 - p) )

    A confidently wrong pixel therefore costs about -log(eps) (16.1 for the default) instead of
    inf. The gradient is that of the clipped value, (p_c - t) / (p_c (1 - p_c)) per pixel, also
    where p lies outside [eps, 1 - eps]: a float32 sigmoid that rounds to exactly 1.0 on a
    background pixel is still pushed down, as with PyTorch's BCELoss. The bounds are rounded in the
    working dtype (float32: 1 - 1e-7 becomes 1 - 2**-23), so the upper cap is slightly lower.
    Prefer `bce_with_logits_loss` when the network's logits are available (exact and stable).

    Args:
      probs: probabilities in [0, 1], shape [B, H, W] or [B, H, W, 1], floating point.
      targets: ground truth in {0, 1}, same shape, any real or bool dtype (soft targets in
        [0, 1] also work and give the usual cross-entropy).
      eps: clipping margin for the probabilities (1e-7; computation is in at least float32).
      reduction: ``"mean"`` over the batch, ``"sum"`` over the batch, or ``"none"``.

    Returns:
      A scalar (``"mean"``/``"sum"``) or a [B] vector of per-image pixel means (``"none"``), in
      at least float32, >= 0. An image with a value outside [0, 1] in ``probs`` or ``targets``
      gets a NaN loss and a zero gradient; eagerly, a finite such value raises ValueError
      instead (NaN and inf never raise).

    Example:
      >>> loss = jaxtopo.bce_loss(probs, labels)                      # scalar
      >>> per_image = jaxtopo.bce_loss(probs, labels, reduction="none")   # [B]

    Reference: standard binary cross-entropy (e.g. Goodfellow et al., Deep Learning, 2016, 6.2.2).
    """
    fn = "bce_loss"
    _validation.check_reduction(reduction, fn=fn)
    p, t, valid = _validation.checked_pair(probs, targets, fn=fn)
    # clip the value but let the gradient through, so saturated wrong pixels still learn
    p = p + jax.lax.stop_gradient(jnp.clip(p, eps, 1.0 - eps) - p)
    # log1p(-p) keeps precision for p near 0, where 1 - p would round
    per_pixel = -(t * jnp.log(p) + (1.0 - t) * jnp.log1p(-p))
    return _validation.reduce(jnp.mean(per_pixel, axis=_pixel_axes(per_pixel)), reduction, valid)


def bce_with_logits_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    reduction: str = "mean",
) -> jax.Array:
    """Binary cross-entropy from logits, in a form that cannot overflow.

    Per image b, with x the logits and sigma the logistic sigmoid:

        loss_b = -mean_pixels( t * log(sigma(x)) + (1 - t) * log(sigma(-x)) )

    computed with ``jax.nn.log_sigmoid`` (a softplus), which is finite for any finite x
    (e.g. +-1000). The gradient with respect to x is ``(sigma(x) - t) / N`` for N pixels per image
    (times 1/B under ``"mean"``).

    Args:
      logits: real-valued scores, shape [B, H, W] or [B, H, W, 1], floating point.
      targets: ground truth in {0, 1}, same shape, any real or bool dtype.
      reduction: ``"mean"`` over the batch, ``"sum"`` over the batch, or ``"none"``.

    Returns:
      A scalar (``"mean"``/``"sum"``) or a [B] vector of per-image pixel means (``"none"``), in
      at least float32, >= 0. An image with a non-finite logit or a target outside [0, 1] gets a
      NaN loss and a zero gradient; eagerly, a finite target outside [0, 1] raises ValueError.

    Example:
      >>> loss = jaxtopo.bce_with_logits_loss(model(images), labels)
      >>> grads = jax.grad(lambda x: jaxtopo.bce_with_logits_loss(x, labels))(logits)

    Reference: standard binary cross-entropy on logits (as ``torch.nn.BCEWithLogitsLoss`` and
    ``optax.sigmoid_binary_cross_entropy``).
    """
    fn = "bce_with_logits_loss"
    _validation.check_reduction(reduction, fn=fn)
    x, t, valid = _validation.checked_pair(logits, targets, fn=fn, pred_name="logits", logits=True)
    per_pixel = -(t * jax.nn.log_sigmoid(x) + (1.0 - t) * jax.nn.log_sigmoid(-x))
    return _validation.reduce(jnp.mean(per_pixel, axis=_pixel_axes(per_pixel)), reduction, valid)


def soft_dice_loss(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    smooth: float = 1.0,
    from_logits: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """Soft Dice loss, per image.

        loss_b = 1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)

    with sums over the pixels of image b. ``smooth`` keeps the ratio defined for empty masks
    (two empty masks give loss 0) and softens the gradient on nearly empty images.

    Args:
      probs: probabilities in [0, 1] (logits with ``from_logits=True``), shape [B, H, W] or
        [B, H, W, 1], floating point.
      targets: ground truth in {0, 1} (soft targets in [0, 1] work too), same shape, any real or
        bool dtype.
      smooth: additive smoothing (> 0 recommended; 1.0 as in most implementations).
      from_logits: ``probs`` holds logits; the loss applies ``jax.nn.sigmoid`` itself.
      reduction: ``"mean"`` over the batch, ``"sum"`` over the batch, or ``"none"``.

    Returns:
      A scalar (``"mean"``/``"sum"``) or a [B] vector (``"none"``) in at least float32; each
      per-image value lies in [0, 1] for smooth >= 0. An image with a value outside [0, 1] (a
      non-finite logit with ``from_logits``) gets a NaN loss and a zero gradient; eagerly, a
      finite such value raises ValueError instead.

    Example:
      >>> loss = jaxtopo.soft_dice_loss(probs, labels)
      >>> total = jaxtopo.bce_loss(probs, labels) + loss

    Reference: Milletari et al., "V-Net", 3DV 2016 (squared denominators there; linear here,
    as in the clDice paper's soft-Dice).
    """
    fn = "soft_dice_loss"
    _validation.check_reduction(reduction, fn=fn)
    p, t, valid = probabilities_and_targets(probs, targets, fn=fn, from_logits=from_logits)
    return _validation.reduce(_soft_dice_per_image(p, t, smooth), reduction, valid)


def probabilities_and_targets(
    probs, targets, *, fn: str, from_logits: bool, spatial_dims: int = 2, supports_3d: bool = False
):
    """`_validation.checked_pair` for the losses with a ``from_logits`` option: the sigmoid is
    applied after the checks, so logits are checked as logits (finite), not as probabilities."""
    p, t, valid = _validation.checked_pair(
        probs, targets, fn=fn, spatial_dims=spatial_dims, logits=bool(from_logits),
        supports_3d=supports_3d, from_logits_option=True,
    )
    return (jax.nn.sigmoid(p) if from_logits else p), t, valid
