"""meersim.datasets: simulated and real crop datasets with per-crop truth, and their loaders.

``CropDataset`` (PyTorch) is imported on first use, so the simulation side (and its
dask workers) never imports torch.
"""

from meersim.datasets.build import build_dataset, build_from_yaml
from meersim.datasets.config import DatasetConfig, load_config
from meersim.datasets.embeddings import (
    Embeddings,
    check_pairing,
    load_embeddings,
    write_embeddings,
)
from meersim.datasets.fields import simulate_field
from meersim.datasets.ingest import ingest
from meersim.datasets.real import crop_real_images
from meersim.datasets.shard import shard_store
from meersim.datasets.store import CropStore, open_store, write_crops
from meersim.datasets.store_files import check_output, is_store, store_lock

__all__ = [
    "CropDataset",
    "CropStore",
    "DatasetConfig",
    "Embeddings",
    "build_dataset",
    "build_from_yaml",
    "check_output",
    "check_pairing",
    "crop_real_images",
    "ingest",
    "is_store",
    "load_config",
    "load_embeddings",
    "open_store",
    "shard_store",
    "simulate_field",
    "store_lock",
    "write_crops",
    "write_embeddings",
]


def __getattr__(name: str):
    if name == "CropDataset":
        from meersim.datasets.loader import CropDataset

        return CropDataset
    raise AttributeError(f"module 'meersim.datasets' has no attribute {name!r}")
