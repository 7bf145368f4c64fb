"""sweep.py --select-on-validation (jaxtopo.training.selection): the rule on hand-made numbers, and
the two-stage sweep with recording stand-ins for training and validation (which runs train, in
which order, what the reports hold, what a rerun recomputes)."""

import csv
import json
import os
import sys

import pytest

from jaxtopo.training import TrainingDivergedError
from jaxtopo.training.config import write_run_config
from jaxtopo.training.selection import DICE_TOLERANCE, choose

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import sweep  # noqa: E402

TINY = ["model.widths=(4, 8)", "data.size=(24, 24)", "data.num_train=8", "data.num_val=2",
        "data.num_test=2", "train.batch_size=4", "train.epochs=1"]
# validation metrics the stand-in reports per loss weight: 1e-4 has the best Dice, 1e-3 is within
# the tolerance with fewer components wrong, 1e-2 has the fewest but loses 0.2 of Dice
VAL = {1e-4: (0.70, 5.0), 1e-3: (0.695, 3.0), 1e-2: (0.50, 1.0)}


def metrics(dice, beta_0, beta_1=0.0):
    return {"dice": dice, "betti_0_error": beta_0, "betti_1_error": beta_1}


def test_the_rule_keeps_dice_within_the_tolerance_then_takes_the_fewest_component_errors():
    assert DICE_TOLERANCE == 0.01
    candidates = [(("a",), metrics(0.70, 5)), (("b",), metrics(0.695, 3)), (("c",), metrics(0.50, 1))]
    assert choose(candidates) == ("b",)
    # just outside the tolerance: only the best-Dice point is eligible
    assert choose([(("a",), metrics(0.70, 5)), (("b",), metrics(0.6899, 3))]) == ("a",)
    # ties on beta_0 error: the first in grid order
    assert choose([(("a",), metrics(0.70, 2)), (("b",), metrics(0.70, 2))]) == ("a",)
    assert choose([(("only",), metrics(0.1, 9))]) == ("only",)


class StandIns:
    """train_and_evaluate and evaluate_run replaced: training records the folder and writes test
    results; validation reports `VAL` by the run's loss weight (BCE: its own numbers)."""

    def __init__(self, diverge=()):
        self.trained, self.validated, self.diverge = [], [], set(diverge)

    def train(self, config, workdir):
        name = os.path.basename(workdir)
        self.trained.append(name)
        if name in self.diverge:
            raise TrainingDivergedError("non-finite loss at step 1")
        os.makedirs(workdir, exist_ok=True)
        write_run_config(workdir, config)
        results = {"config": config.name, "split": "test", "steps": 2, "best_val_dice": 0.5, "accuracy": 0.9,
                   "dice": 0.6 + 0.01 * config.seed, "cldice": 0.5, "betti_0_error": 4.0, "betti_1_error": 1.0,
                   "betti_matching_error_0": 3.0, "betti_matching_error_1": 1.0, "betti_matching_error": 4.0}
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(results, f)
        return results

    def validate(self, config, workdir, *, split):
        assert split == "val"
        self.validated.append(os.path.basename(workdir))
        if config.loss.topological == "none":
            return metrics(0.66, 7.0, 2.0)
        dice, beta_0 = VAL[config.loss.weight]
        return metrics(dice, beta_0, 1.0)


@pytest.fixture
def stand_ins(monkeypatch):
    from jaxtopo.training import loop

    def install(diverge=()):
        fake = StandIns(diverge)
        monkeypatch.setattr(loop, "train_and_evaluate", fake.train)
        monkeypatch.setattr(loop, "evaluate_run", fake.validate)
        return fake

    return install


ARGV = ["--configs", "synthetic_bce", "synthetic_sat", "--seeds", "0", "1", "2",
        "--grid", "loss.weight=1e-4,1e-3,1e-2", "--select-on-validation", *TINY]


