"""The run folder's predictions.png (input | label | prediction for a few test images) and curve
figures (diagnose.py's diagnostics.png).

Drawn with `jaxtopo.viz` on a bare `matplotlib.figure.Figure` (Agg canvas), never through
pyplot: the trainer may run headless, in a thread or inside a notebook, where a pyplot figure
would pick a backend, pop up, or stay alive in pyplot's registry.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from jaxtopo.viz.curves import plot_training_curves
from jaxtopo.viz.predictions import plot_predictions


def save_prediction_figure(path: str, images, labels, probs, *, rows: int = 4) -> None:
    fig = Figure()
    FigureCanvasAgg(fig)
    plot_predictions(images, labels, probs, rows=rows, fig=fig)
    fig.savefig(path, dpi=110)


def save_curves_figure(path: str, runs, keys=None, *, filename: str = "metrics.jsonl", columns: int = 3) -> None:
    """Curves of ``{label: folder}`` runs (`jaxtopo.viz.plot_training_curves`), e.g. the
    measurements of `experiments/diagnose.py` with ``filename="diagnostics.jsonl"``."""
    fig = Figure()
    FigureCanvasAgg(fig)
    plot_training_curves(runs, keys, fig=fig, columns=columns, filename=filename)
    fig.savefig(path, dpi=100, metadata={"Software": None})
