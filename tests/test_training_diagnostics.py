"""jaxtopo.training.diagnostics and experiments/diagnose.py: the gradient share of a topological
loss and its matching accuracy on real labels, checked against hand-built cases with known answers
and against gradients computed another way."""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxtopo import topological_loss
from jaxtopo.evaluation.matching_accuracy import feature_matching
from jaxtopo.losses.pixel import bce_with_logits_loss
from jaxtopo.training import diagnostics, load_config, override
from jaxtopo.training.loop import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

SIZE = 64
ROWS, COLS = np.mgrid[0:SIZE, 0:SIZE]


def ring(centre, radius):
    return np.abs(np.hypot(ROWS - centre[0], COLS - centre[1]) - radius) <= 1.3


def disk(centre, radius):
    return np.hypot(ROWS - centre[0], COLS - centre[1]) <= radius


def bar():
    return (np.abs(ROWS - 48) <= 1) & (COLS >= 8) & (COLS <= 40)


def soft(mask, value, background=0.05):
    return np.where(mask, value, background).astype(np.float32)


def label_with_ring_and_bar():
    """One ring (a component and a loop) and one bar (a component), both away from the border."""
    return (ring((20, 20), 8) | bar()).astype(np.float32)


def test_label_regions_hand_worked():
    case = diagnostics.label_regions(label_with_ring_and_bar())
    # two components, each grown by 2 px, the rest unlabelled
    assert set(np.unique(case.regions[0])) == {0, 1, 2}
    assert case.regions[0][48, 6] > 0 and case.regions[0][48, 5] == 0  # 2 px left of the bar's end
    # background: outside and the ring's inside
    assert set(np.unique(case.regions[1])) == {0, 1, 2}
    assert case.regions[1][20, 20] != case.regions[1][0, 0]
    with pytest.raises(ValueError, match="construction"):
        diagnostics.label_regions(label_with_ring_and_bar(), construction="X")
    with pytest.raises(ValueError, match="one image"):
        diagnostics.label_regions(np.zeros((2, 8, 8)))


@pytest.mark.parametrize("loss", ["sat", "bm"])
def test_a_soft_copy_of_the_label_is_matched_right_everywhere(loss):
    target = label_with_ring_and_bar()
    likelihood = np.clip(target, 0.01, 0.99)
    for dim, counts in diagnostics.label_matching_accuracy(likelihood, target, loss).items():
        # dim 0: ring and bar on both sides; dim 1: the ring's hole and the padded outside
        assert counts.features == 4, dim
        assert counts.correct == counts.features, dim


def test_a_bright_spurious_blob_fools_plain_wasserstein_not_satloss():
    """Target: ring + bar at likelihood 0.7 in the prediction; a spurious blob at 0.74 far from
    both is the most persistent predicted component. Plain Wasserstein keeps it (matched to a
    target component) and drops a true one. SATLoss weights a pair's cost by the distance of its
    creators (about 0.7 for the blob, 0.05 for a true one), which tips the choice (worked out:
    keeping a true component saves 0.207, the blob 0.192 under SATLoss and 0.168 against 0.119
    without weights). With a much brighter blob both keep it: the weights only change costs."""
    target = label_with_ring_and_bar()
    likelihood = np.maximum(soft(target > 0, 0.7), soft(disk((6, 56), 3), 0.74))
    sat = diagnostics.label_matching_accuracy(likelihood, target, "sat")[0]
    plain = diagnostics.label_matching_accuracy(likelihood, target, "wt")[0]
    # scored: predicted ring, bar, blob; target ring, bar
    assert sat.features == plain.features == 5
    assert sat.correct == 5
    assert sat.fate_correct == 3
    # plain: the blob kept and a true component dropped are two wrong fates of three; which target
    # the kept true one gets is a tie without weights (every target point is (0, 1))
    assert plain.fate_correct == 1
    assert plain.correct <= 2


def test_a_small_spurious_loop_inside_a_hole_is_not_that_hole():
    """A small ring inside the outside region: by its destroyer it would lie in the padded
    outside hole; by its extent it is spurious (identity 0), and the outside loop keeps its own."""
    target = label_with_ring_and_bar()
    likelihood = np.maximum(soft(target > 0, 0.7), soft(ring((20, 48), 5), 0.6))
    matching = feature_matching(likelihood, target, "SATLoss")[1]
    pred_id, target_id = diagnostics.loop_identities(likelihood, target, matching)
    holes = diagnostics.label_regions(target).regions[1]
    outside, inside = holes[0, 0], holes[20, 20]
    assert sorted(target_id.tolist()) == sorted([outside, inside])
    strong = matching.pred_persistence > 0.25
    assert sorted(pred_id[strong].tolist()) == sorted([0, outside, inside])
    spurious = np.flatnonzero(strong & (pred_id == 0))[0]
    assert np.hypot(*(matching.pred_destroyer[spurious] - (20, 48))) < 5
    # less persistent than the true loops, SATLoss sends it to the diagonal: all right
    counts = diagnostics.label_matching_accuracy(likelihood, target, "sat")[1]
    assert counts.correct == counts.features == 5


