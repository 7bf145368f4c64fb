"""Synthetic tubular data, BCE only."""

from default import get_config as default_config


def get_config():
    config = default_config()
    config.loss.topological = "none"
    config.loss.weight = 0.0
    return config
