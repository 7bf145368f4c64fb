"""Datasets for training, by config name (real-dataset loaders come with their own issue)."""

from __future__ import annotations

import numpy as np

from jaxtopo.data.synthetic import split_synthetic

DATASETS = ("synthetic",)


def load_splits(config) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (images float32 [N, H, W, C], labels float32 [N, H, W])}."""
    data = config.data
    if data.name != "synthetic":
        raise ValueError(f"dataset {data.name!r} has no loader yet; available: {DATASETS}")
    splits = split_synthetic(config.seed, data.num_train, data.num_val, data.num_test, size=tuple(data.size))
    return {name: (images.astype(np.float32), labels.astype(np.float32))
            for name, (images, labels) in splits.items()}
