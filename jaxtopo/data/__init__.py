"""Datasets: the embedded procedural tubular-network data (`synthetic`)."""

from jaxtopo.data.synthetic import make_synthetic_dataset, split_synthetic, synthetic_image

__all__ = ["make_synthetic_dataset", "split_synthetic", "synthetic_image"]
