"""Host losses under a device mesh: each device's callback gets only its own images (``mesh=``).

The multi-device checks run in one subprocess with 4 CPU devices forced through XLA_FLAGS, which
must be set before jax is imported (this test process already has jax, with one device). The
subprocess counts the host calls by wrapping the batch function the callback calls, and prints
its measurements as JSON; the tests below check them.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtopo

from forced_devices import run_on_devices

DEVICES = 4
BATCH = 8

SCRIPT = r"""
import json

import jax
import jax.numpy as jnp
import numpy as np

import jaxtopo

BATCH = {batch}

rng = np.random.default_rng(0)
probs = rng.uniform(size=(BATCH, 20, 20)).astype(np.float32)
labels = (rng.uniform(size=(BATCH, 20, 20)) > 0.6).astype(np.float32)
weights = rng.uniform(0.5, 1.5, size=BATCH).astype(np.float32)  # so "none" gradients differ per image

Auto = jax.sharding.AxisType.Auto
meshes = {{
    # what jax.sharding.Mesh(devices, ("data",)) gives, and the default of jax.make_mesh on jax >= 0.8
    "auto": jax.make_mesh((DEVICES,), ("data",), axis_types=(Auto,)),
    "explicit": jax.make_mesh((DEVICES,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,)),
}}


def objective(loss, reduction, **kw):
    # a scalar to differentiate plus the loss itself (the [B] values for "none")
    def fn(p, t):
        value = loss(p, t, reduction=reduction, **kw)
        scalar = value if reduction == "mean" else jnp.dot(weights, value)
        return scalar, value
    return fn


