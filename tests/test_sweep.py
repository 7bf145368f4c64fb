"""experiments/sweep.py and jaxtopo.training.sweep: grid expansion and run names worked out by hand,
mean and std of hand-made results, valid markdown, finished runs skipped (a recording stand-in for
train_and_evaluate), the lambda figure, and one real sweep of four tiny runs that a second call
only re-tabulates, to the same files."""

import csv
import json
import math
import os
import re
import sys

import pytest

from jaxtopo.training import ConfigError
from jaxtopo.training import sweep as sweep_lib
from jaxtopo.training.config import write_run_config
from jaxtopo.training.sweep import aggregate, expand, parse_grid, results_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import sweep  # noqa: E402

# tests/test_training.py's tiny() sizes, one epoch: 2 steps of 4 images of 24 x 24
TINY = ["model.widths=(4, 8)", "data.size=(24, 24)", "data.num_train=8", "data.num_val=2",
        "data.num_test=2", "train.batch_size=4", "train.epochs=1"]
METRICS = ("accuracy", "dice", "cldice", "betti_0_error", "betti_1_error", "betti_matching_error_0",
           "betti_matching_error_1", "betti_matching_error")


def fake_results(dice, **others):
    results = {"config": "x", "split": "test", "steps": 2, "best_val_dice": 0.5}
    results.update({key: 1.0 for key in METRICS}, dice=dice, **others)
    return results


def finish(out, run, results):
    """A finished run folder as train_and_evaluate leaves it (the parts the sweep reads)."""
    workdir = os.path.join(out, run.name)
    os.makedirs(workdir, exist_ok=True)
    write_run_config(workdir, run.config)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f)


class RecordingTrainer:
    """Stands in for train_and_evaluate: records the folders it is asked to train and finishes
    them with made-up results, or raises ``errors[name]``."""

    def __init__(self, errors=None):
        self.calls, self.errors = [], errors or {}

    def __call__(self, config, workdir):
        name = os.path.basename(workdir)
        self.calls.append(name)
        if name in self.errors:
            raise self.errors[name]
        os.makedirs(workdir, exist_ok=True)
        write_run_config(workdir, config)
        results = fake_results(0.1 * config.seed)
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(results, f)
        return results


@pytest.fixture
def recorder(monkeypatch):
    from jaxtopo.training import loop

    def install(errors=None):
        trainer = RecordingTrainer(errors)
        monkeypatch.setattr(loop, "train_and_evaluate", trainer)
        return trainer

    return install


