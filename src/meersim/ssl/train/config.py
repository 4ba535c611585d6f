"""The training configuration (``meersim train --config``; YAML keys of :class:`TrainConfig`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from meersim.config import from_dict, load_yaml
from meersim.errors import InputError
from meersim.ssl.augment import AugmentConfig
from meersim.ssl.backbones import resolve_name
from meersim.ssl.methods import CONTRASTIVE, METHODS
from meersim.ssl.train.checkpoint import CHECKPOINT, read_training_checkpoint


@dataclass
class TrainConfig:
    """SSL training settings (docs/train.md).

    The defaults are the regime that learned on simulated crops on a CPU (the study in
    docs/train.md): SimCLR on a small ResNet, two views of 70-100% of the crop, NT-Xent
    temperature 0.2, batch 64. The DINO keys follow facebookresearch/dino ``main_dino.py``
    except ``out_dim`` = 4096, which suits datasets of 10^3-10^5 crops.

    method : ``dino``, ``simclr``, ``moco`` (v2) or ``byol``.

    data : dataset directory (``meersim dataset`` / ``meersim crops``).
    products : products to learn from; two (e.g. ``[dirty, restored]``) make paired views.
    backbone : ``vit_tiny_patch16``, ``vit_small_patch8``, ``resnet18``, ``resnet50`` or a timm name.
    backbone_kwargs : extra ``timm.create_model`` arguments (e.g. ``{depth: 6}``).
    pretrained : local checkpoint with DINO ImageNet (or meersim) weights for the student.
    drop_path_rate : student stochastic depth (ViTs).
    out_dim, bottleneck_dim, norm_last_layer : DINO head; hidden_dim : MLP width of every head.
    projection_dim : output size of the SimCLR/MoCo/BYOL projection (and BYOL prediction).
    temperature : NT-Xent temperature (SimCLR, MoCo).
    memory_bank_size : MoCo queue length (keys).
    centering : DINO teacher centering, ``ema`` (DINO) or ``sinkhorn`` (DINOv2 Sinkhorn-Knopp).
    koleo_weight : weight of the KoLeo regulariser on DINO student features (DINOv2; 0 = off).
    accumulate_steps : micro-batches of ``batch_size`` per optimiser step (gradient
        accumulation; contrastive negatives still come from one micro-batch).
    epochs : passes over the dataset. batch_size : crops per process per step.
    lr : AdamW learning rate at a total batch of 256 (scaled linearly with the total batch);
        warmup_epochs of linear warmup, then cosine decay to min_lr.
    weight_decay, weight_decay_end : cosine weight-decay schedule.
    warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs, student_temp,
    center_momentum : DINO loss.
    momentum_teacher : EMA momentum of DINO's teacher, MoCo's key and BYOL's target
        encoder at the start (cosine to 1).
    clip_grad : per-parameter gradient-norm clip (0 = off), as in DINO.
    freeze_last_layer : epochs during which the head's last layer is not updated.
    seed : seeds weights, data order and augmentations.
    device : ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``.
    num_workers : DataLoader worker processes.
    amp : ``bf16`` (default), ``fp16`` (with a gradient scaler) or ``off``; GPU only.
    keep_every : also keep ``checkpoint_epochNNNN.pth`` every this many epochs (0 = never).
    augment : :class:`meersim.ssl.augment.AugmentConfig`.
    """

    data: str | None = None
    method: str = "simclr"
    products: tuple[str, ...] = ("restored",)
    backbone: str = "resnet10_w16"
    backbone_kwargs: dict = field(default_factory=dict)
    pretrained: str | None = None
    drop_path_rate: float = 0.1
    out_dim: int = 4096
    hidden_dim: int = 512
    bottleneck_dim: int = 256
    norm_last_layer: bool = True
    projection_dim: int = 128
    temperature: float = 0.2
    memory_bank_size: int = 4096
    centering: str = "ema"
    koleo_weight: float = 0.0
    accumulate_steps: int = 1
    epochs: int = 100
    batch_size: int = 64
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_epochs: int = 10
    weight_decay: float = 0.04
    weight_decay_end: float = 0.4
    warmup_teacher_temp: float = 0.04
    teacher_temp: float = 0.07
    warmup_teacher_temp_epochs: int = 30
    student_temp: float = 0.1
    center_momentum: float = 0.9
    momentum_teacher: float = 0.996
    clip_grad: float = 3.0
    freeze_last_layer: int = 1
    seed: int = 0
    device: str = "auto"
    num_workers: int = 2
    amp: str = "bf16"
    keep_every: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self):
        src = "train config"
        if isinstance(self.products, str):
            self.products = (self.products,)
        self.products = tuple(str(p) for p in self.products)
        if not self.products:
            raise InputError(src, "products", "is empty.", "Name at least one, e.g. [restored].")
        if isinstance(self.augment, dict):
            self.augment = from_dict(AugmentConfig, self.augment, f"{src}.augment")
        if not isinstance(self.backbone_kwargs, dict):
            raise InputError(src, "backbone_kwargs", "must be a mapping.")
        if self.method not in METHODS:
            raise InputError(src, "method", f"{self.method!r} is not an SSL method here.",
                             f"Use one of {', '.join(METHODS)}.")  # fmt: skip
        if self.augment.n_local is None:
            self.augment.n_local = 8 if self.method == "dino" else 0
        for name in ("epochs", "batch_size", "out_dim", "hidden_dim", "bottleneck_dim",
                     "projection_dim", "memory_bank_size", "accumulate_steps"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise InputError(src, name, f"{getattr(self, name)} must be >= 1.")
        for name in ("warmup_epochs", "warmup_teacher_temp_epochs", "freeze_last_layer",
                     "num_workers", "keep_every", "seed"):  # fmt: skip
            if int(getattr(self, name)) < 0:
                raise InputError(src, name, f"{getattr(self, name)} must be >= 0.")
        if self.amp not in ("bf16", "fp16", "off"):
            raise InputError(src, "amp", f"{self.amp!r}", "Use bf16, fp16 or off.")
        if not 0 <= self.momentum_teacher <= 1:
            raise InputError(src, "momentum_teacher", "must lie in [0, 1].")
        for name in ("teacher_temp", "warmup_teacher_temp", "student_temp", "lr", "temperature"):
            if not getattr(self, name) > 0:
                raise InputError(src, name, "must be > 0.")
        if self.centering not in ("ema", "sinkhorn"):
            raise InputError(src, "centering", f"{self.centering!r}", "Use ema or sinkhorn.")
        if self.koleo_weight < 0:
            raise InputError(src, "koleo_weight", "must be >= 0.")
        if self.method != "dino":
            if self.augment.n_local:
                raise InputError(
                    src, "augment.n_local",
                    f"{self.augment.n_local} local views: {self.method} compares two views.",
                    "Set augment.n_local: 0 (multi-crop is DINO's).",
                )  # fmt: skip
            dino_only = [k for k in ("centering", "koleo_weight")
                         if getattr(self, k) != getattr(TrainConfig, k)]  # fmt: skip
            if dino_only:
                raise InputError(src, ", ".join(dino_only), f"are DINO settings, not {self.method}'s.",
                                 "Remove them or use method: dino.")  # fmt: skip
        if self.method in CONTRASTIVE and self.batch_size < 2:
            raise InputError(
                src, "batch_size",
                f"{self.batch_size}: {self.method} needs at least 2 crops per batch "
                "(negatives and BatchNorm statistics come from the batch).",
                "Use batch_size >= 2 (64 or more learns well).",
            )  # fmt: skip
        if self.method == "moco" and self.memory_bank_size < self.batch_size:
            raise InputError(src, "memory_bank_size", f"{self.memory_bank_size} < batch_size "
                             f"{self.batch_size}.", "Use a queue of several batches (e.g. 4096).")  # fmt: skip
        check_backbone_views(self)


def check_backbone_views(config: TrainConfig) -> None:
    """A ViT needs view sides that are multiples of its patch (method-backbone mismatch)."""
    _, kwargs = resolve_name(config.backbone)
    patch = config.backbone_kwargs.get("patch_size", kwargs.get("patch_size"))
    if patch is None:
        return
    sides = {"augment.global_size": config.augment.global_size}
    if config.method == "dino" and config.augment.n_local:
        sides["augment.local_size"] = config.augment.local_size
    for name, side in sides.items():
        if side is not None and int(side) % int(patch):
            raise InputError(
                "train config", name,
                f"{side} px is not a multiple of {config.backbone}'s {patch}-px patch.",
                f"Use a multiple of {patch}, or another backbone.",
            )  # fmt: skip


def resolve_view_sizes(config: TrainConfig, crop_side: int) -> TrainConfig:
    """``config`` with ``augment.global_size`` None set to the dataset's crop side (px)."""
    if config.augment.global_size is not None:
        return config
    side = int(crop_side[0] if isinstance(crop_side, (tuple, list)) else crop_side)
    augment = dataclasses.replace(config.augment, global_size=side)
    return dataclasses.replace(config, augment=augment)


def load_config(path: str | Path | None = None, **overrides) -> TrainConfig:
    """TrainConfig from a YAML file (unknown keys are errors), then ``overrides`` (None skipped)."""
    data = load_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "train config"
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(TrainConfig, data, source)


def config_from_options(config_path, output, resume, **overrides) -> TrainConfig | None:
    """The config for a CLI call: YAML + overrides, or (resume, nothing given) None."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if resume and config_path is None and (Path(output) / CHECKPOINT).exists():
        if not given:
            return None
        ckpt = read_training_checkpoint(Path(output) / CHECKPOINT)
        data = dict(ckpt["config"])
        data.update(given)
        return from_dict(TrainConfig, data, str(Path(output) / CHECKPOINT))
    return load_config(config_path, **given)