def relative_difference(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def sharded_run(loss, reduction, mesh, batch_axis="data"):
    spec = jax.sharding.PartitionSpec(batch_axis)
    sharding = jax.sharding.NamedSharding(mesh, spec)
    p, t = jax.device_put(probs, sharding), jax.device_put(labels, sharding)
    traces = []

    def counted(p, t):
        traces.append(1)
        return objective(loss, reduction, mesh=mesh, batch_axis=batch_axis)(p, t)

    step = jax.jit(jax.value_and_grad(counted, has_aux=True))
    HOST_CALLS.clear()
    (_, value), grad = jax.block_until_ready(step(p, t))
    calls = list(HOST_CALLS)
    jax.block_until_ready(step(p * 0.9, t))  # same shapes, new values: no new trace
    return value, grad, calls, len(traces)


results = {{}}
for name in ("sat_loss", "wasserstein_loss", "betti_matching_loss"):
    loss = getattr(jaxtopo, name)
    for reduction in ("mean", "none"):
        (_, ref_value), ref_grad = jax.jit(jax.value_and_grad(objective(loss, reduction), has_aux=True))(
            probs, labels
        )
        mesh_names = ("auto", "explicit") if name == "sat_loss" else ("auto",)
        for mesh_name in mesh_names:
            value, grad, calls, traces = sharded_run(loss, reduction, meshes[mesh_name])
            results[f"{{name}}/{{reduction}}/{{mesh_name}}"] = {{
                "value": relative_difference(value, ref_value),
                "grad": relative_difference(grad, ref_grad),
                "grad_norm": float(np.linalg.norm(np.asarray(ref_grad))),
                "calls": calls,
                "traces": traces,
            }}

# a batch split over two mesh axes at once
grid = jax.make_mesh((2, DEVICES // 2), ("data", "model"), axis_types=(Auto, Auto))
(_, ref_value), _ = jax.value_and_grad(objective(jaxtopo.sat_loss, "mean"), has_aux=True)(probs, labels)
value, _, calls, _ = sharded_run(jaxtopo.sat_loss, "mean", grid, batch_axis=("data", "model"))
results["two_axes"] = {{"value": relative_difference(value, ref_value), "calls": calls}}

# inputs not laid out over the mesh at all (host arrays), on either kind of mesh axes
for mesh_name, mesh in meshes.items():
    HOST_CALLS.clear()
    value = jax.block_until_ready(jax.jit(lambda p, t: jaxtopo.sat_loss(p, t, mesh=mesh))(probs, labels))
    results[f"host_inputs/{{mesh_name}}"] = {{"value": relative_difference(value, ref_value), "calls": list(HOST_CALLS)}}

try:
    jax.jit(lambda p, t: jaxtopo.sat_loss(p, t, mesh=meshes["auto"]))(probs[:6], labels[:6])
    results["indivisible"] = None
except ValueError as error:
    results["indivisible"] = str(error)

print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def measured():
    """The subprocess's measurements, keyed "loss/reduction/mesh kind" (and a few extras)."""
    return run_on_devices(SCRIPT.format(batch=BATCH), DEVICES, timeout=300)[0]


CASES = [
    f"{name}/{reduction}/{mesh}"
    for name in ("sat_loss", "wasserstein_loss", "betti_matching_loss")
    for reduction in ("mean", "none")
    for mesh in (("auto", "explicit") if name == "sat_loss" else ("auto",))
]


@pytest.mark.parametrize("case", CASES)
def test_sharded_values_and_gradients_equal_the_single_device_ones(measured, case):
    result = measured[case]
    assert result["grad_norm"] > 0, "a zero gradient would make the comparison vacuous"
    # the mean may sum in another order across devices: equal up to float32 rounding
    assert result["value"] <= 1e-6, result
    assert result["grad"] <= 1e-6, result


@pytest.mark.parametrize("case", CASES)
def test_the_callback_runs_once_per_device_on_its_own_images(measured, case):
    assert measured[case]["calls"] == [BATCH // DEVICES] * DEVICES, measured[case]


@pytest.mark.parametrize("case", CASES)
def test_the_sharded_loss_compiles_once(measured, case):
    assert measured[case]["traces"] == 1, measured[case]


def test_a_batch_axis_can_name_several_mesh_axes(measured):
    assert measured["two_axes"]["calls"] == [BATCH // DEVICES] * DEVICES, measured["two_axes"]
    assert measured["two_axes"]["value"] <= 1e-6


@pytest.mark.parametrize("mesh", ["auto", "explicit"])
def test_inputs_not_yet_split_over_the_mesh_are_split_for_the_callback(measured, mesh):
    result = measured[f"host_inputs/{mesh}"]
    assert result["calls"] == [BATCH // DEVICES] * DEVICES, result
    assert result["value"] <= 1e-6, result


def test_a_batch_that_does_not_split_evenly_names_both_numbers(measured):
    message = measured["indivisible"]
    assert message is not None, "a batch of 6 over 4 devices should raise"
    assert message.startswith("sat_loss:") and "6 images" in message and "4 devices" in message


# in this process (one device): the same keyword, a mesh of whatever devices there are


def _batch(batch=2, size=16):
    rng = np.random.default_rng(1)
    probs = rng.uniform(size=(batch, size, size)).astype(np.float32)
    labels = (rng.uniform(size=(batch, size, size)) > 0.6).astype(np.float32)
    return probs, labels


@pytest.mark.parametrize("loss", [jaxtopo.sat_loss, jaxtopo.he_loss, jaxtopo.tc_loss,
                                  jaxtopo.topological_loss, jaxtopo.betti_matching_loss])
def test_a_mesh_of_the_available_devices_gives_the_unsharded_result(loss):
    probs, labels = _batch(batch=2 * jax.device_count())
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    plain = jax.value_and_grad(lambda p: loss(p, labels))(probs)
    sharded = jax.jit(jax.value_and_grad(lambda p: loss(p, labels, mesh=mesh)))(probs)
    np.testing.assert_allclose(sharded[0], plain[0], rtol=1e-6)
    np.testing.assert_allclose(sharded[1], plain[1], rtol=1e-6, atol=1e-7)


def test_an_eager_call_with_a_mesh_works_too():
    probs, labels = _batch()
    mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
    np.testing.assert_allclose(
        jaxtopo.wasserstein_loss(probs, labels, mesh=mesh, reduction="none"),
        jaxtopo.wasserstein_loss(probs, labels, reduction="none"),
    )


def test_a_batch_axis_missing_from_the_mesh_is_named():
    probs, labels = _batch()
    mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
    with pytest.raises(ValueError, match=r"betti_matching_loss: batch_axis 'batch' .* \('data',\)"):
        jaxtopo.betti_matching_loss(jnp.asarray(probs), labels, mesh=mesh, batch_axis="batch")


LARGE_OPERANDS = r"""
import json

import jax
import numpy as np

import jaxtopo

mesh = jax.make_mesh((DEVICES,), ("data",))
split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
rng = np.random.default_rng(0)
# 4 images of 96 x 96 per device: 147 KiB per operand, above XLA's 100 KiB inline-copy size
probs = jax.device_put(rng.random((8, 96, 96)).astype(np.float32), split)
targets = jax.device_put((rng.random((8, 96, 96)) > 0.5).astype(np.float32), split)
values = {}
for name, loss in {"sat": jaxtopo.sat_loss, "bm": jaxtopo.betti_matching_loss}.items():
    step = jax.jit(jax.value_and_grad(lambda p, t: loss(p, t, mesh=mesh)))
    value, grad = step(probs, targets)
    values[name] = [float(value), float(np.abs(np.asarray(grad)).sum())]
print("RESULTS " + json.dumps({"values": values, "calls": HOST_CALLS}))
"""


def test_device_callbacks_with_large_operands_finish_when_every_core_runs_one():
    """Two CPU devices on a machine of two cores (CI's): each device's computation waits in its
    callback, and jax copies the callback's operands onto CPU device 0 first. Operands above
    100 KiB used to be copied by the worker threads that were all waiting: the step never ended.
    On a machine with more cores the threads are not all taken and this passes either way."""
    results, _ = run_on_devices(LARGE_OPERANDS, 2, timeout=240)
    assert results["calls"] == [4, 4, 4, 4]  # two losses x two devices, 4 images each
    rng = np.random.default_rng(0)
    probs = rng.random((8, 96, 96)).astype(np.float32)
    targets = (rng.random((8, 96, 96)) > 0.5).astype(np.float32)
    for name, loss in {"sat": jaxtopo.sat_loss, "bm": jaxtopo.betti_matching_loss}.items():
        value, grad = jax.value_and_grad(loss)(probs, targets)
        assert results["values"][name] == pytest.approx([float(value), float(np.abs(grad).sum())], rel=1e-5)
