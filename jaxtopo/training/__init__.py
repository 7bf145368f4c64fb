"""Training pipeline: configs, objective, loop with checkpoints; used by experiments/train.py."""

from jaxtopo.training.config import Config, config_names, named_config, override, quick_config
from jaxtopo.training.loop import evaluate_run, predict_with_run, train_and_evaluate
