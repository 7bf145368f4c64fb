"""Datasets for training by config name, with patches prepared once and cached on disk, and the
patch layout (`patch_layout`) that stitches a split's patches back into full images."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import socket

import numpy as np

from jaxtopo.data import cracktree, cremi, drive, elegans, roads
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
# config name -> (rows, columns) of the row-major patches that make one full image; CREMI's
# follows the slice size of its files (`jaxtopo.data.cremi.slice_grid`)
GRIDS = {
    "drive": drive.GRID,  # 2 x 2 of 275 on the 550 x 550 crop
    "roads": roads.GRID,  # 5 x 5 of 300 on 1500 x 1500
    "roads_small": roads.SMALL_GRID,  # 8 x 8 of 48 on 375 x 375 padded to 384 x 384
    "cracktree": cracktree.GRID,  # 2 rows x 3 columns of 300 on 600 high x 900 wide
    "elegans_small": elegans.GRID,  # 2 x 2 of 48 on 96 x 96
}


def _cache_path(name: str, root: str, fold: int) -> str:
    key = hashlib.sha1(f"{os.path.abspath(root)}|{name}|{fold}".encode()).hexdigest()[:16]
    cache = os.environ.get("JAXTOPO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jaxtopo")
    return os.path.join(cache, f"{name}-fold{fold}-{key}.npz")


def _real_grid(name: str, root: str) -> tuple[int, int] | None:
    return cremi.slice_grid(root) if name == "cremi" else GRIDS[name]


def _load_real(name: str, root: str, fold: int) -> dict:
    """Decoded, cropped and patched once; later runs read the cached .npz (fast, no decoding)."""
    path = _cache_path(name, root, fold)
    if os.path.exists(path):
        with np.load(path) as cached:
            return {split: (cached[f"{split}_images"], cached[f"{split}_labels"]) for split in ("train", "val", "test")}
    module, function, takes_fold = LOADERS[name]
    loader = getattr(importlib.import_module(module), function)
    splits = loader(root, fold=fold) if takes_fold else loader(root)
    # the layout is kept with the patches (CREMI's is read from its files); (0, 0): none
    grid = _real_grid(name, root) or (0, 0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # several processes of one run may build the cache at once: each writes its own file
    partial = f"{path}.{socket.gethostname()}-{os.getpid()}.partial.npz"
    arrays = {f"{s}_{kind}": arr for s, (images, labels) in splits.items()
              for kind, arr in (("images", images), ("labels", labels))}
    np.savez(partial, grid=np.array(grid), **arrays)
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


def patch_layout(config) -> tuple[int, int] | None:
    """(rows, columns) of the patches, in row-major order, that make one full image of the
    config's dataset: the grid `jaxtopo.evaluation.stitch_patches` reverses (docs/datasets.md).

    (1, 1) for the generated datasets, whose images are single patches; None where no single
    layout exists (CREMI files whose samples' slices differ in size). Real datasets read it from
    the cache `load_splits` wrote (so CREMI's needs no files then), else from the loader's module.
    """
    data = config.data
    if data.name in GENERATED:
        return (1, 1)
    if data.name not in LOADERS:
        raise ValueError(f"unknown dataset {data.name!r}; available: {DATASETS}")
    root = data_root(data.get("data_dir"))
    path = _cache_path(data.name, root, int(data.get("fold", 1)))
    if os.path.exists(path):
        with np.load(path) as cached:
            if "grid" in cached.files:  # caches written before the layout was kept have none
                rows, cols = (int(n) for n in cached["grid"])
                return (rows, cols) if rows else None
    return _real_grid(data.name, root)
