"""Re-evaluate trained runs: python experiments/evaluate.py RUN_DIR [RUN_DIR ...] [--split test]

Restores each run's best-validation model (else its latest), predicts the split again and prints
a markdown table, one row per run: accuracy, Dice, clDice, beta_0 error, beta_1 error and the
Betti-matching error (dimension 0, dimension 1, total), the metric keys of results.json. For
datasets whose images are cut into several patches these are per patch (P), and full_images and
the same metrics with _full appended (dice_full, ...) follow: those of the split's patches
stitched back into full images (F; empty cells for runs without them). --data-dir reads the runs'
dataset from another folder; --csv FILE also writes the rows, at full precision, as CSV.

Exit status: 0 done; 2 a path is not a run folder or has no checkpoint; 1 the dataset is missing
or unreadable. Only a bug prints a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

TEXT_COLUMNS = ("run", "config", "split")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders of experiments/train.py")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--data-dir", default=None,
                        help="dataset folder (default: the one each run was trained with)")
    parser.add_argument("--csv", default=None, metavar="FILE", help="also write the rows to FILE as CSV")
    args = parser.parse_args(argv)
    if args.csv and not os.path.isdir(os.path.dirname(os.path.abspath(args.csv))):
        parser.error(f"--csv {args.csv}: its folder does not exist")

    from jaxtopo.training import read_run_config
    from jaxtopo.training.config import user_error_status
    from jaxtopo.training.sweep import markdown_table, write_csv

    try:
        # every folder is checked before the first, slow, evaluation
        configs = [read_run_config(run_dir) for run_dir in args.run_dirs]
        from jaxtopo.training import evaluate_run

        rows = []
        for run_dir, config in zip(args.run_dirs, configs):
            if args.data_dir:
                config.data.data_dir = args.data_dir
            metrics = evaluate_run(config, run_dir, split=args.split)
            rows.append({"run": run_dir, "config": config.get("name", ""), "split": args.split, **metrics})
    except Exception as error:
        status = user_error_status(error)
        if status is None:
            raise
        parser.exit(status, f"{parser.prog}: error: {error}\n")
    print(markdown_table(rows, text_columns=TEXT_COLUMNS))
    if args.csv:
        write_csv(args.csv, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
