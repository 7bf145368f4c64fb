"""The schedule of the topological term (loss.start_epoch, loss.ramp_epochs) and train.init_from.

The schedule is checked at hand-picked steps, the objective with the term switched off against
the pixel loss alone, and the loop on tiny runs (4 images of 16x16, a (4, 8) U-Net, one step per
epoch; each compiles its own train step, so there are three) that leave at their last step (stop_after_steps), so no test-set evaluation is paid for.
Host calls are counted with `jaxtopo.host.image_loss.HOST_CLOCK.calls`, compilations with the
loop's TRACES counter.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtopo.host.image_loss import HOST_CLOCK
from jaxtopo.training import Config, ConfigError, named_config, override, train_and_evaluate
from jaxtopo.training.checkpoints import RunCheckpoints
from jaxtopo.training.loop import TRACES
from jaxtopo.training.objective import check_loss_config, is_scheduled, objective, topological_weight

WEIGHT = 0.1  # large enough that the term visibly moves the loss of a 16x16 image


def _loss(name, *assignments):
    return override(Config({"loss": named_config(f"synthetic_{name}").loss}),
                    [f"loss.{a}" for a in assignments]).loss


# --------------------------------------------------------------------------- the schedule


def test_weight_is_off_before_start_then_ramps_linearly_to_the_loss_weight():
    loss = _loss("sat", f"weight={WEIGHT}", "start_epoch=2", "ramp_epochs=2")
    steps_per_epoch = 3  # start at step 6, ramp over steps 6..11, full from step 11 on
    expected = {0: 0.0, 5: 0.0, 6: WEIGHT / 6, 8: WEIGHT * 3 / 6, 10: WEIGHT * 5 / 6, 11: WEIGHT, 40: WEIGHT}
    for step, weight in expected.items():
        assert topological_weight(loss, step, steps_per_epoch) == pytest.approx(weight, rel=1e-12), step


def test_no_ramp_switches_the_term_on_at_full_weight():
    loss = _loss("sat", f"weight={WEIGHT}", "start_epoch=1")
    assert [topological_weight(loss, s, 4) for s in (0, 3, 4, 9)] == [0.0, 0.0, WEIGHT, WEIGHT]
    # a ramp from the first step: the term is on (and small) from step 0
    ramp = _loss("sat", f"weight={WEIGHT}", "ramp_epochs=1")
    assert [topological_weight(ramp, s, 4) for s in (0, 1, 3, 4)] == pytest.approx(
        [WEIGHT / 4, WEIGHT / 2, WEIGHT, WEIGHT])


def test_the_default_is_unscheduled_and_configs_from_before_the_fields_still_read():
    loss = _loss("sat")
    assert (loss.start_epoch, loss.ramp_epochs) == (0, 0) and not is_scheduled(loss)
    assert topological_weight(loss, 0, 6) == loss.weight
    # a config.json written before the fields existed has neither
    old = Config({k: v for k, v in loss.to_dict().items() if k not in ("start_epoch", "ramp_epochs")})
    check_loss_config(old)
    assert not is_scheduled(old) and topological_weight(old, 3, 6) == old.weight


@pytest.mark.parametrize("field, value", [("start_epoch", -1), ("ramp_epochs", 1.5), ("start_epoch", True)])
def test_bad_schedules_are_refused(field, value):
    loss = _loss("sat")
    loss[field] = value  # set directly: a typed override would refuse 1.5 and True itself
    with pytest.raises(ValueError, match=f"{field} must be a whole number"):
        check_loss_config(loss)


def test_a_schedule_without_a_topological_term_is_refused():
    # clDice's alpha mixes two pixel losses and is never scheduled: a schedule would do nothing
    with pytest.raises(ValueError, match="loss.topological is 'none'"):
        check_loss_config(_loss("cldice", "start_epoch=2"))


# --------------------------------------------------------------------------- the objective


def _inputs():
    rng = np.random.default_rng(4)
    logits = jnp.asarray(rng.normal(size=(2, 12, 12, 1)), jnp.float32)
    labels = np.zeros((2, 12, 12), np.float32)
    labels[:, 2:9, 2:9] = 1.0  # a square with a hole: the topological loss is far from 0
    labels[:, 4:7, 4:7] = 0.0
    return logits, jnp.asarray(labels)


def _value_and_grad(loss):
    """jit(value_and_grad) of the objective in the logits, lambda a traced argument."""
    return jax.jit(jax.value_and_grad(
        lambda logits, labels, weight: objective(logits, labels, loss, weight=weight)[0]))


def test_switched_off_term_gives_the_pixel_loss_and_gradient_without_calling_the_host():
    logits, labels = _inputs()
    scheduled = _loss("sat", f"weight={WEIGHT}", "start_epoch=1")
    pixel_only = _loss("bce")
    want_value, want_grad = jax.jit(jax.value_and_grad(
        lambda x: objective(x, labels, pixel_only)[0]))(logits)

    calls = HOST_CLOCK.calls
    value, grad = _value_and_grad(scheduled)(logits, labels, np.float32(0.0))
    jax.block_until_ready(grad)
    assert HOST_CLOCK.calls == calls  # lax.cond took the branch without the pure_callback
    np.testing.assert_allclose(value, want_value, rtol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-10)


def test_a_traced_weight_gives_what_a_constant_weight_gives():
    logits, labels = _inputs()
    scheduled = _loss("sat", f"weight={WEIGHT}", "start_epoch=1")
    constant = _loss("sat", f"weight={WEIGHT / 2}")
    want_value, want_grad = jax.jit(jax.value_and_grad(
        lambda x: objective(x, labels, constant)[0]))(logits)
    calls = HOST_CLOCK.calls
    value, grad = _value_and_grad(scheduled)(logits, labels, np.float32(WEIGHT / 2))
    jax.block_until_ready(grad)
    assert HOST_CLOCK.calls == calls + 1  # the term is on: one batch on the host
    _, pixel_grad = _value_and_grad(scheduled)(logits, labels, np.float32(0.0))
    assert np.abs(np.asarray(want_grad) - np.asarray(pixel_grad)).max() > 1e-5  # the term counts
    np.testing.assert_allclose(value, want_value, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-9)


# --------------------------------------------------------------------------- the loop

EPOCHS = 5  # one step per epoch; with start 1 and ramp 3 the weights are 0, w/3, 2w/3, w, w
SCHEDULE = {"loss.weight": WEIGHT, "loss.start_epoch": 1, "loss.ramp_epochs": 3}


def _tiny(name, **changes):
    return override(named_config(name), [
        "model.widths=(4, 8)", "data.size=(16, 16)", "data.num_train=4", "data.num_val=2",
        "data.num_test=2", "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=2",
        f"train.epochs={EPOCHS}", f"train.stop_after_steps={EPOCHS}",
    ] + [f"{k}={v!r}" for k, v in changes.items()])


def _steps(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if "loss" in r]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A scheduled sat run, its host calls and compilations counted."""
    root = tmp_path_factory.mktemp("schedule")
    traces, calls = TRACES["train_step"], HOST_CLOCK.calls
    assert train_and_evaluate(_tiny("synthetic_sat", **SCHEDULE), str(root / "sat")) == {"stopped_at": EPOCHS}
    return root, {"traces": TRACES["train_step"] - traces, "host_calls": HOST_CLOCK.calls - calls}


