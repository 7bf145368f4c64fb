"""Several processes (hosts) training one model: JAX's multi-controller runtime.

Every process runs the same program on its own devices; `jax.distributed.initialize` connects
them, after which `jax.devices()` lists the devices of all processes and a jitted step over a
mesh of them runs as one computation (gradients summed across hosts by XLA's collectives). It
must run before anything else touches JAX's devices, so experiments/train.py calls
`initialize` first thing.

Where the processes come from:
- the command line: ``--coordinator-address HOST:PORT --num-processes N --process-id I``
  (all three, the same address and count in every process);
- else the cluster, detected by JAX itself: a SLURM job step with more than one task
  (``srun``), an Open MPI launch of more than one process (``mpirun``), a Cloud TPU pod slice
  with more than one worker. A single-task job or a one-host TPU (Colab's v2-8) stays a plain
  single process: it needs no coordinator.

On CPUs the collectives between processes go through gloo (``jax_cpu_collectives_implementation``),
so a multi-process run can be tried, and is tested, with several processes on one machine.
"""

from __future__ import annotations

import os

import jax

from jaxtopo.training.config import ConfigError


class DistributedSetupError(ConfigError):
    """The command line's multi-process arguments are incomplete or inconsistent."""


def _env_int(name: str) -> int:
    try:
        return int(os.environ.get(name, "1"))
    except ValueError:
        return 1


def detected_cluster() -> str | None:
    """The launcher that started this process among others ("slurm", "openmpi", "tpu-pod"), or
    None for a process that runs alone. Only launches of more than one process count."""
    if "SLURM_JOB_ID" in os.environ and "SLURM_STEP_NODELIST" in os.environ and _env_int("SLURM_NTASKS") > 1:
        return "slurm"
    if "OMPI_MCA_orte_hnp_uri" in os.environ and _env_int("OMPI_COMM_WORLD_SIZE") > 1:
        return "openmpi"
    workers = os.environ.get("TPU_PROCESS_ADDRESSES") or os.environ.get("TPU_WORKER_HOSTNAMES") or ""
    if len([host for host in workers.split(",") if host.strip()]) > 1:
        return "tpu-pod"
    return None


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> str | None:
    """Joins this process to the others of its run; returns how ("command line" or the detected
    cluster), or None when it runs alone and nothing was initialised.

    Call it before any other JAX call. With no arguments it looks for a cluster launch
    (`detected_cluster`); with arguments all three must be given."""
    given = {"--coordinator-address": coordinator_address, "--num-processes": num_processes,
             "--process-id": process_id}
    if any(value is not None for value in given.values()):
        missing = [flag for flag, value in given.items() if value is None]
        if missing:
            raise DistributedSetupError(f"a multi-process run needs --coordinator-address, --num-processes "
                                        f"and --process-id together; missing {', '.join(missing)}")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise DistributedSetupError(f"--process-id must be from 0 to --num-processes - 1 = "
                                        f"{num_processes - 1}, got {process_id}")
        how = "command line"
    else:
        how = detected_cluster()
        if how is None:
            return None
    # gloo carries CPU collectives between processes (jax's default in recent versions; older
    # ones have none, and a multi-process CPU step would fail on its first all-reduce)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if how == "command line":
        jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                                   process_id=process_id)
    else:
        jax.distributed.initialize()  # JAX reads the launcher's environment
    return how


def is_main_process() -> bool:
    """Whether this process writes the run's files and prints its progress (process 0)."""
    return jax.process_index() == 0
