"""One figure comparing matchings of the same prediction/target pair (e.g. spatial vs plain)."""

from __future__ import annotations

from jaxtopo.host.image_loss import TopoLossConfig, match_image
from jaxtopo.viz._canvas import figure_or_new
from jaxtopo.viz.diagrams import plot_persistence_matching
from jaxtopo.viz.pixels import plot_matched_creators


def plot_matching_comparison(likelihood, target, configs: "dict[str, TopoLossConfig]", *, dim: int = 1,
                             min_persistence: float = 0.0, fig=None):
    """A row per named config: the matching in image space (creators joined on the likelihood,
    target outlined) and in the persistence diagrams. Returns the Figure.

    ``configs`` maps a row title to a `jaxtopo.host.TopoLossConfig`, e.g.
    ``{"SATLoss": TopoLossConfig(), "Wasserstein": TopoLossConfig(spatial=False)}``.
    """
    if not configs:
        raise ValueError("configs is empty: give at least one {title: TopoLossConfig}")
    fig = figure_or_new(fig, figsize=(9.0, 4.4 * len(configs)))
    axes = fig.subplots(len(configs), 2, squeeze=False)
    for (name, config), (image_ax, diagram_ax) in zip(configs.items(), axes):
        if dim not in config.dims:
            raise ValueError(f"config {name!r} has dims {config.dims}, which lack dimension {dim}")
        result = match_image(likelihood, target, config)
        plot_matched_creators(likelihood, result, dim, target=target, padded=config.pad,
                              min_persistence=min_persistence, ax=image_ax,
                              title=f"{name}\nH{dim} creators, matched pairs joined")
        plot_persistence_matching(result, dim, min_persistence=min_persistence, ax=diagram_ax, legend=False,
                                  title=f"{name}\nH{dim} diagrams, matching cost {result.matchings[dim].value:.3f}")
        for ax in (image_ax, diagram_ax):  # below the panel, where it hides nothing
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if ax is diagram_ax else -0.02), ncol=2,
                      fontsize="small", frameon=False)
    fig.tight_layout()
    return fig
