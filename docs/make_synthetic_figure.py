"""Draws the embedded benchmarks: python docs/make_synthetic_figure.py [output.png]

docs/images/synthetic_benchmarks.png: for each of synthetic_roads, synthetic_cells and
synthetic_vessels, three test images of ``split_...(seed=0)`` at 96 x 96, each as image | label.
Deterministic: rerunning it gives the same picture.
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxtopo.data.synthetic_cells import split_synthetic_cells  # noqa: E402
from jaxtopo.data.synthetic_roads import split_synthetic_roads  # noqa: E402
from jaxtopo.data.synthetic_vessels import split_synthetic_vessels  # noqa: E402

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
BENCHMARKS = {"synthetic_roads": split_synthetic_roads, "synthetic_cells": split_synthetic_cells,
              "synthetic_vessels": split_synthetic_vessels}
PER_ROW = 3  # samples per benchmark


def make_figure(path: str) -> str:
    fig, axes = plt.subplots(len(BENCHMARKS), 2 * PER_ROW, figsize=(2 * PER_ROW * 1.6, len(BENCHMARKS) * 1.75))
    for row, (name, split) in enumerate(BENCHMARKS.items()):
        images, labels = split(0, 0, 0, PER_ROW, size=(96, 96))["test"]
        for k in range(PER_ROW):
            image = images[k]
            axes[row, 2 * k].imshow(image[..., 0] if image.shape[-1] == 1 else image,
                                    cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[row, 2 * k + 1].imshow(labels[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[row, 2 * k].set_title(f"{name.removeprefix('synthetic_')} {k}: image", fontsize=7)
            axes[row, 2 * k + 1].set_title("label", fontsize=7)
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else os.path.join(IMAGES, "synthetic_benchmarks.png")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    print(make_figure(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
