"""Datasets for training by config name, with patches prepared once and cached on disk."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import socket

import numpy as np

from jaxtopo.data.common import data_root
from jaxtopo.data.synthetic import split_synthetic
from jaxtopo.data.synthetic_cells import split_synthetic_cells
from jaxtopo.data.synthetic_roads import split_synthetic_roads
from jaxtopo.data.synthetic_vessels import split_synthetic_vessels

# config name -> generator of the embedded datasets (no download; data.size, num_train, num_val
# and num_test set what is drawn, config.seed the random streams)
GENERATED = {
    "synthetic": split_synthetic,
    "synthetic_roads": split_synthetic_roads,
    "synthetic_cells": split_synthetic_cells,
    "synthetic_vessels": split_synthetic_vessels,
}

# config name -> (module, loader function, takes a fold)
LOADERS = {
    "drive": ("jaxtopo.data.drive", "load_drive", True),
    "roads": ("jaxtopo.data.roads", "load_roads", False),
    "roads_small": ("jaxtopo.data.roads", "load_roads_small", True),
    "cremi": ("jaxtopo.data.cremi", "load_cremi", False),
    "cracktree": ("jaxtopo.data.cracktree", "load_cracktree", True),
    "elegans_small": ("jaxtopo.data.elegans", "load_elegans_small", True),
}
DATASETS = tuple(GENERATED) + tuple(LOADERS)


def _cache_path(name: str, root: str, fold: int) -> str:
    key = hashlib.sha1(f"{os.path.abspath(root)}|{name}|{fold}".encode()).hexdigest()[:16]
    cache = os.environ.get("JAXTOPO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jaxtopo")
    return os.path.join(cache, f"{name}-fold{fold}-{key}.npz")


def _load_real(name: str, root: str, fold: int) -> dict:
    """Decoded, cropped and patched once; later runs read the cached .npz (fast, no decoding)."""
    path = _cache_path(name, root, fold)
    if os.path.exists(path):
        with np.load(path) as cached:
            return {split: (cached[f"{split}_images"], cached[f"{split}_labels"]) for split in ("train", "val", "test")}
    module, function, takes_fold = LOADERS[name]
    loader = getattr(importlib.import_module(module), function)
    splits = loader(root, fold=fold) if takes_fold else loader(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # several processes of one run may build the cache at once: each writes its own file
    partial = f"{path}.{socket.gethostname()}-{os.getpid()}.partial.npz"
    np.savez(partial, **{f"{s}_{kind}": arr for s, (images, labels) in splits.items()
                        for kind, arr in (("images", images), ("labels", labels))})
    os.replace(partial, path)  # atomic: a killed run never leaves a half-written cache
    with open(path + ".json", "w") as f:
        json.dump({"dataset": name, "root": os.path.abspath(root), "fold": fold}, f)
    return splits


def load_splits(config) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images [N, H, W, C], labels [N, H, W])}.

    Images are float32 in [0, 1] or, for large datasets (Roads), uint8 that the trainer scales
    per batch; labels hold {0, 1}.
    """
    data = config.data
    if data.name in GENERATED:
        splits = GENERATED[data.name](config.seed, data.num_train, data.num_val, data.num_test,
                                      size=tuple(data.size))
    elif data.name in LOADERS:
        splits = _load_real(data.name, data_root(data.get("data_dir")), int(data.get("fold", 1)))
    else:
        raise ValueError(f"unknown dataset {data.name!r}; available: {DATASETS}")
    limit = data.get("max_patches")
    return {name: (images[:limit], labels[:limit]) for name, (images, labels) in splits.items()}
