"""Segmentation networks: the U-Net of the SATLoss paper (Flax NNX, NHWC)."""

from jaxtopo.models.initialize import initialized
from jaxtopo.models.unet import (
    PAPER_WIDTHS,
    SMALL_WIDTHS,
    UNet,
    paper_unet,
    probabilities,
    small_unet,
)

__all__ = ["PAPER_WIDTHS", "SMALL_WIDTHS", "UNet", "initialized", "paper_unet", "probabilities", "small_unet"]
