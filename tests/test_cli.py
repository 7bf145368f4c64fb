"""experiments/train.py and evaluate.py as a user meets them: clear errors without tracebacks, exit
statuses, --list-configs and --help, run folders that are never mixed or left half-made, and
evaluate.py's table of several runs. One tiny training run; everything else fails before training."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from jaxtopo.training import (
    ConfigError,
    RunFolderError,
    TrainingDivergedError,
    named_config,
    named_configs,
    override,
)
from jaxtopo.training.config import check_run_folder, user_error_status, write_run_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import evaluate  # noqa: E402
import train  # noqa: E402


def exit_status(main, argv, capsys):
    """(status, stdout, stderr) of a script's main(argv), which reports errors argparse-style by
    exiting."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_unknown_config_from_a_real_shell_prints_one_line_and_exits_2():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "train.py"), "--config", "nope"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("train.py: error: unknown config 'nope'")
    assert "--list-configs" in done.stderr and done.stdout == ""


def test_bad_overrides_and_values_exit_2_with_the_message_alone(capsys, tmp_path):
    for argv, message in [
        (["--config", "synthetic_bce", "train.nope=1"], "no field 'train.nope'"),
        (["--config", "synthetic_bce", "train.epochs=abc"], "expected a int"),
        (["--config", "synthetic_bce", "loss.pixel=focal"], "loss.pixel must be one of"),
        (["--config", "synthetic_bce", "train.epochs=0"], "train.epochs must be a whole number >= 1"),
        (["--config", "synthetic_bce", "data.name=mnist"], "data.name must be one of"),
        (["--config", str(tmp_path / "missing.py")], "does not exist"),
    ]:
        status, _, err = exit_status(train.main, argv + ["--workdir", str(tmp_path / "run")], capsys)
        assert status == 2 and err.startswith("train.py: error: ") and message in err, (argv, err)
        assert not (tmp_path / "run").exists()  # refused before the folder is made


def test_only_the_librarys_own_errors_lose_their_traceback(monkeypatch, tmp_path):
    from jaxtopo.data import CorruptFileError, DatasetNotFoundError
    from jaxtopo.training import loop

    assert issubclass(ConfigError, ValueError) and issubclass(RunFolderError, FileNotFoundError)
    assert [user_error_status(e) for e in (ConfigError("x"), RunFolderError("x"), DatasetNotFoundError("x"),
                                           CorruptFileError("x"))] == [2, 2, 1, 1]
    assert user_error_status(ValueError("x")) is None and user_error_status(FileNotFoundError("x")) is None
    # a diverged run is the user's to fix (learning rate, loss weight, inputs), a plain
    # FloatingPointError from numpy is not
    assert user_error_status(TrainingDivergedError("x")) == 1
    assert user_error_status(FloatingPointError("x")) is None

    def broken(config, workdir):
        raise ValueError("a bug inside the loop")

    monkeypatch.setattr(loop, "train_and_evaluate", broken)
    with pytest.raises(ValueError, match="a bug inside the loop"):  # a bug keeps its traceback
        train.main(["--config", "synthetic_bce", "--workdir", str(tmp_path / "run")])


