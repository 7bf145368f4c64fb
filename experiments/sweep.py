"""Train configs x seeds x folds x a grid of fields, then tabulate mean ± std:
python experiments/sweep.py --configs synthetic_bce synthetic_sat --seeds 0 1 2 --grid loss.weight=1e-4,1e-3,1e-2

Each run trains in its own folder under --out, named from its config, grid values, seed and fold
(e.g. synthetic_sat-loss.weight=0.001-seed1), one run after another in this process. Rerunning
the same command skips the finished runs (a folder with results.json), resumes the half-finished
ones, and only rewrites the reports when all have finished; more seeds or grid values with the
same --out train just the new runs. --dry-run lists the runs and which are finished.

A grid field applies only to the configs that use it (and to those its CONFIGS: prefix names): loss.weight skips configs without a
weighted loss term (BCE alone, soft Dice alone), which run once per seed as the baseline row;
--folds skips datasets without folds (the generated ones, Roads, CREMI).

--select-on-validation chooses each config's grid point on the validation split instead of
training all of them with every seed: the first seed trains the whole grid, each config keeps the
point with the lowest validation beta_0 error among those within 0.01 of its best validation Dice,
and the other seeds train that point only (jaxtopo/training/selection.py). results.md then has
one row per config and the validation table behind each choice (also in selection.md).

Writes to --out: results.md (the command, the machine, the summed wall time, then mean ± std over
seeds and folds per config and grid point: Dice, clDice, beta_0 error, beta_1 error,
Betti-matching error, accuracy, n; for datasets of several patches per image, the SATLoss paper's
Table 2 layout: accuracy, those per patch (P), then per stitched full image (F)), results.csv (one
row per run, full precision), timings.json, and lambda_ablation.png when loss.weight takes two
values or more.

Exit status: 0 done; 2 the command is wrong (unknown config, bad override or grid, an --out whose
run folders hold other configs); 1 the dataset is missing or unreadable, or a run diverged (the
others still train and are tabulated). Only a bug prints a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys


def _split_overrides(args) -> None:
    """``--configs a b x.y=1``: nargs="+" options swallow the positional overrides that follow
    them; an item with "=" is an override (config names and seeds never hold one)."""
    for name in ("configs", "seeds", "folds"):
        values = getattr(args, name)
        if values:
            args.overrides += [v for v in values if "=" in v]
            setattr(args, name, [v for v in values if "=" not in v])


def _integers(parser, flag: str, values):
    try:
        return [int(v) for v in values] if values else values
    except ValueError:
        parser.error(f"{flag} takes whole numbers, got {' '.join(values)}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:4]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", required=True, metavar="CONFIG",
                        help="named configs (train.py --list-configs) or .py files")
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2"], metavar="SEED", help="default: 0 1 2")
    parser.add_argument("--folds", nargs="+", default=None, metavar="FOLD",
                        help="data.fold values, for datasets with folds (default: each config's own)")
    parser.add_argument("--grid", action="append", default=[], metavar="[CONFIGS:]FIELD=V1,V2,...",
                        help="a field and its values; repeat for the product of several fields. "
                             "CONFIGS (names or losses, comma-separated: sat,wt:loss.weight=...) limits "
                             "it to those configs, so one field can have other values elsewhere")
    parser.add_argument("--out", default=None,
                        help="sweep folder (default: runs/sweep-<configs>[-quick][-<hash of the overrides>])")
    parser.add_argument("--quick", action="store_true", help="shrink every run as train.py --quick does")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default: $JAXTOPO_DATA, else ./data)")
    parser.add_argument("--select-on-validation", action="store_true",
                        help="choose each config's grid point on the validation split with the first seed, "
                             "then train the other seeds at that point only")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and which are finished, train nothing")
    parser.add_argument("overrides", nargs="*", metavar="field.path=value", help="applied to every run")
    args = parser.parse_args(argv)
    _split_overrides(args)
    if not args.configs:
        parser.error("--configs names no config")
    seeds, folds = _integers(parser, "--seeds", args.seeds), _integers(parser, "--folds", args.folds)

    from jaxtopo.training import sweep
    from jaxtopo.training.config import user_error_status

    out = args.out or sweep.default_out(args.configs, quick=args.quick, overrides=args.overrides)
    try:
        runs = sweep.expand(args.configs, seeds=seeds, folds=folds, grid=[sweep.parse_grid(g) for g in args.grid],
                            overrides=args.overrides, quick=args.quick, data_dir=args.data_dir)
        command = sweep.command_line("experiments/sweep.py", argv)
        if args.select_on_validation and not args.dry_run:
            from jaxtopo.training.selection import run_selected_sweep

            _, outcomes, paths = run_selected_sweep(runs, out, command=command)
            failed = {name: message for outcome in outcomes for name, message in outcome.failed.items()}
            wall_s = sum(outcome.wall_s for outcome in outcomes)
        else:
            outcome = sweep.run_sweep(runs, out, dry_run=args.dry_run)
            if args.dry_run:
                return 0
            paths = sweep.write_reports(out, runs, command=command)
            failed, wall_s = outcome.failed, outcome.wall_s
    except Exception as error:
        status = user_error_status(error)
        if status is None:
            raise
        parser.exit(status, f"{parser.prog}: error: {error}\n")
    with open(paths[0]) as f:
        print(f.read())
    print(f"sweep folder: {out} ({', '.join(os.path.basename(p) for p in paths)}); "
          f"this command took {wall_s:.1f} s")
    if failed:
        parser.exit(1, f"{parser.prog}: error: runs that diverged are left out ({len(failed)}): "
                       f"{', '.join(failed)}; lower their loss weight or learning rate\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
