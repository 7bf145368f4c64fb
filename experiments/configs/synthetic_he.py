"""Synthetic tubular data, BCE + 1e-3 * HE topological loss."""

from default import get_config as default_config


def get_config():
    config = default_config()
    config.loss.topological = "he"
    config.loss.weight = 1e-3
    return config
