"""Checks shared by every loss: static shape/dtype checks and the one value-range policy.

Shapes and dtypes are known while tracing, so those checks raise ValueError/TypeError before
anything runs, the same way inside `jax.jit`.

Value ranges. Targets must lie in [0, 1] (binary {0, 1} masks or soft targets), and so must
predictions wherever a loss takes probabilities (logits may be any finite number). The policy:

* Concrete input (an eager call; also an array closed over by a jitted function, checked once
  at trace time): a finite value outside [0, 1] raises ValueError naming the function, the
  argument, the range found and the usual fix (a {0, 255} mask divided by 255, sigmoid applied
  to logits). This costs one fused reduction per array and one device-to-host sync.
* Traced input (under `jax.jit`, `jax.grad`, `jax.vmap`), where raising is impossible: every
  image holding a value outside [0, 1] gets a NaN loss and an exactly zero gradient, so the
  trainer's stop on a non-finite loss reports it instead of training on a wrong loss.
* Non-finite values (NaN, +-inf; for logits: any non-finite value) never raise, eager or not:
  they signal a diverged network rather than a convention mistake, and get the same NaN loss
  with a zero gradient.

The zero gradient needs more than masking the loss: before computing, the inputs of invalid
images are replaced by a harmless in-range constant (`checked_pair`), so no inf or NaN partial
derivative can leak through the final ``where`` (0 * inf is NaN). `reduce` then writes the NaN.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

REDUCTIONS = ("mean", "sum", "none")

# what an invalid image's inputs become before the loss runs: inside [0, 1] and away from its
# ends, so every loss (even soft Dice with smooth=0) stays finite with finite derivatives
_SANITISED_VALUE = 0.5


def _describe(x) -> str:
    return f"shape {tuple(np.shape(x))} and dtype {jnp.result_type(x)}"


def image_batch(
    x, *, name: str, fn: str, spatial_dims: int = 2, supports_3d: bool = False
) -> jnp.ndarray:
    """Returns `x` as [B, *spatial] after checking rank and the optional trailing channel of 1.

    Accepted: [B, H, W] or [B, H, W, 1] for spatial_dims=2; [B, D, H, W] or [B, D, H, W, 1] for 3.
    ``supports_3d`` says whether `fn` takes ``spatial_dims=3``; it only changes the hint given
    for a volume passed as 2D input.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"{fn}: spatial_dims must be 2 or 3, got {spatial_dims!r}")
    volume_hint = (
        " (a 3D volume? pass spatial_dims=3)"
        if supports_3d
        else " (a 3D volume? this function is 2D-only)"
    )
    shape = tuple(np.shape(x))
    rank = len(shape)
    if rank == spatial_dims + 2:
        if shape[-1] != 1:
            hint = volume_hint if spatial_dims == 2 else " (more than one channel?)"
            raise ValueError(
                f"{fn}: {name} has shape {shape}; expected "
                f"{_layout(spatial_dims)} with a trailing channel of size 1{hint}"
            )
        x = jnp.asarray(x)[..., 0]
    elif rank != spatial_dims + 1:
        hint = volume_hint if spatial_dims == 2 and rank == 5 else ""
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
    predictions,
    targets,
    *,
    fn: str,
    spatial_dims: int = 2,
    pred_name: str = "predictions",
    supports_3d: bool = False,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Checks a (prediction, target) pair's shapes and dtypes; returns both as [B, *spatial].

    The targets keep their dtype here (`checked_pair` casts them after the range check).
    """
    if not jnp.issubdtype(jnp.result_type(predictions), jnp.floating):
        raise TypeError(
            f"{fn}: {pred_name} must be a floating-point array, got {_describe(predictions)}"
        )
    target_dtype = jnp.result_type(targets)
    if not (
        jnp.issubdtype(target_dtype, jnp.number) or jnp.issubdtype(target_dtype, jnp.bool_)
    ) or jnp.issubdtype(target_dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: targets must be a real or boolean array, got {_describe(targets)}")
    batch = functools.partial(image_batch, fn=fn, spatial_dims=spatial_dims, supports_3d=supports_3d)
    p = batch(predictions, name=pred_name)
    t = batch(targets, name="targets")
    if p.shape != t.shape:
        raise ValueError(
            f"{fn}: {pred_name} shape {tuple(np.shape(predictions))} and targets shape "
            f"{tuple(np.shape(targets))} do not match"
        )
    return p, t


# ---------------------------------------------------------------------------------------------
# value ranges


def inside_unit_interval(x):
    """Elementwise ``0 <= x <= 1`` for numpy or jax arrays; False for NaN and +-inf."""
    return (x >= 0) & (x <= 1)


def all_inside_unit_interval(a: np.ndarray) -> bool:
    """``inside_unit_interval`` for every element of a numpy array, as two reductions and no
    temporary array (the host losses check every image): min and max propagate NaN, so NaN and
    +-inf still fail."""
    return a.size == 0 or bool(a.min() >= 0 and a.max() <= 1)


def _per_image_ok(x, probabilities: bool) -> jnp.ndarray:
    """[B] bool: image b lies in its domain ([0, 1], or the finite reals for logits). Reduces over
    every axis but the first, so it takes the caller's array with or without its channel axis."""
    inside = inside_unit_interval(x) if probabilities else jnp.isfinite(x)
    return jnp.all(inside, axis=tuple(range(1, jnp.ndim(x))))


