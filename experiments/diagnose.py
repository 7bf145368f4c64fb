"""Trains one run and measures, at several of its steps, why its topological loss does or does not
change the model: the loss's share of the gradient and its matching accuracy on the labels.

    python experiments/diagnose.py --config synthetic_roads_sat --steps 6,30,60,120 \\
        --losses sat,wt,bm --weights 1e-4,1e-2 --out runs/diagnose/roads_sat loss.weight=1e-4

The run is the trainer's own (`jaxtopo.training.train_and_evaluate`), stopped at each step of
``--steps`` with ``train.stop_after_steps`` and resumed from its checkpoint, so it trains exactly as
`experiments/train.py` would; the last step must be the run's last, where it is evaluated as usual
(results.json). At each step, on the first ``--images`` training images (a fixed batch):

* per loss of ``--losses``, its gradient share against the config's pixel loss at each lambda of
  ``--weights`` (computed once unweighted) and its matching accuracy on the labels
  (`jaxtopo.training.diagnostics`);
* Dice and beta_0 / beta_1 errors of the model in eval mode on the validation split.

Writes ``--out``/diagnostics.jsonl (one record per step), diagnostics.md (the tables) and
diagnostics.png (the main measurements against the step, the share at the first of ``--weights``),
and keeps the run in ``--out``/run. Rerunning the command resumes: trained steps are not trained again.
Exit status 2: a wrong command (unknown config, bad override, steps the run does not have).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys


def _list_of(kind):
    def parse(text: str) -> list:
        try:
            return [kind(item) for item in text.split(",") if item]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None
    return parse


def _parse(argv):
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__), description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a named config or a .py file defining get_config()")
    # comma-separated lists: a space-separated one would swallow the overrides that follow it
    parser.add_argument("--steps", type=_list_of(int), required=True, metavar="S1,S2,...",
                        help="steps to measure at; the last must be the run's last step")
    parser.add_argument("--losses", type=_list_of(str), default=["sat", "wt"], metavar="L1,L2,...",
                        help="topological losses to measure (default: sat,wt)")
    parser.add_argument("--weights", type=_list_of(float), default=None, metavar="W1,W2,...",
                        help="lambdas to state the gradient share at (default: the config's loss.weight)")
    parser.add_argument("--images", type=int, default=16, help="how many training images to measure on")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--quick", action="store_true", help="shrink the run as train.py --quick does")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default: $JAXTOPO_DATA, else ./data)")
    parser.add_argument("overrides", nargs="*", help="field.path=value")
    return parser, parser.parse_args(argv)


def measure(config, workdir: str, images, labels, val_images, val_labels, losses, weights) -> dict:
    """The record of one step (module docstring)."""
    from jaxtopo.metrics import segmentation_metrics
    from jaxtopo.training import diagnostics

    step, model = diagnostics.latest_model(config, workdir, images.shape[-1])
    record = {"step": step}
    seen = diagnostics.probabilities(model, images, training=True)
    for share in diagnostics.gradient_diagnostics(model, images, labels, config.loss, losses):
        name = share.loss
        record[f"{name}_value"] = share.topo_value
        record[f"{name}_cosine"] = share.cosine
        record[f"{name}_critical_pixels"] = share.critical_pixels
        record[f"{name}_on_features"] = share.on_features
        for weight in weights:
            record[f"{name}_share@{weight:g}"] = share.share(weight)
            record[f"{name}_pixel_ratio@{weight:g}"] = share.pixel_ratio(weight)
    for name in losses:
        counts = diagnostics.batch_matching_accuracy(seen, labels, name,
                                                     construction=diagnostics.construction_of(config.loss, name))
        for dim, count in counts.items():
            record[f"{name}_accuracy_dim{dim}"] = count.fraction
            record[f"{name}_fate_dim{dim}"] = count.fate_fraction
            record[f"{name}_features_dim{dim}"] = count.features
    val_probs = diagnostics.probabilities(model, val_images, training=False, batch_size=config.train.batch_size)
    val = segmentation_metrics(val_probs, val_labels)
    record.update({f"val_{key}": val[key] for key in ("dice", "betti_0_error", "betti_1_error")})
    return record


def _fmt(value) -> str:
    if value is None:  # NaN, as diagnostics.jsonl stores it
        return "nan"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def markdown(records: list[dict], losses, weights) -> str:
    """Two tables: the gradient shares, then the matching accuracies and validation metrics."""
    from jaxtopo.training.sweep import markdown_table

    shares = []
    for record in records:
        for name in losses:
            row = {"step": record["step"], "loss": name, "value": record[f"{name}_value"],
                   "critical px / image": record[f"{name}_critical_pixels"],
                   "push on features": record.get(f"{name}_on_features", float("nan")),
                   "cosine": record[f"{name}_cosine"]}
            for weight in weights:
                row[f"share λ={weight:g}"] = record[f"{name}_share@{weight:g}"]
                row[f"pixel ratio λ={weight:g}"] = record[f"{name}_pixel_ratio@{weight:g}"]
            shares.append({k: _fmt(v) for k, v in row.items()})
    accuracy = []
    for record in records:
        row = {"step": record["step"]}
        for name in losses:
            for dim in (0, 1):
                row[f"{name} dim {dim}"] = record[f"{name}_accuracy_dim{dim}"]
                row[f"{name} fate {dim}"] = record.get(f"{name}_fate_dim{dim}", float("nan"))
        row.update({"val Dice": record["val_dice"], "val β0 error": record["val_betti_0_error"],
                    "val β1 error": record["val_betti_1_error"]})
        accuracy.append({k: _fmt(v) for k, v in row.items()})
    return ("Gradient share of each topological loss against the pixel loss (training images, "
            "training mode):\n\n" + markdown_table(shares, text_columns=("loss",))
            + "\n\nMatching accuracy on the labels (dim: fraction of scored features rightly paired; "
              "fate: of predicted features rightly kept or sent to the diagonal) and validation "
              "metrics:\n\n" + markdown_table(accuracy) + "\n")


def main(argv=None) -> int:
    parser, args = _parse(argv)
    from jaxtopo.data.common import to_unit_float
    from jaxtopo.training import data as data_lib
    from jaxtopo.training import load_config, override, quick_config, train_and_evaluate
    from jaxtopo.training.checkpoints import latest_checkpoint_step
    from jaxtopo.training.config import ConfigError, user_error_status
    from jaxtopo.training.diagnostics import MATCHING_LOSSES
    from jaxtopo.training.records import record_line

    try:
        config = load_config(args.config)
        config = override(quick_config(config) if args.quick else config, args.overrides)
        if args.data_dir:
            config.data.data_dir = args.data_dir
        unknown = [name for name in args.losses if name not in MATCHING_LOSSES]
        if unknown:
            raise ConfigError(f"--losses must be among {MATCHING_LOSSES}, got {unknown}")
        if args.images < 1:
            raise ConfigError(f"--images must be at least 1, got {args.images}")
        steps = sorted(set(args.steps))
        splits = data_lib.load_splits(config)
        train_images, train_labels = splits["train"]
        steps_per_epoch = max(1, len(train_images) // min(config.train.batch_size, len(train_images)))
        total = config.train.epochs * steps_per_epoch
        if steps[0] < 1 or steps[-1] != total:
            raise ConfigError(f"--steps must lie in 1..{total} and end at the run's last step {total}, got {steps}")
        # a checkpoint at every measured step: the run stops there and resumes from it
        config.train.checkpoint_every = math.gcd(*steps)
        weights = args.weights or [float(config.loss.weight)]
        workdir = os.path.join(args.out, "run")
        images = to_unit_float(train_images[:args.images])
        labels = train_labels[:args.images].astype("float32")
        val_images, val_labels = splits["val"]
        val_images = to_unit_float(val_images)
        os.makedirs(args.out, exist_ok=True)
        records_path = os.path.join(args.out, "diagnostics.jsonl")
        done = {}
        if os.path.exists(records_path):
            with open(records_path) as f:
                done = {record["step"]: record for record in map(json.loads, f)}
        records = []
        for step in steps:
            if step in done:
                records.append(done[step])
                continue
            trained = latest_checkpoint_step(workdir)
            if trained is not None and trained > step:
                raise ConfigError(f"{workdir} is trained to step {trained}, past step {step}, which has no "
                                  f"measurement in {records_path}: start in a new --out")
            if trained != step or step == total:  # the last step also evaluates (results.json)
                config.train.stop_after_steps = step if step < total else None
                train_and_evaluate(config, workdir)
            record = measure(config, workdir, images, labels, val_images, val_labels, args.losses, weights)
            print(record_line(record), flush=True)
            records.append(record)
            with open(records_path, "a") as f:
                f.write(record_line(record) + "\n")  # strict JSON: NaN as null
    except Exception as error:
        status = user_error_status(error)
        if status is None:
            raise
        parser.exit(status, f"{parser.prog}: error: {error}\n")
    text = markdown(records, args.losses, weights)
    with open(os.path.join(args.out, "diagnostics.md"), "w") as f:
        f.write(text)
    from jaxtopo.training.figures import save_curves_figure

    keys = [f"{name}_{what}" for what in (f"share@{weights[0]:g}", "on_features", "accuracy_dim1", "fate_dim1")
            for name in args.losses]
    save_curves_figure(os.path.join(args.out, "diagnostics.png"), {os.path.basename(os.path.normpath(args.out)): args.out},
                       [*keys, "val_dice", "val_betti_0_error"], filename="diagnostics.jsonl",
                       columns=len(args.losses))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
