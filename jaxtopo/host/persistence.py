"""Cubical persistence of one 2D image with creator and destroyer pixels (host side, numpy).

Conventions (see docs/conventions.md, sections 2-4):

* Input is the filtration function ``f`` (jaxtopo uses ``f = 1 - likelihood``) and the
  *sublevel* filtration; this is the superlevel filtration of the likelihood.
* ``construction="T"``: pixels are top-dimensional cells (sublevel sets 8-connected,
  their complement 4-connected). ``"V"``: pixels are vertices (4-connected sublevel sets).
* Every pair carries flat **C-order** (row-major) indices into ``f``: ``row = i // W``.
* The essential dimension-0 class gets ``death = max(f)`` and ``destroyer = argmax(f)``
  (first maximum in C order), as the official SATLoss code does.
* Ties: pixels of equal value enter the filtration in *decreasing* C-order index. This is the
  order gudhi uses in the official SATLoss call on square images (which hands gudhi the
  transposed image); the reference backend below reproduces it on any shape.

Backends plug in through `register_backend`; all return `Diagram`s with these conventions:
``"native"`` (the C++ engine in `jaxtopo.host.native`, the default when it was built) and
``"gudhi"`` (the reference). Both give identical diagrams and identical pairs on tie-free images.
On binary images (all ties, as targets are) they agree on the diagrams, the creators and the loop
pairs, but which equal component is essential and where components die may differ (see
tests/test_persistence.py); a target enters the loss only through its diagram and creators.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from jaxtopo.host import native

CONSTRUCTIONS = ("T", "V")


@dataclasses.dataclass(frozen=True)
class Diagram:
    """Persistence pairs of one homology dimension; all arrays have length ``len(self)``."""

    birth: np.ndarray  # float64 values of f at the creator pixels
    death: np.ndarray  # float64 values of f at the destroyer pixels
    creator: np.ndarray  # int64 flat C-order pixel indices
    destroyer: np.ndarray  # int64 flat C-order pixel indices

    def __len__(self) -> int:
        return int(self.birth.shape[0])

    @classmethod
    def from_pixels(cls, f: np.ndarray, creator, destroyer) -> "Diagram":
        flat = np.asarray(f).ravel()
        creator = np.asarray(creator, dtype=np.int64).reshape(-1)
        destroyer = np.asarray(destroyer, dtype=np.int64).reshape(-1)
        # gather first, then widen: only the critical pixels are converted to float64
        as_float64 = lambda values: values.astype(np.float64, copy=False)  # noqa: E731
        return cls(as_float64(flat[creator]), as_float64(flat[destroyer]), creator, destroyer)

    def points(self) -> np.ndarray:
        """[k, 2] array of (birth, death)."""
        return np.stack([self.birth, self.death], axis=1)


PersistenceBackend = Callable[[np.ndarray, str], "dict[int, Diagram]"]
_BACKENDS: dict[str, PersistenceBackend] = {}


def register_backend(name: str, fn: PersistenceBackend) -> None:
    """Makes ``fn(f, construction) -> {0: Diagram, 1: Diagram}`` available as ``backend=name``."""
    _BACKENDS[name] = fn


def available_backends() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def default_backend() -> str:
    """"native" when the C++ engine was built, else "gudhi" (with a one-time warning)."""
    return native.preferred_backend("gudhi")


def persistence_diagrams(
    f: np.ndarray, *, construction: str = "T", backend: str | None = None
) -> dict[int, Diagram]:
    """Diagrams of dimensions 0 and 1 of the sublevel filtration of the 2D array ``f``."""
    f = np.asarray(f)
    if f.ndim != 2 or f.size == 0:
        raise ValueError(f"persistence_diagrams: expected a non-empty 2D image, got shape {f.shape}")
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    if not np.all(np.isfinite(f)):
        raise ValueError("persistence_diagrams: f must be finite (it holds NaN or inf)")
    name = backend or default_backend()
    if name not in _BACKENDS:
        raise ValueError(f"unknown persistence backend {name!r}; available: {available_backends()}")
    return _BACKENDS[name](f, construction)


def _gudhi_backend(f: np.ndarray, construction: str) -> dict[int, Diagram]:
    import gudhi

    height, width = f.shape
    flat = np.ascontiguousarray(f).ravel()
    # gudhi reads a flat array with its first dimension varying fastest (Fortran order). Declaring
    # the shape as (W, H) makes gudhi's cell k the C-order pixel k, so the indices it returns are
    # our C-order indices and its tie order is that of the official (square, transposed) call.
    if construction == "T":
        complex_ = gudhi.CubicalComplex(dimensions=[width, height], top_dimensional_cells=flat)
        complex_.persistence()
        regular, essential = complex_.cofaces_of_persistence_pairs()
    else:
        complex_ = gudhi.CubicalComplex(dimensions=[width, height], vertices=flat)
        complex_.persistence()
        regular, essential = complex_.vertices_of_persistence_pairs()
    argmax = int(np.argmax(flat))
    diagrams = {}
    for dim in (0, 1):
        pairs = regular[dim] if dim < len(regular) else np.empty((0, 2), np.int64)
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        creators, destroyers = [pairs[:, 0]], [pairs[:, 1]]
        if dim < len(essential) and len(essential[dim]):
            born = np.asarray(essential[dim], dtype=np.int64).reshape(-1)
            creators.append(born)
            destroyers.append(np.full_like(born, argmax))
        diagrams[dim] = Diagram.from_pixels(flat, np.concatenate(creators), np.concatenate(destroyers))
    return diagrams


def _native_backend(f: np.ndarray, construction: str) -> dict[int, Diagram]:
    pairs = native.persistence_pairs(f, construction)
    return {dim: Diagram.from_pixels(f, *pairs[dim]) for dim in (0, 1)}


register_backend("gudhi", _gudhi_backend)
if native.available():
    register_backend("native", _native_backend)
