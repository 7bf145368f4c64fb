"""Matching accuracy: does a loss pair each predicted persistence feature with the right target one?

The SATLoss paper argues that plain Wasserstein matching pairs features that lie far apart in the
image, but notes that the accuracy of a matching cannot be measured on real data: nobody knows
which predicted feature *should* go with which target feature. Here the prediction is made from
the target with perturbations at known places, so the right partner of every feature is known.
Definitions, perturbation kinds and measured results: docs/matching-accuracy.md.

**Cases** (`make_case`). A 96 x 96 image is split into a 3 x 3 grid of 32-pixel cells; some cells
hold one target object each: a *bar* (a thick segment: one component), a *ring* (one component
and one loop) or a *C* (a ring with a gap: one component, no loop). Objects stay at least 3 pixels
inside their cell, hence apart from each other and from the image border. The prediction is the
target's objects drawn at likelihoods 0.8-0.97 with a slow variation along them, softened by a
blur, on a background of 0.05 with smooth and pixel noise, clipped to [0.01, 0.99]; then one
perturbation kind is applied (`KINDS`):

* ``"gap"``: a bar is cut by a disk of background (radius 2.5 px) across it: one target
  component becomes two predicted ones, one of them extra.
* ``"open_loop"``: a ring is cut the same way: its predicted loop is missing (the ring stays one
  component).
* ``"close_loop"``: the gap of a C is bridged in the prediction: an extra predicted loop.
* ``"spurious_blob"``: a bright disk in an empty cell: an extra predicted component.
* ``"spurious_loop"``: a ring in an empty cell: an extra predicted component and loop.
* ``"dim"``: a ring drawn at likelihood 0.4-0.65: still present, with lower persistence.
* ``"mixed"``: all of the above at once, each on its own object.

Added pieces (blob, loop, bridge) get likelihoods 0.6-0.95, so they can be stronger than true
features: that is when a matching blind to location goes wrong.

**Identity of a feature.** Every dimension has a region map (`MatchingCase.regions[dim]`, integer
labels on the unpadded image, 0 = no region). A persistence feature's identity is the label at its
creator pixel (docs/conventions.md section 4; for Betti matching the birth pixel of the pair,
docs/betti-matching.md, which is the same pixel):

* dimension 0: an object's region is its pixels (target object, and in the prediction an added
  blob or loop) dilated by 2 px, cut to its cell, labelled by the cell (1 + 3 row + column).
  A component's creator is its brightest pixel (in the binary target: its pixel of largest
  index), so it falls on the object.
* dimension 1: a ring's, C's or spurious loop's region is the filled disk it bounds, out to its
  outer edge, dilated by 2 px and cut to its cell. A loop's creator is the pixel that closes
  it, which lies on the ring.
* a creator in the padding ring (all methods run with ``pad=True``) has identity -1. Two features
  per diagram are born there: in dimension 0 the essential class (the padding ring itself,
  docs/conventions.md section 4), in dimension 1 the loop the padding ring draws around the whole
  image. Betti matching leaves essential classes out; the padding loop it keeps.

By construction every region holds at most one target feature per dimension (each object is one
component; rings, not Cs or bars, hold one loop): `MatchingCase.target_features` lists them.

**Scoring** (`judge`, `matching_accuracy`) over the features of persistence (death - birth) above
``threshold`` with identity >= 0, target and predicted alike (all target features have
persistence 1). The default, 0.25 (likelihood units), was set from persistence alone, before any
matching was scored: over 175 calibration cases, features made by the noise reached at most
0.19, the constructed ones at least 0.36. Identity -1 features are never scored, in any method;
being matched to one is a wrong partner. With S_r the scored predicted features of identity r:

* A target feature of identity r is right if it is matched to a member of S_r; when S_r is empty
  (the feature is missing, e.g. an opened loop) it is right unmatched (the diagonal), or matched to
  a predicted feature of identity r below the threshold (the remnant at the right place, which the
  loss would pull back up).
* A scored predicted feature of identity r is right if it is matched to the target feature of
  identity r; unmatched (sent to the diagonal), it is right if r = 0, if no target feature has
  identity r (spurious blob or loop, closed C), or if the target feature r is rightly matched to
  another member of S_r (the second piece of a cut bar: either piece may take the target, the
  other must go to the diagonal).
* A feature a method does not decide about is wrong. Only TCLoss leaves features undecided: its
  loss is the single worst term of the diagrams' Hausdorff distance, so per dimension it pairs one
  predicted point (`Matching.counted`) and says nothing about the others. ``acted_correct`` counts
  right answers among the predicted features a method does pair (all of them, except for TCLoss).

A second score, ``fate``: whether each scored predicted feature is *kept* (matched to any target
point) or sent to the diagonal as it should be, whichever target point it gets. With a binary
target every target point is (0, 1) (birth 0, death 1 in f = 1 - L), so for a loss without spatial
weights the choice among target points changes neither the value nor the gradient: only the fate
does. Per region with a target feature, exactly one decided predicted feature should be kept:
with none kept the most persistent one is wrong, with k > 1 kept the k - 1 least persistent kept
ones are; elsewhere a feature is right when sent to the diagonal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from jaxtopo.host import betti_matching as bm_host
from jaxtopo.host.image_loss import TopoLossConfig, filtration, match_image
from jaxtopo.host.matching import DIAGONAL

KINDS = ("gap", "open_loop", "close_loop", "spurious_blob", "spurious_loop", "dim", "mixed")

# The losses' own matchings; spatial=False for He et al. and TCLoss is their losses' default.
_TOPO_POLICIES = {
    "Wasserstein": dict(policy="optimal", spatial=False),
    "SATLoss": dict(policy="optimal", spatial=True),
    "He et al.": dict(policy="longest_bars", spatial=False),
    "TCLoss": dict(policy="hausdorff", spatial=False),
}
METHODS = (*_TOPO_POLICIES, "Betti matching")

DEFAULT_THRESHOLD = 0.25

SIZE, CELL = 96, 32
GRID = SIZE // CELL
BACKGROUND = 0.05
RING_HALF_WIDTH = 1.3  # a ring is |distance - radius| <= this: 3 px wide, no pinch points, a loop in both constructions
BAR_HALF_WIDTH = 1.6
CUT_RADIUS = 2.5  # a cut leaves a gap of about 5 px: no piece touches another, even at a corner
# Noise, calibrated on feature persistence alone (before any matching was scored) so that noise
# features stay below DEFAULT_THRESHOLD and every constructed feature above it (test-checked):
ALONG_VARIATION = 0.03  # relative, slow variation of a structure's likelihood along it
SMOOTH_NOISE = 0.02  # std of the smooth (1.5 px) additive noise
PIXEL_NOISE = 0.01  # std of the per-pixel noise
BLUR = 0.5  # px, the soft edges of a likelihood
# A sigmoid output is never exactly 0 or 1. With exact zeros the padding ring's features (born at
# 0 on the padding, dying at max f = 1) would be exactly (0, 1), the place of every binary target
# point: they would cost nothing against any target point, spatially weighted or not, and could
# take any of them at no cost (docs/matching-accuracy.md).
LIKELIHOOD_FLOOR = 0.01
REGION_MARGIN = 2  # px of dilation around an object: the blur and a likelihood's creator fit inside
_PERTURBATIONS = ("gap", "open_loop", "close_loop", "spurious_blob", "spurious_loop", "dim")
# target objects each kind needs; "mixed" opens one ring and dims another
_NEEDS = {"gap": ("bar",), "open_loop": ("ring",), "close_loop": ("c",), "dim": ("ring",),
          "mixed": ("bar", "ring", "c", "ring")}
_EMPTY_CELLS_NEEDED = 2  # room for a spurious blob and a spurious loop

_ROWS, _COLS = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)


@dataclasses.dataclass(frozen=True)
class MatchingCase:
    """A target, a prediction made from it, and where every feature is.

    ``regions[dim]``: int32 [H, W] labels (0 = none), see the module docstring.
    ``target_features[dim]``: the labels holding one target feature each, by construction.
    ``predicted_features[dim]``: label -> how many predicted features the construction puts there
    (above any reasonable threshold); noise adds only features below it.
    ``perturbed``: perturbation -> the labels of the objects it changed.
    """

    kind: str
    seed: tuple
    likelihood: np.ndarray
    target: np.ndarray
    regions: dict
    target_features: dict
    predicted_features: dict
    perturbed: dict


def _as_rng(seed) -> np.random.Generator:
    return np.random.default_rng(list(seed) if isinstance(seed, (tuple, list)) else seed)


def _cell_mask(label: int) -> np.ndarray:
    i, j = divmod(label - 1, GRID)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[i * CELL:(i + 1) * CELL, j * CELL:(j + 1) * CELL] = True
    return mask


def _cell_centre(label: int, rng, jitter: float) -> tuple[float, float]:
    i, j = divmod(label - 1, GRID)
    centre = np.array([i * CELL + (CELL - 1) / 2, j * CELL + (CELL - 1) / 2])
    return tuple(centre + rng.uniform(-jitter, jitter, 2))


def _distance(centre) -> np.ndarray:
    return np.hypot(_ROWS - centre[0], _COLS - centre[1])


def _cut(centre, radius: float, angle: float) -> np.ndarray:
    """A disk of radius CUT_RADIUS on the circle of ``radius`` about ``centre``, at ``angle``."""
    point = (centre[0] + radius * np.sin(angle), centre[1] + radius * np.cos(angle))
    return _distance(point) <= CUT_RADIUS


@dataclasses.dataclass
class _Object:
    kind: str  # "bar", "ring" or "c"
    label: int
    mask: np.ndarray  # target pixels
    centre: tuple = (0.0, 0.0)
    radius: float = 0.0  # rings and Cs
    angle: float = 0.0  # a bar's direction, a C's gap
    half_length: float = 0.0  # bars


def _make_object(kind: str, label: int, rng) -> _Object:
    if kind == "bar":
        centre = _cell_centre(label, rng, 1.5)
        angle, half_length = rng.uniform(0, np.pi), rng.uniform(7.0, 10.0)
        direction = np.array([np.sin(angle), np.cos(angle)])
        along = (_ROWS - centre[0]) * direction[0] + (_COLS - centre[1]) * direction[1]
        across = np.abs((_ROWS - centre[0]) * direction[1] - (_COLS - centre[1]) * direction[0])
        distance = np.hypot(np.maximum(np.abs(along) - half_length, 0.0), across)
        return _Object(kind, label, distance <= BAR_HALF_WIDTH, centre, angle=angle, half_length=half_length)
    centre = _cell_centre(label, rng, 2.0)
    radius = rng.uniform(6.0, 9.0)
    mask = np.abs(_distance(centre) - radius) <= RING_HALF_WIDTH
    angle = rng.uniform(0, 2 * np.pi)
    if kind == "c":
        mask &= ~_cut(centre, radius, angle)
    return _Object(kind, label, mask, centre, radius, angle)


def _loop_region(centre, radius: float, label: int) -> np.ndarray:
    disk = _distance(centre) <= radius + RING_HALF_WIDTH
    return ndimage.binary_dilation(disk, iterations=REGION_MARGIN) & _cell_mask(label)


def _component_region(mask: np.ndarray, label: int) -> np.ndarray:
    return ndimage.binary_dilation(mask, iterations=REGION_MARGIN) & _cell_mask(label)


def make_case(kind: str, seed=0) -> MatchingCase:
    """One case of perturbation ``kind`` (see `KINDS`); ``seed``: an int or a tuple of ints,
    the entropy of numpy's generator, so a seed gives the same arrays on any machine."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = _as_rng(seed)
    labels = list(rng.permutation(np.arange(1, GRID * GRID + 1)))
    needs = list(_NEEDS.get(kind, ()))
    count = min(max(len(needs), int(rng.integers(4, 7))), GRID * GRID - _EMPTY_CELLS_NEEDED)
    kinds = needs + list(rng.choice(["bar", "ring", "c"], size=count - len(needs)))
    objects = [_make_object(k, int(label), rng) for k, label in zip(kinds, labels)]
    empty = [int(label) for label in labels[count:]]

    target = np.zeros((SIZE, SIZE), np.float32)
    regions = {0: np.zeros((SIZE, SIZE), np.int32), 1: np.zeros((SIZE, SIZE), np.int32)}
    target_features = {0: [], 1: []}
    predicted = {0: {}, 1: {}}
    for obj in objects:
        target[obj.mask] = 1
        regions[0][_component_region(obj.mask, obj.label)] = obj.label
        target_features[0].append(obj.label)
        predicted[0][obj.label] = 1
        if obj.kind in ("ring", "c"):
            regions[1][_loop_region(obj.centre, obj.radius, obj.label)] = obj.label
        if obj.kind == "ring":
            target_features[1].append(obj.label)
            predicted[1][obj.label] = 1

    # the prediction: every object at its own strength; 0 stays background
    level = np.zeros((SIZE, SIZE))
    for obj in objects:
        level[obj.mask] = rng.uniform(0.8, 0.97)
    perturbed = {}
    wanted = _PERTURBATIONS if kind == "mixed" else (kind,)

    def take(object_kind):  # the first object of that kind not perturbed yet
        used = {touched for labels_ in perturbed.values() for touched in labels_}
        return next(o for o in objects if o.kind == object_kind and o.label not in used)

    for perturbation in wanted:
        if perturbation == "gap":
            obj = take("bar")
            label = obj.label
            offset = rng.uniform(-0.3, 0.3) * obj.half_length  # not at an end: two real pieces
            point = (obj.centre[0] + offset * np.sin(obj.angle), obj.centre[1] + offset * np.cos(obj.angle))
            level[_distance(point) <= CUT_RADIUS] = 0.0
            predicted[0][obj.label] = 2
        elif perturbation == "open_loop":
            obj = take("ring")
            label = obj.label
            level[_cut(obj.centre, obj.radius, rng.uniform(0, 2 * np.pi))] = 0.0
            predicted[1].pop(obj.label)
        elif perturbation == "close_loop":
            obj = take("c")
            label = obj.label
            annulus = np.abs(_distance(obj.centre) - obj.radius) <= RING_HALF_WIDTH
            bridge = _cut(obj.centre, obj.radius, obj.angle) & annulus
            level[bridge] = rng.uniform(0.6, 0.95)
            # the predicted component now includes the bridge, and may be created on it
            regions[0][_component_region(obj.mask | bridge, label)] = label
            predicted[1][obj.label] = 1
        elif perturbation == "spurious_blob":
            label = empty.pop()
            blob = _distance(_cell_centre(label, rng, 4.0)) <= rng.uniform(2.5, 4.0)
            level[blob] = rng.uniform(0.6, 0.95)
            regions[0][_component_region(blob, label)] = label
            predicted[0][label] = 1
        elif perturbation == "spurious_loop":
            label = empty.pop()
            centre, radius = _cell_centre(label, rng, 2.0), rng.uniform(6.0, 9.0)
            ring = np.abs(_distance(centre) - radius) <= RING_HALF_WIDTH
            level[ring] = rng.uniform(0.6, 0.95)
            regions[0][_component_region(ring, label)] = label
            regions[1][_loop_region(centre, radius, label)] = label
            predicted[0][label] = predicted[1][label] = 1
        else:  # dim
            obj = take("ring")
            label = obj.label
            level[obj.mask] = rng.uniform(0.4, 0.65)
        perturbed[perturbation] = (label,)

    # a network's likelihood: uneven along the structures, soft edges, noisy background
    variation = ndimage.gaussian_filter(rng.normal(size=level.shape), 4.0)
    variation /= max(float(np.abs(variation).max()), 1e-12)
    soft = ndimage.gaussian_filter(level * (1.0 - ALONG_VARIATION * variation), BLUR)
    noise = SMOOTH_NOISE * _unit_std(ndimage.gaussian_filter(rng.normal(size=level.shape), 1.5)) + \
        PIXEL_NOISE * rng.normal(size=level.shape)
    likelihood = np.clip(BACKGROUND + (1.0 - BACKGROUND) * soft + noise, LIKELIHOOD_FLOOR, 1.0 - LIKELIHOOD_FLOOR)
    return MatchingCase(
        kind=kind, seed=tuple(seed) if isinstance(seed, (tuple, list)) else (seed,),
        likelihood=likelihood.astype(np.float32), target=target, regions=regions,
        target_features={d: tuple(sorted(v)) for d, v in target_features.items()},
        predicted_features=predicted, perturbed=perturbed)


