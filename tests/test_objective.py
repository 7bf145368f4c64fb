"""The training objective, the optimiser and the loop's behaviours no other test pins.

Objective values are checked against the library losses called directly on the same
probabilities and labels; the optimiser against Adam written out by hand in numpy; the loop on
two tiny runs (a 4-image, 16x16 synthetic set and a (4, 8) U-Net), kept to a few steps because
each run compiles its own train step.
"""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtopo
from jaxtopo.training import Config, named_config, override, predict_with_run, train_and_evaluate
from jaxtopo.training.checkpoints import RunCheckpoints
from jaxtopo.training.loop import make_optimizer
from jaxtopo.training.objective import check_loss_config, objective


def _inputs(seed=2, shape=(2, 12, 12)):
    """Noise logits, as of an untrained network, and labels with a loop and a line, so every
    topological loss is non-zero. With seed 2 the longest-bars (he) matching of both images is
    not the optimal (wt) one."""
    rng = np.random.default_rng(seed)
    logits = jnp.asarray(rng.normal(size=shape + (1,)), jnp.float32)
    labels = np.zeros(shape, np.float32)
    labels[:, 2:9, 2:9] = 1.0  # a thick square with a hole: one component, one loop
    labels[:, 4:7, 4:7] = 0.0
    labels[1, 10, :] = 1.0  # a second component in the second image
    return logits, jnp.asarray(labels)


def _loss(name, *assignments):
    """The loss section of the named config ``synthetic_<name>`` with overrides applied."""
    return override(Config({"loss": named_config(f"synthetic_{name}").loss}),
                    [f"loss.{a}" for a in assignments]).loss


# --------------------------------------------------------------------------- the pixel losses


def test_dice_cldice_objective_mixes_dice_and_cldice_by_the_loss_weight():
    logits, labels = _inputs()
    probs = jax.nn.sigmoid(logits)
    loss = _loss("cldice", "weight=0.3", "cldice_iterations=5")
    assert (loss.pixel, loss.topological) == ("dice_cldice", "none")
    total, parts = objective(logits, labels, loss)
    # clDice paper Eq. 3: (1 - alpha) soft Dice + alpha soft-clDice, alpha = loss.weight, both with
    # the clDice code's smoothing of 1 (dice_cldice_loss's default; the objective passes none)
    dice = float(jaxtopo.soft_dice_loss(probs, labels, smooth=1.0))
    cldice = float(jaxtopo.soft_cldice_loss(probs, labels, iterations=5, smooth=1.0))
    assert abs(dice - cldice) > 0.01  # so a wrong alpha would show (0.2 x this >> rel 1e-6)
    assert float(total) == pytest.approx(0.7 * dice + 0.3 * cldice, rel=1e-6)
    assert set(parts) == {"dice_cldice", "loss"}  # no topological term is added
    assert float(parts["dice_cldice"]) == pytest.approx(float(total), rel=1e-7)
    # loss.cldice_iterations reaches the skeleton: fewer iterations give another value here
    _, fewer = objective(logits, labels, _loss("cldice", "weight=0.3", "cldice_iterations=0"))
    cldice_0 = float(jaxtopo.soft_cldice_loss(probs, labels, iterations=0, smooth=1.0))
    assert abs(cldice_0 - cldice) > 1e-3
    assert float(fewer["loss"]) == pytest.approx(0.7 * dice + 0.3 * cldice_0, rel=1e-6)


# --------------------------------------------------------------------------- topological terms

# config name -> the public loss it must equal (wt/he/tc run without spatial weights)
LIBRARY_LOSSES = {"wt": jaxtopo.wasserstein_loss, "he": jaxtopo.he_loss, "tc": jaxtopo.tc_loss}


@pytest.mark.parametrize("name", list(LIBRARY_LOSSES))
def test_objective_is_bce_plus_weight_times_the_library_loss(name):
    logits, labels = _inputs()
    probs = jax.nn.sigmoid(logits)
    loss = _loss(name)
    assert (loss.pixel, loss.topological, loss.variant, loss.pad) == ("bce", name, "official", True)
    library = LIBRARY_LOSSES[name]
    topo = float(library(probs, labels))
    bce = float(jaxtopo.bce_with_logits_loss(logits, labels))
    assert topo > 0.1
    total, parts = objective(logits, labels, loss)
    assert float(parts["topological"]) == pytest.approx(topo, rel=1e-6)
    assert float(parts["bce"]) == pytest.approx(bce, rel=1e-6)
    assert float(total) == pytest.approx(bce + loss.weight * topo, rel=1e-6)
    assert float(parts["loss"]) == float(total)
    # the config's variant, padding and construction reach the loss
    changed = _loss(name, "variant=paper", "pad=False", "construction=V")
    _, parts = objective(logits, labels, changed)
    expected = float(library(probs, labels, variant="paper", pad=False, construction="V"))
    assert abs(expected - topo) > 1e-3
    assert float(parts["topological"]) == pytest.approx(expected, rel=1e-6)


