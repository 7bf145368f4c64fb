"""Static (trace-time) checks shared by every loss.

All checks here look only at shapes and dtypes, which are known while tracing, so they raise
ValueError/TypeError before anything runs and work the same inside `jax.jit`. Value problems
(NaN, probabilities outside [0, 1]) are never checked here: branching on values is impossible
under jit. Each loss documents what it returns for such values instead.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def _describe(x) -> str:
    return f"shape {tuple(np.shape(x))} and dtype {jnp.result_type(x)}"


def image_batch(x, *, name: str, fn: str, spatial_dims: int = 2) -> jnp.ndarray:
    """Returns `x` as [B, *spatial] after checking rank and the optional trailing channel of 1.

    Accepted: [B, H, W] or [B, H, W, 1] for spatial_dims=2; [B, D, H, W] or [B, D, H, W, 1] for 3.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"{fn}: spatial_dims must be 2 or 3, got {spatial_dims!r}")
    shape = tuple(np.shape(x))
    rank = len(shape)
    if rank == spatial_dims + 2:
        if shape[-1] != 1:
            hint = (
                " (a 3D volume? this function is 2D-only)"
                if spatial_dims == 2
                else " (more than one channel?)"
            )
            raise ValueError(
                f"{fn}: {name} has shape {shape}; expected "
                f"{_layout(spatial_dims)} with a trailing channel of size 1{hint}"
            )
        x = jnp.asarray(x)[..., 0]
    elif rank != spatial_dims + 1:
        hint = " (a 3D volume? this function is 2D-only)" if spatial_dims == 2 and rank == 5 else ""
        raise ValueError(
            f"{fn}: {name} has shape {shape} (rank {rank}); expected {_layout(spatial_dims)}{hint}"
        )
    x = jnp.asarray(x)
    if any(s == 0 for s in x.shape):
        raise ValueError(f"{fn}: {name} has shape {shape} with an empty axis")
    return x


def _layout(spatial_dims: int) -> str:
    return "[B, H, W] or [B, H, W, 1]" if spatial_dims == 2 else "[B, D, H, W] or [B, D, H, W, 1]"


def prediction_and_target(
    predictions, targets, *, fn: str, spatial_dims: int = 2, pred_name: str = "predictions"
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Checks a (prediction, target) pair; returns both as [B, *spatial] in the prediction dtype."""
    if not jnp.issubdtype(jnp.result_type(predictions), jnp.floating):
        raise TypeError(
            f"{fn}: {pred_name} must be a floating-point array, got {_describe(predictions)}"
        )
    target_dtype = jnp.result_type(targets)
    if not (
        jnp.issubdtype(target_dtype, jnp.number) or jnp.issubdtype(target_dtype, jnp.bool_)
    ) or jnp.issubdtype(target_dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: targets must be a real or boolean array, got {_describe(targets)}")
    p = image_batch(predictions, name=pred_name, fn=fn, spatial_dims=spatial_dims)
    t = image_batch(targets, name="targets", fn=fn, spatial_dims=spatial_dims)
    if p.shape != t.shape:
        raise ValueError(
            f"{fn}: {pred_name} shape {tuple(np.shape(predictions))} and targets shape "
            f"{tuple(np.shape(targets))} do not match"
        )
    return p, t.astype(p.dtype)


def check_reduction(reduction: str, *, fn: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def reduce(per_image: jnp.ndarray, reduction: str) -> jnp.ndarray:
    """Applies a checked reduction to a [B] vector of per-image values."""
    if reduction == "mean":
        return jnp.mean(per_image)
    if reduction == "sum":
        return jnp.sum(per_image)
    return per_image
