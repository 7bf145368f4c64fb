"""Experiment configuration: nested attribute dictionaries, command-line overrides, run folders.

Configs are Python (big_vision / Flax-examples style): `jaxtopo.training.named_configs` builds
every named config ``<dataset>_<loss>`` from one shared default, the dataset's protocol and the
loss; it ships inside the package, so ``named_config("drive_sat")`` needs no checkout.
``load_config`` also takes the path of a Python file of your own that defines ``get_config()``.
``override(config, ["train.steps=100", "loss.weight=1e-3"])`` applies command-line
assignments; values are parsed as Python literals and must keep the field's type.

Mistakes a user can make raise `ConfigError` (a config that does not exist, an override that does
not apply, a config that disagrees with the run folder it would resume) or `RunFolderError` (a
folder that is not a run folder, or has no checkpoint); the scripts print those without a
traceback (`user_error_status`), so any other exception still shows where it came from.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import os


class ConfigError(ValueError):
    """A config that does not exist, an override that does not apply, a field value the trainer
    cannot use, or a config that disagrees with the run folder's: the user's to fix."""


class RunFolderError(FileNotFoundError):
    """A folder that is not a run folder (no readable config.json) or has no checkpoint."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite; the run folder keeps its last checkpoint."""


def user_error_status(error: BaseException) -> int | None:
    """The exit status with which the command-line scripts report ``error`` without a traceback:
    2 when the command is wrong (`ConfigError`, `RunFolderError`), 1 when the dataset it points at
    is missing or unreadable (`jaxtopo.data.DatasetNotFoundError`, `CorruptFileError`) or the run
    diverged (`TrainingDivergedError`); None for anything else, which is a bug and keeps its
    traceback."""
    from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError

    if isinstance(error, (ConfigError, RunFolderError)):
        return 2
    if isinstance(error, (DatasetNotFoundError, CorruptFileError, TrainingDivergedError)):
        return 1
    return None


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
            raise ConfigError(f"override {assignment!r} is not of the form field.path=value")
        path, text = assignment.split("=", 1)
        node = config
        keys = path.strip().split(".")
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                raise ConfigError(f"override {assignment!r}: no config section {key!r}")
            node = node[key]
        key = keys[-1]
        if key not in node:
            raise ConfigError(f"override {assignment!r}: no field {path!r}; fields here: {sorted(node)}")
        value, old = _parse(text.strip()), node[key]
        if isinstance(old, bool) != isinstance(value, bool) or (
            old is not None and not isinstance(value, type(old))
            and not (isinstance(old, float) and isinstance(value, int))
            and not (isinstance(old, (list, tuple)) and isinstance(value, (list, tuple)))
        ):
            raise ConfigError(f"override {assignment!r}: expected a {type(old).__name__}, got {value!r}")
        node[key] = float(value) if isinstance(old, float) else value
    return config


def _load_module(path: str):
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} does not exist")
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


def load_config(config: str) -> Config:
    """``train.py --config``: a named config (``drive_sat``) or the path of a Python file whose
    ``get_config()`` returns a whole config (start from ``named_config(...)`` and change it);
    the file's config is named after the file unless it sets ``name``."""
    if not config.endswith(".py"):
        return named_config(config)
    module = _load_module(config)
    if not callable(getattr(module, "get_config", None)):
        raise ConfigError(f"config file {config} defines no get_config()")
    loaded = module.get_config()
    if not isinstance(loaded, dict):
        raise ConfigError(f"get_config() of {config} returned a {type(loaded).__name__}, not a config")
    loaded = Config(loaded)
    loaded.setdefault("name", os.path.splitext(os.path.basename(config))[0])
    from jaxtopo.training import named_configs

    # a field the file left out would otherwise surface mid-run as an AttributeError
    missing = [path for path, (_, mine) in differences(named_configs.base_config(), loaded).items()
               if mine is _ABSENT]
    if missing:
        raise ConfigError(f"the config of {config} lacks {', '.join(missing)}; start it from "
                          f"jaxtopo.training.named_config('synthetic_sat') and change what differs")
    return loaded


def config_names() -> list[str]:
    """Every named config, ``<dataset>_<loss>``, in a stable order."""
    from jaxtopo.training import named_configs

    return named_configs.names()


def quick_config(config: Config) -> Config:
    """``config`` shrunk to about a CPU-minute (what ``train.py --quick`` runs)."""
    from jaxtopo.training import named_configs

    return named_configs.quick(config)


