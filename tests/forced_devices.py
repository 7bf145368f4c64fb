"""Run a test script in a subprocess that sees several CPU devices, counting the host calls.

XLA_FLAGS must force the device count before jax is imported, and the test process already has
jax with one device, so multi-device checks run in a child Python. The child starts with
PRELUDE: it checks the device count and wraps the batch function that every topological loss's
callback calls, so ``HOST_CALLS`` lists the images each host call received. The script prints
one line ``RESULTS <json>``, which `run_on_devices` returns parsed.
"""

import json
import os
import subprocess
import sys

import jaxtopo

# wraps the batch function that every topological loss's callback calls; touches no device, so a
# child that must start jax.distributed first can use it too (tests/test_multi_process.py)
COUNT_HOST_CALLS = r"""
import numpy as np

from jaxtopo.losses import topological

# images each host call received (list appends are atomic; device callbacks may run at once)
HOST_CALLS = []
_batch_loss_and_grad = topological.batch_loss_and_grad


def counting_batch_loss_and_grad(likelihoods, targets, *args, **kwargs):
    HOST_CALLS.append(int(np.shape(likelihoods)[0]))
    return _batch_loss_and_grad(likelihoods, targets, *args, **kwargs)


topological.batch_loss_and_grad = counting_batch_loss_and_grad
"""

PRELUDE = COUNT_HOST_CALLS + r"""
import jax

DEVICES = {devices}
assert jax.device_count() == DEVICES, jax.devices()
"""


def child_env(devices: int) -> dict:
    """This process's environment for a child Python with ``devices`` CPU devices that imports
    the jaxtopo this test imports."""
    root = os.path.dirname(os.path.dirname(jaxtopo.__file__))
    return dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
    )


def run_on_devices(script: str, devices: int, *args: str, timeout: int = 600) -> tuple[dict, str]:
    """(the script's RESULTS json, its stdout), run after PRELUDE with ``devices`` CPU devices."""
    env = child_env(devices)
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE.format(devices=devices) + script, *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line[len("RESULTS "):]), done.stdout
