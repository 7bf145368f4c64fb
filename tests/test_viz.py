"""jaxtopo.viz: what each plot draws is checked on its artists (Agg backend, no display)."""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

import jaxtopo  # noqa: E402
from jaxtopo import viz  # noqa: E402
from jaxtopo.host import Diagram, TopoLossConfig, match_image  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def artist(ax, gid):
    (found,) = [a for a in [*ax.collections, *ax.lines] if a.get_gid() == gid]
    return found


def segments(ax, gid) -> np.ndarray:
    collection = artist(ax, gid)
    assert isinstance(collection, LineCollection)
    return np.asarray([np.asarray(s) for s in collection.get_segments()]).reshape(-1, 2, 2)


def offsets(ax, gid) -> np.ndarray:
    collection = artist(ax, gid)
    assert isinstance(collection, PathCollection)
    return np.asarray(collection.get_offsets()).reshape(-1, 2)


# ----------------------------------------------------------------------------- diagrams


PRED = np.array([[0.1, 0.9], [0.3, 0.5], [0.2, 0.95], [0.4, 0.45], [0.0, 0.7]])
TARGET = np.array([[0.0, 1.0], [0.05, 0.9], [0.0, 0.8]])
MATCHED_TO = np.array([0, -1, 2, -1, 1])


def test_diagram_pair_draws_a_line_per_matched_pair_and_per_diagonal_pair():
    ax = viz.plot_diagram_pair(PRED, TARGET, MATCHED_TO)
    matched = segments(ax, "matched")
    np.testing.assert_allclose(matched[:, 0], PRED[[0, 2, 4]])
    np.testing.assert_allclose(matched[:, 1], TARGET[[0, 2, 1]])
    to_diagonal = segments(ax, "to_diagonal")
    np.testing.assert_allclose(to_diagonal[:, 0], PRED[[1, 3]])
    projections = to_diagonal[:, 1]
    np.testing.assert_allclose(projections[:, 0], projections[:, 1])  # on the diagonal
    np.testing.assert_allclose(projections[:, 0], PRED[[1, 3]].mean(axis=1))  # straight down to it
    np.testing.assert_allclose(offsets(ax, "prediction"), PRED)
    np.testing.assert_allclose(offsets(ax, "target"), TARGET)
    assert artist(ax, "diagonal") in ax.lines


def test_diagram_pair_leaves_out_uncounted_and_short_lived_points():
    counted = np.array([True, True, False, True, True])
    ax = viz.plot_diagram_pair(PRED, TARGET, MATCHED_TO, counted=counted, min_persistence=0.1)
    # point 2 is not counted (no line); point 3 (persistence 0.05) is hidden with its line
    np.testing.assert_allclose(segments(ax, "matched")[:, 0], PRED[[0, 4]])
    np.testing.assert_allclose(segments(ax, "to_diagonal")[:, 0], PRED[[1]])
    np.testing.assert_allclose(offsets(ax, "prediction"), PRED[[0, 1, 2, 4]])
    assert "1 of persistence < 0.1 not" in ax.get_legend().get_texts()[2].get_text()


@pytest.mark.parametrize("matched_to", [np.array([0, -1]), np.array([0, -1, 3, -1, 1]), np.array([0, -2, 1, 1, 1])])
def test_diagram_pair_rejects_a_matching_of_other_diagrams(matched_to):
    with pytest.raises(ValueError, match="matched_to"):
        viz.plot_diagram_pair(PRED, TARGET, matched_to)


def test_persistence_matching_of_a_real_image_draws_every_point_and_pair():
    likelihood, target = viz.matching_demo_pair()
    result = match_image(likelihood, target, TopoLossConfig())
    for dim in (0, 1):
        _, ax = plt.subplots()
        viz.plot_persistence_matching(result, dim, ax=ax)
        matching = result.matchings[dim]
        assert len(offsets(ax, "prediction")) == len(result.prediction.points[dim])
        assert len(offsets(ax, "target")) == len(result.target.points[dim])
        assert len(segments(ax, "matched")) == int(np.sum(matching.matched_to >= 0))
        assert len(segments(ax, "to_diagonal")) == int(np.sum(matching.matched_to < 0))
        assert f"{matching.value:.3f}" in ax.get_title()
    with pytest.raises(ValueError, match="dimensions"):
        viz.plot_persistence_matching(match_image(likelihood, target, TopoLossConfig(dims=(0,))), 1)


