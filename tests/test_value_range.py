"""The value-range policy shared by every loss (jaxtopo/_validation.py).

Targets, and probabilities where a loss takes them, must lie in [0, 1]. Eager calls with a finite
value outside raise ValueError naming the function, the argument, the range and the fix; traced
calls give that image a NaN loss and an exactly zero gradient; NaN and inf never raise.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtopo
from jaxtopo.host import betti_matching as bm_host
from jaxtopo.host.image_loss import TopoLossConfig, image_loss_and_grad
from jaxtopo.losses.cldice import _cldice_per_image
from jaxtopo.training import named_config, override
from jaxtopo.training.objective import objective

PROBABILITY_LOSSES = [
    jaxtopo.bce_loss, jaxtopo.soft_dice_loss, jaxtopo.soft_cldice_loss, jaxtopo.dice_cldice_loss,
    jaxtopo.topological_loss, jaxtopo.sat_loss, jaxtopo.wasserstein_loss, jaxtopo.he_loss,
    jaxtopo.tc_loss, jaxtopo.betti_matching_loss,
]
ALL_LOSSES = PROBABILITY_LOSSES + [jaxtopo.bce_with_logits_loss]
FROM_LOGITS = [jaxtopo.soft_dice_loss, jaxtopo.soft_cldice_loss, jaxtopo.dice_cldice_loss]


def _batch(seed=0, shape=(3, 8, 8)):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.05, 0.95, shape).astype(np.float32)
    targets = (rng.random(shape) > 0.5).astype(np.float32)
    return probs, targets


@functools.lru_cache(maxsize=None)
def _jitted(fn):
    """Per-image values and the gradient of their sum, jitted once per loss (traced inputs)."""
    values = jax.jit(lambda p, t: fn(p, t, reduction="none"))
    grads = jax.jit(jax.grad(lambda p, t: fn(p, t, reduction="sum")))
    return values, grads


def _values_and_grads(fn, probs, targets):
    values, grads = _jitted(fn)
    return np.asarray(values(probs, targets)), np.asarray(grads(probs, targets))


# ------------------------------------------------------------------ eager: raise, with the fix


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=lambda f: f.__name__)
def test_uint8_mask_raises_naming_function_argument_range_and_fix(fn):
    probs, targets = _batch()
    mask = targets.astype(np.uint8) * 255
    expected = (
        rf"{fn.__name__}: targets has values in \[0, 255\]; expected \[0, 1\]: "
        r"divide a \{0, 255\} mask by 255"
    )
    with pytest.raises(ValueError, match=expected):
        fn(probs, mask)
    fn(probs, mask / 255)  # the fix works


@pytest.mark.parametrize("fn", PROBABILITY_LOSSES, ids=lambda f: f.__name__)
def test_probabilities_outside_the_unit_interval_raise(fn):
    probs, targets = _batch()
    probs[0, 0, 0], probs[2, 1, 1] = -0.25, 1.5  # e.g. logits passed as probabilities
    with pytest.raises(ValueError, match=r"probs has values in \[-0.25, 1.5\].*sigmoid") as info:
        fn(probs, targets)
    assert info.value.args[0].startswith(f"{fn.__name__}: ")
    # only the losses that offer from_logits suggest it
    assert ("from_logits=True" in str(info.value)) == (fn in FROM_LOGITS)


def test_targets_with_negative_values_get_a_binarising_hint():
    probs, _ = _batch()
    targets = np.where(probs > 0.5, 1.0, -1.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\].*targets > 0"):
        jaxtopo.soft_dice_loss(probs, targets)


def test_the_range_in_the_message_ignores_nan():
    probs, targets = _batch()
    probs[0, 0, 0], probs[1, 0, 0] = np.nan, 2.0
    with pytest.raises(ValueError, match=r"probs has values in \[0.0\d+, 2\]"):
        jaxtopo.bce_loss(probs, targets)


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=lambda f: f.__name__)
def test_closed_over_bad_target_raises_at_trace_time(fn):
    probs, targets = _batch()
    mask = targets * 255
    with pytest.raises(ValueError, match="divide a"):
        jax.jit(lambda p: fn(p, mask))(probs)
    with pytest.raises(ValueError, match="divide a"):
        jax.grad(lambda p: fn(p, mask))(jnp.asarray(probs))


def test_values_at_the_ends_and_soft_targets_are_accepted():
    probs = np.array([[[0.0, 1.0], [0.3, 0.7]]], np.float32)
    for targets in (np.array([[[0, 1], [1, 0]]], np.uint8), np.array([[[0.0, 1.0], [0.4, 0.6]]])):
        for fn in PROBABILITY_LOSSES:
            assert np.isfinite(float(fn(probs, targets))), fn.__name__


# ------------------------------------------------------------------ traced: NaN and zero gradient


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("where", ["probs", "targets"])
def test_traced_out_of_range_image_gets_nan_and_zero_gradient(fn, where):
    if where == "probs" and fn is jaxtopo.bce_with_logits_loss:
        pytest.skip("logits may take any finite value")
    probs, targets = _batch()
    clean_values, clean_grads = _values_and_grads(fn, probs, targets)
    if where == "probs":
        probs = probs.copy()
        probs[1, 2, 3] = 1.5
    else:
        targets = targets * np.array([1, 255, 1], np.float32)[:, None, None]
    values, grads = _values_and_grads(fn, probs, targets)
    assert np.isnan(values[1])
    assert np.all(grads[1] == 0)  # exactly zero, also at the bad pixel
    np.testing.assert_allclose(values[[0, 2]], clean_values[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(grads[[0, 2]], clean_grads[[0, 2]], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("fn", [jaxtopo.soft_dice_loss, jaxtopo.sat_loss], ids=lambda f: f.__name__)
def test_out_of_range_under_vmap(fn):
    probs, targets = _batch(shape=(2, 3, 6, 6))
    targets[1, 0] *= 255
    values = jax.vmap(lambda p, t: fn(p, t, reduction="none"))(probs, targets)
    assert np.isnan(values[1, 0]) and np.all(np.isfinite(np.asarray(values).ravel()[[0, 1, 2, 4, 5]]))


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_never_raise_and_give_nan_with_zero_gradient(fn, bad):
    probs, targets = _batch()
    probs[1, 4, 5] = bad
    targets[2, 0, 0] = bad
    values = np.asarray(fn(probs, targets, reduction="none"))  # eager: no raise
    assert np.isfinite(values[0]) and np.isnan(values[1]) and np.isnan(values[2])
    grads = np.asarray(jax.grad(lambda p: fn(p, targets, reduction="sum"))(jnp.asarray(probs)))
    assert np.all(grads[1:] == 0) and np.any(grads[0] != 0)


# ------------------------------------------------------------------ logits


@pytest.mark.parametrize(
    "fn,jitted",
    [(jaxtopo.soft_dice_loss, False), (jaxtopo.soft_dice_loss, True),
     (jaxtopo.soft_cldice_loss, False), (jaxtopo.dice_cldice_loss, True)],
    ids=lambda x: getattr(x, "__name__", str(x)),
)
def test_from_logits_equals_applying_sigmoid(fn, jitted):
    rng = np.random.default_rng(3)
    logits = (4 * rng.standard_normal((2, 10, 10))).astype(np.float32)  # far outside [0, 1]
    _, targets = _batch(shape=(2, 10, 10))

    def ours(x):
        return fn(x, targets, from_logits=True, iterations=4) if fn is not jaxtopo.soft_dice_loss \
            else fn(x, targets, from_logits=True)

    def by_hand(x):
        p = jax.nn.sigmoid(x)
        return fn(p, targets, iterations=4) if fn is not jaxtopo.soft_dice_loss else fn(p, targets)

    wrap = jax.jit if jitted else (lambda f: f)
    np.testing.assert_allclose(float(wrap(ours)(logits)), float(wrap(by_hand)(logits)), rtol=1e-6)
    np.testing.assert_allclose(
        wrap(jax.grad(ours))(logits), wrap(jax.grad(by_hand))(logits), rtol=1e-5, atol=1e-8
    )


def test_from_logits_on_volumes():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((1, 6, 7, 8, 1)).astype(np.float32)
    targets = rng.random((1, 6, 7, 8, 1)) > 0.5
    for fn in (jaxtopo.soft_cldice_loss, jaxtopo.dice_cldice_loss):
        ours = fn(logits, targets, spatial_dims=3, from_logits=True)
        assert float(ours) == pytest.approx(
            float(fn(jax.nn.sigmoid(logits), targets, spatial_dims=3)), rel=1e-6
        )


@pytest.mark.parametrize(
    "fn", [jaxtopo.soft_dice_loss, jaxtopo.dice_cldice_loss, jaxtopo.bce_with_logits_loss],
    ids=lambda f: f.__name__,
)
def test_non_finite_logit_gives_nan_and_zero_gradient(fn):
    options = {} if fn is jaxtopo.bce_with_logits_loss else {"from_logits": True}
    logits = np.random.default_rng(5).standard_normal((2, 8, 8)).astype(np.float32)
    _, targets = _batch(shape=(2, 8, 8))
    logits[1, 0, 0] = np.inf
    values = fn(logits, targets, reduction="none", **options)
    assert np.isfinite(values[0]) and np.isnan(values[1])
    grads = jax.jit(jax.grad(lambda x: fn(x, targets, reduction="sum", **options)))(logits)
    assert np.all(np.asarray(grads)[1] == 0)


# ------------------------------------------------------------------ the host frame


def test_host_frame_refuses_values_outside_the_unit_interval():
    # called directly (not through a loss), the host must not clip 1.5 to 1 and still put a
    # gradient on that pixel
    probs, targets = _batch(shape=(8, 8))
    probs[3, 3] = 1.5
    for value, grad in (
        image_loss_and_grad(probs, targets, TopoLossConfig()),
        bm_host.image_loss_and_grad(probs, targets, bm_host.BettiMatchingConfig()),
        image_loss_and_grad(probs.clip(0, 1), targets * 255, TopoLossConfig()),
    ):
        assert np.isnan(value) and np.all(grad == 0)


# ------------------------------------------------------------------ the training objective


def test_training_objective_with_a_255_mask_stops_training():
    rng = np.random.default_rng(6)
    logits = jnp.asarray(rng.standard_normal((2, 12, 12, 1)), jnp.float32)
    labels = jnp.asarray(rng.random((2, 12, 12)) > 0.6, jnp.float32) * 255
    for name, pixel in [("synthetic_sat", "bce"), ("synthetic_bm", "dice_cldice")]:
        loss = override(named_config(name), [f"loss.pixel={pixel!r}"]).loss

        def total(x, y):
            return objective(x, y, loss)[0]

        value, grads = jax.jit(jax.value_and_grad(total))(logits, labels)
        assert np.isnan(float(value)), (name, pixel)  # the loop's non-finite stop fires
        assert np.all(np.asarray(grads) == 0)
        with pytest.raises(ValueError, match="divide a"):
            total(logits, labels)  # eager: named at the call


# ------------------------------------------------------------------ constant targets in 3D clDice


def _reduce_window_count(fn, *args) -> int:
    return len(re.findall(r"reduce-window\(", jax.jit(fn).lower(*args).compile().as_text()))


def test_closed_over_target_skeleton_is_not_constant_folded():
    # XLA evaluates computations on constants at compile time, and for the target's soft
    # skeleton that is slow. Compiled with the target closed over, every reduce-window of the
    # skeletons must remain, as when the target is an argument. (2D and no gradient: the same
    # folding, and a quick compile.)
    rng = np.random.default_rng(7)
    probs = jnp.asarray(rng.random((1, 8, 8)), jnp.float32)
    target = (rng.random((1, 8, 8)) > 0.5).astype(np.float32)

    def per_image(p, t):  # the shared core, without the value-range checks around it
        return _cldice_per_image(p, t, iterations=3, smooth=1.0).sum()

    for f in (per_image, jaxtopo.soft_cldice_loss):
        as_argument = _reduce_window_count(f, probs, jnp.asarray(target))
        closed_over = _reduce_window_count(lambda p: f(p, target), probs)
        assert closed_over == as_argument, f.__name__


def test_3d_cldice_gradient_with_closed_over_target_prints_no_constant_folding_warning(capfd):
    rng = np.random.default_rng(8)
    probs = jnp.asarray(rng.random((1, 32, 32, 32)), jnp.float32)
    target = (rng.random((1, 32, 32, 32)) > 0.5).astype(np.float32)
    grad = jax.jit(jax.grad(lambda p: jaxtopo.soft_cldice_loss(p, target, spatial_dims=3)))(probs)
    assert np.all(np.isfinite(np.asarray(grad)))
    captured = capfd.readouterr()
    assert "onstant folding" not in captured.err + captured.out


def test_host_check_of_a_whole_array_equals_the_elementwise_rule():
    from jaxtopo._validation import all_inside_unit_interval, inside_unit_interval

    cases = [np.zeros((0, 3)), np.array([0.0, 1.0]), np.array([0.5, -0.0]), np.array([0.5, 1.0 + 1e-7]),
             np.array([-1e-30, 0.5]), np.array([0.5, np.nan]), np.array([np.inf]), np.array([-np.inf, 0.2]),
             np.float32([[0.25, 0.75], [1.0, 0.0]])]
    for a in cases:
        assert all_inside_unit_interval(a) == bool(np.all(inside_unit_interval(a))), a