class _Absent:
    def __repr__(self):
        return "(absent)"


_ABSENT = _Absent()  # a field one config lacks (None is a real value)


def _flat(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(a: dict, b: dict) -> dict:
    """{"section.field": (value in a, value in b)} for every field whose values differ, after a JSON
    round trip (a config read back from config.json has lists where the config has tuples); a
    field one side lacks shows as ``(absent)``."""
    a, b = _flat(json.loads(json.dumps(a))), _flat(json.loads(json.dumps(b)))
    return {key: (a.get(key, _ABSENT), b.get(key, _ABSENT))
            for key in sorted(a.keys() | b.keys()) if a.get(key, _ABSENT) != b.get(key, _ABSENT)}


# What a resumed run may change: these fields lengthen training or only change its bookkeeping,
# so the folder's checkpoint still belongs to the run. Every other field must agree, since the
# checkpoint would otherwise be trained on by a different model, loss or data, and config.json
# (rewritten at the start) would stop describing the checkpoint. train.epochs may only grow: a run
# past the new length could not be cut back. A grown run moves its learning-rate decay to half the
# new length, so it matches a straight run of that length only if it had not passed the old half.
# train.devices: results do not depend on the device count (tests/test_multi_device.py).
RESUMABLE_CHANGES = ("train.epochs", "train.stop_after_steps", "train.log_every",
                     "train.checkpoint_every", "train.eval_every_epochs", "data.data_dir",
                     "train.devices")


def read_run_config(workdir: str) -> Config:
    """The config saved in a run folder (its config.json); `RunFolderError` when there is none."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isdir(workdir):
        raise RunFolderError(f"{workdir} is not a run folder: no such folder")
    if not os.path.isfile(path):
        raise RunFolderError(f"{workdir} is not a run folder: it has no config.json")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(saved, dict):
        raise RunFolderError(f"{path} holds a {type(saved).__name__}, not a config")
    return Config(saved)


def write_run_config(workdir: str, config: Config) -> None:
    """config.json, replaced in one step: a kill mid-write must not leave a folder whose config
    cannot be read back (resuming compares against it)."""
    path = os.path.join(workdir, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump(config.to_dict(), f, indent=2)
    os.replace(path + ".tmp", path)


def check_run_folder(workdir: str, config: Config) -> None:
    """Raises unless ``config`` may train in ``workdir``: a folder that does not exist yet, an empty
    one, or a run folder whose config.json agrees with ``config`` up to `RESUMABLE_CHANGES`
    (``train.epochs`` only growing). Anything else would mix two runs in one folder, so the error
    names the differing fields."""
    if not os.path.exists(workdir):
        return
    if not os.path.isdir(workdir):
        raise RunFolderError(f"{workdir} is a file, not a run folder")
    if not os.path.exists(os.path.join(workdir, "config.json")):
        if os.listdir(workdir):
            raise RunFolderError(f"{workdir} is not empty and is not a run folder (it has no config.json); "
                                 f"train in a new or empty folder")
        return
    changed = differences(read_run_config(workdir), config)
    # A field added to jaxtopo after the run started is absent from its config.json; new fields
    # default to what the code did before them (loss.construction None, loss.start_epoch 0, ...),
    # so the run may resume when this config keeps the default.
    from jaxtopo.training import named_configs

    defaults = _flat(json.loads(json.dumps(named_configs.base_config())))
    refused = {path: (old, new) for path, (old, new) in changed.items()
               if path not in RESUMABLE_CHANGES
               and not (old is _ABSENT and (new is None or new == defaults.get(path, _ABSENT)))}
    old_epochs, new_epochs = changed.get("train.epochs", (0, 0))
    if not (isinstance(old_epochs, int) and isinstance(new_epochs, int) and new_epochs >= old_epochs):
        refused["train.epochs"] = (old_epochs, new_epochs)
    if refused:
        fields = "; ".join(f"{path}: {old!r} -> {new!r}" for path, (old, new) in sorted(refused.items()))
        raise ConfigError(
            f"{workdir} holds a run with another config, so this config cannot resume it. "
            f"Differing fields (run folder -> this config): {fields}. A resumed run may only "
            f"increase train.epochs and change {', '.join(RESUMABLE_CHANGES[1:])}. Train in another "
            f"folder (--workdir), or resume with the folder's own config.json.")