def test_demo_pair_is_matched_differently_by_spatial_and_plain_matching():
    """The README picture's story: SATLoss keeps the weak correct loop, Wasserstein the spurious one."""
    likelihood, target = viz.matching_demo_pair()

    def matched_creators(spatial):
        result = match_image(likelihood, target, TopoLossConfig(spatial=spatial))
        diagram, matching = result.prediction.diagrams[1], result.matchings[1]
        rows, cols = viz.pixel_rows_cols(diagram.creator[matching.matched_to >= 0], likelihood.shape)
        return {(int(r), int(c)) for r, c in zip(rows, cols)}

    def near(pixels, centre):
        return any(np.hypot(r - centre[0], c - centre[1]) < 9 for r, c in pixels)

    from jaxtopo.viz.demo import RING_A as weak_ring, RING_C as spurious_ring

    spatial, plain = matched_creators(True), matched_creators(False)
    assert near(spatial, weak_ring) and not near(spatial, spurious_ring)
    assert near(plain, spurious_ring) and not near(plain, weak_ring)


# ----------------------------------------------------------------------------- pixels


def test_critical_pixels_are_marked_at_their_unpadded_row_and_column():
    image = np.zeros((5, 7))
    padded_width = 7 + 2
    # (row, col) in the padded filtration; (0, 0) is the padding's corner
    creators = [(1, 1), (3, 4), (0, 0)]
    destroyers = [(5, 7), (2, 2), (6, 8)]
    flat = lambda pixels: np.array([r * padded_width + c for r, c in pixels])  # noqa: E731
    diagram = Diagram(np.zeros(3), np.ones(3), flat(creators), flat(destroyers))
    ax = viz.plot_critical_pixels(image, diagram, padded=True)
    # markers at (x, y) = (col, row) of the unpadded image: one less than in the padded filtration
    np.testing.assert_array_equal(offsets(ax, "creators"), [(c - 1, r - 1) for r, c in creators])
    np.testing.assert_array_equal(offsets(ax, "destroyers"), [(c - 1, r - 1) for r, c in destroyers])

    unpadded = Diagram(np.zeros(2), np.ones(2), np.array([0, 7 * 4 + 6]), np.array([8, 9]))
    ax = viz.plot_critical_pixels(image, unpadded, padded=False)
    np.testing.assert_array_equal(offsets(ax, "creators"), [(0, 0), (6, 4)])
    np.testing.assert_array_equal(offsets(ax, "destroyers"), [(1, 1), (2, 1)])


@pytest.mark.parametrize("pad", [True, False])
def test_marked_creators_hold_the_birth_values_of_their_pairs(pad):
    """On a real diagram: 1 - likelihood at each marked pixel is that pair's birth."""
    likelihood, target = viz.matching_demo_pair()
    result = match_image(likelihood, target, TopoLossConfig(pad=pad))
    diagram = result.prediction.diagrams[1]
    ax = viz.plot_critical_pixels(likelihood, diagram, padded=pad, min_persistence=0.05)
    keep = diagram.death - diagram.birth >= 0.05
    cols, rows = offsets(ax, "creators").astype(int).T
    inside = (rows >= 0) & (rows < 64) & (cols >= 0) & (cols < 64)
    assert inside.sum() >= 3
    one_minus = np.float32(1) - likelihood[rows[inside], cols[inside]]
    np.testing.assert_array_equal(one_minus.astype(np.float64), diagram.birth[keep][inside])


def test_sat_loss_gradient_is_non_zero_only_at_marked_pixels():
    likelihood, target = viz.matching_demo_pair()
    grad = np.asarray(jax.grad(lambda p: jaxtopo.sat_loss(p[None], target[None]))(jnp.asarray(likelihood)))
    result = match_image(likelihood, target, TopoLossConfig())
    _, ax = plt.subplots()
    for dim in (0, 1):
        viz.plot_critical_pixels(grad, result.prediction.diagrams[dim], ax=ax, show=dim == 0)
    marked = {(int(r), int(c)) for gid in ("creators", "destroyers")
              for a in ax.collections if a.get_gid() == gid for c, r in np.asarray(a.get_offsets())}
    non_zero = {(int(r), int(c)) for r, c in zip(*np.nonzero(grad))}
    assert non_zero and non_zero <= marked