def test_wt_he_and_tc_are_different_losses_here():
    # the check above can tell a swapped matching policy apart only if the three differ
    logits, labels = _inputs()
    probs = jax.nn.sigmoid(logits)
    values = [float(fn(probs, labels)) for fn in LIBRARY_LOSSES.values()]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 1e-2, values


def test_loss_weight_scales_the_topological_value_and_gradient_linearly():
    logits, labels = _inputs(seed=1)

    def value_and_grad(weight):
        loss = _loss("wt", f"weight={weight}")
        return jax.value_and_grad(lambda x: objective(x, labels, loss)[0])(logits)

    # reference: BCE on the logits plus the library loss on their sigmoid, differentiated apart
    bce, bce_grad = jax.value_and_grad(lambda x: jaxtopo.bce_with_logits_loss(x, labels))(logits)
    topo, topo_grad = jax.value_and_grad(
        lambda x: jaxtopo.wasserstein_loss(jax.nn.sigmoid(x), labels))(logits)
    assert float(jnp.abs(topo_grad).max()) > 1e-3  # the topological term moves the logits
    for weight in (0.0, 0.25, 2.0):
        value, grad = value_and_grad(weight)
        assert float(value) == pytest.approx(float(bce) + weight * float(topo), rel=1e-6)
        np.testing.assert_allclose(grad, bce_grad + weight * topo_grad, rtol=1e-5, atol=1e-7)


def test_bad_loss_names_are_rejected_naming_the_field():
    with pytest.raises(ValueError, match=r"loss\.pixel.*'focal'"):
        check_loss_config(_loss("bce", "pixel=focal"))
    with pytest.raises(ValueError, match=r"loss\.topological.*'persistence'"):
        check_loss_config(_loss("bce", "topological=persistence"))
    for name in ("bce", "cldice", "sat", "wt", "he", "tc", "bm"):
        check_loss_config(_loss(name))  # every named loss passes


# --------------------------------------------------------------------------- the optimiser


def _run_optimizer(train, total_steps, params, grad_fn):
    """Applies make_optimizer's updates for total_steps steps; returns the parameter path."""
    optimizer = make_optimizer(train, total_steps)
    params = jnp.asarray(params, jnp.float32)
    state = optimizer.init(params)
    path = [np.asarray(params, np.float64)]
    for t in range(total_steps):
        updates, state = optimizer.update(jnp.asarray(grad_fn(t, np.asarray(params)), jnp.float32),
                                          state, params)
        params = params + updates
        path.append(np.asarray(params, np.float64))
    return np.array(path)


@pytest.mark.parametrize("total_steps", [10, 7])
def test_learning_rate_drops_tenfold_at_half_of_training(total_steps):
    # With a constant gradient g and no decay Adam's bias-corrected moments are exactly g and
    # g^2, so every step moves each parameter by lr_t * |g| / (|g| + 1e-8) = lr_t against g.
    train = Config(learning_rate=0.01, weight_decay=0.0)
    g = np.array([0.5, -2.0, 3.0])
    path = _run_optimizer(train, total_steps, np.zeros(3), lambda t, p: g)
    step_sizes = -np.diff(path, axis=0) / np.sign(g)  # [steps, 3]
    half = total_steps // 2  # the schedule's boundary: updates 0..half-1 at lr, the rest at lr/10
    expected = np.where(np.arange(total_steps) < half, 0.01, 0.001)
    np.testing.assert_allclose(step_sizes, np.repeat(expected[:, None], 3, axis=1), rtol=1e-4)


def test_weight_decay_is_coupled_l2_added_to_the_gradient_before_adam():
    # PyTorch's Adam(weight_decay=wd): g <- g + wd * p, then Adam with the piecewise lr; a
    # decoupled (AdamW) decay, or none, follows another path
    lr, wd, total = 0.1, 0.5, 6
    train = Config(learning_rate=lr, weight_decay=wd)
    p0 = np.array([1.0, -2.0, 0.5, 3.0])
    c = np.array([0.3, 0.1, -0.2, 0.05])

    def grad_fn(t, p):  # the gradient of sum(c * p) + 0.1 * t * p^2 / 2: varies with p and t
        return c + 0.1 * t * p

    got = _run_optimizer(train, total, p0, grad_fn)

    b1, b2, eps = 0.9, 0.999, 1e-8  # optax.scale_by_adam's defaults, PyTorch's too
    p, m, v = p0.astype(np.float64), np.zeros(4), np.zeros(4)
    want = [p.copy()]
    for t in range(total):
        g = grad_fn(t, p.astype(np.float32).astype(np.float64)) + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** (t + 1)), v / (1 - b2 ** (t + 1))
        lr_t = lr if t < total // 2 else lr / 10
        p = p - lr_t * m_hat / (np.sqrt(v_hat) + eps)
        want.append(p.copy())
    np.testing.assert_allclose(got, np.array(want), rtol=1e-5, atol=1e-6)

    # what a decoupled decay would have done differs by far more than that tolerance
    decoupled = [p0.astype(np.float64)]
    p, m, v = p0.astype(np.float64), np.zeros(4), np.zeros(4)
    for t in range(total):
        g = grad_fn(t, p)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        lr_t = lr if t < total // 2 else lr / 10
        p = p - lr_t * (m / (1 - b1 ** (t + 1)) / (np.sqrt(v / (1 - b2 ** (t + 1))) + eps) + wd * p)
        decoupled.append(p.copy())
    assert np.abs(np.array(decoupled) - np.array(want)).max() > 0.05


