"""Orbax checkpoints of a run: the latest training state (for resuming) and the best model.

Restoring into a target (``like``) gives its arrays the target's sharding, so a state saved from
one device count restores onto another (the trainer's replicated state on its device mesh).
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


def latest_checkpoint_step(workdir: str) -> int | None:
    """The step of a run folder's latest checkpoint, None where it has none (creates nothing)."""
    if not os.path.isdir(os.path.join(workdir, "checkpoints", "latest")):
        return None
    checkpoints = RunCheckpoints(workdir, create=False)
    try:
        return checkpoints.latest.latest_step()
    finally:
        checkpoints.close()


class RunCheckpoints:
    """``workdir/checkpoints/latest`` (model + optimiser + step) and ``.../best`` (model only)."""

    def __init__(self, workdir: str, *, create: bool = True):
        """``create=False`` only reads: evaluating a folder must not add checkpoint folders to it."""
        root = os.path.abspath(os.path.join(workdir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(max_to_keep=1, create=create)
        self.latest = ocp.CheckpointManager(os.path.join(root, "latest"), options=options)
        self.best = ocp.CheckpointManager(os.path.join(root, "best"), options=options)

    @staticmethod
    def _abstract(tree):
        return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)

    def save_latest(self, step: int, state: dict) -> None:
        self.latest.save(step, args=ocp.args.StandardSave(state))
        self.latest.wait_until_finished()

    def restore_latest(self, like: dict):
        """(step, state) of the last saved step, or (None, None) when there is none."""
        step = self.latest.latest_step()
        if step is None:
            return None, None
        return step, self.latest.restore(step, args=ocp.args.StandardRestore(self._abstract(like)))

    def restore_latest_model(self):
        """(step, model state) of the last saved step, or (None, None), without a target to
        restore into. A checkpoint keeps the devices it was saved from, which need not exist here
        (a run trained on 4 devices, read by a 1-device process): arrays whose devices are missing
        are put on this process's first device instead."""
        step = self.latest.latest_step()
        if step is None:
            return None, None
        here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        return step, self.latest.restore(step, args=ocp.args.StandardRestore(fallback_sharding=here))["model"]

    def save_best(self, step: int, model_state) -> None:
        self.best.save(step, args=ocp.args.StandardSave(model_state), force=True)
        self.best.wait_until_finished()

    def restore_best(self, like):
        step = self.best.latest_step()
        if step is None:
            return None
        return self.best.restore(step, args=ocp.args.StandardRestore(self._abstract(like)))

    def close(self) -> None:
        self.latest.close()
        self.best.close()
