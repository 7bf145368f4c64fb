"""benchmarks/bench_train.py's measurement on a tiny run: the shape and sanity of its numbers.

Nothing here asserts that a step is fast: the machine's speed is not the code's to test.
"""

import importlib.util
import os

import pytest

PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "bench_train.py")
TINY = ["model.widths=(4,)", "data.size=(16, 16)", "data.num_train=4", "data.num_val=1", "data.num_test=1",
        "train.batch_size=2"]


@pytest.fixture(scope="module")
def bench():
    # benchmarks/ is not a package: load the script as a module
    spec = importlib.util.spec_from_file_location("bench_train", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result(bench):
    return bench.measure("synthetic", ["bce", "sat"], devices=1, steps=2, warmup=2, overrides=TINY)


def test_measures_every_step_of_every_loss(result):
    assert result["devices"] == 1 and not result["retraced"]
    assert result["data"] == {"dataset": "synthetic", "image": [16, 16, 3], "batch": 2, "widths": [4]}
    assert result["machine"]["backend"] and result["machine"]["cores"] >= 1
    assert set(result["losses"]) == {"bce", "sat"}
    bce, sat = result["losses"]["bce"], result["losses"]["sat"]
    assert (bce["objective"], sat["objective"]) == ("bce", "bce + 0.001 x sat")
    assert (bce["weight"], sat["weight"]) == (0.0, 0.001)
    for run in (bce, sat):
        assert len(run["step_s"]) == len(run["host_s"]) == len(run["host_calls"]) == 2
        assert run["first_step_s"] > 0 and all(t > 0 for t in run["step_s"])
        # host time is inside the step it was measured in
        assert all(0 <= host <= step for host, step in zip(run["host_s"], run["step_s"]))
    # only the topological loss calls the host, once per device and step
    assert bce["host_s"] == [0.0, 0.0] and bce["host_calls"] == [0, 0]
    assert all(t > 0 for t in sat["host_s"]) and sat["host_calls"] == [1, 1]


def test_summary_and_tables(bench, result):
    runs = {1: result, 2: {"skipped": "cpu has 1 device"}}
    summary = bench.summarize(runs)
    assert list(summary) == [1]
    bce, sat = summary[1]["bce"], summary[1]["sat"]
    assert bce["to_bce"] == 1.0 and bce["speedup"] == 1.0 and sat["speedup"] == 1.0
    assert sat["to_bce"] == pytest.approx(sat["step_ms"] / bce["step_ms"])
    assert bce["host_ms"] == 0.0 and bce["device_ms"] == bce["step_ms"]
    assert sat["host_ms"] > 0 and sat["device_ms"] == pytest.approx(sat["step_ms"] - sat["host_ms"])
    text = bench.tables(summary, runs)
    assert "| sat | bce + 0.001 x sat | 1 |" in text and "skipped: cpu has 1 device" in text
    assert bench.gpu_goal_line(summary, "cpu").endswith("not measured (no GPU; cpu)")
    ratio = sat["to_bce"]
    assert bench.gpu_goal_line(summary, "gpu").endswith("met" if ratio <= bench.GPU_GOAL else "NOT met")


def test_a_hung_loss_is_reported_not_timed(bench, result):
    # what time_devices returns for 2 devices where sat's step never finished (the stall watch's record)
    hung = {"loss": "sat", "objective": "bce + 0.001 x sat", "phase": "warm-up", "after_s": 180.0}
    two = {**result, "devices": 2, "losses": {"bce": result["losses"]["bce"]}, "hung": {"sat": hung}}
    runs = {1: {**result, "hung": {}}, 2: two}
    summary = bench.summarize(runs)
    assert set(summary[2]) == {"bce"}
    text = bench.tables(summary, runs)
    assert "| sat | bce + 0.001 x sat | 2 | hung: no warm-up finished in 180 s |" in text
    assert [line for line in text.splitlines() if line.startswith("| sat |") and line.endswith(" hung |")]
