"""Training pipeline on tiny synthetic data: loss goes down, resume is exact, configs parse."""

import json
import os
import re
import sys

import jax
import numpy as np
import pytest

from jaxtopo.training import Config, config_names, named_config, override, train_and_evaluate
from jaxtopo.training.checkpoints import RunCheckpoints

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# the metrics every results.json holds (jaxtopo.metrics.segmentation_metrics)
RESULT_METRICS = ("accuracy", "dice", "cldice", "betti_0_error", "betti_1_error",
                  "betti_matching_error_0", "betti_matching_error_1", "betti_matching_error")


def tiny(name="synthetic_sat", **changes):
    config = named_config(name)
    config.name = name
    config = override(config, [
        "model.widths=(4, 8)", "data.size=(24, 24)", "data.num_train=8", "data.num_val=2",
        "data.num_test=2", "train.batch_size=4", "train.epochs=3", "train.log_every=1",
        "train.checkpoint_every=2",
    ] + [f"{k}={v!r}" for k, v in changes.items()])
    return config


def logged(workdir, key):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [r[key] for r in map(json.loads, f) if key in r]


def test_training_lowers_the_loss_and_writes_the_run_folder(tmp_path):
    from jaxtopo.training.loop import TRACES

    config = tiny(**{"train.epochs": 8, "train.learning_rate": 3e-3})
    before = TRACES["train_step"]
    results = train_and_evaluate(config, str(tmp_path))
    assert TRACES["train_step"] - before == 1  # 16 steps, one compilation
    losses = logged(tmp_path, "loss")
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert all(np.isfinite(logged(tmp_path, "topological")))
    for name in ("config.json", "metrics.jsonl", "results.json", "predictions.png"):
        assert (tmp_path / name).exists(), name
    for key in RESULT_METRICS:
        assert np.isfinite(results[key])
    assert logged(tmp_path, "val_dice")


def test_bm_objective_trains_and_reports_the_betti_matching_error(tmp_path):
    config = tiny("synthetic_bm", **{"train.epochs": 1})  # 2 steps of 4 images, 24x24
    assert (config.loss.pixel, config.loss.topological, config.loss.weight, config.loss.pad) == (
        "dice", "bm", 0.5, False)
    results = train_and_evaluate(config, str(tmp_path))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == results and results["config"] == "synthetic_bm" and results["steps"] == 2
    assert set(RESULT_METRICS) <= set(saved)
    for key in RESULT_METRICS:
        assert np.isfinite(saved[key]) and saved[key] >= 0
    assert saved["betti_matching_error"] == pytest.approx(
        saved["betti_matching_error_0"] + saved["betti_matching_error_1"])
    topological = logged(tmp_path, "topological")
    assert len(topological) == 2 and all(np.isfinite(topological)) and min(topological) > 0
    np.testing.assert_allclose(logged(tmp_path, "loss"), np.add(logged(tmp_path, "soft_dice"),
                                                                0.5 * np.array(topological)), rtol=1e-5)


def test_bm_objective_is_dice_plus_half_the_betti_matching_loss():
    import jax.numpy as jnp

    import jaxtopo
    from jaxtopo.training.objective import check_loss_config, objective

    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(2, 12, 12, 1)), jnp.float32)
    labels = jnp.asarray(rng.random((2, 12, 12)) > 0.6, jnp.float32)
    probs = jax.nn.sigmoid(logits)
    loss = named_config("synthetic_bm").loss
    total, parts = objective(logits, labels, loss)
    bm = jaxtopo.betti_matching_loss(probs, labels)  # BM-Loss defaults: V, no padding
    assert float(parts["topological"]) == pytest.approx(float(bm), rel=1e-6) and float(bm) > 0
    assert float(parts["soft_dice"]) == pytest.approx(float(jaxtopo.soft_dice_loss(probs, labels, smooth=1e-5)))
    assert float(total) == pytest.approx(float(parts["soft_dice"]) + 0.5 * float(bm), rel=1e-6)
    # the config's padding and construction reach the loss
    changed = override(Config({"loss": loss}), ["loss.pad=True", "loss.construction=T"]).loss
    _, parts = objective(logits, labels, changed)
    expected = jaxtopo.betti_matching_loss(probs, labels, pad=True, construction="T")
    assert float(parts["topological"]) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="loss.construction"):
        check_loss_config(override(Config({"loss": loss}), ["loss.construction=U"]).loss)