def _unit_std(values: np.ndarray) -> np.ndarray:
    return values / max(float(values.std()), 1e-12)


# --- the methods' matchings, in one form ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FeatureMatching:
    """One method's matching in one dimension.

    Creators and destroyers are (row, col) in the unpadded image (the padding ring is row or
    column -1 or H/W);
    ``matched_to[i]``: index of predicted feature i's target feature, or -1 (diagonal);
    ``counted[i]``: whether the method's loss pairs feature i at all (False only under TCLoss);
    ``decides_all``: False when the method leaves features undecided (TCLoss), so an unmatched
    target feature has not been sent to the diagonal, it has been ignored.
    Births and deaths are values of f = 1 - likelihood (persistence = death - birth).
    """

    pred_creator: np.ndarray
    pred_persistence: np.ndarray
    target_creator: np.ndarray
    target_persistence: np.ndarray
    matched_to: np.ndarray
    counted: np.ndarray
    decides_all: bool = True
    pred_destroyer: np.ndarray | None = None
    target_destroyer: np.ndarray | None = None


def _rows_cols(flat: np.ndarray, padded_width: int) -> np.ndarray:
    rows, cols = np.divmod(np.asarray(flat, np.int64), padded_width)
    return np.stack([rows - 1, cols - 1], axis=1)  # the padding ring is one pixel wide


