"""Named configs: ``<dataset>_<loss>``, e.g. drive_sat, roads_wt, cremi_cldice, synthetic_bce.

They ship inside the package, so ``jaxtopo.training.named_config("drive_sat")`` works from an
installed wheel, a notebook or the command line (``python experiments/train.py --config drive_sat``;
``--list-configs`` prints them all).

Every name is the shared default below, plus the dataset's protocol (SATLoss paper;
docs/conventions.md section 11 and docs/datasets.md), plus the loss. Datasets: synthetic (the embedded default, no download),
drive, roads, cremi, cracktree, roads_small, elegans_small. Losses: bce, sat, wt (Hu et al.),
he (He et al.), tc (TCLoss), cldice (soft-Dice + soft-clDice), bm (soft-Dice + BM-Loss, Betti
matching; Stucki et al.).

Loss weights lambda are starting points inside the paper's ablation range (1e-5 .. 1e-2 for
sat/wt/he, up to 1 for tc); the paper picks them per dataset by ablation, so tune them with an
override (``loss.weight=1e-4``). clDice and BM-Loss use the weights their papers report, as the
SATLoss paper does (alpha = 0.5; 0.3 for clDice on CREMI). bm follows the Betti matching code's
DiceBettiMatchingLoss, which the SATLoss paper ran for its Tables 2-4: Dice + 0.5 x BM-Loss with
BM-Loss's defaults (V-construction, no padding).
"""

import difflib

from jaxtopo.training.config import Config, ConfigError

# dataset -> protocol fields that differ from the default
DATASETS = {
    "synthetic": dict(data=dict(name="synthetic"), train=dict(epochs=20, batch_size=8)),
    # sharper embedded benchmarks, each hard the way a real dataset is (docs/datasets.md section 9)
    "synthetic_roads": dict(data=dict(name="synthetic_roads"), train=dict(epochs=20, batch_size=8)),
    "synthetic_cells": dict(data=dict(name="synthetic_cells"), train=dict(epochs=20, batch_size=8)),
    "synthetic_vessels": dict(data=dict(name="synthetic_vessels"), train=dict(epochs=20, batch_size=8)),
    "drive": dict(data=dict(name="drive"), model=dict(widths=(64, 128, 256, 512, 1024)),
                  train=dict(epochs=100, batch_size=2)),
    "roads": dict(data=dict(name="roads"), model=dict(widths=(64, 128, 256, 512, 1024)),
                  train=dict(epochs=30, batch_size=16)),
    "cremi": dict(data=dict(name="cremi"), model=dict(widths=(64, 128, 256, 512, 1024)),
                  train=dict(epochs=50, batch_size=16)),
    "cracktree": dict(data=dict(name="cracktree"), model=dict(widths=(64, 128, 256, 512, 1024)),
                      train=dict(epochs=50, batch_size=16)),
    # the small datasets use the small U-Net (16..256), as the BM-Loss comparison does
    "roads_small": dict(data=dict(name="roads_small"), model=dict(widths=(16, 32, 64, 128, 256)),
                        train=dict(epochs=50, batch_size=16)),
    "elegans_small": dict(data=dict(name="elegans_small"), model=dict(widths=(16, 32, 64, 128, 256)),
                          train=dict(epochs=50, batch_size=16)),
}

# dataset -> what it is, one line for --help
DATASET_DESCRIPTIONS = {
    "synthetic": "generated tubular networks, built in (no download)",
    "synthetic_roads": "generated street networks with occluding trees, built in",
    "synthetic_cells": "generated membrane tessellations with weak and broken walls, built in",
    "synthetic_vessels": "generated crossing vessel trees with faint thin branches, built in",
    "drive": "DRIVE retinal vessels, 3 folds of its 20 training images",
    "roads": "Massachusetts Roads aerial images, official train/valid/test split",
    "cremi": "CREMI neuron membranes in electron microscopy (samples A, B, C)",
    "cracktree": "CrackTree260 pavement cracks, 3 folds",
    "roads_small": "134 Massachusetts Roads images, 3 folds, small U-Net (BM-Loss comparison)",
    "elegans_small": "BBBC010 C. elegans worms, 3 folds, small U-Net (BM-Loss comparison)",
}

# loss -> loss fields (pixel loss, topological loss, weight)
LOSSES = {
    "bce": dict(pixel="bce", topological="none", weight=0.0),
    "sat": dict(pixel="bce", topological="sat", weight=1e-3),
    "wt": dict(pixel="bce", topological="wt", weight=1e-3),
    "he": dict(pixel="bce", topological="he", weight=1e-3),
    "tc": dict(pixel="bce", topological="tc", weight=1e-1),
    "cldice": dict(pixel="dice_cldice", topological="none", weight=0.5),  # weight = alpha
    "bm": dict(pixel="dice", topological="bm", weight=0.5, pad=False),  # construction: BM's V
}


