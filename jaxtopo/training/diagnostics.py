"""Why a topological loss does or does not change what a model learns: two measurements on a model
during training (`experiments/diagnose.py` runs them at several steps of a real run).

**Gradient share** (`gradient_diagnostics`). The optimiser sees one gradient, the sum of the pixel
loss's and lambda x the topological loss's. How much the topological term steers training is the
size of its part against the pixel part, in parameter space (what Adam sees) and at the few pixels
it touches (its creator and destroyer pixels, Eq. 7):

* ``share``: lambda ||grad_theta topo|| / ||grad_theta pixel||, over all model parameters;
* ``cosine``: cosine of the two parameter gradients (negative: the terms pull apart);
* ``critical_pixels``: pixels per image with a non-zero topological gradient;
* ``pixel_ratio``: at those pixels, the mean of lambda |d topo / d logit| over the mean of
  |d pixel / d logit|, i.e. how strongly the term pushes where it pushes at all;
* ``on_features``: the share of the term's push (sum of |d topo / d logit|) that lands on the
  creator and destroyer pixels of the prediction's features of persistence above ``threshold``
  (0.25, as the matching accuracy scores), rather than on the low-persistence features of noise.

The topological term is computed unweighted (lambda = 1) and scaled by every lambda asked for, so
one measurement answers for a whole lambda grid. Both terms use the model in training mode on one
batch (BatchNorm on the batch's statistics), as in a train step; nothing is updated.

**Matching accuracy on real labels** (`label_matching_accuracy`). docs/matching-accuracy.md scores a
loss's matching on constructed predictions whose right partners are known. A trained model's
prediction has no such key, but a label says where each of its features is, and a predicted feature
of the same place is the right partner of a target feature:

* dimension 0: a region per foreground component of the label (connectivity of the
  construction), grown by `REGION_MARGIN` pixels into the background, each background pixel going
  to its nearest component; a feature's identity is the region at its creator (a component's
  brightest pixel);
* dimension 1: with the padding ring (``pad=True``, as the losses train) every background
  component of the label is a hole, one target loop each. A predicted loop's extent is its hole
  halfway through its life: the background component of ``{f > (birth + death) / 2}`` (f = 1 - L,
  padded) that holds its destroyer. Its identity is the label hole whose intersection over union
  with that extent exceeds 1/2, else 0 (a spurious loop, or one that merges several holes).
  Extents rather than a pixel: a loop's creator lies on a wall that neighbouring holes share, and
  a small spurious loop inside a hole would take that hole's identity by its destroyer. Halfway
  rather than at birth: the loop the padding ring closes is born at 0, when its hole is the whole
  image; halfway, it is the piece of the border region where it dies.

The verdicts are those of `jaxtopo.evaluation.matching_accuracy.judge`, with persistence threshold
``threshold`` (0.25 by default): a predicted feature matched to the target feature of its region is
right; unmatched it is right where no target feature is in its region (a spurious piece or loop),
or where the target feature there is rightly taken by another predicted feature. Matchings are
computed with ``pad=True`` and the T-construction by default, as the trainer's losses are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from scipy import ndimage

from jaxtopo.evaluation.matching_accuracy import (
    DEFAULT_THRESHOLD,
    REGION_MARGIN,
    DimensionAccuracy,
    FeatureMatching,
    MatchingCase,
    count_verdicts,
    feature_matching,
    judge,
)
from jaxtopo.host.image_loss import filtration
from jaxtopo.host.persistence import persistence_diagrams
from jaxtopo.training.objective import TOPOLOGICAL_LOSSES, objective

# the structuring elements of the two constructions' foreground (docs/conventions.md section 3):
# T: pixels are closed squares, so the foreground is 8-connected and the background 4-connected
_EIGHT = np.ones((3, 3), bool)
_FOUR = ndimage.generate_binary_structure(2, 1)
_CONNECTIVITY = {"T": (_EIGHT, _FOUR), "V": (_FOUR, _EIGHT)}

# the loss names a diagnostic may ask for, as in the configs' loss.topological
MATCHING_LOSSES = ("sat", "wt", "he", "tc", "bm")
_METHOD_OF = {"sat": "SATLoss", "wt": "Wasserstein", "he": "He et al.", "tc": "TCLoss", "bm": "Betti matching"}


def _grown(labels: np.ndarray, margin: float) -> np.ndarray:
    """``labels`` with every unlabelled pixel within ``margin`` px of a labelled one given the
    label of its nearest labelled pixel."""
    if not labels.any():
        return labels
    distance, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return np.where(distance <= margin, labels[rows, cols], 0).astype(np.int32)


def label_regions(target, *, construction: str = "T", margin: float = REGION_MARGIN) -> MatchingCase:
    """The label's foreground components grown by ``margin`` px (``regions[0]``) and its
    background components (``regions[1]``, unpadded) as a `MatchingCase` that `judge` scores;
    ``likelihood`` is left empty."""
    if construction not in _CONNECTIVITY:
        raise ValueError(f"construction must be 'T' or 'V', got {construction!r}")
    target = np.asarray(target)
    if target.ndim != 2:
        raise ValueError(f"target must be one image [H, W], got shape {target.shape}")
    foreground = target > 0.5
    fg_structure, bg_structure = _CONNECTIVITY[construction]
    components, _ = ndimage.label(foreground, structure=fg_structure)
    holes, _ = ndimage.label(~foreground, structure=bg_structure)
    return MatchingCase(kind="label", seed=(), likelihood=np.zeros(target.shape, np.float32),
                        target=foreground.astype(np.float32), regions={0: _grown(components, margin), 1: holes},
                        target_features={0: [], 1: []}, predicted_features={}, perturbed={})


def loop_identities(likelihood, target, matching: FeatureMatching, *, construction: str = "T",
                    overlap: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, target) identities of dimension-1 features: the label hole each one's extent
    overlaps with intersection over union above ``overlap`` (module docstring), else 0."""
    bg_structure = _CONNECTIVITY[construction][1]
    f = filtration(np.asarray(likelihood, np.float32), pad=True)
    g = filtration(np.asarray(target, np.float32), pad=True)
    holes, count = ndimage.label(g > 0, structure=bg_structure)  # the padded label's holes
    hole_sizes = np.bincount(holes.ravel(), minlength=count + 1)
    target_id = holes[matching.target_destroyer[:, 0] + 1, matching.target_destroyer[:, 1] + 1].astype(np.int64)
    pred_id = np.zeros(len(matching.pred_destroyer), np.int64)
    creators, destroyers = matching.pred_creator + 1, matching.pred_destroyer + 1  # padded frame
    levels = (f[creators[:, 0], creators[:, 1]] + f[destroyers[:, 0], destroyers[:, 1]]) / 2
    for level in np.unique(levels):
        holes_then, _ = ndimage.label(f > level, structure=bg_structure)
        for i in np.flatnonzero(levels == level):
            extent = holes_then == holes_then[destroyers[i, 0], destroyers[i, 1]]
            shared = np.bincount(holes[extent], minlength=count + 1)
            shared[0] = 0  # pixels of the label's foreground belong to no hole
            best = int(np.argmax(shared))
            union = extent.sum() + hole_sizes[best] - shared[best]
            pred_id[i] = best if shared[best] > overlap * union else 0
    return pred_id, target_id


