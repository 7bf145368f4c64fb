"""Without the native engine jaxtopo still works, on the gudhi backend, and says so once."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
import warnings
import numpy as np
import jaxtopo
from jaxtopo.host import available_backends

rng = np.random.default_rng(0)
probs = rng.random((2, 12, 12)).astype(np.float32)
labels = (rng.random((2, 12, 12)) > 0.7).astype(np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    first = float(jaxtopo.sat_loss(probs, labels))
    second = float(jaxtopo.sat_loss(probs, labels))
messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
print(available_backends(), first == second, np.isfinite(first), len(messages), messages[0] if messages else "")
"""


def run(native: str, script: str = SCRIPT) -> str:
    env = dict(os.environ, JAXTOPO_NATIVE=native, JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_the_native_engine_sat_loss_runs_on_gudhi_with_one_warning():
    out = run("0")
    assert out.startswith("('gudhi',) True True 1 "), out
    assert "gudhi" in out and "JAXTOPO_NATIVE=0" in out


def test_with_the_native_engine_there_is_no_warning():
    from jaxtopo.host import native

    if not native.available():
        pytest.skip("the native engine was not built here; the test above covers this platform")
    out = run("1")
    assert out.startswith("('gudhi', 'native') True True 0"), out


BM_SCRIPT = """
import warnings
import numpy as np
import jaxtopo

rng = np.random.default_rng(0)
probs = rng.random((2, 12, 12)).astype(np.float32)
labels = (rng.random((2, 12, 12)) > 0.7).astype(np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    default = float(jaxtopo.betti_matching_loss(probs, labels))
    again = float(jaxtopo.betti_matching_loss(probs, labels))
python = float(jaxtopo.betti_matching_loss(probs, labels, backend="python"))
messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
print(repr(default), default == again == python, len(messages), messages[0] if messages else "")
"""


def test_without_the_native_engine_betti_matching_runs_in_python_with_one_warning():
    value, same, warned, message = run("0", BM_SCRIPT).split(" ", 3)
    assert same == "True" and warned == "1", (value, same, warned, message)
    assert "python backend" in message and "JAXTOPO_NATIVE=0" in message
    from jaxtopo.host import native

    if native.available():  # the engine gives the same value as the Python fallback, silently
        native_value, same, warned = run("1", BM_SCRIPT).split(" ")[:3]
        assert same == "True" and warned == "0"
        assert abs(float(native_value) - float(value)) <= 1e-6 * abs(float(value))
