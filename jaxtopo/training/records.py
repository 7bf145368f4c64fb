"""One JSON line per record, in strict JSON: metrics.jsonl and diagnostics.jsonl.

Python's json writes NaN and infinities as the bare tokens ``NaN`` and ``Infinity``, which are
not JSON: jq, JavaScript and most other readers refuse the whole line. A value with nothing to
measure (a share of an empty push, a metric of a run that diverged) is written as ``null``
instead; `jaxtopo.viz.read_metrics` reads it back as None, and the curves leave such points out.
Standard library only, like the config tools.
"""

import json
import math


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def record_line(record: dict) -> str:
    """``record`` as one line of strict JSON (no newline): NaN and +-inf become null."""
    return json.dumps(_finite_or_none(record), allow_nan=False)