def test_list_configs_and_help_come_from_the_named_configs(capsys):
    assert train.main(["--list-configs"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == named_configs.names() and "elegans_small_bm" in listed
    status, helped, _ = exit_status(train.main, ["--help"], capsys)
    assert status == 0
    assert named_configs.DATASET_DESCRIPTIONS.keys() == named_configs.DATASETS.keys()
    assert named_configs.LOSS_DESCRIPTIONS.keys() == named_configs.LOSSES.keys()
    for name, meaning in {**named_configs.DATASET_DESCRIPTIONS, **named_configs.LOSS_DESCRIPTIONS}.items():
        assert re.search(rf"^  {name} +{re.escape(meaning)}$", helped, re.M), name
    assert "--list-configs" in helped


def test_a_resumed_folder_accepts_only_a_config_that_agrees(tmp_path):
    config = named_config("synthetic_sat")
    write_run_config(str(tmp_path), config)
    # lengthening the run and its bookkeeping are allowed
    check_run_folder(str(tmp_path), override(config, [
        "train.epochs=40", "train.stop_after_steps=3", "train.log_every=7", "train.checkpoint_every=9",
        "train.eval_every_epochs=2", "data.data_dir=elsewhere"]))
    with pytest.raises(ConfigError, match=r"train.epochs: 20 -> 10"):  # a run cannot be cut back
        check_run_folder(str(tmp_path), override(config, ["train.epochs=10"]))
    with pytest.raises(ConfigError, match=r"loss.weight: 0.001 -> 0.01.*seed: 0 -> 1"):
        check_run_folder(str(tmp_path), override(config, ["loss.weight=1e-2", "seed=1"]))
    with pytest.raises(ConfigError, match=r"model.widths: \[16, 32, 64, 128\] -> \[8, 16\]"):
        check_run_folder(str(tmp_path), override(config, ["model.widths=(8, 16)"]))
    # a run saved before a field existed resumes when the field is None, its meaning when absent
    older = config.copy()
    del older.loss["construction"]
    write_run_config(str(tmp_path), older)
    check_run_folder(str(tmp_path), config)
    with pytest.raises(ConfigError, match=r"loss.construction: \(absent\) -> 'T'"):
        check_run_folder(str(tmp_path), override(config, ["loss.construction=T"]))
    # ... or keeps the default the field was added with (the behaviour before it existed)
    del older.loss["start_epoch"], older.train["init_from"]
    write_run_config(str(tmp_path), older)
    check_run_folder(str(tmp_path), config)
    with pytest.raises(ConfigError, match=r"loss.start_epoch: \(absent\) -> 5"):
        check_run_folder(str(tmp_path), override(config, ["loss.start_epoch=5"]))


def test_train_refuses_another_runs_folder_and_leaves_it_as_it_was(tmp_path, capsys):
    run = tmp_path / "sat_run"
    run.mkdir()
    write_run_config(str(run), named_config("synthetic_sat"))
    saved = (run / "config.json").read_text()
    status, _, err = exit_status(train.main, ["--config", "synthetic_bce", "--workdir", str(run)], capsys)
    assert status == 2
    assert "loss.topological: 'sat' -> 'none'" in err and "name: 'synthetic_sat' -> 'synthetic_bce'" in err
    assert (run / "config.json").read_text() == saved and sorted(os.listdir(run)) == ["config.json"]
    # a folder that is not a run folder is not written into either
    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    status, _, err = exit_status(train.main, ["--config", "synthetic_bce", "--workdir", str(other)], capsys)
    assert status == 2 and "not a run folder" in err and os.listdir(other) == ["notes.txt"]


def test_a_config_file_trains_and_evaluate_tabulates_several_runs(tmp_path, capsys):
    # --config also takes a Python file; this one is tiny, and validates every second epoch of
    # one, so no validation runs: best_val_dice is null rather than a made-up number
    config_file = tmp_path / "tiny_bce.py"
    config_file.write_text(
        "from jaxtopo.training import named_config, override\n"
        "def get_config():\n"
        "    return override(named_config('synthetic_bce'), [\n"
        "        'model.widths=(4, 8)', 'data.size=(24, 24)', 'data.num_train=8', 'data.num_val=2',\n"
        "        'data.num_test=2', 'train.batch_size=4', 'train.epochs=1', 'train.eval_every_epochs=2'])\n")
    run = tmp_path / "run"
    assert train.main(["--config", str(config_file), "--workdir", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["config"] == "synthetic_bce" and results["split"] == "test"
    assert results["best_val_dice"] is None and results["steps"] == 2
    capsys.readouterr()

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    table = tmp_path / "table.csv"
    assert evaluate.main([str(run), str(copy), "--csv", str(table)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header, separator, *rows = lines
    assert len(rows) == 2 and [row.split("|")[1].strip() for row in rows] == [str(run), str(copy)]
    cells = [c.strip() for c in separator.strip("|").split("|")]
    assert len(cells) == len(header.strip("|").split("|")) and all(re.fullmatch(r"-{3,}:?", c) for c in cells)
    names = [c.strip() for c in header.strip("|").split("|")]
    assert names[:3] == ["run", "config", "split"] and names[-1] == "betti_matching_error"
    for row in rows:  # the run's test metrics again, as results.json has them
        values = dict(zip(names, (c.strip() for c in row.strip("|").split("|"))))
        assert (values["config"], values["split"]) == ("synthetic_bce", "test")
        for key in names[3:]:
            assert values[key] == f"{results[key]:.4f}", key
    with open(table) as f:
        written = list(csv.DictReader(f))
    assert [r["run"] for r in written] == [str(run), str(copy)]
    assert float(written[0]["dice"]) == pytest.approx(results["dice"], abs=1e-6)

    # --data-dir reaches the run's config: a DRIVE run pointed at an empty folder says so, exit 1
    config = json.loads((copy / "config.json").read_text())
    config["data"].update(name="drive", data_dir=str(tmp_path / "was_here"))
    (copy / "config.json").write_text(json.dumps(config))
    status, _, err = exit_status(evaluate.main, [str(copy), "--data-dir", str(tmp_path / "now_here")], capsys)
    assert status == 1 and "DRIVE dataset not found" in err and "now_here" in err


def test_evaluate_names_a_bad_run_folder_before_evaluating_any(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for argv, message in [([str(tmp_path / "nowhere")], "no such folder"),
                          ([str(tmp_path / "empty")], "it has no config.json")]:
        status, _, err = exit_status(evaluate.main, argv, capsys)
        assert status == 2 and err.startswith("evaluate.py: error: ") and message in err
    tiny = override(named_config("synthetic_bce"), ["data.size=(24, 24)", "data.num_train=2", "data.num_val=1",
                                                    "data.num_test=1", "model.widths=(4, 8)"])
    write_run_config(str(tmp_path / "empty"), tiny)
    status, _, err = exit_status(evaluate.main, [str(tmp_path / "empty")], capsys)
    assert status == 2 and "has no checkpoint (no trained model)" in err
    assert os.listdir(tmp_path / "empty") == ["config.json"]  # looking adds no checkpoint folders


def test_a_diverged_run_exits_1_with_the_message_and_keeps_its_folder(tmp_path, capsys):
    run = tmp_path / "run"
    # 1e999 parses as an infinite learning rate: the loss of step 2 is NaN (see test_objective.py)
    status, _, err = exit_status(train.main, [
        "--config", "synthetic_bce", "--workdir", str(run), "model.widths=(4, 8)", "data.size=(24, 24)",
        "data.num_train=8", "data.num_val=2", "data.num_test=2", "train.batch_size=4", "train.epochs=2",
        "train.log_every=1", "train.learning_rate=1e999"], capsys)
    assert status == 1 and err.startswith("train.py: error: non-finite loss at step 2")
    assert "Traceback" not in err and (run / "metrics.jsonl").exists()


def test_parameters_spoilt_between_logged_steps_stop_the_run_before_validation_or_a_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    # nothing is logged before the end of epoch 1 (step 2), where validation and a checkpoint are
    # due: without a check of the parameters, validation's metrics would fail on NaN predictions
    status, _, err = exit_status(train.main, [
        "--config", "synthetic_bce", "--workdir", str(run), "model.widths=(4, 8)", "data.size=(24, 24)",
        "data.num_train=8", "data.num_val=2", "data.num_test=2", "train.batch_size=4", "train.epochs=2",
        "train.log_every=100", "train.checkpoint_every=2", "train.learning_rate=1e999"], capsys)
    assert status == 1 and err.startswith("train.py: error: the model's parameters became non-finite by step 2")
    assert "Traceback" not in err
    assert not (run / "checkpoints" / "latest").exists() or not os.listdir(run / "checkpoints" / "latest")