def test_the_first_seed_trains_the_grid_and_the_others_only_the_chosen_weight(tmp_path, stand_ins, capsys):
    out = tmp_path / "sweep"
    fake = stand_ins()
    assert sweep.main(ARGV + ["--out", str(out)]) == 0
    sat = "synthetic_sat-loss.weight={}-seed{}"
    assert fake.trained == [
        "synthetic_bce-seed0", sat.format(0.0001, 0), sat.format(0.001, 0), sat.format(0.01, 0),
        "synthetic_bce-seed1", "synthetic_bce-seed2", sat.format(0.001, 1), sat.format(0.001, 2)]
    assert sorted(fake.validated) == sorted(fake.trained[:4])

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["config"], r["loss.weight"], r["seed"]) for r in rows] == [
        ("synthetic_bce", "", "0"), ("synthetic_bce", "", "1"), ("synthetic_bce", "", "2"),
        ("synthetic_sat", "0.001", "0"), ("synthetic_sat", "0.001", "1"), ("synthetic_sat", "0.001", "2")]
    results = (out / "results.md").read_text()
    selection = (out / "selection.md").read_text()
    assert selection in results and "within 0.01 of the best" in selection
    chosen = [line for line in selection.splitlines() if "✓" in line]
    assert len(chosen) == 2 and "synthetic_bce" in chosen[0] and "0.001" in chosen[1]
    assert "0.6950" in chosen[1] and "3.0000" in chosen[1]
    assert (out / "lambda_ablation.png").stat().st_size > 0  # from the first seed's three weights
    for run in fake.trained:  # the validation metrics of the first seed's runs, kept for a rerun
        assert (out / run / "val_results.json").exists() == run.endswith("seed0")

    # a rerun trains nothing and evaluates nothing: the validation metrics are kept in the folders
    again = stand_ins()
    assert sweep.main(ARGV + ["--out", str(out)]) == 0
    assert again.trained == [] and again.validated == []
    assert (out / "results.md").read_text() == results


def test_a_diverged_grid_point_cannot_be_chosen(tmp_path, stand_ins, capsys):
    out = tmp_path / "sweep"
    fake = stand_ins(diverge={"synthetic_sat-loss.weight=0.001-seed0"})
    with pytest.raises(SystemExit) as exited:
        sweep.main(ARGV + ["--out", str(out)])
    assert exited.value.code == 1
    assert "runs that diverged are left out (1): synthetic_sat-loss.weight=0.001-seed0" in capsys.readouterr().err
    # 1e-3 diverged, so 1e-4 (best Dice; 1e-2 is 0.2 below it) is chosen for the other seeds
    later = [run for run in fake.trained if run.startswith("synthetic_sat") and not run.endswith("seed0")]
    assert later == ["synthetic_sat-loss.weight=0.0001-seed1", "synthetic_sat-loss.weight=0.0001-seed2"]


def test_a_grid_can_be_limited_to_some_configs_and_one_field_swept_differently_elsewhere():
    from jaxtopo.training.config import ConfigError
    from jaxtopo.training.sweep import expand, parse_grid

    assert parse_grid("sat, wt:loss.weight=1e-4,1e-3") == ("loss.weight", ["1e-4", "1e-3"], ("sat", "wt"))
    assert parse_grid("loss.weight=1e-4") == ("loss.weight", ["1e-4"])
    grid = [parse_grid("sat,wt:loss.weight=1e-4,1e-3"), parse_grid("synthetic_tc:loss.weight=0.1,1")]
    runs = expand(["synthetic_bce", "synthetic_sat", "synthetic_wt", "synthetic_tc", "synthetic_cldice"],
                  grid=grid)
    assert [run.name for run in runs] == [
        "synthetic_bce-seed0",
        "synthetic_sat-loss.weight=0.0001-seed0", "synthetic_sat-loss.weight=0.001-seed0",
        "synthetic_wt-loss.weight=0.0001-seed0", "synthetic_wt-loss.weight=0.001-seed0",
        "synthetic_tc-loss.weight=0.1-seed0", "synthetic_tc-loss.weight=1.0-seed0",
        "synthetic_cldice-seed0"]  # clDice's alpha (loss.weight) is named by no grid: it keeps 0.5
    assert runs[-1].config.loss.weight == 0.5 and runs[-1].grid == ()
    with pytest.raises(ConfigError, match="a grid field is given twice for synthetic_sat"):
        expand(["synthetic_sat"], grid=[parse_grid("loss.weight=1"), parse_grid("sat:loss.weight=2")])
    with pytest.raises(ConfigError, match="the grid of loss.weight for sta selects none of the configs"):
        expand(["synthetic_sat"], grid=[parse_grid("sta:loss.weight=1")])
    with pytest.raises(ConfigError, match=r"\[config,...:\]field.path=value"):
        parse_grid(",:loss.weight=1")