def test_a_loop_merging_two_holes_is_nobody():
    """Two holes of the label, split by a wall the prediction misses: the predicted loop's extent
    is both holes, so it has no identity (IoU 1/2 with each). A faint wall splits the box into two
    loops: the box's, halfway through its life, is still both holes; the other is one hole."""
    target = np.zeros((SIZE, SIZE), np.float32)
    target[10:50, 10] = target[10:50, 50] = target[10, 10:51] = target[49, 10:51] = 1  # a box
    target[10:50, 30] = 1  # the wall
    likelihood = soft(target > 0, 0.9)
    likelihood[11:49, 30] = 0.05
    matching = feature_matching(likelihood, target, "SATLoss")[1]
    pred_id, _ = diagnostics.loop_identities(likelihood, target, matching)
    strong = matching.pred_persistence > 0.25
    holes = diagnostics.label_regions(target).regions[1]
    assert sorted(pred_id[strong].tolist()) == sorted([0, holes[0, 0]])  # merged box, outside
    likelihood[11:49, 30] = 0.4  # f = 0.6 on the wall: the box is born at 0.1, the wall's loop at 0.6
    matching = feature_matching(likelihood, target, "SATLoss")[1]
    pred_id, _ = diagnostics.loop_identities(likelihood, target, matching)
    strong = matching.pred_persistence > 0.25
    assert sorted(pred_id[strong].tolist()) == sorted([0, holes[30, 20], holes[0, 0]]) or \
        sorted(pred_id[strong].tolist()) == sorted([0, holes[30, 40], holes[0, 0]])


def test_feature_pixels_are_those_of_persistent_features_only():
    likelihood = soft(ring((20, 20), 8), 0.9)
    likelihood[28, 20] = 0.95  # the ring's brightest pixel: its component's creator
    likelihood[20, 20] = 0.01  # the hole's darkest pixel: its loop's destroyer
    likelihood[45, 45] = 0.2  # a bump of persistence 0.15: noise
    mask = diagnostics.feature_pixels(likelihood[None])[0]
    assert mask[28, 20] and mask[20, 20]
    assert not mask[45, 45]
    # the rest: the ring's loop is born on the ring; the ring's component dies when it reaches the
    # padding (pad=True) through the background, and the loop the padding closes dies in the
    # background too (two background pixels, perhaps one)
    assert mask[ring((20, 20), 8)].sum() == 2
    assert 4 <= mask.sum() <= 5


def small_model_and_batch():
    config = override(load_config("synthetic_roads_sat"), ["model.widths=(8, 16)"])
    model, _ = build_model(config, 1)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 32, 32, 1)).astype(np.float32)
    labels = np.zeros((2, 32, 32), np.float32)
    labels[:, 8:24, 14:17] = 1
    labels[1, 14:17, 4:28] = 1
    return config, model, images, labels


def test_gradient_share_against_gradients_computed_directly():
    config, model, images, labels = small_model_and_batch()
    before = jax.tree.map(np.asarray, nnx.state(model))
    shares = diagnostics.gradient_diagnostics(model, images, labels, config.loss, ("sat", "wt"))
    # the model is left as it was (BatchNorm statistics included)
    after = jax.tree.map(np.asarray, nnx.state(model))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))

    def total(model, name):
        logits = model(jnp.asarray(images))
        if name == "bce":
            return bce_with_logits_loss(logits, jnp.asarray(labels))
        return topological_loss(jax.nn.sigmoid(logits), jnp.asarray(labels), matching="optimal",
                                spatial=name == "sat")

    def grad_norm(name):
        graph, state = nnx.split(model)
        copy = nnx.merge(graph, state)
        grads = nnx.grad(lambda m: total(m, name))(copy)  # parameters only, by default
        return float(np.sqrt(sum(np.sum(np.square(g)) for g in jax.tree.leaves(grads))))

    bce_norm = grad_norm("bce")
    for share in shares:
        np.testing.assert_allclose(share.pixel_norm, bce_norm, rtol=1e-4)
        np.testing.assert_allclose(share.topo_norm, grad_norm(share.loss), rtol=1e-4)
        assert share.topo_norm > 0 and -1 <= share.cosine <= 1
        np.testing.assert_allclose(share.share(1e-3), 1e-3 * share.topo_norm / share.pixel_norm)
        np.testing.assert_allclose(share.share(1e-2), 10 * share.share(1e-3))
        # critical pixels: those with a non-zero derivative of the loss in the logits
        logits = build_logits(model, images)
        spatial = share.loss == "sat"
        d = jax.grad(lambda z, spatial=spatial: topological_loss(jax.nn.sigmoid(z), jnp.asarray(labels),
                                                                 matching="optimal", spatial=spatial))(logits)
        assert share.critical_pixels == float(np.sum(np.asarray(d) != 0)) / len(images)
        assert share.pixel_ratio(1.0) > 0
        assert 0 <= share.on_features <= 1
    with pytest.raises(ValueError, match="losses"):
        diagnostics.gradient_diagnostics(model, images, labels, config.loss, ("nope",))