def test_gradient_map_keeps_faint_pulls_visible_on_a_symmetric_scale():
    grad = np.zeros((6, 6))
    grad[1, 2], grad[4, 4] = -2.0, 1e-3
    ax = viz.plot_gradient(grad)
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), grad)
    assert (image.norm.vmin, image.norm.vmax) == (-2.0, 2.0)  # zero sits mid-scale (white)
    assert image.norm(1e-3) - image.norm(0.0) > 0.05  # a linear scale would give 0.00025
    viz.plot_gradient(np.zeros((3, 3)))  # an all-zero gradient draws too


def test_matched_creators_join_counted_pairs_in_image_space():
    likelihood, target = viz.matching_demo_pair()
    result = match_image(likelihood, target, TopoLossConfig())
    ax = viz.plot_matched_creators(likelihood, result, 1, target=target)
    matching = result.matchings[1]
    pairs = np.flatnonzero(matching.matched_to >= 0)
    rows, cols = viz.pixel_rows_cols(result.prediction.diagrams[1].creator[pairs], likelihood.shape)
    target_rows, target_cols = viz.pixel_rows_cols(
        result.target.diagrams[1].creator[matching.matched_to[pairs]], likelihood.shape)
    lines = segments(ax, "matched")
    np.testing.assert_array_equal(lines[:, 0], np.stack([cols, rows], axis=1))
    np.testing.assert_array_equal(lines[:, 1], np.stack([target_cols, target_rows], axis=1))
    assert len(offsets(ax, "target_creators")) == len(result.target.points[1])


def test_matching_comparison_has_two_panels_per_config():
    likelihood, target = viz.matching_demo_pair()
    fig = viz.plot_matching_comparison(likelihood, target, {"spatial": TopoLossConfig(),
                                                            "plain": TopoLossConfig(spatial=False)})
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title().startswith("spatial") and fig.axes[2].get_title().startswith("plain")
    with pytest.raises(ValueError, match="empty"):
        viz.plot_matching_comparison(likelihood, target, {})