def label_matching_accuracy(likelihood, target, loss: str, *, construction: str = "T",
                            threshold: float = DEFAULT_THRESHOLD) -> dict[int, DimensionAccuracy]:
    """Per dimension, how many features of one image ``loss``'s matching (a name of
    `MATCHING_LOSSES`) pairs with the right partner, identities from the label (module docstring)."""
    if loss not in _METHOD_OF:
        raise ValueError(f"loss must be one of {MATCHING_LOSSES}, got {loss!r}")
    case = label_regions(target, construction=construction)
    matchings = feature_matching(likelihood, case.target, _METHOD_OF[loss], construction=construction)
    loops = loop_identities(likelihood, case.target, matchings[1], construction=construction)
    return {0: count_verdicts(judge(case, matchings[0], 0, threshold=threshold), matchings[0]),
            1: count_verdicts(judge(case, matchings[1], 1, threshold=threshold, identity=loops), matchings[1])}


def batch_matching_accuracy(likelihoods, targets, loss: str, **options) -> dict[int, DimensionAccuracy]:
    """`label_matching_accuracy` summed over a batch of images [N, H, W]."""
    total = {0: DimensionAccuracy(), 1: DimensionAccuracy()}
    for likelihood, target in zip(np.asarray(likelihoods), np.asarray(targets)):
        for dim, counts in label_matching_accuracy(likelihood, target, loss, **options).items():
            total[dim] = total[dim] + counts
    return total


