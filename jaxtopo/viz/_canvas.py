"""Where a plot draws: the caller's Axes/Figure, else a new pyplot one.

pyplot is imported only when a plot is asked for without a target, so code that passes its own
`matplotlib.figure.Figure` (the trainer, which may run headless or in a notebook where it must not
pop up figures) never touches pyplot's global state or selects a backend.
"""

from __future__ import annotations


def axes_or_new(ax, figsize=(4.5, 4.5)):
    """``ax`` itself, or the Axes of a new pyplot figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def figure_or_new(fig, figsize):
    """``fig`` itself, or a new pyplot figure of ``figsize`` inches."""
    if fig is not None:
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)