def test_scheduled_run_logs_its_weights_compiles_once_and_skips_the_host_while_off(runs):
    root, counted = runs
    records = _steps(root / "sat")
    weights = [r["topological_weight"] for r in records]
    np.testing.assert_allclose(weights, [0, WEIGHT / 3, 2 * WEIGHT / 3, WEIGHT, WEIGHT], rtol=1e-7)
    assert counted["traces"] == 1  # the weight is a traced argument: five values, one compilation
    assert counted["host_calls"] == EPOCHS - 1  # not on step 1, where the weight is 0
    assert "topological" not in records[0]  # not computed, so not logged
    for r in records[1:]:
        assert r["loss"] == pytest.approx(r["bce"] + r["topological_weight"] * r["topological"], rel=1e-6)


def test_resuming_in_the_middle_of_the_ramp_gives_the_uninterrupted_losses(runs, tmp_path):
    root, _ = runs
    # without validation (it changes no loss and compiles a predictor per run)
    config = _tiny("synthetic_sat", **SCHEDULE, **{"train.eval_every_epochs": 100})
    # the last checkpoint is at step 2, so the resumed run takes steps 3..5 (weights 2w/3, w, w)
    assert train_and_evaluate(override(config, ["train.stop_after_steps=3"]), str(tmp_path)) == {"stopped_at": 3}
    train_and_evaluate(config, str(tmp_path))
    straight, resumed = _steps(root / "sat"), _steps(tmp_path)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5]
    for key in ("loss", "topological_weight"):
        np.testing.assert_allclose([r[key] for r in resumed], [r[key] for r in straight], rtol=1e-6)


def _leaves(state):
    """path -> array of every leaf of a model state (parameters and BatchNorm statistics)."""
    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


def test_init_from_starts_from_the_other_runs_best_model(runs, tmp_path):
    from flax import nnx

    from jaxtopo.training.data import load_splits
    from jaxtopo.training.loop import _initial_model_state, build_model

    root, _ = runs
    source = root / "sat"
    # the state the loop trains from (called directly: a whole run would compile another step)
    config = _tiny("synthetic_wt", **{"train.init_from": str(source)})
    channels = load_splits(config)["train"][0].shape[-1]
    _, fresh = nnx.split(build_model(config, channels)[0])
    checkpoints = RunCheckpoints(str(source), create=False)
    try:
        best = checkpoints.restore_best(fresh)
    finally:
        checkpoints.close()
    got, want = _leaves(_initial_model_state(config, str(tmp_path / "tuned"), fresh)), _leaves(best)
    assert got.keys() == want.keys() and len(got) > 4
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    # a run that resumes from its own checkpoint keeps it: init_from is for the first step only
    assert _initial_model_state(config, str(source), fresh) is fresh

    wider = override(config, ["model.widths=(4, 16)"])
    with pytest.raises(ConfigError, match="widths"):
        train_and_evaluate(wider, str(tmp_path / "wider"))
    assert not (tmp_path / "wider").exists()  # refused before the folder is made