@dataclasses.dataclass(frozen=True)
class GradientShare:
    """One topological loss against the pixel loss on one batch (module docstring)."""

    loss: str
    pixel_norm: float  # ||grad_theta pixel loss||
    topo_norm: float  # ||grad_theta topo||, unweighted
    cosine: float
    critical_pixels: float  # per image
    pixel_at_critical: float  # mean |d pixel / d logit| at the critical pixels
    topo_at_critical: float  # mean |d topo / d logit| there, unweighted
    topo_value: float  # the term's value (unweighted, mean over the batch)
    on_features: float  # share of sum |d topo / d logit| at the pixels of persistent features

    def share(self, weight: float) -> float:
        return weight * self.topo_norm / self.pixel_norm if self.pixel_norm > 0 else float("nan")

    def pixel_ratio(self, weight: float) -> float:
        return weight * self.topo_at_critical / self.pixel_at_critical if self.pixel_at_critical > 0 else float("nan")


def _norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree)))


def _dot(a, b) -> jax.Array:
    return sum(jnp.sum(x * y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def construction_of(loss_config, loss: str) -> str:
    """The complex ``loss`` computes on under ``loss_config``: its loss.construction, else the
    loss's own default (V for Betti matching, T for the others)."""
    return loss_config.get("construction") or ("V" if loss == "bm" else "T")


def feature_pixels(likelihoods, *, threshold: float = DEFAULT_THRESHOLD, construction: str = "T",
                   pad: bool = True) -> np.ndarray:
    """bool [N, H, W]: the creator and destroyer pixels of each image's persistence pairs (both
    dimensions) of persistence above ``threshold``; pixels of the padding ring are dropped."""
    likelihoods = np.asarray(likelihoods, np.float32)
    masks = np.zeros(likelihoods.shape, bool)
    for mask, likelihood in zip(masks, likelihoods):
        f = filtration(likelihood, pad=pad)
        for diagram in persistence_diagrams(f, construction=construction).values():
            strong = diagram.death - diagram.birth > threshold
            for pixels in (diagram.creator[strong], diagram.destroyer[strong]):
                rows, cols = np.divmod(pixels, f.shape[1])
                if pad:
                    rows, cols = rows - 1, cols - 1
                inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
                mask[rows[inside], cols[inside]] = True
    return masks


def gradient_diagnostics(model: nnx.Module, images, labels, loss_config,
                         losses: Sequence[str] = ("sat", "wt"), *,
                         threshold: float = DEFAULT_THRESHOLD) -> list[GradientShare]:
    """The gradient share of each topological loss in ``losses`` against ``loss_config``'s pixel
    loss, for ``model`` in training mode on ``images`` [N, H, W, C] with ``labels`` [N, H, W].

    The model is not changed: its BatchNorm statistics are updated on a copy only."""
    for name in losses:
        if name not in MATCHING_LOSSES:
            raise ValueError(f"losses must be among {MATCHING_LOSSES}, got {name!r}")
    # gradients with respect to the parameters only, not BatchNorm's running statistics
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    pixel_config = loss_config.copy()
    pixel_config.topological = "none"
    images = jnp.asarray(images, jnp.float32)
    labels = jnp.asarray(labels, jnp.float32)

    def logits_of(params, rest):
        # rest (BatchNorm statistics) goes in traced too: training mode updates it on the merged copy
        return nnx.merge(graph, params, rest)(images)

    logits, pullback = jax.vjp(logits_of, params, rest)
    d_pixel = jax.grad(lambda z: objective(z, labels, pixel_config)[0])(logits)
    g_pixel, _ = pullback(d_pixel)
    likelihoods = np.asarray(jax.nn.sigmoid(logits))[..., 0]
    strong_pixels = {}  # (construction, pad) -> feature_pixels: sat and wt share one
    out = []
    for name in losses:
        topo_config = loss_config.copy()
        topo_config.topological = name

        def topo_value(z, topo_config=topo_config, name=name):
            return TOPOLOGICAL_LOSSES[name](jax.nn.sigmoid(z), labels, topo_config, None)

        value, d_topo = jax.value_and_grad(topo_value)(logits)
        g_topo, _ = pullback(d_topo)
        key = (construction_of(loss_config, name), topo_config.pad)
        if key not in strong_pixels:
            strong_pixels[key] = feature_pixels(likelihoods, threshold=threshold, construction=key[0], pad=key[1])
        strong = strong_pixels[key]
        push = np.abs(np.asarray(d_topo))[..., 0]
        critical = jnp.abs(d_topo) > 0
        count = jnp.sum(critical)
        pixel_norm, topo_norm = float(_norm(g_pixel)), float(_norm(g_topo))
        denominator = pixel_norm * topo_norm
        out.append(GradientShare(
            loss=name, pixel_norm=pixel_norm, topo_norm=topo_norm,
            cosine=float(_dot(g_pixel, g_topo)) / denominator if denominator > 0 else float("nan"),
            critical_pixels=float(count) / len(logits),
            pixel_at_critical=float(jnp.sum(jnp.where(critical, jnp.abs(d_pixel), 0)) / jnp.maximum(count, 1)),
            topo_at_critical=float(jnp.sum(jnp.abs(d_topo)) / jnp.maximum(count, 1)),
            topo_value=float(value),
            on_features=float(push[strong].sum() / push.sum()) if push.sum() > 0 else float("nan")))
    return out


def latest_model(config, workdir: str, in_channels: int) -> tuple[int, nnx.Module]:
    """(step, model in training mode) of a run folder's latest checkpoint."""
    from jaxtopo.training.checkpoints import RunCheckpoints
    from jaxtopo.training.config import RunFolderError
    from jaxtopo.training.loop import build_model

    checkpoints = RunCheckpoints(workdir, create=False)
    try:
        step, state = checkpoints.restore_latest_model()
    finally:
        checkpoints.close()
    if step is None:
        raise RunFolderError(f"{workdir} has no checkpoint")
    graph, _ = nnx.split(build_model(config, in_channels)[0])
    return step, nnx.merge(graph, state)  # as the trainer's predictor merges a restored state


def probabilities(model: nnx.Module, images, *, training: bool, batch_size: int = 16) -> np.ndarray:
    """Likelihoods [N, H, W]: in training mode as the loss sees them (BatchNorm on the batch's
    statistics, on a copy of the model: all ``images`` form one batch), else as evaluation does
    (running averages, in batches of ``batch_size``: a real dataset's validation split need not fit
    in memory at once)."""
    graph, state = nnx.split(model)
    copy = nnx.merge(graph, state)
    copy.train() if training else copy.eval()
    step = len(images) if training else batch_size
    return np.concatenate([np.asarray(jax.nn.sigmoid(copy(jnp.asarray(images[i:i + step], jnp.float32)))[..., 0])
                           for i in range(0, len(images), max(step, 1))])
