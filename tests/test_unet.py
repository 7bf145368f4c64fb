"""Tests of the Flax NNX U-Net (jaxtopo.models.unet)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxtopo.models import UNet, initialized, paper_unet, probabilities, small_unet

# Test-time budget: JAX compiles a threefry random draw once per parameter shape, seconds each
# on a loaded CPU. So every concrete model here has these widths and 3 -> 1 channels, uses the
# "rbg" key implementation (cheap to compile; passed per key, no global config change), inputs
# come from numpy, and other architectures are only checked with nnx.eval_shape (no compile).
TINY = (4, 8, 16)


def _tiny(seed=0, **kwargs):
    rngs = nnx.Rngs(jax.random.key(seed, impl="rbg"))
    return UNet(3, 1, widths=TINY, rngs=rngs, **kwargs)


def _abstract(*args, **kwargs):
    """A UNet whose arrays are ShapeDtypeStructs (no initialisation is run)."""
    return nnx.eval_shape(lambda: UNet(*args, rngs=nnx.Rngs(0), **kwargs))


def _output_shape(model, input_shape):
    x = jax.ShapeDtypeStruct(input_shape, jnp.float32)
    return nnx.eval_shape(lambda m, v: m(v), model, x).shape


def _inputs(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=shape).astype(np.float32))


def _param_count(module) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _batch_stats(module):
    return jax.tree.map(np.asarray, nnx.state(module, nnx.BatchStat))


# One compiled forward per (mode, input shape); nnx.jit writes BatchNorm updates back.
_forward = nnx.jit(lambda model, x: model(x))


@pytest.mark.parametrize("spatial", [(32, 32), (33, 47), (275, 275)])
def test_output_shape_equals_input_shape(spatial):
    model = _tiny()
    model.eval()
    logits = _forward(model, _inputs((2, *spatial, 3)))
    assert logits.shape == (2, *spatial, 1)
    assert logits.dtype == jnp.float32
    assert bool(jnp.isfinite(logits).all())


def test_output_shape_of_degenerate_sizes():
    model = _abstract(3, 1, widths=TINY)
    for spatial in [(1, 1), (5, 4), (2, 129)]:
        assert _output_shape(model, (2, *spatial, 3)) == (2, *spatial, 1)


def test_unbatched_input():
    model = _tiny()
    model.eval()
    x = _inputs((2, 33, 47, 3))
    single = _forward(model, x[0])
    assert single.shape == (33, 47, 1)
    np.testing.assert_allclose(single, _forward(model, x)[0], rtol=1e-5, atol=1e-5)


def test_other_channels_shape():
    model = _abstract(2, 3, widths=TINY)
    assert _output_shape(model, (3, 13, 9, 2)) == (3, 13, 9, 3)
    assert _output_shape(model, (13, 9, 2)) == (13, 9, 3)


@pytest.mark.parametrize("widths", [(4,), (4, 8), (4, 8, 16, 32), (64, 128, 256, 512, 1024)])
def test_depth_follows_widths_and_padding_multiple(widths):
    model = _abstract(3, 1, widths=widths)
    assert model.depth == len(widths) and model.size_multiple == 2 ** (len(widths) - 1)
    assert len(model.down) == len(widths) and len(model.up) == len(widths) - 1
    for spatial in [(19, 23), (275, 275), (1, 1)]:
        assert _output_shape(model, (1, *spatial, 3)) == (1, *spatial, 1)


def test_pad_modes_pad_the_input_as_numpy_does():
    """An input that is not a multiple of size_multiple (4 here) is padded at the bottom and
    right with the chosen mode: the logits equal those of the numpy-padded input, cropped back.
    Eager calls on inputs that pad to 32 x 32, the shape test_jit_matches_eager runs eagerly, so
    the convolutions are compiled once for the module."""
    model = _tiny()
    model.eval()
    x = np.random.default_rng(7).uniform(size=(2, 31, 30, 3)).astype(np.float32)
    outputs = {}
    for pad_mode in ["reflect", "edge", "constant", "symmetric"]:
        # the same weights for every mode; only the mode changes (a valid one, set directly)
        model.pad_mode = pad_mode
        padded = np.pad(x, ((0, 0), (0, 1), (0, 2), (0, 0)), mode=pad_mode)
        logits = np.asarray(model(jnp.asarray(x)))
        assert logits.shape == (2, 31, 30, 1)
        np.testing.assert_allclose(logits, np.asarray(model(jnp.asarray(padded)))[:, :31, :30],
                                   rtol=1e-5, atol=1e-6)
        outputs[pad_mode] = logits
    # the padding reaches the output: any two modes give other logits near the padded border
    modes = list(outputs)
    for i, a in enumerate(modes):
        for b in modes[i + 1:]:
            assert not np.allclose(outputs[a], outputs[b], atol=1e-4), (a, b)
    assert _abstract(3, 1, widths=TINY, pad_mode="symmetric").pad_mode == "symmetric"


def test_wrong_channels_and_rank_raise():
    model = _abstract(3, 1, widths=TINY)
    with pytest.raises(ValueError, match="NHWC"):
        _output_shape(model, (1, 16, 16, 4))
    with pytest.raises(ValueError, match="NHWC"):
        _output_shape(model, (16, 16))
    with pytest.raises(ValueError, match="pad_mode"):
        _abstract(3, 1, widths=TINY, pad_mode="wrap")
    with pytest.raises(ValueError, match="widths"):
        _abstract(3, 1, widths=())


def test_eval_mode_is_deterministic_and_keeps_batch_stats():
    model = _tiny()
    model.train()
    _forward(model, _inputs((2, 32, 32, 3), seed=1) * 3.0)  # move the running averages off init
    model.eval()
    before = _batch_stats(model)
    x = _inputs((2, 32, 32, 3), seed=2)
    first = _forward(model, x)
    second = _forward(model, x)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    # With running averages, an image's output does not depend on the rest of the batch.
    np.testing.assert_allclose(_forward(model, x[::-1])[::-1], first, rtol=1e-5, atol=1e-5)
    jax.tree.map(np.testing.assert_array_equal, before, _batch_stats(model))


def test_train_mode_updates_batch_stats_and_uses_batch_statistics():
    model = _tiny()
    model.train()
    before = _batch_stats(model)
    x = _inputs((2, 32, 32, 3), seed=3) * 5.0 + 2.0
    logits = _forward(model, x)
    after = _batch_stats(model)
    changed = jax.tree.map(lambda a, b: not np.array_equal(a, b), before, after)
    assert all(jax.tree.leaves(changed))
    # PyTorch momentum 0.1: the first update moves the mean 10 % of the way to the batch mean.
    first_mean = after["down"][0]["first"]["norm"]["mean"]
    batch_mean = np.asarray(model.down[0].first.conv(x)).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(first_mean, 0.1 * batch_mean, rtol=1e-4, atol=1e-6)
    # Batch statistics: in train mode an image's output depends on the rest of the batch.
    other = jnp.concatenate([x[:1], _inputs((1, 32, 32, 3), seed=4)])
    assert not np.allclose(np.asarray(_forward(model, other)[0]), np.asarray(logits[0]), atol=1e-4)


def test_jit_matches_eager_and_probabilities_are_sigmoid():
    model = _tiny()
    model.eval()
    x = _inputs((2, 32, 32, 3))
    eager = model(x)
    np.testing.assert_allclose(_forward(model, x), eager, rtol=1e-5, atol=1e-5)
    probs = probabilities(model, x)
    np.testing.assert_allclose(probs, jax.nn.sigmoid(eager), rtol=1e-6)
    assert float(probs.min()) >= 0.0 and float(probs.max()) <= 1.0


def test_jitted_train_step_lowers_bce():
    model = _tiny(seed=4)  # same shapes, other key: nothing new to compile
    model.train()
    optimizer = optax.adam(1e-2)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    opt_state = optimizer.init(params)
    traces = []

    @jax.jit
    def train_step(params, rest, opt_state, x, y):
        traces.append(1)  # runs only while tracing

        def loss_fn(params):
            m = nnx.merge(graphdef, params, rest, copy=True)
            logits = m(x)
            loss = optax.sigmoid_binary_cross_entropy(logits, y).mean()
            return loss, nnx.state(m, nnx.BatchStat)

        (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        rest = nnx.merge_state(rest, new_stats)
        return params, rest, opt_state, {"loss": loss}

    # A learnable target: foreground where the first channel is bright.
    x = _inputs((2, 32, 32, 3), seed=5)
    y = (x[..., :1] > 0.6).astype(jnp.float32)
    losses = []
    for _ in range(30):
        params, rest, opt_state, metrics = train_step(params, rest, opt_state, x, y)
        losses.append(float(metrics["loss"]))
    assert len(traces) == 1
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0], losses
    # The merged model (eval mode, running averages) is also better than at initialisation.
    trained = nnx.merge(graphdef, params, rest)
    trained.eval()
    eval_loss = float(optax.sigmoid_binary_cross_entropy(_forward(trained, x), y).mean())
    assert eval_loss < losses[0]


def _double_conv_params(c_in: int, c_out: int) -> int:
    # two 3x3 convs without bias, each followed by BatchNorm scale + shift
    return 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out


def _expected_unet_params(in_channels: int, out_channels: int, widths) -> int:
    total = 0
    c_in = in_channels
    for w in widths:
        total += _double_conv_params(c_in, w)
        c_in = w
    for deep, shallow in zip(widths[:0:-1], widths[-2::-1]):
        total += 2 * 2 * deep * shallow + shallow  # transposed conv 2x2 with bias
        total += _double_conv_params(2 * shallow, shallow)  # after concatenating the skip
    total += widths[0] * out_channels + out_channels  # 1x1 output conv with bias
    return total


def test_parameter_count_of_the_paper_unet():
    model = nnx.eval_shape(lambda: paper_unet(nnx.Rngs(0)))
    expected = _expected_unet_params(3, 1, (64, 128, 256, 512, 1024))
    assert _param_count(model) == expected
    # the count of the PyTorch U-Net (bilinear=False) that the paper's code base uses
    assert expected == 31_037_633
    assert _param_count(_abstract(3, 1)) == expected


@pytest.mark.parametrize(
    "in_channels,out_channels,widths",
    [(3, 1, (16, 32, 64, 128, 256)), (1, 2, (4, 8, 16)), (3, 1, (5,))],
)
def test_parameter_count_formula_other_sizes(in_channels, out_channels, widths):
    model = _abstract(in_channels, out_channels, widths=widths)
    assert _param_count(model) == _expected_unet_params(in_channels, out_channels, widths)


def test_parameter_count_of_a_concrete_model():
    assert _param_count(_tiny()) == _expected_unet_params(3, 1, TINY)


def test_small_unet():
    model = nnx.eval_shape(lambda: small_unet(nnx.Rngs(0), in_channels=1))
    assert model.widths == (16, 32, 64, 128, 256) and model.in_channels == 1
    assert _param_count(model) == _expected_unet_params(1, 1, (16, 32, 64, 128, 256))
    assert _output_shape(model, (1, 48, 48, 1)) == (1, 48, 48, 1)


# initialized() gives the eager weights bit for bit on the jax it was measured with (0.10.2). On
# jax 0.7.1 (the lower bound) a jitted draw and an eager one differ in the last bit of a few
# values at every optimization level, the default included (3 of the tiny rbg U-Net's, 1 of a
# threefry U-Net's at level 1), so there the weights are held equal to float32 rounding.
BIT_FOR_BIT = tuple(int(part) for part in jax.__version__.split(".")[:2]) >= (0, 10)


def _same_modules(a, b):
    graph_a, state_a = nnx.split(a)
    graph_b, state_b = nnx.split(b)
    assert graph_a == graph_b
    leaves_a, leaves_b = jax.tree.leaves(state_a), jax.tree.leaves(state_b)
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        if BIT_FOR_BIT or not jnp.issubdtype(x.dtype, jnp.floating):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        else:
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-7, atol=1e-9)


def test_initialized_builds_the_eager_model_bit_for_bit():
    eager, compiled = _tiny(seed=3), initialized(lambda: _tiny(seed=3))
    assert isinstance(compiled, UNet)
    _same_modules(eager, compiled)
    with pytest.raises(AssertionError):  # the comparison can fail: another seed gives other weights
        _same_modules(compiled, initialized(lambda: _tiny(seed=4)))


def test_initialized_draws_threefry_weights_as_the_eager_initializers_do():
    # the default key implementation, whose compile time initialized() exists for: one weight
    # shape (a convolution's truncated-normal kernel), eager and in one program at level 1
    build = lambda: nnx.Conv(3, 5, (3, 3), rngs=nnx.Rngs(11))  # noqa: E731
    _same_modules(build(), initialized(build))
