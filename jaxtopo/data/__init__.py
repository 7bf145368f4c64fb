"""Datasets: the embedded synthetic data (the default tubular set and the roads, cells and vessels
benchmarks) and loaders for the papers' datasets.

Loaders read the folders users downloaded (jaxtopo never downloads) and return
{"train"|"val"|"test": (images float32 [N, P, P, C], labels float32 [N, P, P])} following the
SATLoss paper's crops, patches, splits and folds (``docs/datasets.md``). A missing
folder raises `DatasetNotFoundError` with the expected layout and where the data is published.
"""

from jaxtopo.data.common import CorruptFileError, DatasetNotFoundError
from jaxtopo.data.cracktree import load_cracktree
from jaxtopo.data.cremi import load_cremi
from jaxtopo.data.drive import load_drive
from jaxtopo.data.elegans import load_elegans_small
from jaxtopo.data.roads import load_roads, load_roads_small
from jaxtopo.data.synthetic import make_synthetic_dataset, split_synthetic, synthetic_image
from jaxtopo.data.synthetic_cells import make_synthetic_cells_dataset, split_synthetic_cells, synthetic_cells_image
from jaxtopo.data.synthetic_roads import make_synthetic_roads_dataset, split_synthetic_roads, synthetic_roads_image
from jaxtopo.data.synthetic_vessels import (
    make_synthetic_vessels_dataset,
    split_synthetic_vessels,
    synthetic_vessels_image,
)

__all__ = [
    "CorruptFileError",
    "DatasetNotFoundError",
    "load_cracktree",
    "load_cremi",
    "load_drive",
    "load_elegans_small",
    "load_roads",
    "load_roads_small",
    "make_synthetic_cells_dataset",
    "make_synthetic_dataset",
    "make_synthetic_roads_dataset",
    "make_synthetic_vessels_dataset",
    "split_synthetic",
    "split_synthetic_cells",
    "split_synthetic_roads",
    "split_synthetic_vessels",
    "synthetic_cells_image",
    "synthetic_image",
    "synthetic_roads_image",
    "synthetic_vessels_image",
]
