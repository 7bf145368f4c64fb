"""The documented spellings of the public API work after a plain ``import jaxtopo``."""

import subprocess
import sys

# run in a fresh interpreter: in the test process other tests have already imported the
# subpackages, which would hide a missing lazy import
SCRIPT = """
import sys
import jaxtopo

# light import: the heavy subpackages load on first use only
heavy = [m for m in ("flax", "orbax.checkpoint", "matplotlib", "jaxtopo.viz", "jaxtopo.training")
         if m in sys.modules]
assert not heavy, heavy
# the spellings README.md uses
assert callable(jaxtopo.viz.plot_training_curves)
assert callable(jaxtopo.viz.plot_persistence_matching)
assert callable(jaxtopo.training.predict_with_run)
assert jaxtopo.training.named_config("drive_sat").data.name == "drive"
assert callable(jaxtopo.data.load_drive)
assert jaxtopo.models.UNet is not None
assert {"viz", "training", "data", "models"} <= set(dir(jaxtopo))
from jaxtopo import *  # noqa: F403  every name in __all__ resolves
try:
    jaxtopo.no_such_name
except AttributeError as error:
    assert "no_such_name" in str(error)
else:
    raise AssertionError("unknown attribute did not raise")
print("ok")
"""


def test_subpackages_load_on_first_attribute_access():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
