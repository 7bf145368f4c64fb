"""Losses as pure JAX functions: fn(predictions, targets, *, options, reduction) -> jax.Array."""
