"""Shared test helpers: gradient checks in float64, and calling a loss with or without jit."""

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest


@contextlib.contextmanager
def x64():
    """float64 on, globally, for the block.

    Not jax.enable_x64 (the context manager): its setting is thread-local, and a host loss's
    pure_callback may run on an XLA thread, where jax then checks the callback's float64 output
    against float32 and fails at random ("Incorrect output dtype"). Users who enable float64 do
    it globally, with jax.config.update, as here.
    """
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def finite_difference_check(loss, x, *, seed=0, directions=3, step=1e-6, rtol=1e-6):
    """Compares <grad, v> with a central difference along random directions v (float64)."""
    value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compilation for all evaluations
    _, grad = value_and_grad(x)
    rng = np.random.default_rng(seed)
    for _ in range(directions):
        v = rng.normal(size=x.shape)
        numeric = (value_and_grad(x + step * v)[0] - value_and_grad(x - step * v)[0]) / (2 * step)
        analytic = jnp.vdot(grad, v)
        assert float(analytic) == pytest.approx(float(numeric), rel=rtol, abs=1e-9)


@functools.lru_cache(maxsize=None)
def jitted_with(fn, options):
    # one jit per (function, options) for the whole test session, so compilations are reused
    return jax.jit(functools.partial(fn, **dict(options)))


def call(fn, jitted, *args, **options):
    """Runs fn with static options, optionally under jax.jit."""
    if jitted:
        return jitted_with(fn, tuple(sorted(options.items())))(*args)
    return fn(*args, **options)