def build_logits(model, images):
    graph, state = nnx.split(model)
    return nnx.merge(graph, state)(jnp.asarray(images))


def test_diagnose_cli_trains_measures_and_resumes(tmp_path, capsys):
    import diagnose

    out = str(tmp_path / "diag")
    argv = ["--config", "synthetic_roads_sat", "--quick", "--steps", "4,12", "--losses", "sat,wt",
            "--weights", "1e-4,1e-2", "--images", "4", "--out", out]
    assert diagnose.main(argv) == 0
    with open(os.path.join(out, "diagnostics.jsonl")) as f:  # strict JSON: no NaN tokens
        records = [json.loads(line, parse_constant=lambda token: pytest.fail(f"{token} in the JSON"))
                   for line in f]
    assert [r["step"] for r in records] == [4, 12]
    for record in records:
        assert record["sat_share@0.01"] == pytest.approx(100 * record["sat_share@0.0001"])
        assert 0 <= record["wt_accuracy_dim1"] <= 1 and record["sat_features_dim1"] > 0
    assert os.path.exists(os.path.join(out, "run", "results.json"))
    text = open(os.path.join(out, "diagnostics.md")).read()
    assert "share λ=0.01" in text and "sat dim 1" in text
    assert os.path.getsize(os.path.join(out, "diagnostics.png")) > 1000
    # a rerun measures nothing again and trains nothing
    capsys.readouterr()
    assert diagnose.main(argv) == 0
    assert "training 12 steps" not in capsys.readouterr().out
    with open(os.path.join(out, "diagnostics.jsonl")) as f:
        assert len(f.readlines()) == 2
    # steps that do not end at the run's last one are a wrong command
    with pytest.raises(SystemExit) as exit_info:
        diagnose.main([*argv[:5], "4,8", *argv[6:]])
    assert exit_info.value.code == 2


def test_plot_diagnostics_draws_folders_and_names_bad_ones(tmp_path, capsys):
    import plot_diagnostics

    for name, shift in (("a", 0.0), ("b", 0.5)):
        folder = tmp_path / name
        folder.mkdir()
        with open(folder / "diagnostics.jsonl", "w") as f:
            f.writelines(json.dumps({"step": step, "sat_share@0.0001": shift + step / 1000,
                                    "sat_accuracy_dim1": 0.5}) + "\n" for step in (6, 30, 120))
    out = str(tmp_path / "fig.png")
    assert plot_diagnostics.main([f"A={tmp_path / 'a'}", f"B={tmp_path / 'b'}", "--keys", "sat_share@0.0001",
                                  "--out", out]) == 0
    assert os.path.getsize(out) > 1000
    for argv in ([f"A={tmp_path}", "--out", out],  # no diagnostics.jsonl there
                 [f"A={tmp_path / 'a'}", "--keys", "nope", "--out", out],
                 [str(tmp_path / "a"), "--out", out]):  # no label
        with pytest.raises(SystemExit) as exit_info:
            plot_diagnostics.main(argv)
        assert exit_info.value.code == 2
    assert "diagnostics.jsonl" in capsys.readouterr().err


def test_probabilities_in_eval_mode_do_not_depend_on_the_batch():
    _, model, images, _ = small_model_and_batch()
    whole = diagnostics.probabilities(model, images, training=False, batch_size=16)
    one_by_one = diagnostics.probabilities(model, images, training=False, batch_size=1)
    np.testing.assert_allclose(whole, one_by_one, atol=1e-6)
    assert whole.shape == images.shape[:3]
    # training mode: BatchNorm on the batch's statistics, so the batch is all the images at once
    seen = diagnostics.probabilities(model, images, training=True)
    assert seen.shape == whole.shape and not np.allclose(seen, whole)
