"""Matching accuracy of every loss's matching on synthetic cases with known answers.

    python benchmarks/matching_accuracy.py [--cases 200] [--seed 0] [--construction T]
        [--figure docs/images/matching_accuracy.png]

For each perturbation kind (`jaxtopo.evaluation.KINDS`) it makes ``--cases`` cases (case k of kind
i from the entropy (seed, i, k), so a run is reproducible and a larger run starts with the same
cases), scores every method (`jaxtopo.evaluation.METHODS`) with `matching_accuracy`, and prints
three tables (method x kind, dimension 0 / dimension 1): the fraction of scored features with
the right partner, the same among the predicted features each method pairs (differs only for
TCLoss), and the fate accuracy (kept or dropped as it should be). Then the machine, the command
and the wall time. The figure: bar charts of the first table, and one mixed case drawn per method
(`jaxtopo.viz.plot_matching_errors`). Definitions: docs/matching-accuracy.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

import numpy as np

from jaxtopo.evaluation import KINDS, METHODS, DimensionAccuracy, make_case, matching_accuracy


def machine() -> str:
    """CPU model and count as lscpu reports them (the platform string where lscpu is missing)."""
    try:
        fields = dict(line.split(":", 1) for line in subprocess.run(["lscpu"], capture_output=True, text=True,
                                                                   check=True).stdout.splitlines() if ":" in line)
        return f"{fields['Model name'].strip()}, {fields['CPU(s)'].strip()} CPUs, {platform.system()}"
    except (OSError, subprocess.CalledProcessError, KeyError):
        return platform.platform()


def run(cases: int, seed: int, construction: str):
    """totals[method][kind][dim] -> DimensionAccuracy summed over the kind's cases."""
    totals = {m: {k: {0: DimensionAccuracy(), 1: DimensionAccuracy()} for k in KINDS} for m in METHODS}
    for kind_index, kind in enumerate(KINDS):
        for k in range(cases):
            case = make_case(kind, (seed, kind_index, k))
            for method in METHODS:
                for dim, counts in matching_accuracy(case, method, construction=construction).items():
                    totals[method][kind][dim] = totals[method][kind][dim] + counts
    return totals


def table(totals, value, title: str) -> str:
    columns = [*KINDS, "all"]
    lines = [title, "| method | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for method in METHODS:
        cells = []
        for kind in columns:
            if kind == "all":
                dims = [sum((totals[method][k][d] for k in KINDS), DimensionAccuracy()) for d in (0, 1)]
            else:
                dims = [totals[method][kind][d] for d in (0, 1)]
            cells.append(" / ".join(f"{value(c):.2f}" for c in dims))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(totals, seed: int, construction: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxtopo.viz import plot_matching_errors

    fig = plt.figure(figsize=(17, 10.5))
    grid = fig.add_gridspec(2, len(METHODS), height_ratios=[1.0, 1.15])
    width = 0.8 / len(METHODS)
    x = np.arange(len(KINDS))
    for dim in (0, 1):
        ax = fig.add_subplot(grid[0, :3] if dim == 0 else grid[0, 3:])
        for i, method in enumerate(METHODS):
            ax.bar(x + (i - (len(METHODS) - 1) / 2) * width, [totals[method][k][dim].fraction for k in KINDS],
                   width, label=method)
        ax.set_xticks(x, [k.replace("_", "\n") for k in KINDS])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("fraction of features with the right partner")
        ax.set_title(f"dimension {dim} ({'components' if dim == 0 else 'loops'})")
        if dim == 0:
            ax.legend(fontsize="small", ncol=2, loc="upper left")
    case = make_case("mixed", (seed, KINDS.index("mixed"), 0))
    for i, method in enumerate(METHODS):
        plot_matching_errors(case, method, 1, construction=construction, ax=fig.add_subplot(grid[1, i]))
    fig.suptitle("Matching accuracy on synthetic cases (top); the first 'mixed' case, loops, each method's "
                 "matching: green right, red dashed wrong, red circles wrong partners (bottom)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=80)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per perturbation kind")
    parser.add_argument("--seed", type=int, default=0, help="first entropy word of every case")
    parser.add_argument("--construction", choices=("T", "V"), default="T", help="cubical construction, all methods")
    parser.add_argument("--figure", default="docs/images/matching_accuracy.png", help="'' for none")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    totals = run(args.cases, args.seed, args.construction)
    elapsed = time.perf_counter() - start
    print(table(totals, lambda c: c.fraction,
                "Features with the right partner (dimension 0 / dimension 1):"))
    print()
    print(table(totals, lambda c: c.acted_fraction,
                "Right among the predicted features the method pairs (dimension 0 / 1):"))
    print()
    print(table(totals, lambda c: c.fate_fraction,
                "Predicted features kept or sent to the diagonal as they should be (dimension 0 / 1):"))
    print()
    n = sum(totals[METHODS[0]][k][d].features for k in KINDS for d in (0, 1))
    print(f"{args.cases} cases per kind, {len(KINDS) * args.cases} in all, {n} scored features per method; "
          f"construction {args.construction}, pad=True")
    print(f"machine: {machine()}; python {platform.python_version()}, numpy {np.__version__}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"wall time: {elapsed:.1f} s (cases and matchings; the figure not included)")
    if args.figure:
        figure(totals, args.seed, args.construction, args.figure)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
