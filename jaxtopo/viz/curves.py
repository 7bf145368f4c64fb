"""Training curves from run folders (the ``metrics.jsonl`` that `train_and_evaluate` writes).

Each line of ``metrics.jsonl`` is one JSON record with a ``step``: training records carry the
loss and its parts (``loss``, ``bce``, ``topological``, ...) and timings, evaluation records carry
``val_dice``. One panel per key, one line per run, steps on the x axis. A value that was NaN or
infinite is stored as null (strict JSON, `jaxtopo.training.records`), read back as None and left
out of its curve.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

from jaxtopo.viz._canvas import figure_or_new

# recorded for every log line but not curves one wants by default
NOT_CURVES = ("step", "epoch", "steps_per_s", "device_s_per_step", "host_topology_s_per_step")


def read_metrics(run_dir, filename: str = "metrics.jsonl") -> list[dict]:
    """The records of ``run_dir/metrics.jsonl`` (or of another JSON-lines file of step records in
    it, e.g. `experiments/diagnose.py`'s ``diagnostics.jsonl``), in order."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    path = os.path.join(run_dir, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is not a run folder with metrics: it has no {filename}")
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} line {number} is not JSON: {error}") from None
            if not isinstance(record, dict) or "step" not in record:
                raise ValueError(f"{path} line {number} is not a record with a 'step': {line.strip()[:80]}")
            records.append(record)
    if not records:
        raise ValueError(f"{path} has no records yet: the run has not logged a step")
    return records


def _curve_keys(records: list[dict]) -> list[str]:
    keys = []
    for record in records:
        for key, value in record.items():
            if key not in NOT_CURVES and key not in keys and isinstance(value, (int, float)):
                keys.append(key)
    return keys


def plot_training_curves(runs, keys=None, *, fig=None, columns: int = 3, filename: str = "metrics.jsonl"):
    """One panel per metric key, one line per run; returns the Figure.

    Args:
      runs: a run folder, or ``{label: run folder}`` to compare runs (e.g. BCE vs BCE + SATLoss).
      keys: the recorded keys to plot (default: every numeric key but steps, epochs and timings,
        in the order first recorded). A key no run recorded raises ValueError naming the keys
        there are; a run that lacks a key others have (BCE has no ``topological``) is left out
        of that panel.
      filename: the records' file in each folder (``diagnostics.jsonl``: `experiments/diagnose.py`).
    """
    if isinstance(runs, (str, os.PathLike)):
        runs = {os.path.basename(os.path.normpath(os.fspath(runs))): runs}
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a run folder or a non-empty {label: run folder} mapping")
    records = {label: read_metrics(run_dir, filename) for label, run_dir in runs.items()}
    available = []
    for run_records in records.values():
        available += [key for key in _curve_keys(run_records) if key not in available]
    keys = available if keys is None else list(keys)
    unknown = [key for key in keys if key not in available]
    if unknown or not keys:
        raise ValueError(f"no run recorded {unknown or 'any curve'}; recorded keys: {available}")

    columns = min(columns, len(keys))
    rows = math.ceil(len(keys) / columns)
    fig = figure_or_new(fig, figsize=(4.2 * columns, 3.2 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        for index, (label, run_records) in enumerate(records.items()):
            # by step, the last record winning: a run resumed by an older jaxtopo logged the steps
            # after its checkpoint twice
            points = {r["step"]: r[key] for r in run_records if isinstance(r.get(key), (int, float))}
            if points:
                steps = sorted(points)
                values = [points[step] for step in steps]
                # a run keeps its colour in every panel, also where another run has no curve
                ax.plot(steps, values, color=f"C{index % 10}", marker="o" if len(points) < 30 else None,
                        markersize=3, label=label)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(records) > 1:
            ax.legend(fontsize="small")
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
