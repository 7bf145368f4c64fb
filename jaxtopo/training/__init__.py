"""Training pipeline: configs, objective, loop with checkpoints; used by experiments/train.py.

The config tools import only the standard library; the loop (JAX, Flax, Orbax) loads on first
use (PEP 562), so ``train.py --help``, ``--list-configs`` and a mistyped config answer at once.
"""

import importlib as _importlib

from jaxtopo.training.config import (
    Config,
    ConfigError,
    RunFolderError,
    TrainingDivergedError,
    config_names,
    load_config,
    named_config,
    override,
    quick_config,
    read_run_config,
)

_LOOP_NAMES = ("evaluate_run", "predict_with_run", "train_and_evaluate")


def __getattr__(name):
    if name in _LOOP_NAMES:
        return getattr(_importlib.import_module("jaxtopo.training.loop"), name)
    raise AttributeError(f"module 'jaxtopo.training' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LOOP_NAMES))


__all__ = [
    "Config",
    "ConfigError",
    "RunFolderError",
    "TrainingDivergedError",
    "config_names",
    "evaluate_run",
    "load_config",
    "named_config",
    "override",
    "predict_with_run",
    "quick_config",
    "read_run_config",
    "train_and_evaluate",
]
