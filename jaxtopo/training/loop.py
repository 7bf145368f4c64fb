"""`train_and_evaluate(config, workdir)`: the training loop behind experiments/train.py.

Deterministic given the config: the batch of step s is drawn from a permutation seeded by
(seed, epoch), so a run killed at any point and restarted from its last checkpoint continues
exactly as if it had never stopped (it loses only the steps since that checkpoint).

Run folder: config.json (resolved config), metrics.jsonl (one JSON object per logged step and per
evaluation), checkpoints/{latest,best} (Orbax), results.json and predictions.png (inputs, labels,
predictions). metrics.jsonl's step records hold ``topological_weight``, the lambda that step
trained with (``loss.start_epoch`` / ``loss.ramp_epochs`` schedule it), and leave out
``topological`` on steps where it was 0 and the term was not computed. ``train.init_from``
starts a run from another run's trained model (fine-tuning). results.json holds ``config`` (the config's name), ``split`` (always "test": the
metrics are of the test split), ``steps``, ``devices`` and ``processes`` (what the run trained on),
``best_val_dice`` (null when no validation ran) and the test metrics of the best-validation model
from `jaxtopo.metrics.segmentation_metrics`: accuracy, dice, cldice, betti_0_error, betti_1_error,
betti_matching_error_0/_1 and betti_matching_error, all of them per patch ("P"). Where the
dataset cuts each image into several patches, the same metrics of the whole images, stitched
from the test patches ("F", `jaxtopo.evaluation.full_image_results`), follow with ``_full``
appended to each name, and ``full_images`` counts the images.

Devices: the run trains on a `jax.sharding.Mesh` of ``train.devices`` devices (None: all of
them) with one axis, ``"data"``. Each batch of ``train.batch_size`` images is split over it,
which must divide evenly (`ConfigError` otherwise); parameters and optimiser state are
replicated. Several processes (`jaxtopo.training.distributed`) each use as many of their own
devices and feed their own block of every batch; every process runs the same steps and
evaluations, all of them save and restore the checkpoints (Orbax, collectively: the run folder
must be on a file system every host sees), and only process 0 prints and writes config.json,
metrics.jsonl, results.json and predictions.png. The jitted step sees the global batch, so the mean loss, its gradient and BatchNorm's
batch statistics are those of the whole batch whatever the device count: runs on different counts
agree up to the order of float sums. Evaluation and prediction are split the same way.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import os
import threading
import time
from queue import Queue

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jaxtopo.data.common import to_unit_float
from jaxtopo.evaluation.full_image import full_image_results
from jaxtopo.host.image_loss import HOST_CLOCK
from jaxtopo.metrics import dice, segmentation_metrics
from jaxtopo.models.initialize import initialized
from jaxtopo.models.unet import UNet
from jaxtopo.training import data as data_lib
from jaxtopo.training.checkpoints import RunCheckpoints, latest_checkpoint_step
from jaxtopo.training.config import (
    ConfigError,
    RunFolderError,
    TrainingDivergedError,
    check_run_folder,
    read_run_config,
    write_run_config,
)
from jaxtopo.training.distributed import is_main_process
from jaxtopo.training.figures import save_prediction_figure
from jaxtopo.training.objective import (
    BATCH_AXIS,
    check_loss_config,
    is_scheduled,
    objective,
    topological_weight,
)
from jaxtopo.training.records import record_line


# how often each jitted function was traced (tests check the train step compiles once per run)
TRACES: collections.Counter = collections.Counter()


def _bar(step: int, total: int, width: int = 20) -> str:
    filled = int(width * step / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def make_optimizer(train, total_steps: int) -> optax.GradientTransformation:
    """Adam with coupled L2 weight decay (PyTorch's Adam(weight_decay=...)), lr / 10 at half."""
    schedule = optax.piecewise_constant_schedule(train.learning_rate, {max(1, total_steps // 2): 0.1})
    return optax.chain(
        optax.add_decayed_weights(train.weight_decay),  # added to the gradient before Adam: coupled
        optax.scale_by_adam(),
        optax.scale_by_learning_rate(schedule),
    )


class _NoLog:
    """The log of a process other than process 0, which writes nothing."""

    def write(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


class _Log:
    """metrics.jsonl, appended one record per line.

    A run resumed from step s first drops the records after s: the killed run logged steps that
    the resumed one logs again (curves would run backwards), and a kill mid-write can leave a
    half line. What is kept is rewritten to a temporary file and swapped in, so a second kill
    cannot lose the log.
    """

    def __init__(self, path: str, resumed_at: int):
        if os.path.exists(path):
            kept = []
            with open(path) as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by the kill
                    if isinstance(record, dict) and record.get("step", math.inf) <= resumed_at:
                        kept.append(line if line.endswith("\n") else line + "\n")
            with open(path + ".tmp", "w") as f:
                f.writelines(kept)
            os.replace(path + ".tmp", path)
        self.file = open(path, "a", buffering=1)

    def write(self, record: dict) -> None:
        self.file.write(record_line(record) + "\n")  # strict JSON: NaN and inf as null

    def close(self) -> None:
        self.file.close()


def _batch_indices(step: int, steps_per_epoch: int, batch_size: int, num_train: int, seed: int):
    epoch, within = divmod(step, steps_per_epoch)
    order = np.random.default_rng([seed, 7, epoch]).permutation(num_train)
    return order[within * batch_size:(within + 1) * batch_size]


def _device_mesh(config) -> Mesh:
    """The run's mesh: ``train.devices`` devices (None: every device of every process), on the
    batch axis. With several processes each uses as many of its own devices."""
    available, processes = jax.device_count(), jax.process_count()
    count = config.train.get("devices")
    if count is None:
        count = available
    elif isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= available:
        raise ConfigError(f"train.devices must be None (all {available} devices) or a whole "
                          f"number from 1 to {available}, got {count!r}")
    if count % processes:
        raise ConfigError(f"train.devices={count} cannot be shared by the run's {processes} processes: "
                          f"each process trains on as many devices, so use a multiple of {processes}")
    return _mesh_of(count)


def _mesh_of(count: int) -> Mesh:
    """The first count / P devices of each of the P processes, process 0's first. In this order
    each process's devices hold one contiguous block of the batch (`_process_rows`)."""
    per_process = count // jax.process_count()
    devices = [device for process in range(jax.process_count())
               for device in sorted((d for d in jax.devices() if d.process_index == process),
                                    key=lambda d: d.id)[:per_process]]
    return Mesh(np.array(devices), (BATCH_AXIS,), axis_types=(AxisType.Auto,))


def _process_rows(rows: int) -> slice:
    """This process's block of a batch of ``rows`` images (all of them in a single process)."""
    share = rows // jax.process_count()
    return slice(jax.process_index() * share, (jax.process_index() + 1) * share)


def _barrier(name: str) -> None:
    """Waits until every process reaches ``name`` (nothing to wait for in a single process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def _check_batch_split(batch_size: int, mesh: Mesh, what: str) -> None:
    """Refuses a batch the mesh's devices cannot share evenly: every device must get as many images."""
    if batch_size % mesh.size:
        raise ConfigError(
            f"{what} is {batch_size} images, which {mesh.size} devices cannot share evenly; use a batch "
            f"size that is a multiple of {mesh.size}, or set train.devices to a count that divides {batch_size}")


def _shardings(mesh: Mesh) -> tuple[NamedSharding, NamedSharding]:
    """(replicated on every device, split along the batch axis) on ``mesh``."""
    return NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec(BATCH_AXIS))


def _place_batch(batch, batch_sharding: NamedSharding):
    """This process's block (`_process_rows`) of a batch, split over its devices along the first
    axis, as the global batch array that every process's step sees. The one place batches reach
    the devices."""
    return jax.tree.map(lambda rows: jax.make_array_from_process_local_data(batch_sharding, rows), batch)


def _to_host(array) -> np.ndarray:
    """A batch-split result as one numpy array, the whole of it in every process."""
    if jax.process_count() == 1:
        return np.asarray(array)
    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def _prefetched_batches(images, labels, first_step, total_steps, steps_per_epoch, batch_size, seed,
                        batch_sharding):
    """Batches of steps first_step.. gathered and put on the devices by a background thread,
    two ahead, so the devices never wait for the host to slice the next batch."""
    queue: Queue = Queue(maxsize=2)

    def produce():
        for step in range(first_step, total_steps):
            idx = _batch_indices(step, steps_per_epoch, batch_size, len(images), seed)[_process_rows(batch_size)]
            batch = (to_unit_float(images[idx]), labels[idx].astype(np.float32))
            queue.put(_place_batch(batch, batch_sharding))

    threading.Thread(target=produce, daemon=True, name="jaxtopo-prefetch").start()
    for _ in range(first_step, total_steps):
        yield queue.get()


def build_model(config, in_channels: int):
    """The U-Net in train mode and the graph of its eval mode (BatchNorm running averages)."""
    widths = tuple(config.model.widths)
    model = initialized(lambda: UNet(in_channels, 1, widths=widths, rngs=nnx.Rngs(config.seed)))
    model.eval()
    eval_graph, _ = nnx.split(model)
    model.train()
    return model, eval_graph


def make_train_step(loss_config, model_graph, opt_graph, mesh: Mesh):
    """The jitted train step: (model_state, opt_state, images, labels, weight) -> (model_state,
    opt_state, measurements), states replicated on ``mesh`` and donated, the batch split over its
    ``"data"`` axis. ``weight`` is the topological term's lambda of this step as a float32 array
    (a new value does not retrace); a config without a schedule keeps ``loss.weight`` constant.
    Shared by the trainer and benchmarks/bench_train.py, so the benchmark times this very step."""
    replicated, _ = _shardings(mesh)
    scheduled = is_scheduled(loss_config)

    @functools.partial(jax.jit, donate_argnums=(0, 1), out_shardings=replicated)
    def train_step(model_state, opt_state, images, labels, weight):
        TRACES["train_step"] += 1  # runs only while tracing: counts compilations
        model = nnx.merge(model_graph, model_state)
        optimizer = nnx.merge(opt_graph, opt_state)

        def loss_fn(model):
            # an unscheduled run keeps lambda a constant (its numbers predate schedules)
            return objective(model(images), labels, loss_config, weight=weight if scheduled else None,
                             mesh=mesh)

        (_, measurements), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        return nnx.state(model), nnx.state(optimizer), measurements

    return train_step


@jax.jit
def _is_finite(tree) -> jax.Array:
    """Whether every floating-point number in ``tree`` (a model or optimiser state) is finite."""
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)
              if jnp.issubdtype(leaf.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _predictor(eval_graph, batch_size: int, mesh: Mesh):
    """probabilities(model_state, images [N, H, W, C]) -> [N, H, W], in batches split over ``mesh``.

    A batch the device count does not divide (the last, partial one, say) is padded with blank
    images to the next multiple of it, whose predictions are dropped. In eval mode BatchNorm uses
    its running averages, so each image's prediction depends on that image alone and the padding
    changes nothing else; with one device nothing is padded.
    """
    replicated, split = _shardings(mesh)

    @jax.jit
    def predict(model_state, images):
        return jax.nn.sigmoid(nnx.merge(eval_graph, model_state)(images))[..., 0]

    def predict_batch(model_state, images):
        count = len(images)
        padded = np.concatenate([images, np.zeros((-count % mesh.size, *images.shape[1:]), images.dtype)])
        # every process holds all images and hands in its block; every one gets all predictions
        return _to_host(predict(model_state, _place_batch(padded[_process_rows(len(padded))], split)))[:count]

    def probabilities(model_state, images):
        # a no-op for a state the trainer already replicated; a restored one is copied once here
        model_state = jax.device_put(model_state, replicated)
        return np.concatenate([predict_batch(model_state, to_unit_float(images[i:i + batch_size]))
                               for i in range(0, len(images), batch_size)])

    return probabilities


def _trained_model_state(workdir: str, like):
    """The model state of a run's best-validation checkpoint, else of its latest."""
    checkpoints = RunCheckpoints(workdir, create=False)
    try:
        state = checkpoints.restore_best(like)
        if state is None:
            step, state = checkpoints.restore_latest_model()
            if step is None:
                raise RunFolderError(f"{workdir} has no checkpoint (no trained model)")
    finally:
        checkpoints.close()
    return state


def predict_with_run(config, workdir: str, images) -> np.ndarray:
    """Probabilities [N, H, W] of a run's best-validation model (else its latest) for images
    [N, H, W, C] (float in [0, 1] or uint8), e.g. to plot a finished run's predictions.

    Split over ``train.devices`` devices, or over all of them where that is None or more than
    there are here: a run trained on 8 devices can be evaluated on a laptop."""
    images = np.asarray(images)
    model, eval_graph = build_model(config, images.shape[-1])
    _, like = nnx.split(model)
    state = _trained_model_state(workdir, like)
    available = jax.device_count()
    wanted = config.train.get("devices") or available
    usable = isinstance(wanted, int) and 1 <= wanted <= available and wanted % jax.process_count() == 0
    mesh = _mesh_of(wanted if usable else available)
    return _predictor(eval_graph, config.train.batch_size, mesh)(state, images)


def _has_checkpoint(workdir: str) -> bool:
    return latest_checkpoint_step(workdir) is not None


def _initial_model_state(config, workdir: str, model_state):
    """``train.init_from``'s trained model (fine-tuning), else ``model_state``. A run that
    resumes from its own checkpoint does not read the other run: it may have been moved since."""
    source = config.train.get("init_from")
    if not source or _has_checkpoint(workdir):
        return model_state
    widths = read_run_config(source).model.widths
    if tuple(widths) != tuple(config.model.widths):
        raise ConfigError(f"train.init_from={source!r} holds a model of widths {tuple(widths)}, "
                          f"this config builds {tuple(config.model.widths)}")
    # the other run's parameters and BatchNorm statistics; the optimiser starts afresh
    return _trained_model_state(source, model_state)


def evaluate_run(config, workdir: str, *, split: str = "test") -> dict:
    """Metrics of a run's best-validation model (else its latest) on one split: per patch, and
    where an image has several patches, of the stitched full images too (``*_full`` keys,
    `jaxtopo.evaluation.full_image_results`), as results.json holds them."""

    images, labels = data_lib.load_splits(config)[split]
    probs = predict_with_run(config, workdir, images)
    return {**segmentation_metrics(probs, labels),
            **full_image_results(probs, labels, data_lib.patch_layout(config))}


def _check_config(config) -> Mesh:
    """Field values the loop cannot use, refused before anything is loaded or written; returns the
    device mesh the run will train on."""
    try:
        check_loss_config(config.loss)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if config.data.name not in data_lib.DATASETS:
        raise ConfigError(f"data.name must be one of {', '.join(data_lib.DATASETS)}, got {config.data.name!r}")
    counts = {f"train.{field}": config.train.get(field)
              for field in ("epochs", "batch_size", "log_every", "checkpoint_every", "eval_every_epochs")}
    if config.train.get("stop_after_steps") is not None:
        counts["train.stop_after_steps"] = config.train.stop_after_steps
    for field, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            hint = "; experiments/evaluate.py evaluates a trained run" if field == "train.epochs" else ""
            raise ConfigError(f"{field} must be a whole number >= 1, got {value!r}{hint}")
    start_epoch = config.loss.get("start_epoch", 0)
    if config.loss.topological != "none" and start_epoch >= config.train.epochs:
        raise ConfigError(f"loss.start_epoch={start_epoch} is not below train.epochs={config.train.epochs}: "
                          f"the topological term would never be on")
    init_from = config.train.get("init_from")
    if init_from is not None and not isinstance(init_from, str):
        raise ConfigError(f"train.init_from must be a run folder or None, got {init_from!r}")
    mesh = _device_mesh(config)
    _check_batch_split(config.train.batch_size, mesh, "train.batch_size")
    return mesh


def train_and_evaluate(config, workdir: str) -> dict:
    """Trains, checkpoints, evaluates; returns the test metrics (also in results.json).

    A ``workdir`` that already holds a run is resumed from its last checkpoint, but only by a
    config that agrees with its config.json up to the fields in
    `jaxtopo.training.config.RESUMABLE_CHANGES` (train.epochs may grow; train.stop_after_steps,
    log_every, checkpoint_every, eval_every_epochs and data.data_dir may change); otherwise
    `ConfigError` names the differing fields. A field value the loop cannot use raises
    `ConfigError` (so does a batch size the device count does not divide), a folder that holds
    other files `RunFolderError`, a missing dataset
    `jaxtopo.data.DatasetNotFoundError`: all before the folder is created, which happens only once
    the data are loaded and the model is built, so a start that fails there leaves nothing behind.
    """
    mesh = _check_config(config)
    replicated, batch_split = _shardings(mesh)
    check_run_folder(workdir, config)
    splits = data_lib.load_splits(config)
    train_images, train_labels = splits["train"]
    num_train = len(train_images)
    batch_size = min(config.train.batch_size, num_train)
    if batch_size != config.train.batch_size:
        _check_batch_split(batch_size, mesh, f"the batch (train.batch_size={config.train.batch_size} cut "
                                             f"to the {num_train} training images)")
    steps_per_epoch = max(1, num_train // batch_size)
    total_steps = config.train.epochs * steps_per_epoch

    model, eval_graph = build_model(config, train_images.shape[-1])
    optimizer = nnx.Optimizer(model, make_optimizer(config.train, total_steps), wrt=nnx.Param)
    model_graph, model_state = nnx.split(model)
    opt_graph, opt_state = nnx.split(optimizer)
    model_state = _initial_model_state(config, workdir, model_state)
    # one copy per device, placed once; the step keeps it so (out_shardings), and a checkpoint is
    # restored with the sharding of what it replaces, so a run resumes on any device count
    model_state, opt_state = jax.device_put((model_state, opt_state), replicated)
    # every process has checked the folder before process 0 writes into it
    _barrier("jaxtopo-run-folder-checked")
    main = is_main_process()
    if main:
        os.makedirs(workdir, exist_ok=True)
        write_run_config(workdir, config)
    _barrier("jaxtopo-run-folder-ready")
    say = print if main else (lambda *args, **kwargs: None)

    train_step = make_train_step(config.loss, model_graph, opt_graph, mesh)
    probabilities = _predictor(eval_graph, batch_size, mesh)
    scheduled = is_scheduled(config.loss)

    checkpoints = RunCheckpoints(workdir)
    step, best_val_dice = 0, -1.0
    restored_step, restored = checkpoints.restore_latest(
        {"model": model_state, "opt": opt_state, "best_val_dice": np.float64(0.0)})
    if restored_step is not None:
        model_state, opt_state = restored["model"], restored["opt"]
        step, best_val_dice = restored_step, float(restored["best_val_dice"])
        say(f"resuming {workdir} from step {step} of {total_steps}")

    log = _Log(os.path.join(workdir, "metrics.jsonl"), resumed_at=step) if main else _NoLog()
    say(f"training {total_steps} steps ({config.train.epochs} epochs x {steps_per_epoch}), "
          f"batch {batch_size}, loss {config.loss.pixel} + {config.loss.weight} x {config.loss.topological}"
          + (f" (from epoch {config.loss.get('start_epoch', 0)}, ramped over {config.loss.get('ramp_epochs', 0)})"
             if scheduled else "")
          + (f", starting from the model of {config.train.init_from}"
             if config.train.get("init_from") and restored_step is None else "")
          + f", on {mesh.size} {jax.default_backend()} device{'s' if mesh.size > 1 else ''} "
            f"({jax.process_count()} process{'es' if jax.process_count() > 1 else ''})")
    window_start, window_steps = time.perf_counter(), 0
    HOST_CLOCK.take()
    try:
        batches = _prefetched_batches(train_images, train_labels, step, total_steps, steps_per_epoch,
                                      batch_size, config.seed, batch_split)
        for images, labels in batches:
            # a float32 array, not a Python float: a new value must not retrace the step
            weight = topological_weight(config.loss, step, steps_per_epoch)
            model_state, opt_state, measurements = train_step(model_state, opt_state, images, labels,
                                                              np.float32(weight))
            step += 1
            window_steps += 1
            if step % config.train.log_every == 0 or step == total_steps:
                measurements = {k: float(v) for k, v in measurements.items()}
                if config.loss.topological != "none":
                    measurements["topological_weight"] = weight
                    if scheduled and weight == 0:
                        del measurements["topological"]  # not computed (objective's lax.cond)
                if not math.isfinite(measurements["loss"]):
                    raise TrainingDivergedError(
                        f"non-finite loss at step {step}: {measurements}; the last checkpoint is in "
                        f"{workdir}/checkpoints/latest. Lower the learning rate or the loss weight, "
                        f"and check that images are finite and labels lie in [0, 1].")
                elapsed = time.perf_counter() - window_start
                host = HOST_CLOCK.take()
                record = {"step": step, "epoch": step / steps_per_epoch, **measurements,
                          "steps_per_s": window_steps / elapsed, "device_s_per_step": (elapsed - host) / window_steps,
                          "host_topology_s_per_step": host / window_steps}
                log.write(record)
                say(f"{_bar(step, total_steps)} step {step:>6}/{total_steps} loss {measurements['loss']:.4f} "
                      f"{record['steps_per_s']:.2f} steps/s (device {record['device_s_per_step'] * 1e3:.0f} ms, "
                      f"host topology {record['host_topology_s_per_step'] * 1e3:.0f} ms per step)", flush=True)
                window_start, window_steps = time.perf_counter(), 0
            validating = step % steps_per_epoch == 0 and (step // steps_per_epoch) % config.train.eval_every_epochs == 0
            saving = step % config.train.checkpoint_every == 0 or step == total_steps
            # a NaN gradient can spoil the parameters while the loss that step logged was finite: a
            # run must stop here, not in validation's metrics or with the NaN saved as its checkpoint
            if (validating or saving) and not bool(_is_finite((model_state, opt_state))):
                raise TrainingDivergedError(
                    f"the model's parameters became non-finite by step {step}; the last checkpoint "
                    f"({workdir}/checkpoints/latest) holds finite ones. Lower the learning rate or the loss "
                    f"weight, and check that images are finite and labels lie in [0, 1].")
            if validating:
                val_images, val_labels = splits["val"]
                # only Dice picks the best model: the other metrics (the Betti-matching error is the
                # slow one) are computed once, on the test split
                val_dice = float(dice(probabilities(model_state, val_images), val_labels).mean())
                log.write({"step": step, "epoch": step // steps_per_epoch, "val_dice": val_dice})
                if val_dice > best_val_dice:
                    best_val_dice = val_dice
                    checkpoints.save_best(step, model_state)
            if saving:
                checkpoints.save_latest(step, {"model": model_state, "opt": opt_state,
                                               "best_val_dice": np.float64(best_val_dice)})
            if step == config.train.get("stop_after_steps"):
                # tests simulate a killed run with this: leave without evaluating
                return {"stopped_at": step}
        best = checkpoints.restore_best(model_state)
        final_state = best if best is not None else model_state
        test_images, test_labels = splits["test"]
        test_probs = probabilities(final_state, test_images)
    
        # best_val_dice keeps its starting -1.0 until a validation ran (eval_every_epochs > epochs);
        # the patch metrics, then (images of several patches) those of the stitched full images
        results = {"config": config.get("name", ""), "split": "test", "steps": total_steps,
                   "devices": mesh.size, "processes": jax.process_count(),
                   "best_val_dice": best_val_dice if best_val_dice >= 0 else None,
                   **segmentation_metrics(test_probs, test_labels),
                   **full_image_results(test_probs, test_labels, data_lib.patch_layout(config))}
        if main:
            with open(os.path.join(workdir, "results.json"), "w") as f:
                json.dump(results, f, indent=2)
            save_prediction_figure(os.path.join(workdir, "predictions.png"), to_unit_float(test_images[:4]),
                                   test_labels[:4], test_probs[:4])
        return results
    finally:
        log.close()
        checkpoints.close()