# loss -> what it trains with, one line for --help
LOSS_DESCRIPTIONS = {
    "bce": "binary cross-entropy alone (the pixel-wise baseline)",
    "sat": "BCE + SATLoss, spatial-aware persistent-feature matching (Wen et al.)",
    "wt": "BCE + the Wasserstein topological loss (Hu et al.)",
    "he": "BCE + the topological loss of He et al.",
    "tc": "BCE + TCLoss",
    "cldice": "soft Dice + soft clDice (skeleton overlap)",
    "bm": "soft Dice + 0.5 x BM-Loss, Betti matching (Stucki et al.)",
}


def base_config() -> Config:
    return Config(
        seed=0,
        data=dict(
            name="synthetic",
            data_dir=None,  # --data-dir, else $JAXTOPO_DATA, else ./data
            fold=1,  # 1..3 where the protocol has folds
            size=(96, 96),  # synthetic only: image size (height, width)
            num_train=48,  # synthetic only
            num_val=16,
            num_test=16,
            max_patches=None,  # keep only the first N patches of each split (quick runs)
        ),
        model=dict(widths=(16, 32, 64, 128)),
        loss=dict(
            pixel="bce",  # "bce", "dice" (soft Dice) or "dice_cldice"
            topological="none",  # "none", "sat", "wt", "he", "tc" or "bm" (Betti matching)
            weight=0.0,  # lambda of the topological term (alpha for dice_cldice)
            variant="official",
            pad=True,
            construction=None,  # "T" or "V"; None: the loss's own (T for sat/wt/he/tc, V for bm)
            cldice_iterations=3,
            # when the topological term is on (docs/conventions.md section 12); never alpha
            start_epoch=0,  # off before this epoch (0: from the first step)
            ramp_epochs=0,  # then lambda rises linearly from 0 over this many epochs (0: at once)
        ),
        train=dict(
            epochs=20,
            batch_size=8,
            learning_rate=1e-3,  # decayed to 1e-4 at half the epochs
            weight_decay=1e-3,  # coupled L2, as PyTorch's Adam(weight_decay=...)
            log_every=10,  # steps
            checkpoint_every=50,  # steps
            eval_every_epochs=1,
            stop_after_steps=None,  # leave early as if killed (to test resuming)
            init_from=None,  # a run folder: start from its best (else latest) model, fresh optimiser
            devices=None,  # local devices the batch is split over: None for all, N for the first N
        ),
        quick=False,
    )


def names() -> list[str]:
    return [f"{d}_{l}" for d in DATASETS for l in LOSSES]


def get_config(name: str = "synthetic_sat") -> Config:
    """The config called ``<dataset>_<loss>``."""
    dataset, _, loss = name.rpartition("_")
    if dataset not in DATASETS or loss not in LOSSES:
        close = difflib.get_close_matches(name, names(), n=1)
        raise ConfigError(f"unknown config {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                          + f": a named config is <dataset>_<loss>, dataset one of {', '.join(DATASETS)}, "
                          f"loss one of {', '.join(LOSSES)} (train.py --list-configs prints them all)")
    config = base_config()
    for section, fields in DATASETS[dataset].items():
        config[section].update(fields)
    config.loss.update(LOSSES[loss])
    if dataset == "cremi" and loss == "cldice":
        config.loss.weight = 0.3  # the clDice paper's alpha on CREMI
    config.name = name
    return config


def describe() -> str:
    """The datasets and losses that named configs combine, one line each (train.py --help)."""
    width = max(map(len, [*DATASETS, *LOSSES])) + 2
    lines = [f"configs are <dataset>_<loss> ({len(names())} in all; --list-configs prints them)", "", "datasets:"]
    lines += [f"  {name:<{width}}{DATASET_DESCRIPTIONS[name]}" for name in DATASETS]
    lines += ["", "losses:"]
    lines += [f"  {name:<{width}}{LOSS_DESCRIPTIONS[name]}" for name in LOSSES]
    return "\n".join(lines)


def quick(config: Config) -> Config:
    """Shrinks any run to about a CPU-minute: tiny model, few images, few steps."""
    config = config.copy()
    config.quick = True
    config.model.widths = (8, 16, 32)
    if config.data.name.startswith("synthetic"):  # every embedded, generated dataset
        config.data.size = (48, 48)
        config.data.num_train, config.data.num_val, config.data.num_test = 16, 4, 4
    else:
        config.data.max_patches = 16  # per split, taken from the start of each split
    config.train.epochs = 3
    config.train.batch_size = 4
    config.train.log_every = 2
    config.train.checkpoint_every = 4
    return config
