"""Slow, independent reference of the official SATLoss value: gudhi + POT's exact transport.

Written from the semantics in docs/conventions.md, sections 2-6 (not from jaxtopo's code): the
augmented (n + 1) x (m + 1) cost matrix solved by ``ot.emd2``, as the official PyTorch code does.
Index handling goes through gudhi's 2D-array path on the transposed image, a different code
path from jaxtopo's flat call, so index-order mistakes on non-square images show up.
"""

from __future__ import annotations

import gudhi
import numpy as np
import ot


def reference_pairs(f: np.ndarray, construction: str = "T"):
    """{dim: (creators, destroyers)} as (row, col) arrays; essential destroyer = argmax f."""
    # gudhi reads a 2D array as top cells and returns Fortran-order indices of *that* array;
    # handing it f.T makes those the C-order indices of f (and matches the official tie order).
    if construction == "T":
        cc = gudhi.CubicalComplex(top_dimensional_cells=f.T)
        cc.persistence()
        regular, essential = cc.cofaces_of_persistence_pairs()
    else:
        cc = gudhi.CubicalComplex(vertices=f.T)
        cc.persistence()
        regular, essential = cc.vertices_of_persistence_pairs()
    out = {}
    for dim in (0, 1):
        pairs = list(regular[dim]) if dim < len(regular) else []
        if dim < len(essential):
            pairs += [(c, int(np.argmax(f))) for c in essential[dim]]
        pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        out[dim] = (np.stack(np.unravel_index(pairs[:, 0], f.shape), 1),
                    np.stack(np.unravel_index(pairs[:, 1], f.shape), 1))
    return out


def reference_matching_value(pred, target, pred_xy, target_xy, *, q=1, spatial=True, min_w=0.05):
    """Optimal partial matching cost by POT on the augmented matrix."""
    n, m = len(pred), len(target)
    pd = np.sqrt(((pred[:, None, :] - target[None, :, :]) ** 2).sum(-1))
    sd = np.sqrt(((pred_xy[:, None, :] - target_xy[None, :, :]) ** 2).sum(-1))
    if q == 2:
        pd, sd = pd**2, sd**2
    s = np.clip(sd, min_w, 1.0) if spatial else np.ones_like(sd)
    diag = lambda d: (np.abs(d[:, 1] - d[:, 0]) / np.sqrt(2.0)) ** q
    if n == 0 or m == 0:  # nothing to transport between the diagrams: all to the diagonal
        return float(diag(pred).sum() + diag(target).sum())
    M = np.zeros((n + 1, m + 1))
    M[:n, :m] = s * pd
    M[:n, m] = diag(pred)
    M[n, :m] = diag(target)
    a = np.ones(n + 1)
    b = np.ones(m + 1)
    a[-1], b[-1] = m, n
    return float(ot.emd2(a, b, M, numItermax=10_000_000))


def reference_diagrams(image, *, pad=False, construction="T"):
    """{dim: (points [k, 2] of (birth, death) in f = 1 - clip(image), creator (row, col) / (H, W))}.

    Creator coordinates are divided by the unpadded height and width, as docs/conventions.md section 5 says; with
    ``pad`` they are rows and columns of the padded frame (an offset that cancels in distances).
    """
    x = np.asarray(image, dtype=np.float64)
    if pad:
        x = np.pad(x, 1, constant_values=1.0)
    f = 1.0 - np.clip(x, 0.0, 1.0)
    norm = np.array(np.shape(image), dtype=np.float64)
    out = {}
    for dim, (creators, destroyers) in reference_pairs(f, construction).items():
        points = np.stack([f[tuple(creators.T)], f[tuple(destroyers.T)]], 1) if len(creators) else np.zeros((0, 2))
        out[dim] = (points, creators / norm)
    return out


def reference_sat_loss(likelihood, target, *, pad=False, q=1, spatial=True, construction="T", dims=(0, 1),
                       min_w=0.05):
    """Official-style SATLoss of one image (value only)."""
    pred = reference_diagrams(likelihood, pad=pad, construction=construction)
    tgt = reference_diagrams(target, pad=pad, construction=construction)
    total = 0.0
    for dim in dims:
        (p, p_xy), (t, t_xy) = pred[dim], tgt[dim]
        total += reference_matching_value(p, t, p_xy, t_xy, q=q, spatial=spatial, min_w=min_w)
    return total
