"""Synthetic tubular data, BCE + 1e-3 * SAT topological loss."""

from default import get_config as default_config


def get_config():
    config = default_config()
    config.loss.topological = "sat"
    config.loss.weight = 1e-3
    return config
