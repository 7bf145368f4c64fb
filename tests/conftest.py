import atexit
import os
import shutil
import sys
import tempfile

# make tests/reference_satloss.py importable as a plain module
sys.path.insert(0, os.path.dirname(__file__))

# One on-disk XLA compilation cache for the whole session, its subprocesses included (they inherit
# the environment). Most of the suite's time is XLA compiling the same small train steps, losses and
# predictors again in test after test; compiled once, they are read back (measured on the 2-core CI
# machine: tests/test_training_diagnostics.py 126 s -> 94 s with a cache that starts empty). The cache
# is keyed by the compiled program, its compile options and the devices, so a hit is the executable
# XLA would build again; it starts empty each session and is removed at its end. Set before jax is
# imported: jax reads these variables when it loads. A cache the user set is left alone.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="jaxtopo-tests-xla-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def pytest_sessionstart(session):
    """With $JAXTOPO_REQUIRE_NATIVE=1 (set by .ci/run) a missing native engine fails the run.

    Without it the native tests skip and the suite would pass on the reference backends alone,
    hiding an engine that did not compile. A user's install without a compiler still works.
    """
    if os.environ.get("JAXTOPO_REQUIRE_NATIVE") == "1":
        from jaxtopo.host import native

        if not native.available():
            raise RuntimeError(f"JAXTOPO_REQUIRE_NATIVE=1 but {native.unavailable_reason()}")
