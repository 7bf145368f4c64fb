"""Choosing a loss's weight on the validation split, then training the other seeds with it.

The SATLoss paper reports each loss at the lambda its ablation chose; choosing on the test split
would flatter every loss. A sweep run with ``--select-on-validation`` (`run_selected_sweep`)
instead:

1. trains every grid point of every config with the first seed (and every fold given);
2. evaluates each of those runs' best-validation model on the validation split (kept in
   ``val_results.json`` in the run's folder);
3. chooses per config the grid point by `SELECTION_RULE`, fixed before any result was seen;
4. trains the remaining seeds at the chosen point only.

The reports then hold one row per config at its chosen point (test split, all seeds), the table
of validation metrics behind each choice (``selection.md``, also appended to results.md) and the
lambda-ablation figure of the first seed's whole grid (test split, as the paper's Fig. 6).
"""

from __future__ import annotations

import json
import os
import statistics

from jaxtopo.training import sweep
from jaxtopo.training.sweep import Run

# how close to the config's best validation Dice a grid point must stay to be eligible
DICE_TOLERANCE = 0.01
SELECTION_RULE = (
    f"among the grid points whose mean validation Dice is within {DICE_TOLERANCE} of the best one "
    f"of that config, the one with the lowest mean validation β0 error (ties: the first in grid order)")
VAL_RESULTS = "val_results.json"


def validation_metrics(run: Run, out: str) -> dict:
    """The metrics of a finished run's best-validation model on the validation split; computed once
    and kept in its folder."""
    path = os.path.join(out, run.name, VAL_RESULTS)
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    from jaxtopo.training import loop

    metrics = loop.evaluate_run(run.config, os.path.join(out, run.name), split="val")
    with open(path + ".tmp", "w") as f:
        json.dump(metrics, f, indent=2)
    os.replace(path + ".tmp", path)
    return metrics


def choose(candidates: list[tuple[tuple, dict]]) -> tuple:
    """The grid point chosen by `SELECTION_RULE` from ``[(grid point, mean validation metrics)]``
    in grid order."""
    best_dice = max(metrics["dice"] for _, metrics in candidates)
    eligible = [(point, metrics) for point, metrics in candidates
                if metrics["dice"] >= best_dice - DICE_TOLERANCE]
    return min(eligible, key=lambda item: item[1]["betti_0_error"])[0]  # min keeps the first of ties


def _mean_metrics(metric_dicts: list[dict]) -> dict:
    return {key: statistics.fmean(m[key] for m in metric_dicts) for key in ("dice", "betti_0_error", "betti_1_error")}


def run_selected_sweep(runs: list[Run], out: str, *, command: str, log=print):
    """Trains ``runs`` (a whole `sweep.expand` product) as the module docstring says and writes the
    reports; returns (the runs kept in the table, the two `sweep.SweepOutcome`s, report paths).
    A config without grid points (a baseline) is simply trained with every seed."""
    first_seed = runs[0].seed
    first = [run for run in runs if run.seed == first_seed]
    outcomes = [sweep.run_sweep(first, out, log=log)]

    chosen, table = {}, []
    for config_name in dict.fromkeys(run.config_name for run in first):
        points: dict[tuple, list[dict]] = {}
        for run in first:
            if run.config_name == config_name and run.name not in outcomes[0].failed:
                points.setdefault(run.grid, []).append(validation_metrics(run, out))
        if not points:
            continue  # every grid point diverged: nothing to choose from
        candidates = [(point, _mean_metrics(metrics)) for point, metrics in points.items()]
        chosen[config_name] = choose(candidates)
        table += [{"config": config_name, **{path: sweep.format_value(v) for path, v in point},
                   "val Dice": metrics["dice"], "val β0 error": metrics["betti_0_error"],
                   "val β1 error": metrics["betti_1_error"],
                   "chosen": "✓" if point == chosen[config_name] else ""}
                  for point, metrics in candidates]

    kept = [run for run in runs if chosen.get(run.config_name) == run.grid]
    later = [run for run in kept if run.seed != first_seed]
    outcomes.append(sweep.run_sweep(later, out, log=log))

    # the figure shows the first seed's whole grid, not only the chosen points
    paths = sweep.write_reports(out, kept, command=command, ablation_runs=first)
    timings = sweep._read_json(os.path.join(out, sweep.TIMINGS), {})
    kept_names = {run.name for run in kept}
    unkept_s = sum(timings.get(run.name, {}).get("wall_s", 0.0) for run in first if run.name not in kept_names)
    selection = _selection_markdown(table, first_seed, unkept_s)
    with open(os.path.join(out, "selection.md"), "w") as f:
        f.write(selection)
    with open(paths[0], "a") as f:
        f.write("\n" + selection)
    paths.append(os.path.join(out, "selection.md"))
    return kept, outcomes, paths


def _selection_markdown(table: list[dict], first_seed: int, unkept_s: float) -> str:
    fields = [key for key in dict.fromkeys(k for row in table for k in row)
              if key not in ("config", "val Dice", "val β0 error", "val β1 error", "chosen")]
    lines = [{**{key: row.get(key, "") for key in ("config", *fields)},
              **{key: f"{row[key]:.4f}" for key in ("val Dice", "val β0 error", "val β1 error")},
              "chosen": row["chosen"]} for row in table]
    return "\n".join([
        "## Grid points chosen on the validation split",
        "",
        f"Seed {first_seed}, each run's best-validation model evaluated on the validation split "
        f"(means over folds where there are several). Rule, fixed before the runs: {SELECTION_RULE}. "
        f"The table above holds the chosen point of each config, trained with every seed; the "
        f"points not chosen took another {unkept_s:.1f} s of training and test evaluation.",
        "",
        sweep.markdown_table(lines, text_columns=("config", *fields, "chosen")) if lines else "(nothing to choose)",
        "",
    ])
