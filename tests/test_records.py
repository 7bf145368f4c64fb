"""metrics.jsonl and diagnostics.jsonl are strict JSON: NaN and infinities are written as null."""

import json
import math

import pytest

from jaxtopo.training.records import record_line
from jaxtopo.viz import read_metrics


def strict_loads(line: str):
    """json.loads that refuses the NaN / Infinity tokens, as jq and JavaScript do."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(line, parse_constant=refuse)


def test_non_finite_values_become_null_and_the_rest_is_unchanged():
    record = {"step": 3, "loss": 0.25, "share": math.nan, "up": math.inf, "down": -math.inf,
              "nested": {"a": [1.0, math.nan, 2], "b": "text"}, "flag": True, "none": None}
    line = record_line(record)
    assert "\n" not in line
    assert strict_loads(line) == {"step": 3, "loss": 0.25, "share": None, "up": None, "down": None,
                                  "nested": {"a": [1.0, None, 2], "b": "text"}, "flag": True, "none": None}
    with pytest.raises(ValueError, match="NaN"):  # what json.dumps alone writes
        strict_loads(json.dumps(record))


def test_read_metrics_reads_null_back_and_leaves_the_point_out_of_the_curves(tmp_path):
    with open(tmp_path / "metrics.jsonl", "w") as f:
        for step, value in ((1, 0.5), (2, math.nan), (3, 0.25)):
            f.write(record_line({"step": step, "loss": value}) + "\n")
    records = read_metrics(tmp_path)
    assert [r["loss"] for r in records] == [0.5, None, 0.25]
    from jaxtopo.viz import plot_training_curves

    fig = plot_training_curves(tmp_path, ["loss"])
    (line,) = fig.axes[0].get_lines()
    assert list(line.get_xdata()) == [1, 3] and list(line.get_ydata()) == [0.5, 0.25]
