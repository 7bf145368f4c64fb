import os
import sys

# make tests/reference_satloss.py importable as a plain module
sys.path.insert(0, os.path.dirname(__file__))


def pytest_sessionstart(session):
    """With $JAXTOPO_REQUIRE_NATIVE=1 (set by .ci/run) a missing native engine fails the run.

    Without it the native tests skip and the suite would pass on the reference backends alone,
    hiding an engine that did not compile. A user's install without a compiler still works.
    """
    if os.environ.get("JAXTOPO_REQUIRE_NATIVE") == "1":
        from jaxtopo.host import native

        if not native.available():
            raise RuntimeError(f"JAXTOPO_REQUIRE_NATIVE=1 but {native.unavailable_reason()}")
