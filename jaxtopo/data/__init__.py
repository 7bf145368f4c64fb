"""Datasets: the embedded synthetic tubular data and loaders for the papers' datasets.

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

__all__ = [
    "CorruptFileError",
    "DatasetNotFoundError",
    "load_cracktree",
    "load_cremi",
    "load_drive",
    "load_elegans_small",
    "load_roads",
    "load_roads_small",
    "make_synthetic_dataset",
    "split_synthetic",
    "synthetic_image",
]
