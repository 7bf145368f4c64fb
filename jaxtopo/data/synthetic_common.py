"""Pieces shared by every embedded dataset (the default synthetic set and the three benchmarks).

The drawing primitives (smooth random curves, exact polyline rasterisation, smoothed noise) come
from `jaxtopo.data.synthetic` and are imported, not copied. What lives here is what the three
benchmark generators need on top of them:

* the dataset and split builders, with the determinism rule of `jaxtopo.data.synthetic`: image
  ``i`` of stream ``s`` is drawn from ``numpy.random.default_rng([seed, s, i])``, stream 0 for
  ``make_*_dataset`` and 1, 2, 3 for the train, val and test splits;
* the appearance steps every benchmark ends with (illumination field, optical blur, per-channel
  gains, additive noise, clipping).

Every image function used here has the signature ``fn(rng, size, **knobs) -> (image, label)``
with image float32 [H, W, C] in [0, 1] and label uint8 [H, W] in {0, 1}.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage


ImageFn = Callable[..., tuple[np.ndarray, np.ndarray]]


def as_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` from an int or a pair, both at least 4."""
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 4:
        raise ValueError(f"size must be an int or (height, width) with both >= 4; got {size}")
    return size


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")


def draw_dataset(
    image_fn: ImageFn, num_images: int, size: int | Sequence[int], seed: int, stream: int, knobs: dict
) -> tuple[np.ndarray, np.ndarray]:
    """``num_images`` images of ``image_fn``, image ``i`` from the entropy ``(seed, stream, i)``.

    Fixed-length entropy tuples never collide across streams, and a longer dataset starts with the
    images of a shorter one (image ``i`` does not depend on how many follow it).
    """
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 0:
        raise ValueError(f"num_images must be a non-negative int; got {num_images!r}")
    _check_seed(seed)
    height, width = as_size(size)
    pairs = [image_fn(np.random.default_rng([int(seed), stream, i]), (height, width), **knobs)
             for i in range(num_images)]
    if not pairs:
        # The channel count of an empty dataset: draw one throw-away image from an unused stream.
        channels = image_fn(np.random.default_rng([int(seed), 99, 0]), (height, width), **knobs)[0].shape[-1]
        return (np.empty((0, height, width, channels), np.float32), np.empty((0, height, width), np.uint8))
    images = np.stack([image for image, _ in pairs]).astype(np.float32, copy=False)
    labels = np.stack([label for _, label in pairs]).astype(np.uint8, copy=False)
    return images, labels


def draw_splits(
    image_fn: ImageFn, seed: int, n_train: int, n_val: int, n_test: int, size, knobs: dict
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val", "test"}`` from streams 1, 2, 3 (disjoint from each other and from 0)."""
    return {
        name: draw_dataset(image_fn, count, size, seed, stream, knobs)
        for stream, (name, count) in enumerate((("train", n_train), ("val", n_val), ("test", n_test)), start=1)
    }


def illumination_field(rng: np.random.Generator, height: int, width: int, strength: float,
                       vignette: float = 0.35) -> np.ndarray:
    """Multiplicative lighting: 1 + strength * (linear gradient / 2 - vignette * off-centre r^2).

    Real acquisitions are unevenly lit, so a fixed global threshold cannot segment them; the
    gradient has a random direction, the vignette a random centre.
    """
    rows = np.linspace(-1.0, 1.0, height)[:, None]
    cols = np.linspace(-1.0, 1.0, width)[None, :]
    angle = rng.uniform(0, 2 * math.pi)
    gradient = math.sin(angle) * rows + math.cos(angle) * cols
    centre = rng.uniform(-0.5, 0.5, size=2)
    radius_sq = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2
    return 1.0 + strength * (0.5 * gradient - vignette * radius_sq)


def finish(rng: np.random.Generator, colour: np.ndarray, *, blur_sigma: float, noise_std: float) -> np.ndarray:
    """Blur (optics), additive Gaussian noise and clipping of a noiseless [H, W, C] image.

    The noise is always drawn, even with ``noise_std=0``, so that switching it off leaves every
    other random draw, and hence the geometry, unchanged (the tests compare clean and noisy images
    of one seed). Channels share the noise, plus half as much independent noise per channel.
    """
    if blur_sigma > 0:
        colour = ndimage.gaussian_filter(colour, (blur_sigma, blur_sigma, 0), mode="reflect")
    height, width, channels = colour.shape
    shared = rng.standard_normal((height, width, 1))
    own = rng.standard_normal((height, width, channels))
    if channels == 1:
        noise = shared  # one channel: one noise field of the stated std
    else:
        noise = shared + 0.5 * own
    return np.clip(colour + noise_std * noise, 0.0, 1.0).astype(np.float32)


def check_non_negative(**values) -> None:
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0; got {value}")


def check_range(name: str, value, low: float = 0.0, high: float = math.inf) -> tuple[float, float]:
    """A (low, high) pair within [low, high]; returns it as floats."""
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise ValueError(f"{name} must be a pair ({low} <= a <= b <= {high}); got {value}")
    return float(value[0]), float(value[1])
