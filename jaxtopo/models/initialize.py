"""`initialized(build)`: an NNX module whose parameters are drawn in one compiled call.

Built eagerly, a module runs each initializer as its own small XLA program, compiled for each
weight shape. On CPU, at XLA's default optimization, the threefry random bits behind every
`truncated_normal` took 2-3 s to compile per shape: the synthetic U-Net took 15-17 s to build
before its first step (2-core Xeon VM, jax 0.10.2, flax 0.12.8). Drawn in one program compiled
at optimization level 1, the same parameters come out bit for bit (tests/test_unet.py checks it)
in 2-4 s. The level only affects this one-off program, never the training step. On jax 0.7.1
(the oldest supported) a jitted draw differs from the eager one in the last bit of a few values
at any optimization level, the default included; the tests hold them equal to float32 rounding
there.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import jax
from flax import nnx

M = TypeVar("M", bound=nnx.Module)

# measured on CPU: level 1 and 2 gave the eager parameters bit for bit, level 0 did not (a few
# values 1 ulp apart); other backends keep their default, where nothing was measured
_CPU_OPTIONS = {"xla_backend_optimization_level": 1}


def initialized(build: Callable[[], M]) -> M:
    """``build()`` (a function that constructs an NNX module), run as one jitted program.

    The module is the one ``build()`` would return eagerly: same structure, same values (bit for
    bit on jax 0.10; see above for older jax). On backends other than CPU it is built eagerly.
    """
    if jax.default_backend() != "cpu":
        return build()
    graphdef, _ = nnx.split(nnx.eval_shape(build))
    state = jax.jit(lambda: nnx.split(build())[1], compiler_options=_CPU_OPTIONS)()
    return nnx.merge(graphdef, state)