def test_readme_figure_script_writes_the_picture(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "docs"))
    import make_figures

    path = make_figures.make_matching_figure(str(tmp_path / "matching.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.isfile(os.path.join(ROOT, "docs", "images", "matching.png"))  # the committed one


# ----------------------------------------------------------------------------- training curves


def write_run(path, records):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return str(path)


SAT_RECORDS = [
    {"step": 1, "epoch": 0.5, "bce": 0.7, "topological": 3.0, "loss": 0.703, "steps_per_s": 1.0},
    {"step": 2, "epoch": 1.0, "bce": 0.6, "topological": 2.5, "loss": 0.6025, "steps_per_s": 2.0},
    {"step": 2, "epoch": 1, "val_dice": 0.4},
    {"step": 3, "epoch": 1.5, "bce": 0.5, "topological": 2.0, "loss": 0.502, "steps_per_s": 2.0},
    {"step": 4, "epoch": 2, "val_dice": 0.5},
]
BCE_RECORDS = [{"step": 1, "bce": 0.8, "loss": 0.8}, {"step": 2, "bce": 0.7, "loss": 0.7}]


def test_training_curves_plot_each_recorded_key_against_steps(tmp_path):
    fig = viz.plot_training_curves(write_run(tmp_path / "sat", SAT_RECORDS))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["bce", "topological", "loss", "val_dice"]
    (line,) = visible[3].lines
    np.testing.assert_array_equal(line.get_xdata(), [2, 4])
    np.testing.assert_array_equal(line.get_ydata(), [0.4, 0.5])
    np.testing.assert_array_equal(visible[1].lines[0].get_ydata(), [3.0, 2.5, 2.0])


def test_training_curves_of_a_log_with_repeated_steps_keep_the_last_record(tmp_path):
    records = [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}, {"step": 3, "loss": 9.0},
               {"step": 3, "loss": 1.5}, {"step": 4, "loss": 1.0}]  # resumed at 2, step 3 logged twice
    fig = viz.plot_training_curves(write_run(tmp_path / "run", records))
    (line,) = fig.axes[0].lines
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(line.get_ydata(), [3.0, 2.0, 1.5, 1.0])


def test_training_curves_compare_runs_that_recorded_different_keys(tmp_path):
    runs = {"BCE": write_run(tmp_path / "bce", BCE_RECORDS), "SAT": write_run(tmp_path / "sat", SAT_RECORDS)}
    fig = viz.plot_training_curves(runs, keys=["bce", "topological"])
    bce_ax, topo_ax = fig.axes
    assert [line.get_label() for line in bce_ax.lines] == ["BCE", "SAT"]
    assert [line.get_label() for line in topo_ax.lines] == ["SAT"]  # the BCE run has no topological term
    assert topo_ax.lines[0].get_color() == bce_ax.lines[1].get_color()  # one colour per run
    with pytest.raises(ValueError, match=r"no run recorded \['nope'\].*'bce'"):
        viz.plot_training_curves(runs, keys=["nope"])


def test_training_curves_say_what_is_wrong_with_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.plot_training_curves(tmp_path / "missing")
    (tmp_path / "no_metrics").mkdir()
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        viz.read_metrics(tmp_path / "no_metrics")
    with pytest.raises(ValueError, match="no records"):
        viz.plot_training_curves(write_run(tmp_path / "empty", []))
    bad = write_run(tmp_path / "bad", SAT_RECORDS[:1])
    with open(os.path.join(bad, "metrics.jsonl"), "a") as f:
        f.write("{not json\n")
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        viz.read_metrics(bad)
    with pytest.raises(ValueError, match="run folder"):
        viz.plot_training_curves({})


def test_training_curves_of_a_real_run(tmp_path):
    from test_training import tiny

    from jaxtopo.training import train_and_evaluate

    config = tiny("synthetic_sat", **{"train.epochs": 1})
    train_and_evaluate(config, str(tmp_path))
    fig = viz.plot_training_curves(tmp_path)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert {"loss", "bce", "topological", "val_dice"} <= set(titles)


# ----------------------------------------------------------------------------- predictions


def test_predictions_put_models_side_by_side():
    rng = np.random.default_rng(0)
    images = rng.random((5, 8, 8, 3)).astype(np.float32)
    labels = (rng.random((5, 8, 8)) > 0.5).astype(np.float32)
    probs = {"BCE": rng.random((5, 8, 8)), "BCE + SATLoss": rng.random((5, 8, 8))}
    fig = viz.plot_predictions(images, labels, probs, rows=3)
    assert len(fig.axes) == 3 * 4
    assert [ax.get_title() for ax in fig.axes[:4]] == ["image", "label", "BCE", "BCE + SATLoss"]
    np.testing.assert_allclose(fig.axes[4 * 2 + 3].images[0].get_array(), probs["BCE + SATLoss"][2])
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), images[1])
    # uint8 images hold 0..255 (Roads), uint8 labels {0, 1} (synthetic data)
    uint8 = viz.plot_predictions((images * 255).astype(np.uint8), labels.astype(np.uint8), probs["BCE"], rows=1)
    np.testing.assert_allclose(uint8.axes[0].images[0].get_array(), np.floor(images[0] * 255) / 255, atol=1e-6)
    np.testing.assert_array_equal(uint8.axes[1].images[0].get_array(), labels[0])
    with pytest.raises(ValueError, match="expected"):
        viz.plot_predictions(images, labels, rng.random((5, 4, 4)))


def test_trainer_figure_is_drawn_without_pyplot(tmp_path):
    from jaxtopo.training.figures import save_prediction_figure

    before = plt.get_fignums()
    rng = np.random.default_rng(1)
    save_prediction_figure(str(tmp_path / "p.png"), rng.random((2, 16, 16, 1)), rng.random((2, 16, 16)) > 0.5,
                           rng.random((2, 16, 16)))
    assert plt.get_fignums() == before  # no pyplot figure left behind (it would show in notebooks)
    with open(tmp_path / "p.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