def feature_matching(likelihood, target, method: str, *, construction: str = "T") -> dict[int, FeatureMatching]:
    """The matching of ``method`` (one of `METHODS`) in dimensions 0 and 1, with ``pad=True``.

    Wasserstein, SATLoss, He et al. and TCLoss: `jaxtopo.host.match_image` with the policy of
    their loss; Betti matching: `jaxtopo.host.betti_matching.betti_matching` on the same padded
    filtrations and construction, so every method sees the same complex.
    """
    likelihood = np.asarray(likelihood, np.float32)
    target = np.asarray(target, np.float32)
    width = likelihood.shape[1] + 2
    result = {}
    if method in _TOPO_POLICIES:
        config = TopoLossConfig(construction=construction, pad=True, **_TOPO_POLICIES[method])
        matched = match_image(likelihood, target, config, cache=None)  # cases never repeat a target
        for dim in (0, 1):
            pred, tgt = matched.prediction.diagrams[dim], matched.target.diagrams[dim]
            result[dim] = FeatureMatching(
                _rows_cols(pred.creator, width), pred.death - pred.birth,
                _rows_cols(tgt.creator, width), tgt.death - tgt.birth,
                matched.matchings[dim].matched_to, matched.matchings[dim].counted,
                decides_all=config.policy != "hausdorff",
                pred_destroyer=_rows_cols(pred.destroyer, width), target_destroyer=_rows_cols(tgt.destroyer, width))
        return result
    if method != "Betti matching":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    f, g = filtration(likelihood, pad=True), filtration(target, pad=True)
    matchings = bm_host.betti_matching(f, g, construction=construction)
    f_flat, g_flat = f.ravel().astype(np.float64), g.ravel().astype(np.float64)
    for dim, m in matchings.items():
        matched_to = np.full(len(m.pred_pairs), DIAGONAL, np.int64)
        matched_to[m.matched[:, 0]] = m.matched[:, 1]
        result[dim] = FeatureMatching(
            _rows_cols(m.pred_pairs[:, 0], width), f_flat[m.pred_pairs[:, 1]] - f_flat[m.pred_pairs[:, 0]],
            _rows_cols(m.target_pairs[:, 0], width), g_flat[m.target_pairs[:, 1]] - g_flat[m.target_pairs[:, 0]],
            matched_to, np.ones(len(m.pred_pairs), bool),
            pred_destroyer=_rows_cols(m.pred_pairs[:, 1], width),
            target_destroyer=_rows_cols(m.target_pairs[:, 1], width))
    return result


