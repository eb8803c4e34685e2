"""The shared training loop and its pieces: checkpoints that resume exactly, metric logs and plots, DDP."""

from scene3d.train.checkpoint import Checkpointer, TrainState
from scene3d.train.distributed import (
           DistInfo,
           ResumeMismatchError,
           init_from_env,
           mean_over_ranks,
           resolve_device,
)
from scene3d.train.log import MetricLog
from scene3d.train.loop import (
           LoopConfig,
           TrainTask,
           item_generator,
           run_training,
)
from scene3d.train.precision import PRECISIONS, Precision, resolve_precision

__all__ = ["PRECISIONS", "Checkpointer", "DistInfo", "LoopConfig", "MetricLog", "Precision", "ResumeMismatchError",
           "TrainState", "TrainTask", "init_from_env", "item_generator", "mean_over_ranks",
           "resolve_device", "resolve_precision", "run_training"]