def test_killed_run_resumes_to_the_same_parameters(tmp_path):
    config = tiny("synthetic_bce")
    train_and_evaluate(config, str(tmp_path / "straight"))
    interrupted = override(config, ["train.stop_after_steps=3"])  # last checkpoint at step 2
    assert train_and_evaluate(interrupted, str(tmp_path / "resumed")) == {"stopped_at": 3}
    train_and_evaluate(config, str(tmp_path / "resumed"))  # the same command again: resumes

    def final_params(workdir):
        checkpoints = RunCheckpoints(str(workdir))
        step = checkpoints.latest.latest_step()
        state = checkpoints.latest.restore(step)
        checkpoints.close()
        return step, state["model"]

    (step_a, a), (step_b, b) = final_params(tmp_path / "straight"), final_params(tmp_path / "resumed")
    assert step_a == step_b == 6
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)

    # the log reads as one run: the killed run's step 3 (after its last checkpoint) is not kept
    # twice, and the resumed run's records equal the straight run's
    def logged(workdir, key):
        lines = (tmp_path / workdir / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r[key]) for r in map(json.loads, lines) if key in r]

    assert [s for s, _ in logged("resumed", "loss")] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([v for _, v in logged("resumed", "loss")],
                               [v for _, v in logged("straight", "loss")], rtol=1e-6)
    assert [s for s, _ in logged("resumed", "val_dice")] == [s for s, _ in logged("straight", "val_dice")]


def test_resumed_log_drops_records_after_the_checkpoint_and_cut_lines(tmp_path):
    from jaxtopo.training.loop import _Log

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n{"step": 3, "loss": 0.8}\n{"step": 4, "lo')
    log = _Log(str(path), resumed_at=2)
    log.write({"step": 3, "loss": 0.7})
    log.close()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.9}, {"step": 3, "loss": 0.7}]
    assert not (tmp_path / "metrics.jsonl.tmp").exists()


