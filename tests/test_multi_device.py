"""The trainer on several devices: the batch split over a mesh gives the losses of one device.

Four CPU devices must be forced through XLA_FLAGS before jax is imported, and this test process
already has jax with one device, so the runs happen in one subprocess that prints what it
measured as JSON; the tests below check it. The subprocess counts host calls by wrapping the
batch function that the topological loss's callback calls.
"""

import numpy as np
import pytest

from forced_devices import run_on_devices

DEVICES = 4
BATCH = 4

SCRIPT = r"""
import json
import os
import sys

import jax
import numpy as np

from jaxtopo.training import ConfigError, named_config, override, train_and_evaluate

BATCH, OUT = {batch}, sys.argv[1]


def tiny(*changes):
    config = named_config("synthetic_sat")
    return override(config, [
        "model.widths=(4, 8)", "data.size=(24, 24)", "data.num_train=8", "data.num_val=4",
        "data.num_test=4", f"train.batch_size={{BATCH}}", "train.epochs=2", "train.log_every=1",
        "train.checkpoint_every=2",
    ] + list(changes))


def logged(name):
    with open(os.path.join(OUT, name, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if "loss" in r]


def run(name, *changes):
    HOST_CALLS.clear()
    outcome = train_and_evaluate(tiny(*changes), os.path.join(OUT, name))
    return {{"outcome": outcome, "calls": list(HOST_CALLS), "logged": logged(name)}}


results = {{
    "all": run("all"),
    "one": run("one", "train.devices=1"),
    "stopped": run("resumed", "train.stop_after_steps=2"),
    "resumed": run("resumed"),
}}
for name, changes in {{"indivisible": ["train.batch_size=6"], "too_many": ["train.devices=5"]}}.items():
    try:
        train_and_evaluate(tiny(*changes), os.path.join(OUT, name))
        results[name] = None
    except ConfigError as error:
        results[name] = {{"error": str(error), "folder_made": os.path.exists(os.path.join(OUT, name))}}

print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_on_devices(SCRIPT.format(batch=BATCH), DEVICES, str(out))


def values(records, key):
    return [record[key] for record in records]


def test_four_devices_log_the_losses_of_one(measured):
    results, _ = measured
    four, one = results["all"]["logged"], results["one"]["logged"]
    assert values(four, "step") == values(one, "step") == [1, 2, 3, 4]
    for key in ("loss", "bce", "topological"):
        # the global mean sums in another order across devices: equal up to float32 rounding
        np.testing.assert_allclose(values(four, key), values(one, key), rtol=1e-4, err_msg=key)
    assert min(values(four, "topological")) > 0, "a zero topological term would make this vacuous"


def test_each_device_hands_the_host_its_own_images(measured):
    results, _ = measured
    steps = results["all"]["outcome"]["steps"]
    assert results["all"]["calls"] == [BATCH // DEVICES] * (DEVICES * steps)
    assert results["one"]["calls"] == [BATCH] * steps


def test_results_and_startup_line_name_the_devices_and_processes(measured):
    results, stdout = measured
    assert (results["all"]["outcome"]["devices"], results["all"]["outcome"]["processes"]) == (DEVICES, 1)
    assert (results["one"]["outcome"]["devices"], results["one"]["outcome"]["processes"]) == (1, 1)
    assert f"on {DEVICES} cpu devices (1 process)" in stdout
    assert "on 1 cpu device (1 process)" in stdout


def test_a_stopped_run_resumes_on_four_devices_to_the_same_losses(measured):
    results, _ = measured
    assert results["stopped"]["outcome"] == {"stopped_at": 2}
    resumed, straight = results["resumed"]["logged"], results["all"]["logged"]
    assert values(resumed, "step") == values(straight, "step")
    # the same computation on the same device count: only a wrong restore could change a bit
    assert values(resumed, "loss") == values(straight, "loss")
    assert results["resumed"]["outcome"]["dice"] == results["all"]["outcome"]["dice"]


def test_a_batch_the_devices_cannot_share_is_refused_before_the_folder_is_made(measured):
    results, _ = measured
    refused = results["indivisible"]
    assert refused is not None and not refused["folder_made"]
    assert "train.batch_size is 6 images" in refused["error"] and f"{DEVICES} devices" in refused["error"]
    too_many = results["too_many"]
    assert too_many is not None and not too_many["folder_made"]
    assert "train.devices" in too_many["error"] and "5" in too_many["error"] and f"{DEVICES}" in too_many["error"]
