"""Train a U-Net with a topological loss: python experiments/train.py --config synthetic_sat

Intentionally short: the loop lives in `jaxtopo.training.train_and_evaluate`, importable from a
notebook. Overrides: any config field as field.path=value, e.g. train.epochs=5 loss.weight=1e-2.
Rerunning the same command with the same --workdir resumes from its last checkpoint; a resumed
run may only increase train.epochs and change train.stop_after_steps, log_every,
checkpoint_every, eval_every_epochs, devices and data.data_dir (--data-dir); any other difference
from the folder's config.json is refused.

Several processes (hosts) train one model when started with --coordinator-address,
--num-processes and --process-id, or by srun (SLURM), mpirun (Open MPI) or on a Cloud TPU pod
slice, which JAX detects; every process runs this same command, and only process 0 prints and
writes files besides the checkpoints. See README's "Several hosts".

Exit status: 0 done; 2 the command is wrong (unknown config, bad override, a --workdir that
holds another run or other files); 1 the dataset is missing or unreadable. Only a bug prints a
traceback.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys


def main(argv=None) -> int:
    from jaxtopo.training import named_configs

    parser = argparse.ArgumentParser(
        prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0],
        epilog=named_configs.describe(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="synthetic_sat",
                        help="a named config, <dataset>_<loss> (see below), or a .py file defining get_config()")
    parser.add_argument("--list-configs", action="store_true", help="print every named config and exit")
    parser.add_argument("--workdir", default=None, help="run folder (default: a new one under ./runs/)")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default: $JAXTOPO_DATA, else ./data)")
    parser.add_argument("--quick", action="store_true", help="shrink the run to about a CPU-minute")
    distributed = parser.add_argument_group(
        "several processes (multi-host)",
        "give all three in every process (process ids 0 .. N-1), or none: srun, mpirun and Cloud TPU "
        "pods are detected")
    distributed.add_argument("--coordinator-address", default=None, metavar="HOST:PORT",
                             help="address of process 0, where the others connect")
    distributed.add_argument("--num-processes", type=int, default=None, metavar="N",
                             help="how many processes train together")
    distributed.add_argument("--process-id", type=int, default=None, metavar="I",
                             help="this process's number, from 0 to N-1")
    parser.add_argument("overrides", nargs="*", help="field.path=value")
    args = parser.parse_args(argv)

    from jaxtopo.training import config_names, load_config, override, quick_config
    from jaxtopo.training.config import user_error_status

    if args.list_configs:
        print("\n".join(config_names()))
        return 0
    try:
        config = load_config(args.config)
        if args.quick:
            config = quick_config(config)
        config = override(config, args.overrides)
        if args.data_dir:
            config.data.data_dir = args.data_dir
        from jaxtopo.training import distributed

        # before anything else touches JAX's devices
        distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
        workdir = args.workdir or os.path.join("runs", f"{config.name}-{_start_time()}")
        from jaxtopo.training import train_and_evaluate

        results = train_and_evaluate(config, workdir)
    except Exception as error:
        status = user_error_status(error)
        if status is None:
            raise
        parser.exit(status, f"{parser.prog}: error: {error}\n")
    if distributed.is_main_process():
        print(json.dumps(results, indent=2))
        print(f"run folder: {workdir}")
    return 0


def _start_time() -> str:
    """The run's start, YYYYmmdd-HHMMSS, as process 0 read it: every process must name the same
    default run folder."""
    import jax
    import numpy as np

    stamp = np.int64(datetime.datetime.now().strftime("%Y%m%d%H%M%S"))
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        stamp = multihost_utils.broadcast_one_to_all(stamp)
    digits = str(int(stamp))
    return f"{digits[:8]}-{digits[8:]}"


if __name__ == "__main__":
    sys.exit(main())
