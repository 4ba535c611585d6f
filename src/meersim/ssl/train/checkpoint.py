"""Training checkpoints: written atomically, read with ``torch.load(weights_only=True)``."""

from __future__ import annotations

from pathlib import Path

import torch

from meersim.errors import InputError
from meersim.io import atomic_write

CHECKPOINT = "checkpoint.pth"
CHECKPOINT_FORMAT = "meersim-ssl"
CHECKPOINT_VERSION = 2
# version 1 (DINO only) stored "student"/"teacher" dicts; it is still read
READABLE_FORMATS = ("meersim-ssl", "meersim-dino")


def atomic_save(obj, path: Path) -> Path:
    """torch.save to ``path`` atomically (temporary file, then rename; removed on failure)."""
    with atomic_write(path) as fh:
        torch.save(obj, fh)
    return Path(path)


def read_training_checkpoint(path: str | Path) -> dict:
    """Load a meersim SSL checkpoint with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise InputError(str(path), "checkpoint", "does not exist.", "Train first (meersim train).")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            str(path), "checkpoint", f"cannot be read ({type(exc).__name__}: {exc})."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in READABLE_FORMATS:
        raise InputError(
            str(path), "format", "is not a meersim training checkpoint.",
            "For DINO ImageNet weights use `pretrained:` in the train config.",
        )  # fmt: skip
    return ckpt


def embedding_backbone_state(ckpt: dict) -> dict:
    """The state dict of the backbone ``meersim embed`` uses (DINO's teacher, else the
    online encoder), from a version-2 or a version-1 (DINO) checkpoint."""
    if "embedding_backbone" in ckpt:
        return ckpt["embedding_backbone"]
    teacher = ckpt["teacher"]
    return {k[len("backbone.") :]: v for k, v in teacher.items() if k.startswith("backbone.")}
