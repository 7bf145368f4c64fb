"""Train a U-Net with a topological loss: python experiments/train.py --config synthetic_sat

Intentionally short: the loop lives in `jaxtopo.training.train_and_evaluate`, importable from a
notebook. Overrides: any config field as field.path=value, e.g. train.epochs=5 loss.weight=1e-2.
Rerunning the same command with the same --workdir resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="synthetic_sat", help="a named config, <dataset>_<loss> (jaxtopo.training.named_configs)")
    parser.add_argument("--workdir", default=None, help="run folder (default: a new one under ./runs/)")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default: $JAXTOPO_DATA, else ./data)")
    parser.add_argument("--quick", action="store_true", help="shrink the run to about a CPU-minute")
    parser.add_argument("overrides", nargs="*", help="field.path=value")
    args = parser.parse_args(argv)

    from jaxtopo.training import named_config, override, quick_config, train_and_evaluate

    config = named_config(args.config)
    if args.quick:
        config = quick_config(config)
    config = override(config, args.overrides)
    if args.data_dir:
        config.data.data_dir = args.data_dir
    workdir = args.workdir or os.path.join(
        "runs", f"{args.config}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    results = train_and_evaluate(config, workdir)
    print(json.dumps(results, indent=2))
    print(f"run folder: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
