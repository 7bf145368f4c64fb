"""Betti matching loss (BM-Loss; Stucki et al., ICML 2023 and 2024) as a JAX function.

The Betti matching of each image with its target runs on the host (`jaxtopo.host.betti_matching`,
native engine or the plain Python fallback) inside `jax.pure_callback`, like the other topological
losses, and the gradient reaches the likelihood only at the birth and death pixels of the
prediction's pairs.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
from jax.typing import ArrayLike

from jaxtopo import _validation
from jaxtopo.host import betti_matching as bm_host
from jaxtopo.losses import sharding
from jaxtopo.losses.topological import host_loss


def betti_matching_loss(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    construction: str = "V",
    dims: Sequence[int] = (0, 1),
    pad: bool = False,
    push_unmatched_to_1_0: bool = False,
    matched_weight: float = 1.0,
    unmatched_weight: float = 1.0,
    min_persistence: float = 0.0,
    reduction: str = "mean",
    backend: str | None = None,
    mesh: jax.sharding.Mesh | None = None,
    batch_axis: sharding.BatchAxis = "data",
) -> jax.Array:
    """BM-Loss: squared distances of Betti-matched persistence pairs, unmatched pairs to the diagonal.

    Persistence of the sublevel filtration of ``f = 1 - L`` (superlevel of the
    likelihood) and of ``g = 1 - target``; the comparison image is ``min(f, g)``; a prediction pair
    and a target pair are matched when their induced matchings through the comparison image meet at
    one pair of it. Essential classes and pairs of zero persistence are left out. Per dimension:

    * matched pairs: ``2 * ((b_p - b_t)^2 + (d_p - d_t)^2) * matched_weight``
    * unmatched prediction pairs: ``(b - d)^2 * unmatched_weight``, or with
      ``push_unmatched_to_1_0``: ``2 * ((b - 1)^2 + d^2) * unmatched_weight``
    * unmatched target pairs: the same without the weight (a constant).

    With the defaults this is the value and gradient of topolosses'
    ``BettiMatchingLoss(use_base_loss=False)`` (Betti-Matching-3D).

    Ties: every cell has a place in one total order: value first, then the row-major index of the
    edge (or node) (docs/betti-matching.md). On the V-construction it is Betti-Matching-3D's order,
    so tied inputs (binary targets) match the reference exactly; flipped or transposed inputs can
    give another matching, as they do there.

    Args:
      probs: likelihoods in [0, 1], shape [B, H, W] or [B, H, W, 1], floating point.
      targets: binary ground truth of the same shape.
      construction: ``"V"`` (pixels are vertices, foreground 4-connected; the reference) or
        ``"T"`` (pixels are squares, foreground 8-connected, background 4-connected).
      dims: homology dimensions to include, a subset of (0, 1).
      pad: pad both images by one pixel of foreground so loops closed by the border count (ours;
        the pad pixels get no gradient). The reference does not pad.
      push_unmatched_to_1_0: push unmatched prediction pairs to (birth 1, death 0) in f instead
        of to the diagonal.
      matched_weight, unmatched_weight: weights of the matched and unmatched prediction terms.
      min_persistence: unmatched prediction pairs with ``|b - d| <= min_persistence`` are left
        out (topolosses' ``barcode_length_threshold``).
      reduction: ``"mean"`` over the batch (the reference), ``"sum"`` or ``"none"`` for [B] values.
      backend: ``"native"`` (default when the engine was built) or ``"python"``.
      mesh, batch_axis: with the device mesh the batch is split over, each device's host call
        gets only its own images; see `jaxtopo.topological_loss`.

    Returns:
      A scalar, or [B] values with ``reduction="none"``, in at least float32. An image whose
      likelihood or target holds a value outside [0, 1] (NaN and inf included) gets a NaN loss
      and a zero gradient; an eager call with a finite value outside [0, 1] (e.g. a {0, 255}
      mask) raises ValueError instead (`jaxtopo._validation`).

    Example:
      >>> loss = jaxtopo.soft_dice_loss(probs, labels) + 0.5 * jaxtopo.betti_matching_loss(probs, labels)

    References: Stucki et al., "Topologically faithful image segmentation via induced matching of
    persistence barcodes", ICML 2023; Stucki et al., "Efficient Betti matching enables
    topology-aware 3D segmentation via persistent homology", 2024.
    """
    fn = "betti_matching_loss"
    _validation.check_reduction(reduction, fn=fn)
    try:
        config = bm_host.BettiMatchingConfig(
            construction=construction,
            dims=tuple(int(d) for d in dims),
            pad=bool(pad),
            push_unmatched_to_1_0=bool(push_unmatched_to_1_0),
            matched_weight=float(matched_weight),
            unmatched_weight=float(unmatched_weight),
            min_persistence=float(min_persistence),
            backend=backend,
        )
    except ValueError as error:
        raise ValueError(f"{fn}: {error}") from None
    image_fn = functools.partial(bm_host.image_loss_and_grad, config=config)
    return host_loss(
        probs, targets, config, reduction=reduction, fn=fn, image_fn=image_fn, mesh=mesh,
        batch_axis=batch_axis,
    )
