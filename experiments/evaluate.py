"""Re-evaluate a trained run: python experiments/evaluate.py RUN_DIR [--split test]

Restores the run's best-validation model (else its latest), predicts the split again and prints a
Table-1 style row: accuracy, Dice, clDice, beta_0 error, beta_1 error, and the Betti-matching
error (dimension 0, dimension 1, total), the keys of results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    args = parser.parse_args(argv)

    from jaxtopo.training.config import Config
    from jaxtopo.training.loop import evaluate_run

    config_path = os.path.join(args.run_dir, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{args.run_dir} is not a run folder: it has no config.json")
    with open(config_path) as f:
        config = Config(json.load(f))
    metrics = evaluate_run(config, args.run_dir, split=args.split)
    columns = ("accuracy", "dice", "cldice", "betti_0_error", "betti_1_error",
               "betti_matching_error_0", "betti_matching_error_1", "betti_matching_error")
    widths = [max(13, len(c)) for c in columns]
    print(f"| {'config':<22} | " + " | ".join(f"{c:>{w}}" for c, w in zip(columns, widths)) + " |")
    print(f"| {config.get('name', ''):<22} | "
          + " | ".join(f"{metrics[c]:>{w}.4f}" for c, w in zip(columns, widths)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
