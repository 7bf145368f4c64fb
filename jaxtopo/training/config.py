"""Experiment configuration: nested attribute dictionaries, command-line overrides, run folders.

Configs are Python (big_vision / Flax-examples style): `jaxtopo.training.named_configs` builds
every named config ``<dataset>_<loss>`` from one shared default, the dataset's protocol and the
loss; it ships inside the package, so ``named_config("drive_sat")`` needs no checkout. ``override(config, ["train.steps=100", "loss.weight=1e-3"])`` applies command-line
assignments; values are parsed as Python literals and must keep the field's type.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import os


class Config(dict):
    """A dict whose keys are also attributes; nested dicts become Configs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in self.items():
            if isinstance(value, dict) and not isinstance(value, Config):
                self[key] = Config(value)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no field {name!r}; fields: {sorted(self)}") from None

    def __setattr__(self, name, value):
        self[name] = Config(value) if isinstance(value, dict) and not isinstance(value, Config) else value

    def copy(self) -> "Config":
        return copy.deepcopy(self)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self))


def _parse(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string such as loss.name=sat


def override(config: Config, assignments) -> Config:
    """Returns a copy of ``config`` with ``"a.b=value"`` assignments applied."""
    config = config.copy()
    for assignment in assignments:
        if "=" not in assignment:
            raise ValueError(f"override {assignment!r} is not of the form field.path=value")
        path, text = assignment.split("=", 1)
        node = config
        keys = path.strip().split(".")
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"override {assignment!r}: no config section {key!r}")
            node = node[key]
        key = keys[-1]
        if key not in node:
            raise ValueError(f"override {assignment!r}: no field {path!r}; fields here: {sorted(node)}")
        value, old = _parse(text.strip()), node[key]
        if isinstance(old, bool) != isinstance(value, bool) or (
            old is not None and not isinstance(value, type(old))
            and not (isinstance(old, float) and isinstance(value, int))
            and not (isinstance(old, (list, tuple)) and isinstance(value, (list, tuple)))
        ):
            raise ValueError(f"override {assignment!r}: expected a {type(old).__name__}, got {value!r}")
        node[key] = float(value) if isinstance(old, float) else value
    return config


def _load_module(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"jaxtopo_config_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    # configs import their shared defaults (``from default import get_config``) from their folder
    spec.loader.exec_module(module)
    return module


def named_config(name: str, directory: str | None = None) -> Config:
    """The config called ``name``: one of jaxtopo's named configs (``config_names()``).

    ``directory``: a folder of your own configs instead; its ``default.py`` must define
    ``get_config(name)``, as `jaxtopo.training.named_configs` does.
    """
    if directory is None:
        from jaxtopo.training import named_configs

        return named_configs.get_config(name)
    module = _load_module(os.path.join(directory, "default.py"))
    return Config(module.get_config(name))


def config_names() -> list[str]:
    """Every named config, ``<dataset>_<loss>``, in a stable order."""
    from jaxtopo.training import named_configs

    return named_configs.names()


def quick_config(config: Config) -> Config:
    """``config`` shrunk to about a CPU-minute (what ``train.py --quick`` runs)."""
    from jaxtopo.training import named_configs

    return named_configs.quick(config)
