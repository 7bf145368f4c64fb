"""The U-Net of the SATLoss paper, in Flax NNX (NHWC).

Architecture (Ronneberger et al. 2015 as used by the SATLoss paper, with "same" padding):

* encoder level ``i`` (``i = 0 .. depth - 1``, ``depth = len(widths)``): two blocks of
  3x3 conv ('SAME', no bias) + BatchNorm + ReLU with ``widths[i]`` channels, then a 2x2 max-pool
  before the next level (none after the deepest level, the bottleneck);
* decoder level ``i`` (``i = depth - 2 .. 0``): a 2x2 transposed conv with stride 2 from
  ``widths[i + 1]`` to ``widths[i]`` channels (with bias), concatenation ``[skip, upsampled]``
  along channels (``2 * widths[i]``), and two conv blocks down to ``widths[i]`` channels;
* a 1x1 conv (with bias) to ``out_channels`` logits.

The 3x3 convs carry no bias because the BatchNorm right after them has its own shift (as in the
common PyTorch U-Net); the parameter count is therefore

    sum_i [9 * c_in(i) * w_i + 9 * w_i * w_i + 4 * w_i]                 encoder / bottleneck
  + sum_i [4 * w_{i+1} * w_i + w_i + 9 * 2 w_i * w_i + 9 * w_i * w_i + 4 * w_i]   decoder
  + w_0 * out_channels + out_channels                                    output conv

with ``c_in(0) = in_channels``, ``c_in(i) = w_{i-1}``; 31,037,633 for the paper's
(64, 128, 256, 512, 1024) with 3 inputs and 1 output (the PyTorch reference count).
BatchNorm follows PyTorch's defaults: momentum 0.1 for the running averages (Flax
``momentum=0.9``), epsilon 1e-5.

Any input size works: the input is padded at the bottom and right up to the next multiple of
``2 ** (depth - 1)`` (mode `pad_mode`, reflect by default, so the border looks like image content
rather than a black frame) and the logits are cropped back, so the output has the input's
spatial shape. In train mode the BatchNorm statistics include the padded pixels.

Train / eval: ``model.train()`` normalises with the batch statistics and updates the running
averages (BatchNorm's ``use_running_average=False``); ``model.eval()`` uses the running averages
and leaves them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = [
    "PAPER_WIDTHS",
    "SMALL_WIDTHS",
    "ConvBlock",
    "UNet",
    "paper_unet",
    "probabilities",
    "small_unet",
]

PAPER_WIDTHS = (64, 128, 256, 512, 1024)
SMALL_WIDTHS = (16, 32, 64, 128, 256)

# PyTorch BatchNorm2d defaults (running = 0.9 * running + 0.1 * batch).
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5
_PAD_MODES = ("reflect", "edge", "constant", "symmetric")


class ConvBlock(nnx.Module):
    """3x3 conv ('SAME', no bias) + BatchNorm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(
            in_channels, out_channels, kernel_size=(3, 3), padding="SAME", use_bias=False, rngs=rngs
        )
        self.norm = nnx.BatchNorm(
            out_channels, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, rngs=rngs
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(self.norm(self.conv(x)))


class _DoubleConv(nnx.Module):
    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs):
        self.first = ConvBlock(in_channels, out_channels, rngs=rngs)
        self.second = ConvBlock(out_channels, out_channels, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.second(self.first(x))


class _Up(nnx.Module):
    """2x2 transposed conv (stride 2), concatenation with the skip, two conv blocks."""

    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs):
        self.upsample = nnx.ConvTranspose(
            in_channels,
            out_channels,
            kernel_size=(2, 2),
            strides=(2, 2),
            padding="VALID",
            rngs=rngs,
        )
        self.convs = _DoubleConv(2 * out_channels, out_channels, rngs=rngs)

    def __call__(self, x: jax.Array, skip: jax.Array) -> jax.Array:
        return self.convs(jnp.concatenate([skip, self.upsample(x)], axis=-1))


class UNet(nnx.Module):
    """U-Net returning per-pixel logits; see the module docstring for the exact layers.

    Args:
      in_channels: channels of the NHWC input.
      out_channels: logit channels (1 for binary segmentation).
      widths: channels per level, shallow to deep; ``depth = len(widths)`` levels and
        ``depth - 1`` poolings, so inputs are padded to a multiple of ``2 ** (depth - 1)``.
      pad_mode: `jnp.pad` mode of that padding: ``"reflect"`` (default), ``"symmetric"``,
        ``"edge"`` or ``"constant"`` (zeros).
      rngs: initialisation keys (``nnx.Rngs(seed)``).

    Call: ``model(x)`` with ``x`` float [B, H, W, in_channels] (or [H, W, in_channels]) returns
    logits [B, H, W, out_channels] (or [H, W, out_channels]); any H, W >= 1.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        *,
        widths: Sequence[int] = PAPER_WIDTHS,
        pad_mode: str = "reflect",
        rngs: nnx.Rngs,
    ):
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty sequence of positive ints; got {widths}")
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"pad_mode must be one of {_PAD_MODES}; got {pad_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.widths = widths
        self.pad_mode = pad_mode
        channels = (self.in_channels,) + widths
        self.down = nnx.List(
            [_DoubleConv(channels[i], channels[i + 1], rngs=rngs) for i in range(len(widths))]
        )
        self.up = nnx.List(
            [_Up(widths[i + 1], widths[i], rngs=rngs) for i in reversed(range(len(widths) - 1))]
        )
        self.head = nnx.Conv(widths[0], self.out_channels, kernel_size=(1, 1), rngs=rngs)

    @property
    def depth(self) -> int:
        return len(self.widths)

    @property
    def size_multiple(self) -> int:
        """Inputs are padded up to a multiple of this (``2 ** (depth - 1)``)."""
        return 2 ** (len(self.widths) - 1)

    def __call__(self, x: jax.Array) -> jax.Array:
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f"UNet: input has shape {x.shape}; expected [B, H, W, {self.in_channels}] "
                f"or [H, W, {self.in_channels}] (NHWC)"
            )
        height, width = x.shape[1], x.shape[2]
        multiple = self.size_multiple
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            x = jnp.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode=self.pad_mode)

        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                x = nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2))
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck output is x itself
        for up in self.up:
            x = up(x, skips.pop())
        logits = self.head(x)[:, :height, :width, :]
        return logits[0] if unbatched else logits


def small_unet(rngs: nnx.Rngs, in_channels: int = 3, out_channels: int = 1) -> UNet:
    """The small U-Net (16-32-64-128-256) used for Roads-small and C.elegans-small."""
    return UNet(in_channels, out_channels, widths=SMALL_WIDTHS, rngs=rngs)


def paper_unet(rngs: nnx.Rngs, in_channels: int = 3, out_channels: int = 1) -> UNet:
    """The full U-Net (64-128-256-512-1024) of the SATLoss paper."""
    return UNet(in_channels, out_channels, widths=PAPER_WIDTHS, rngs=rngs)


def probabilities(model: UNet, x: jax.Array) -> jax.Array:
    """Foreground probabilities ``sigmoid(model(x))``, same shape as the logits."""
    return jax.nn.sigmoid(model(x))
