"""SSL training on a crop dataset: one process (CPU/GPU) or DDP under torchrun.

``python -m meersim.ssl.train`` (and ``torchrun -m meersim.ssl.train``) runs the
``meersim train`` command (:mod:`meersim.ssl.train.__main__`).
"""

from meersim.ssl.train.checkpoint import CHECKPOINT, atomic_save, read_training_checkpoint
from meersim.ssl.train.config import (
    TrainConfig,
    config_from_options,
    load_config,
    resolve_view_sizes,
)
from meersim.ssl.train.runtime import resolve_device, sample_seed
from meersim.ssl.train.trainer import Trainer, TrainingError, collapse_warnings, train

__all__ = [
    "CHECKPOINT",
    "Trainer",
    "TrainConfig",
    "TrainingError",
    "atomic_save",
    "collapse_warnings",
    "config_from_options",
    "load_config",
    "read_training_checkpoint",
    "resolve_view_sizes",
    "resolve_device",
    "sample_seed",
    "train",
]