@functools.partial(jax.jit, static_argnames="probabilities")
def _eager_summary(x: jnp.ndarray, probabilities: bool):
    """One compiled pass over a concrete array: per-image validity, whether all images are valid,
    and whether a *finite* value lies outside [0, 1] (the case that raises)."""
    ok = _per_image_ok(x, probabilities)
    finite_outside = (
        jnp.any(jnp.isfinite(x) & ~inside_unit_interval(x)) if probabilities else jnp.zeros((), bool)
    )
    return ok, jnp.all(ok), finite_outside


def _range_error(x, *, name: str, fn: str, fix: str | None) -> ValueError:
    """The error for finite values outside [0, 1]; ``fix=None`` picks the targets' advice."""
    x = jnp.asarray(x)
    finite = jnp.isfinite(x)
    low = float(jnp.min(jnp.where(finite, x, jnp.inf)))
    high = float(jnp.max(jnp.where(finite, x, -jnp.inf)))
    if fix is None:
        fix = (
            "divide a {0, 255} mask by 255"
            if low >= 0 and high == 255
            else f"binarise it, e.g. {name} > 0"
        )
    return ValueError(f"{fn}: {name} has values in [{low:g}, {high:g}]; expected [0, 1]: {fix}")


def _unit_interval_ok(raw, *, name: str, fn: str, fix: str | None, probabilities: bool = True):
    """[B] validity of the array ``raw`` the caller passed (shape already checked), or None when
    every image is valid for sure; raises for concrete bad values (see the module docstring)."""
    if jnp.result_type(raw) == jnp.bool_:
        return None  # a bool mask is always inside [0, 1]
    if isinstance(raw, jax.core.Tracer):
        return _per_image_ok(raw, probabilities)
    # concrete, possibly closed over inside a trace: evaluate now rather than stage it, so the
    # error is raised at trace time and a valid array costs nothing at run time
    with jax.ensure_compile_time_eval():
        ok, all_ok, finite_outside = jax.device_get(_eager_summary(jnp.asarray(raw), probabilities))
        if finite_outside:
            raise _range_error(raw, name=name, fn=fn, fix=fix)
    return None if all_ok else jnp.asarray(ok)


def checked_pair(
    predictions,
    targets,
    *,
    fn: str,
    spatial_dims: int = 2,
    pred_name: str = "probs",
    logits: bool = False,
    supports_3d: bool = False,
    from_logits_option: bool = False,
):
    """`prediction_and_target` plus the value-range policy (module docstring).

    Returns ``(p, t, valid)``: both as [B, *spatial] in the prediction dtype promoted to at least
    float32, where the images that fail the policy are replaced by a constant, and ``valid`` ([B]
    bool, or None when every image is statically valid) to hand to `reduce`. ``logits``: the
    predictions are logits (only their finiteness matters). ``from_logits_option``: `fn` offers
    ``from_logits=True``, which the error message then suggests.
    """
    p, t = prediction_and_target(
        predictions, targets, fn=fn, spatial_dims=spatial_dims, pred_name=pred_name,
        supports_3d=supports_3d,
    )
    fix = "pass probabilities, e.g. jax.nn.sigmoid(logits)"
    if from_logits_option:
        fix += ", or pass logits with from_logits=True"
    masks = [
        _unit_interval_ok(predictions, name=pred_name, fn=fn, fix=fix, probabilities=not logits),
        _unit_interval_ok(targets, name="targets", fn=fn, fix=None),
    ]
    masks = [m for m in masks if m is not None]
    valid = functools.reduce(jnp.logical_and, masks) if masks else None
    dtype = jnp.promote_types(p.dtype, jnp.float32)
    p, t = p.astype(dtype), t.astype(dtype)
    if valid is not None:
        keep = valid.reshape(valid.shape + (1,) * (p.ndim - 1))
        p = jnp.where(keep, p, _SANITISED_VALUE)
        t = jnp.where(keep, t, _SANITISED_VALUE)
    return p, t, valid


def check_reduction(reduction: str, *, fn: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def reduce(per_image: jnp.ndarray, reduction: str, valid=None) -> jnp.ndarray:
    """Applies a checked reduction to a [B] vector of per-image values; images that are not
    ``valid`` (from `checked_pair`) become NaN first, with a zero gradient."""
    if valid is not None:
        per_image = jnp.where(valid, per_image, jnp.nan)
    if reduction == "mean":
        return jnp.mean(per_image)
    if reduction == "sum":
        return jnp.sum(per_image)
    return per_image