# --------------------------------------------------------------------------- the loop


def _tiny(**changes):
    """synthetic_bce on 4 images of 16x16 with a (4, 8) U-Net and one batch of 4 per epoch."""
    return override(named_config("synthetic_bce"), [
        "model.widths=(4, 8)", "data.size=(16, 16)", "data.num_train=4", "data.num_val=2",
        "data.num_test=2", "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=100",
    ] + [f"{k}={v!r}" for k, v in changes.items()])


def _records(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def evaluated_every_second_epoch(tmp_path_factory):
    """A 3-epoch run (one step per epoch) validated every second epoch: the best model is the
    one of step 2, the latest that of step 3. lr 1e-2 makes the two visibly different. It leaves
    at its last step (stop_after_steps) after saving it, skipping the test-set evaluation and
    figure these tests do not need."""
    config = _tiny(**{"train.epochs": 3, "train.eval_every_epochs": 2, "train.learning_rate": 1e-2,
                      "train.stop_after_steps": 3})
    workdir = str(tmp_path_factory.mktemp("every_second_epoch"))
    assert train_and_evaluate(config, workdir) == {"stopped_at": 3}
    return config, workdir


def test_validation_runs_every_eval_every_epochs(evaluated_every_second_epoch):
    config, workdir = evaluated_every_second_epoch
    records = _records(workdir)
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    # epochs 1..3, validated where epoch % 2 == 0: only after epoch 2 (step 2)
    assert [(r["step"], r["epoch"]) for r in records if "val_dice" in r] == [(2, 2)]
    checkpoints = RunCheckpoints(workdir)
    try:
        assert checkpoints.best.latest_step() == 2
        assert checkpoints.latest.latest_step() == 3
    finally:
        checkpoints.close()


def _latest_model_probabilities(config, workdir, images):
    """Probabilities of the model in the latest checkpoint, restored and run by hand."""
    from flax import nnx

    from jaxtopo.models.unet import UNet

    model = UNet(images.shape[-1], 1, widths=tuple(config.model.widths), rngs=nnx.Rngs(0))
    model.eval()
    graph, _ = nnx.split(model)
    checkpoints = RunCheckpoints(workdir)
    try:
        state = checkpoints.latest.restore(checkpoints.latest.latest_step())["model"]
    finally:
        checkpoints.close()
    return np.asarray(jax.nn.sigmoid(nnx.merge(graph, state)(jnp.asarray(images)))[..., 0])


def test_predict_with_run_uses_the_best_model_else_the_latest(evaluated_every_second_epoch, tmp_path):
    from jaxtopo.metrics import dice
    from jaxtopo.training.data import load_splits

    config, workdir = evaluated_every_second_epoch
    val_images, val_labels = load_splits(config)["val"]
    best = predict_with_run(config, workdir, val_images)
    # the best model is the one validated at step 2: its Dice is the one the loop logged
    logged = [r["val_dice"] for r in _records(workdir) if "val_dice" in r]
    assert float(dice(best, val_labels).mean()) == pytest.approx(logged[0], rel=1e-5)

    # a run with no best model (as one killed before its first validation leaves it): the
    # latest checkpoint's model predicts
    copy = str(tmp_path / "run")
    shutil.copytree(workdir, copy)
    shutil.rmtree(os.path.join(copy, "checkpoints", "best"))
    latest = predict_with_run(config, copy, val_images)
    np.testing.assert_allclose(latest, _latest_model_probabilities(config, copy, val_images),
                               rtol=1e-5, atol=1e-6)
    assert np.abs(latest - best).max() > 1e-3  # step 3's model is not step 2's

    shutil.rmtree(os.path.join(copy, "checkpoints"))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        predict_with_run(config, copy, val_images)


def test_non_finite_loss_stops_training_with_a_clear_message(tmp_path):
    # a learning rate of 1e30 makes the parameters ~1e30 at the first update, so the activations
    # overflow and the loss of step 2 (computed before its update) is NaN; step 1's is finite.
    # No validation runs (it would meet the NaN predictions after step 1 first).
    config = _tiny(**{"train.epochs": 3, "train.eval_every_epochs": 100, "train.learning_rate": 1e30})
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 2\b") as raised:
        train_and_evaluate(config, str(tmp_path))
    assert "learning rate" in str(raised.value)  # says what to change
    losses = [(r["step"], r["loss"]) for r in _records(tmp_path) if "loss" in r]
    assert [s for s, _ in losses] == [1] and np.isfinite(losses[0][1])
    assert not (tmp_path / "results.json").exists()
