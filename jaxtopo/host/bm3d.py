"""Betti-Matching-3D (Stucki et al.), loaded when it is installed, for comparisons only.

jaxtopo never needs it. The tests and `benchmarks/bench_host.py` compare jaxtopo's Betti matching
with it when it can be loaded. Its compiled module ships inside the topolosses wheel; install that
in a scratch venv without dependencies (``pip install --no-deps topolosses==0.2.0``) and point
``$JAXTOPO_BM3D_SO`` at ``.../topolosses/losses/betti_matching/src/betti_matching*.so``. The module
is loaded by file path, because topolosses' package imports torch and cv2.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import site
import sysconfig

_WHEEL_PATH = "topolosses/losses/betti_matching/src/betti_matching*.so"
# where this project's sessions keep their scratch venv with topolosses
SCRATCH_SITE_PACKAGES = "/tmp/bmvenv/lib/python3*/site-packages"


def load(extra_site_packages=(SCRATCH_SITE_PACKAGES,)):
    """(module, None), or (None, why not): $JAXTOPO_BM3D_SO, else topolosses' wheel in site-packages."""
    path = os.environ.get("JAXTOPO_BM3D_SO")
    if path:
        candidates = [path]
    else:
        roots = set(site.getsitepackages()) | {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        for pattern in extra_site_packages:
            roots |= set(glob.glob(pattern))
        candidates = sorted(p for root in roots for p in glob.glob(os.path.join(root, _WHEEL_PATH)))
    if not candidates:
        return None, ("Betti-Matching-3D not found: set JAXTOPO_BM3D_SO to its betti_matching*.so, or install "
                      "topolosses (its wheel carries " + _WHEEL_PATH + ")")
    errors = []
    for candidate in candidates:
        try:
            spec = importlib.util.spec_from_file_location("betti_matching", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module, None
        except Exception as error:  # e.g. built for another Python
            errors.append(f"{candidate}: {error}")
    return None, "Betti-Matching-3D could not be loaded: " + "; ".join(errors)