def exit_status(argv, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        sweep.main(argv)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_grid_values_split_at_top_level_commas():
    assert parse_grid("loss.weight=1e-5,1e-4, 1e-3") == ("loss.weight", ["1e-5", "1e-4", "1e-3"])
    assert parse_grid("model.widths=(8, 16),(16, 32)") == ("model.widths", ["(8, 16)", "(16, 32)"])
    assert parse_grid("loss.topological=sat,'w,t'") == ("loss.topological", ["sat", "'w,t'"])
    for bad in ("loss.weight", "=1,2", "loss.weight=1,,2", "loss.weight=(1,2", "loss.weight=1,1"):
        with pytest.raises(ConfigError):
            parse_grid(bad)


def test_expansion_and_names_worked_out_by_hand():
    runs = expand(["synthetic_bce", "synthetic_sat"], seeds=[0, 1],
                  grid=[parse_grid("loss.weight=1e-4,1e-3")], overrides=["train.epochs=2"])
    # BCE has no weighted term: one run per seed, no weight in its name
    assert [r.name for r in runs] == [
        "synthetic_bce-seed0", "synthetic_bce-seed1",
        "synthetic_sat-loss.weight=0.0001-seed0", "synthetic_sat-loss.weight=0.0001-seed1",
        "synthetic_sat-loss.weight=0.001-seed0", "synthetic_sat-loss.weight=0.001-seed1"]
    last = runs[-1]
    assert (last.config_name, last.seed, last.fold, last.grid) == ("synthetic_sat", 1, None, (("loss.weight", 1e-3),))
    assert (last.config.seed, last.config.loss.weight, last.config.train.epochs) == (1, 1e-3, 2)
    assert runs[0].grid == () and runs[0].config.loss.weight == 0.0
    # the name comes from the resolved value: 1e-3 and 0.001 are one run
    assert expand(["synthetic_sat"], seeds=[0], grid=[parse_grid("loss.weight=0.001")])[0].name == last.name[:-1] + "0"

    # folds apply to datasets with folds; alpha of clDice is its loss.weight, so it is swept
    runs = expand(["drive_cldice", "roads_bce"], seeds=[3], folds=[1, 2], grid=[parse_grid("loss.weight=0.3,0.5")])
    assert [r.name for r in runs] == [
        "drive_cldice-loss.weight=0.3-seed3-fold1", "drive_cldice-loss.weight=0.3-seed3-fold2",
        "drive_cldice-loss.weight=0.5-seed3-fold1", "drive_cldice-loss.weight=0.5-seed3-fold2",
        "roads_bce-seed3"]
    assert [r.config.data.fold for r in runs[:2]] == [1, 2] and runs[-1].fold is None
    # without --folds a dataset with folds keeps its config's fold, and says which
    assert expand(["drive_sat"], seeds=[0])[0].name == "drive_sat-seed0-fold1"
    # the product of two grid fields, the first varying slowest; tuples in names joined by commas
    runs = expand(["synthetic_sat"], seeds=[0], grid=[parse_grid("loss.weight=1e-3,1e-2"),
                                                     parse_grid("model.widths=(4, 8),(8, 16)")])
    assert [r.name for r in runs] == [
        "synthetic_sat-loss.weight=0.001-model.widths=4,8-seed0",
        "synthetic_sat-loss.weight=0.001-model.widths=8,16-seed0",
        "synthetic_sat-loss.weight=0.01-model.widths=4,8-seed0",
        "synthetic_sat-loss.weight=0.01-model.widths=8,16-seed0"]


def test_expansion_refuses_what_cannot_be_meant():
    for kwargs, message in [
        (dict(overrides=["seed=3"]), "seed is both swept and overridden"),
        (dict(grid=[parse_grid("loss.weight=1e-3")], overrides=["loss.weight=1e-2"]), "loss.weight is both"),
        (dict(grid=[parse_grid("loss.weight=1")] * 2), "given twice"),
        (dict(seeds=[0, 0]), "--seeds lists a value twice"),
        (dict(grid=[parse_grid("data.fold=1,2")]), "sweep data.fold with --folds"),
        (dict(grid=[parse_grid("loss.wieght=1e-3")]), "no field 'loss.wieght'"),
        (dict(configs=["synthetic_sat", "synthetic_sat"]), "share the folder 'synthetic_sat-seed0'"),
    ]:
        arguments = dict(configs=["synthetic_sat"], seeds=[0]) | kwargs
        with pytest.raises(ConfigError, match=message):
            expand(arguments.pop("configs"), **arguments)


def test_mean_and_sample_std_of_hand_made_results(tmp_path):
    runs = expand(["synthetic_bce", "synthetic_sat"], seeds=[0, 1, 2], grid=[parse_grid("loss.weight=1e-3")])
    dice = {"synthetic_bce": (0.5, 0.7, 0.9), "synthetic_sat": (0.6, 0.6, 0.6)}
    for run in runs:
        # one sat run has a NaN beta_1 error: left out of that mean, and the cell says so
        nan = {"betti_1_error": math.nan} if run.config_name == "synthetic_sat" and run.seed == 2 else {}
        finish(tmp_path, run, fake_results(dice[run.config_name][run.seed], betti_0_error=float(run.seed), **nan))
    os.remove(tmp_path / runs[2].name / "results.json")  # bce seed 2 unfinished: not counted

    rows = sweep_lib.collect_rows(runs, str(tmp_path))
    assert [r["run"] for r in rows] == [r.name for r in runs if r is not runs[2]]
    assert rows[0]["loss.weight"] is None and rows[2]["loss.weight"] == 1e-3
    bce, sat = aggregate(rows)
    assert (bce["config"], bce["loss.weight"], bce["n"], sat["n"]) == ("synthetic_bce", None, 2, 3)
    mean, std, count = bce["dice"]
    assert (mean, std, count) == (pytest.approx(0.6), pytest.approx(math.sqrt(0.02)), 2)  # (0.5, 0.7)
    assert sat["dice"] == (pytest.approx(0.6), pytest.approx(0.0), 3)
    assert sat["betti_0_error"] == (1.0, 1.0, 3)  # 0, 1, 2: sample std 1, not sqrt(2/3)
    assert sat["betti_1_error"] == (1.0, 0.0, 2)

    table = results_table(rows).splitlines()
    header, separator, *lines = table
    assert len(lines) == 2
    bce_cells = [c.strip() for c in lines[0].strip("|").split("|")]
    sat_cells = [c.strip() for c in lines[1].strip("|").split("|")]
    names = [c.strip() for c in header.strip("|").split("|")]
    assert names == ["config", "loss.weight", "Dice ↑", "clDice ↑", "β0 error ↓", "β1 error ↓",
                     "Betti-matching error ↓", "accuracy ↑", "n"]
    assert bce_cells == ["synthetic_bce", "", "0.6000 ± 0.1414", "1.0000 ± 0.0000", "0.5000 ± 0.7071",
                         "1.0000 ± 0.0000", "1.0000 ± 0.0000", "1.0000 ± 0.0000", "2"]
    assert sat_cells[:2] == ["synthetic_sat", "0.001"] and sat_cells[5] == "1.0000 ± 0.0000 (2 finite)"


def assert_valid_markdown_table(lines, with_header=False):
    """A header, a separator of dashes (a colon for right alignment), rows of as many cells; the
    rows, or with ``with_header`` all the lines."""
    header, separator, *rows = lines
    width = len(header.strip().strip("|").split("|"))
    cells = [c.strip() for c in separator.strip().strip("|").split("|")]
    assert len(cells) == width and all(re.fullmatch(r":?-{3,}:?", c) for c in cells), separator
    for row in rows:
        assert row.startswith("| ") and row.endswith(" |")
        assert len(re.split(r"(?<!\\)\|", row.strip()[1:-1])) == width, row
    return lines if with_header else rows


def test_results_md_is_valid_markdown_with_its_provenance(tmp_path):
    runs = expand(["synthetic_bce", "synthetic_sat"], seeds=[0, 1], grid=[parse_grid("loss.weight=1e-3,1e-2")])
    for run in runs[:-1]:
        finish(tmp_path, run, fake_results(0.1 * (run.seed + 2)))
    timings = {run.name: {"wall_s": 2.5, "machine": "a test machine"} for run in runs[:3]}
    (tmp_path / "timings.json").write_text(json.dumps(timings))
    paths = sweep_lib.write_reports(str(tmp_path), runs, command="python experiments/sweep.py --configs a|b")
    assert [os.path.basename(p) for p in paths] == ["results.md", "results.csv", "lambda_ablation.png"]
    text = (tmp_path / "results.md").read_text()
    assert "- command: `python experiments/sweep.py --configs a|b`" in text
    assert "- machine: a test machine" in text
    assert "- wall time: 7.5 s" in text and "(2 runs trained outside this sweep not counted)" in text
    assert "loss.weight: 0.001, 0.01 (not swept for synthetic_bce, which run once)" in text
    assert f"Not finished (1): {runs[-1].name}" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    rows = assert_valid_markdown_table(table)
    assert len(rows) == 3  # bce, sat at 1e-3, sat at 1e-2 (one run)

    with open(tmp_path / "results.csv") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == ["run", "config", "seed", "fold", "loss.weight", "steps", "best_val_dice",
                                *METRICS, "wall_s"]
    assert [r["run"] for r in written] == [r.name for r in runs[:-1]]
    first, untimed = written[0], written[3]
    assert (first["loss.weight"], first["fold"], first["wall_s"], untimed["wall_s"]) == ("", "", "2.5", "")
    assert written[1]["dice"] == "0.30000000000000004"  # 0.1 * 3 at full precision
    assert sweep_lib.read_csv(tmp_path / "results.csv")[1]["dice"] == 0.1 * 3


def test_full_image_metrics_give_the_table_2_layout_and_csv_columns(tmp_path):
    runs = expand(["drive_bce", "synthetic_bce"], seeds=[0, 1])
    for run in runs:  # DRIVE runs have full-image (F) metrics, the generated dataset's do not
        full = {"full_images": 6, **{f"{key}_full": 2.0 + run.seed for key in METRICS}} if run.fold else {}
        finish(tmp_path, run, fake_results(0.5, **full))
    sweep_lib.write_reports(str(tmp_path), runs, command="python experiments/sweep.py")
    text = (tmp_path / "results.md").read_text()
    assert "(F): per full image, the test patches' predictions and labels stitched back" in text
    header, _, drive, synthetic = assert_valid_markdown_table(
        [line for line in text.splitlines() if line.startswith("|")], with_header=True)
    names = [c.strip() for c in header.strip("|").split("|")]
    assert names == ["config", "accuracy ↑", "Dice (P) ↑", "clDice (P) ↑", "β0 error (P) ↓", "β1 error (P) ↓",
                     "Betti-matching error (P) ↓", "Dice (F) ↑", "clDice (F) ↑", "β0 error (F) ↓", "β1 error (F) ↓",
                     "Betti-matching error (F) ↓", "n"]
    drive_cells = [c.strip() for c in drive.strip("|").split("|")]
    synthetic_cells = [c.strip() for c in synthetic.strip("|").split("|")]
    assert drive_cells[2] == "0.5000 ± 0.0000" and drive_cells[7:12] == ["2.5000 ± 0.7071"] * 5
    assert synthetic_cells[7:12] == ["n/a"] * 5
    written = sweep_lib.read_csv(tmp_path / "results.csv")
    assert list(written[0]) == ["run", "config", "seed", "fold", "steps", "best_val_dice", *METRICS, "full_images",
                                *(f"{key}_full" for key in METRICS), "wall_s"]
    assert (written[1]["full_images"], written[1]["betti_matching_error_1_full"]) == (6, 3.0)
    assert written[2]["dice_full"] is None  # a generated dataset: F = P, left out

    only_patches = [run for run in runs if not run.fold]  # no run with F: Table 1, no F columns
    sweep_lib.write_reports(str(tmp_path), only_patches, command="python experiments/sweep.py")
    assert "(F)" not in (tmp_path / "results.md").read_text()
    assert "dice_full" not in (tmp_path / "results.csv").read_text()


def test_lambda_figure_draws_mean_and_std_per_loss_on_a_log_axis():
    from matplotlib.figure import Figure

    from jaxtopo.viz.ablation import plot_lambda_ablation

    rows = [{"run": f"r{i}", "config": config, "seed": seed, "fold": None, "loss.weight": weight,
             "dice": dice, "betti_0_error": 2.0, "betti_1_error": 1.0}
            for i, (config, weight, seed, dice) in enumerate([
                ("synthetic_bce", None, 0, 0.5), ("synthetic_bce", None, 1, 0.7),
                ("synthetic_sat", 1e-2, 0, 0.6), ("synthetic_sat", 1e-3, 0, 0.8), ("synthetic_sat", 1e-3, 1, 0.9)])]
    axes = Figure().subplots(1, 3)
    plot_lambda_ablation(rows, axes)
    dice_panel = axes[2]
    assert [ax.get_xscale() for ax in axes] == ["log"] * 3 and dice_panel.get_title() == "Dice"
    (sat,) = dice_panel.containers  # one errorbar: sat; bce has no lambda
    sat_line, _, (bars,) = sat.lines
    assert list(sat_line.get_xdata()) == [1e-3, 1e-2]  # sorted by lambda
    assert list(sat_line.get_ydata()) == pytest.approx([0.85, 0.6])
    (bce_line,) = [line for line in dice_panel.get_lines() if line.get_linestyle() == "--"]
    assert list(bce_line.get_ydata()) == pytest.approx([0.6, 0.6])  # the baseline, at its mean
    # error bars: the sample std at 1e-3, none for the single run at 1e-2
    (low, high), (low2, high2) = [segment[:, 1] for segment in bars.get_segments()]
    assert (high - low) / 2 == pytest.approx(math.sqrt(0.005)) and high2 == low2
    with pytest.raises(ValueError, match="no swept field 'train.learning_rate'"):
        plot_lambda_ablation(rows, axes, field="train.learning_rate")
    with pytest.raises(ValueError, match="3 metrics need 3 Axes"):
        plot_lambda_ablation(rows, axes[:2])


def test_finished_runs_are_skipped_and_half_finished_ones_resumed(tmp_path, capsys, recorder):
    out = str(tmp_path / "sweep")
    argv = ["--configs", "synthetic_bce", "synthetic_sat", "--seeds", "0", "1", "--out", out, *TINY]
    runs = expand(["synthetic_bce", "synthetic_sat"], seeds=[0, 1], overrides=TINY)
    finish(out, runs[0], fake_results(0.5))
    finish(out, runs[3], fake_results(0.5))
    os.makedirs(os.path.join(out, runs[1].name))
    write_run_config(os.path.join(out, runs[1].name), runs[1].config)  # started, not finished

    assert sweep.main(argv + ["--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert re.findall(r"(done|resume|new) +(\S+)", printed) == [
        ("done", runs[0].name), ("resume", runs[1].name), ("new", runs[2].name), ("done", runs[3].name)]
    trainer = recorder()
    assert sweep.main(argv) == 0
    assert trainer.calls == [runs[1].name, runs[2].name]
    printed = capsys.readouterr().out
    assert re.search(r"\[2/2\] synthetic_sat-seed0: done in \d+\.\d s; dice 0\.0000", printed)
    assert sorted(json.loads((tmp_path / "sweep" / "timings.json").read_text())) == [runs[1].name, runs[2].name]
    first = {name: (tmp_path / "sweep" / name).read_bytes() for name in ("results.md", "results.csv")}

    trainer = recorder()
    assert sweep.main(argv) == 0 and trainer.calls == []  # all finished: only tabulates
    assert {name: (tmp_path / "sweep" / name).read_bytes() for name in first} == first
    # more seeds into the same folder train only the new runs
    assert sweep.main(argv[:6] + ["2"] + argv[6:]) == 0
    assert trainer.calls == ["synthetic_bce-seed2", "synthetic_sat-seed2"]


def test_a_folder_of_another_config_is_refused_before_anything_trains(tmp_path, capsys, recorder):
    out = str(tmp_path / "sweep")
    finish(out, expand(["synthetic_sat"], seeds=[1])[0], fake_results(0.5))  # trained without TINY
    trainer = recorder()
    status, _, err = exit_status(["--configs", "synthetic_sat", "--seeds", "0", "1", "--out", out, *TINY], capsys)
    assert status == 2 and err.startswith("sweep.py: error: ") and "model.widths" in err and "another --out" in err
    assert trainer.calls == [] and "Traceback" not in err
    out = str(tmp_path / "other")
    for argv, message in [(["--configs", "synthetic_sat", "--seeds", "0", "x"], "--seeds takes whole numbers"),
                          (["--configs", "synthetic_sat", "--grid", "loss.weight"], "field.path=value,value"),
                          (["--configs", "synthetic_sat", "loss.pixel=focal"], "loss.pixel must be one of")]:
        status, _, err = exit_status(argv + ["--out", out], capsys)
        assert status == 2 and err.splitlines()[-1].startswith("sweep.py: error: ") and message in err, err
    assert trainer.calls == []


def test_a_diverged_run_is_left_out_and_the_sweep_goes_on(tmp_path, capsys, recorder):
    from jaxtopo.training import TrainingDivergedError

    out = tmp_path / "sweep"
    trainer = recorder({"synthetic_sat-loss.weight=1.0-seed0": TrainingDivergedError("non-finite loss at step 2")})
    status, _, err = exit_status(["--configs", "synthetic_sat", "--seeds", "0", "--grid", "loss.weight=1,1e-3",
                                  "--out", str(out), *TINY], capsys)
    assert status == 1 and "runs that diverged are left out (1):" in err
    assert "synthetic_sat-loss.weight=1.0-seed0" in err
    assert trainer.calls == ["synthetic_sat-loss.weight=1.0-seed0", "synthetic_sat-loss.weight=0.001-seed0"]
    assert "Not finished (1): synthetic_sat-loss.weight=1.0-seed0" in (out / "results.md").read_text()


def test_a_real_sweep_of_four_tiny_runs_then_a_rerun_that_only_tabulates(tmp_path, capsys, monkeypatch):
    from jaxtopo.training import loop

    out = tmp_path / "sweep"
    argv = ["--configs", "synthetic_bce", "synthetic_sat", "--seeds", "0", "1", "--quick", "--out", str(out), *TINY]
    assert sweep.main(argv) == 0
    printed = capsys.readouterr().out
    assert len(re.findall(r"\] synthetic_\w+-seed\d: done in \d+\.\d s", printed)) == 4
    files = {name: (out / name).read_bytes() for name in ("results.md", "results.csv")}
    text = files["results.md"].decode()
    assert "- runs: 4 of 4 finished" in text and "- machine: " in text and "jax " in text
    assert "- command: `python experiments/sweep.py --configs synthetic_bce synthetic_sat" in text
    rows = assert_valid_markdown_table([line for line in text.splitlines() if line.startswith("|")])
    assert [row.split("|")[1].strip() for row in rows] == ["synthetic_bce", "synthetic_sat"]
    assert all(row.split("|")[-2].strip() == "2" for row in rows)  # n
    written = sweep_lib.read_csv(out / "results.csv")
    for row in written:  # every row is its run's results.json at full precision
        results = json.loads((out / row["run"] / "results.json").read_text())
        assert {key: row[key] for key in METRICS} == {key: results[key] for key in METRICS}
        assert row["steps"] == 2 and row["wall_s"] > 0
    assert not (out / "lambda_ablation.png").exists()  # no lambda swept

    def must_not_train(config, workdir):
        raise AssertionError(f"trained {workdir} again")

    monkeypatch.setattr(loop, "train_and_evaluate", must_not_train)
    assert sweep.main(argv) == 0
    assert {name: (out / name).read_bytes() for name in files} == files
