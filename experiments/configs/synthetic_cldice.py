"""Synthetic tubular data, soft-Dice + soft-clDice (alpha = 0.5, as the clDice paper)."""

from default import get_config as default_config


def get_config():
    config = default_config()
    config.loss.pixel = "dice_cldice"
    config.loss.weight = 0.5
    return config
