"""Two processes on localhost, two CPU devices each, train one model through experiments/train.py
(JAX's distributed runtime, gloo collectives): the multi-host path, tested on one machine.

Each child process runs train.py's ``main`` with ``--coordinator-address/--num-processes/
--process-id``, counting the images every host-loss call receives. The run is stopped after two
steps and resumed by a second launch, then compared with the same config trained here in one
process on one device.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import jaxtopo
from jaxtopo.training import named_config, override, train_and_evaluate
from jaxtopo.training.distributed import DistributedSetupError, detected_cluster, initialize

from forced_devices import COUNT_HOST_CALLS, child_env

PROCESSES, DEVICES_EACH, BATCH = 2, 2, 4
ROOT = os.path.dirname(os.path.dirname(jaxtopo.__file__))
OVERRIDES = ["model.widths=(4, 8)", "data.size=(24, 24)", "data.num_train=8", "data.num_val=4",
             "data.num_test=4", f"train.batch_size={BATCH}", "train.epochs=2", "train.log_every=1",
             "train.checkpoint_every=2"]

CHILD = COUNT_HOST_CALLS + r"""
import importlib.util
import json
import sys

spec = importlib.util.spec_from_file_location("train", sys.argv[1])
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
status = train.main(sys.argv[2:])

import jax

print("CHILD " + json.dumps({"status": status, "calls": HOST_CALLS, "process": jax.process_index(),
                             "processes": jax.process_count(), "devices": jax.device_count(),
                             "local_devices": jax.local_device_count()}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(workdir, *extra):
    """Starts the processes of one run and waits for all; returns each one's CHILD record and stdout."""
    port = _free_port()
    env = child_env(DEVICES_EACH)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, os.path.join(ROOT, "experiments", "train.py"),
             "--config", "synthetic_sat", "--workdir", str(workdir),
             "--coordinator-address", f"localhost:{port}", "--num-processes", str(PROCESSES),
             "--process-id", str(index), *OVERRIDES, *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for index in range(PROCESSES)]
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=600)
        assert child.returncode == 0, stderr[-4000:]
        line = next(line for line in stdout.splitlines() if line.startswith("CHILD "))
        outputs.append((json.loads(line[len("CHILD "):]), stdout))
    return outputs


def logged_losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [(r["step"], r["loss"], r["topological"]) for r in map(json.loads, f) if "loss" in r]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_process")
    stopped = launch(root / "run", "train.stop_after_steps=2")
    stopped_log = logged_losses(root / "run")
    resumed = launch(root / "run")
    # the reference: this process, one device
    reference = train_and_evaluate(override(named_config("synthetic_sat"), OVERRIDES + ["train.devices=1"]),
                                   str(root / "reference"))
    return {"root": root, "stopped": stopped, "stopped_log": stopped_log, "resumed": resumed,
            "reference": reference}


def test_every_process_sees_all_devices_and_only_process_0_reports(runs):
    for outputs in (runs["stopped"], runs["resumed"]):
        records = [record for record, _ in outputs]
        assert [r["process"] for r in records] == list(range(PROCESSES))
        assert all(r["status"] == 0 and r["processes"] == PROCESSES for r in records)
        assert all(r["devices"] == PROCESSES * DEVICES_EACH and r["local_devices"] == DEVICES_EACH
                   for r in records)
    (_, main_out), (_, other_out) = runs["resumed"]
    assert "run folder:" in main_out and "run folder:" not in other_out
    assert "step" in main_out and "step" not in other_out.replace("CHILD", "")


def test_each_device_hands_its_own_images_to_the_host_loss(runs):
    steps_after_resume = 2
    for record, _ in runs["resumed"]:
        # once per local device per step, with the global batch split over the 4 devices
        assert record["calls"] == [BATCH // (PROCESSES * DEVICES_EACH)] * (DEVICES_EACH * steps_after_resume)


def test_the_run_writes_one_results_json_and_resumes_where_it_stopped(runs):
    run = runs["root"] / "run"
    assert sorted(os.listdir(run)) == ["checkpoints", "config.json", "metrics.jsonl", "predictions.png",
                                       "results.json"]
    with open(run / "results.json") as f:
        results = json.load(f)
    assert results["devices"] == PROCESSES * DEVICES_EACH and results["processes"] == PROCESSES
    assert [step for step, *_ in runs["stopped_log"]] == [1, 2]
    logged = logged_losses(run)
    assert [step for step, *_ in logged] == [1, 2, 3, 4]  # steps 1-2 kept, 3-4 from the resumed launch
    assert logged[:2] == runs["stopped_log"]


def test_two_processes_train_as_one_device_does(runs):
    reference = logged_losses(runs["root"] / "reference")
    logged = logged_losses(runs["root"] / "run")
    np.testing.assert_allclose(np.array(logged), np.array(reference), rtol=1e-4)
    with open(runs["root"] / "run" / "results.json") as f:
        results = json.load(f)
    for metric in ("dice", "betti_0_error", "betti_matching_error"):
        assert results[metric] == pytest.approx(runs["reference"][metric], rel=1e-4, abs=1e-6)


def test_incomplete_command_line_is_refused_before_jax_starts():
    with pytest.raises(DistributedSetupError, match="missing --num-processes, --process-id"):
        initialize("localhost:1234")
    with pytest.raises(DistributedSetupError, match="from 0 to --num-processes - 1 = 1"):
        initialize("localhost:1234", 2, 2)


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "1"}, None),  # one task
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2"}, "slurm"),
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, None),  # sbatch script outside srun: no job step
    ({"OMPI_MCA_orte_hnp_uri": "1.2.3.4:5", "OMPI_COMM_WORLD_SIZE": "4"}, "openmpi"),
    ({"OMPI_MCA_orte_hnp_uri": "1.2.3.4:5", "OMPI_COMM_WORLD_SIZE": "1"}, None),
    ({"TPU_WORKER_HOSTNAMES": "localhost"}, None),  # a one-host TPU (Colab)
    ({"TPU_WORKER_HOSTNAMES": "t1,t2,t3,t4"}, "tpu-pod"),
])
def test_cluster_launches_are_detected_only_for_several_processes(monkeypatch, env, expected):
    for name in list(os.environ):
        if name.startswith(("SLURM_", "OMPI_", "TPU_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert detected_cluster() == expected
