"""Synthetic tubular data, BCE + 1e-2 * TC topological loss."""

from default import get_config as default_config


def get_config():
    config = default_config()
    config.loss.topological = "tc"
    config.loss.weight = 1e-2
    return config