# --- scoring -------------------------------------------------------------------------------------

def identities(regions: np.ndarray, creators: np.ndarray) -> np.ndarray:
    """Region label at each creator (row, col); -1 for a creator in the padding ring."""
    height, width = regions.shape
    rows, cols = creators[:, 0], creators[:, 1]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    out = np.full(len(creators), -1, np.int64)
    out[inside] = regions[rows[inside], cols[inside]]
    return out


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """Per feature of one dimension: identity, whether it is scored, and whether it is right."""

    pred_identity: np.ndarray
    target_identity: np.ndarray
    pred_scored: np.ndarray
    target_scored: np.ndarray
    pred_correct: np.ndarray
    target_correct: np.ndarray
    pred_fate_correct: np.ndarray
    pair_correct: np.ndarray  # per predicted feature: matched to the target feature of its identity


def judge(case: MatchingCase, matching: FeatureMatching, dim: int, *, threshold: float = DEFAULT_THRESHOLD,
          identity: tuple | None = None) -> Verdicts:
    """Right or wrong for every feature of ``matching`` (rules in the module docstring).

    ``identity``: (predicted, target) identities of the features where the caller determines them
    otherwise (loops of real labels: `jaxtopo.training.diagnostics`); by default the region of
    ``case.regions[dim]`` at each creator."""
    if identity is None:
        pred_id = identities(case.regions[dim], matching.pred_creator)
        target_id = identities(case.regions[dim], matching.target_creator)
    else:
        pred_id, target_id = (np.asarray(ids, np.int64) for ids in identity)
        if pred_id.shape != matching.pred_persistence.shape or target_id.shape != matching.target_persistence.shape:
            raise ValueError(f"identity must give one label per feature: {len(matching.pred_persistence)} "
                             f"predicted and {len(matching.target_persistence)} target, got "
                             f"{pred_id.shape} and {target_id.shape}")
    pred_scored = (pred_id >= 0) & (matching.pred_persistence > threshold)
    target_scored = (target_id >= 0) & (matching.target_persistence > threshold)
    decided = matching.counted
    matched = decided & (matching.matched_to != DIAGONAL)
    partner = np.where(matched, matching.matched_to, DIAGONAL)
    present = set(pred_id[pred_scored].tolist())  # identities with a scored predicted feature
    # a pair is right when both sides have one identity r > 0, and the predicted side is scored
    # or r has no scored predicted feature (a remnant below the threshold at the right place)
    pair_correct = np.zeros(len(pred_id), bool)
    for i in np.flatnonzero(matched):
        r = int(pred_id[i])
        pair_correct[i] = r > 0 and target_id[partner[i]] == r and (pred_scored[i] or r not in present)

    taken_by = np.full(len(target_id), -1, np.int64)  # the decided predicted feature that took each target
    taken_by[partner[matched]] = np.flatnonzero(matched)
    target_correct = np.zeros(len(target_id), bool)
    for j, r in enumerate(target_id.tolist()):
        if taken_by[j] >= 0:
            target_correct[j] = pair_correct[taken_by[j]]
        else:  # left to the diagonal: right if nothing of its identity is there (TCLoss: ignored)
            target_correct[j] = matching.decides_all and (r <= 0 or r not in present)
    targets_by_id = {int(r): j for j, r in enumerate(target_id.tolist()) if target_scored[j] and r > 0}

    def sibling_took(r: int) -> bool:  # the target of r is rightly taken (r is present: by a scored feature)
        j = targets_by_id.get(r)
        return j is not None and taken_by[j] >= 0 and pair_correct[taken_by[j]]

    pred_correct = np.zeros(len(pred_id), bool)
    for i in np.flatnonzero(pred_scored & decided):
        r = int(pred_id[i])
        pred_correct[i] = pair_correct[i] if matched[i] else (r == 0 or r not in targets_by_id or sibling_took(r))

    # fate: kept (matched to any target point) or sent to the diagonal, as it should be
    fate = np.zeros(len(pred_id), bool)
    scored_decided = pred_scored & decided
    for r in set(pred_id[scored_decided].tolist()):
        members = np.flatnonzero(scored_decided & (pred_id == r))
        if r <= 0 or r not in targets_by_id:
            fate[members] = ~matched[members]
            continue
        kept = members[matched[members]]
        fate[members] = True
        if len(kept) == 0:  # one should have been kept: the most persistent
            fate[members[np.argmax(matching.pred_persistence[members])]] = False
        elif len(kept) > 1:  # one too many kept: the least persistent ones
            order = kept[np.argsort(matching.pred_persistence[kept])]
            fate[order[:-1]] = False
    return Verdicts(pred_id, target_id, pred_scored, target_scored, pred_correct, target_correct, fate, pair_correct)


