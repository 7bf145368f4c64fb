"""Shared defaults: the SATLoss paper's protocol (spec section 7) on the synthetic data."""

from jaxtopo.training.config import Config


def get_config() -> Config:
    return Config(
        seed=0,
        data=dict(
            name="synthetic",
            size=(96, 96),  # synthetic image size (height, width)
            num_train=48,
            num_val=16,
            num_test=16,
        ),
        model=dict(widths=(16, 32, 64, 128)),
        loss=dict(
            pixel="bce",  # "bce" or "dice_cldice"
            topological="none",  # "none", "sat", "wt", "he" or "tc"
            weight=0.0,  # lambda of the topological term (alpha for dice_cldice)
            variant="official",
            pad=True,
            cldice_iterations=3,
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
        ),
        quick=False,
    )


def quick(config: Config) -> Config:
    """Shrinks any run to about a CPU-minute: tiny model, few images, few steps."""
    config = config.copy()
    config.quick = True
    config.model.widths = (8, 16, 32)
    if config.data.name == "synthetic":
        config.data.size = (48, 48)
        config.data.num_train, config.data.num_val, config.data.num_test = 16, 4, 4
    config.train.epochs = 3
    config.train.batch_size = 4
    config.train.log_every = 2
    config.train.checkpoint_every = 4
    return config