def test_train_script_quick_and_errors(tmp_path, capsys):
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import train

    assert train.main(["--config", "synthetic_bce", "--quick", "--workdir", str(tmp_path),
                       "train.epochs=1", "data.num_train=4"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"] == "synthetic_bce" and results["split"] == "test"
    capsys.readouterr()
    # the command's own mistakes: the message alone and exit status 2 (tests/test_cli.py has more)
    for argv, message in [(["--config", "nope"], "unknown config 'nope'"),
                          (["--config", "synthetic_bce", "train.nope=1"], "no field 'train.nope'")]:
        with pytest.raises(SystemExit) as exited:
            train.main(argv)
        assert exited.value.code == 2 and message in capsys.readouterr().err


def test_overrides_are_typed():
    config = Config({"a": {"b": 1.0, "c": "x", "d": (1, 2)}})
    assert override(config, ["a.b=2"]).a.b == 2.0
    assert override(config, ["a.c=sat"]).a.c == "sat"
    assert override(config, ["a.d=(3, 4, 5)"]).a.d == (3, 4, 5)
    with pytest.raises(ValueError, match="expected a float"):
        override(config, ["a.b=abc"])
    with pytest.raises(ValueError, match="field.path=value"):
        override(config, ["a.b"])


def test_named_configs_follow_the_protocol():
    drive = named_config("drive_sat")
    assert (drive.data.name, drive.train.epochs, drive.train.batch_size) == ("drive", 100, 2)
    assert drive.loss.topological == "sat" and drive.loss.pixel == "bce"
    assert named_config("cremi_cldice").loss.weight == 0.3
    assert named_config("roads_small_wt").model.widths == (16, 32, 64, 128, 256)


def test_named_configs_ship_with_the_package_and_a_user_folder_still_works(tmp_path):
    # every <dataset>_<loss> pair, from the installed package (no checkout needed)
    from jaxtopo.training import named_configs

    assert len(config_names()) == len(named_configs.DATASETS) * len(named_configs.LOSSES)
    assert {"synthetic_sat", "drive_sat", "elegans_small_bm"} <= set(config_names())
    assert named_configs.__file__.startswith(os.path.dirname(os.path.abspath(__import__("jaxtopo").__file__)))
    # a folder of the user's own configs, big_vision style
    (tmp_path / "default.py").write_text(
        "from jaxtopo.training import named_config\n"
        "def get_config(name):\n"
        "    config = named_config('synthetic_sat')\n"
        "    config.loss.weight = 0.25\n"
        "    config.name = name\n"
        "    return config\n")
    mine = named_config("mine", str(tmp_path))
    assert (mine.name, mine.loss.weight, mine.loss.topological) == ("mine", 0.25, "sat")


def test_every_dataset_has_a_bm_config():
    from jaxtopo.training import named_configs

    for dataset in named_configs.DATASETS:
        bm, sat = named_config(f"{dataset}_bm"), named_config(f"{dataset}_sat")
        assert bm.name == f"{dataset}_bm" and f"{dataset}_bm" in config_names()
        # the Betti matching papers' objective (DiceBettiMatchingLoss, alpha 0.5), BM-Loss defaults
        assert (bm.loss.pixel, bm.loss.topological, bm.loss.weight) == ("dice", "bm", 0.5)
        assert bm.loss.pad is False and bm.loss.construction is None  # None: BM-Loss's V
        # the dataset's protocol is the same as for the other losses
        assert (bm.data, bm.model, bm.train) == (sat.data, sat.model, sat.train)


def test_missing_dataset_fails_with_a_clear_message(tmp_path, capsys):
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import train

    with pytest.raises(SystemExit) as exited:
        train.main(["--config", "drive_sat", "--quick", "--data-dir", str(tmp_path / "nowhere"),
                    "--workdir", str(tmp_path / "run")])
    assert exited.value.code == 1
    assert re.match(r"(?s)train.py: error: DRIVE.*not found.*" + re.escape(str(tmp_path)), capsys.readouterr().err)
    assert not (tmp_path / "run").exists()  # a start that failed for want of data leaves no folder


def test_drive_sat_quick_runs_end_to_end_on_a_fabricated_drive(tmp_path, monkeypatch, capsys):
    from test_data_drive import fabricate_drive

    monkeypatch.setenv("JAXTOPO_CACHE", str(tmp_path / "cache"))
    root = fabricate_drive(str(tmp_path / "data"))
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import evaluate
    import train

    run = str(tmp_path / "run")
    args = ["--config", "drive_sat", "--quick", "--data-dir", root, "--workdir", run,
            "train.epochs=1", "data.max_patches=10"]
    assert train.main(args) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["config"] == "drive_sat" and np.isfinite(results["dice"])
    assert len(os.listdir(tmp_path / "cache")) == 2  # patches cached once (.npz + its description)
    # a DRIVE image is 2 x 2 patches: the 10 test patches are also scored as the 2 complete images
    # they make (F), the third image, cut by max_patches, only per patch (P)
    full = [f"{key}_full" for key in RESULT_METRICS]
    assert results["full_images"] == 2 and all(np.isfinite(results[key]) for key in full)

    # evaluate.py shows the F columns after the P ones, with the values results.json has
    capsys.readouterr()
    assert evaluate.main([run, "--csv", str(tmp_path / "table.csv")]) == 0
    header, _, row = capsys.readouterr().out.strip().splitlines()
    values = dict(zip(*([c.strip() for c in line.strip("|").split("|")] for line in (header, row))))
    assert list(values)[3:] == [*RESULT_METRICS, "full_images", *full]
    assert values["full_images"] == "2"
    assert all(values[key] == f"{results[key]:.4f}" for key in (*RESULT_METRICS, *full))
    assert "dice_full" in (tmp_path / "table.csv").read_text().splitlines()[0]
