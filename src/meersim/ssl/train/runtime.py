"""Run-time plumbing of training: devices, DDP process groups, RNG state, seeded views."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from meersim.errors import InputError
from meersim.ssl.augment import RadioMultiCrop


def sample_seed(seed: int, epoch: int, crop_id: int) -> int:
    """A 63-bit seed for one crop in one epoch (independent of workers and ranks)."""
    sequence = np.random.SeedSequence([int(seed), int(epoch), int(crop_id)])
    return int(sequence.generate_state(1, dtype=np.uint64)[0]) & 0x7FFFFFFFFFFFFFFF


class MultiCropDataset(torch.utils.data.Dataset):
    """Crops -> DINO views, seeded by (seed, epoch, crop id) so runs are reproducible
    whatever the number of workers or ranks. Call :meth:`set_epoch` before each epoch."""

    def __init__(self, base, transform: RadioMultiCrop, seed: int):
        self.base = base
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        self.field_ids = np.asarray(base.field_ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        item = self.base[i]
        gen = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, item["crop_id"]))
        views = self.transform(item["image"], gen, field_id=int(self.field_ids[i]))
        return {"views": views, "crop_id": item["crop_id"]}


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (env RANK/WORLD_SIZE); gloo on CPU, nccl on GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, False)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local_rank, True)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: the local GPU when CUDA is present, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError("train config", "device", f"{name!r}", "Use auto, cpu or cuda.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("train config", "device", "CUDA is not available.", "Use auto or cpu.")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
