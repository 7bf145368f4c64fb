"""Regenerates the README's pictures: python docs/make_figures.py

docs/images/matching.png: on `jaxtopo.viz.matching_demo_pair` (a prediction with a weak correct
loop and a slightly stronger spurious one), the H1 matching of SATLoss (spatial) and of the plain
Wasserstein loss, in image space and in the persistence diagrams. Deterministic: rerunning it
gives the same picture.
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed

from jaxtopo.host import TopoLossConfig  # noqa: E402
from jaxtopo.viz import matching_demo_pair, plot_matching_comparison  # noqa: E402

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")


def make_matching_figure(path: str) -> str:
    likelihood, target = matching_demo_pair()
    configs = {"SATLoss (spatial)": TopoLossConfig(spatial=True),
               "Wasserstein (plain)": TopoLossConfig(spatial=False)}
    fig = plot_matching_comparison(likelihood, target, configs, dim=1)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def main(argv=None) -> int:
    os.makedirs(IMAGES, exist_ok=True)
    print(make_matching_figure(os.path.join(IMAGES, "matching.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
