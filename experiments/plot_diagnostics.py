"""Plots `experiments/diagnose.py` measurements of several runs side by side: one panel per
measurement, one line per run, against the training step.

    python experiments/plot_diagnostics.py "BCE=runs/diagnose/bce" "SATLoss=runs/diagnose/sat" \\
        --keys sat_share@0.0001 sat_accuracy_dim1 wt_accuracy_dim1 val_betti_0_error --out diagnostics.png

Keys are the names in each folder's diagnostics.jsonl (``<loss>_share@<lambda>``,
``<loss>_accuracy_dim<0|1>``, ``<loss>_cosine``, ``val_dice``, ...); without ``--keys`` every one
is plotted. Exit status 2: a folder without diagnostics.jsonl, or a key no folder has.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=FOLDER", help="diagnose.py output folders")
    parser.add_argument("--keys", nargs="+", default=None, help="measurements to plot (default: all)")
    parser.add_argument("--columns", type=int, default=3, help="panels per row")
    parser.add_argument("--out", required=True, help="the figure's path (.png, .pdf, .svg)")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        label, sep, folder = item.rpartition("=")  # the last "=": a label may hold one (λ=1e-4)
        if not sep or not label or not folder:
            parser.exit(2, f"{parser.prog}: error: runs are LABEL=FOLDER, got {item!r}\n")
        runs[label] = folder

    from jaxtopo.training.figures import save_curves_figure

    try:
        save_curves_figure(args.out, runs, args.keys, filename="diagnostics.jsonl", columns=args.columns)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