@dataclasses.dataclass(frozen=True)
class DimensionAccuracy:
    """Counts of one dimension (summable over cases with ``+``).

    ``features``: scored target and predicted features; ``correct``: of those, the right ones.
    ``predicted``: scored predicted features; ``acted``: of those, the ones the method pairs;
    ``acted_correct``: of those, the right ones; ``fate_correct``: predicted features kept or
    dropped as they should be.
    """

    features: int = 0
    correct: int = 0
    predicted: int = 0
    acted: int = 0
    acted_correct: int = 0
    fate_correct: int = 0

    def __add__(self, other: "DimensionAccuracy") -> "DimensionAccuracy":
        return DimensionAccuracy(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    @staticmethod
    def _ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    @property
    def fraction(self) -> float:
        return self._ratio(self.correct, self.features)

    @property
    def acted_fraction(self) -> float:
        return self._ratio(self.acted_correct, self.acted)

    @property
    def fate_fraction(self) -> float:
        return self._ratio(self.fate_correct, self.predicted)


def matching_accuracy(case: MatchingCase, method: str, *, threshold: float = DEFAULT_THRESHOLD,
                      construction: str = "T", dims: Sequence[int] = (0, 1)) -> dict[int, DimensionAccuracy]:
    """Per dimension, how many of the case's scored features ``method`` pairs with the right
    partner (a target feature or the diagonal); ``.fraction`` is the share."""
    matchings = feature_matching(case.likelihood, case.target, method, construction=construction)
    return {dim: count_verdicts(judge(case, matchings[dim], dim, threshold=threshold), matchings[dim])
            for dim in dims}


def count_verdicts(v: Verdicts, matching: FeatureMatching) -> DimensionAccuracy:
    """The counts of one dimension's verdicts."""
    acted = v.pred_scored & matching.counted
    return DimensionAccuracy(
        features=int(v.pred_scored.sum() + v.target_scored.sum()),
        correct=int(v.pred_correct[v.pred_scored].sum() + v.target_correct[v.target_scored].sum()),
        predicted=int(v.pred_scored.sum()),
        acted=int(acted.sum()),
        acted_correct=int(v.pred_correct[acted].sum()),
        fate_correct=int(v.pred_fate_correct[v.pred_scored].sum()))
