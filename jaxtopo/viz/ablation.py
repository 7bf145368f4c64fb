"""The lambda ablation of a sweep (as Fig. 6 of the SATLoss paper): metrics against the loss weight.

One panel per metric (by default beta_0 error, beta_1 error and Dice), lambda on a log axis, one
line per config with the mean over its seeds and folds and the sample standard deviation as
error bars. Configs the weight does not apply to (the BCE baseline of a lambda sweep) are drawn
as a dashed horizontal line at their mean. Rows are those of a sweep's results.csv
(`jaxtopo.training.sweep`), given as the file or as the list of dicts.
"""

from __future__ import annotations

import os

from jaxtopo.training.sweep import aggregate, format_value, grid_fields, read_csv

METRIC_TITLES = {"betti_0_error": "β0 error", "betti_1_error": "β1 error", "dice": "Dice",
                 "cldice": "clDice", "betti_matching_error": "Betti-matching error", "accuracy": "accuracy"}


def plot_lambda_ablation(rows_or_csv, ax=None, *, field: str = "loss.weight",
                         metrics=("betti_0_error", "betti_1_error", "dice")):
    """Draws ``metrics`` against ``field`` (log x axis), mean ± std per config; returns the Figure.

    Args:
      rows_or_csv: a results.csv path, or its rows as dicts (`jaxtopo.training.sweep.collect_rows`).
      ax: one Axes per metric (a sequence; a single Axes when one metric is asked for); None opens
        a pyplot figure with the panels side by side.
      field: the swept config field on the x axis; its values must be positive. Other swept
        fields split a config into one line per value.
    """
    rows = read_csv(rows_or_csv) if isinstance(rows_or_csv, (str, os.PathLike)) else list(rows_or_csv)
    if not rows:
        raise ValueError("no rows to plot: the sweep has no finished run")
    fields = grid_fields(rows)
    if field not in fields:
        raise ValueError(f"the rows have no swept field {field!r}; swept: {fields or 'none'}")
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in rows[0]]
    if unknown:
        raise ValueError(f"the rows have no metric {unknown}; columns: {list(rows[0])}")
    entries = aggregate(rows, metrics)
    swept = [e[field] for e in entries if e[field] is not None]
    if any(not isinstance(v, (int, float)) or v <= 0 for v in swept):
        raise ValueError(f"{field} needs positive numbers for a log axis, got {sorted(set(map(str, swept)))}")

    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
        ax = ax.ravel()
    axes = [ax] if hasattr(ax, "plot") else list(ax)
    if len(axes) != len(metrics):
        raise ValueError(f"{len(metrics)} metrics need {len(metrics)} Axes, got {len(axes)}")

    # one line per config and value of the other swept fields, in the rows' order
    lines: dict[str, list[dict]] = {}
    for entry in entries:
        others = [f"{path}={format_value(entry[path])}" for path in fields
                  if path != field and entry[path] is not None]
        lines.setdefault(" ".join([entry["config"], *others]), []).append(entry)
    for panel, metric in zip(axes, metrics):
        for index, (label, members) in enumerate(lines.items()):
            color = f"C{index % 10}"  # a line keeps its colour in every panel
            points = sorted((e[field], *e[metric][:2]) for e in members
                            if e[field] is not None and e[metric][0] is not None)
            flat = [e for e in members if e[field] is None and e[metric][0] is not None]
            if points:
                x, mean, std = zip(*points)
                panel.errorbar(x, mean, yerr=[s or 0.0 for s in std], color=color, marker="o",
                               markersize=4, capsize=3, label=label)
            for e in flat:
                panel.axhline(e[metric][0], color=color, linestyle="--", linewidth=1,
                              label=f"{label} (not swept)")
        panel.set_xscale("log")
        panel.set_xlabel(f"λ ({field})" if field == "loss.weight" else field)
        panel.set_title(METRIC_TITLES.get(metric, metric))
        panel.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def save_lambda_ablation(path: str, rows_or_csv, **options) -> None:
    """`plot_lambda_ablation` into a PNG, on a bare Figure: no pyplot state, works headless."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = options.get("metrics", ("betti_0_error", "betti_1_error", "dice"))
    fig = Figure(figsize=(4.2 * len(metrics), 3.4))
    FigureCanvasAgg(fig)
    plot_lambda_ablation(rows_or_csv, fig.subplots(1, len(metrics), squeeze=False).ravel(), **options)
    fig.savefig(path, dpi=110)
