"""The shared training loop pieces: checkpoints that resume exactly, metric logs and plots."""

from scene3d.train.checkpoint import Checkpointer, TrainState
from scene3d.train.log import MetricLog

__all__ = ["Checkpointer", "MetricLog", "TrainState"]
