"""SSL training (DINO, SimCLR, MoCo v2, BYOL) on a crop dataset: one process (CPU/GPU)
or DDP via torchrun. Data, augmentations, schedules, checkpoints, resume and collapse
monitors are shared; the method (``config.method``) supplies the loss and its networks.

Python::

    from meersim.ssl.train import TrainConfig, train
    ckpt = train(TrainConfig(data="ds/", method="simclr", epochs=40), "run/")

Multi-process (one process per GPU, or gloo on CPU)::

    torchrun --nproc_per_node=4 -m meersim.ssl.train --data ds/ --config train.yaml -o run/

Outputs in ``run/``: ``checkpoint.pth`` (replaced atomically every epoch),
``metrics.csv`` (one row per epoch, with the collapse monitors), ``steps.csv``
(loss and schedules per step), ``config.yaml`` and TensorBoard events when
tensorboard is installed.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn

from meersim.config import from_dict, to_dict
from meersim.datasets.loader import CropDataset
from meersim.errors import InputError, MeersimError
from meersim.io import atomic_write, disk_full_guard, make_dirs, write_text
from meersim.ssl.augment import RadioMultiCrop
from meersim.ssl.backbones import build_backbone
from meersim.ssl.methods import build_method
from meersim.ssl.methods.base import COLLAPSE_RANK_FLOOR, COLLAPSE_STD_FLOOR
from meersim.ssl.methods.dino import clip_gradients, cosine_scheduler, parameter_groups
from meersim.ssl.train.checkpoint import (
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    atomic_save,
    read_training_checkpoint,
)
from meersim.ssl.train.config import TrainConfig, resolve_view_sizes
from meersim.ssl.train.runtime import (
    MultiCropDataset,
    resolve_device,
    rng_state,
    set_rng_state,
    setup_distributed,
)

METRIC_COLUMNS = (
    "epoch", "method", "steps", "loss", "loss_first", "loss_last", "lr", "weight_decay",
    "momentum", "embedding_std", "effective_rank", "teacher_temp", "teacher_entropy",
    "teacher_batch_entropy", "kl_teacher_student", "center_norm", "koleo", "grad_norm_max",
    "images_per_s", "epoch_time_s",
)  # fmt: skip


class TrainingError(MeersimError):
    """Training cannot go on (e.g. the loss became NaN)."""


# ----------------------------------------------------------------------------------
# the trainer
# ----------------------------------------------------------------------------------
class Trainer:
    """Holds the method, optimiser, schedules and data for one (possibly distributed) run."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, progress: bool = True):
        if not config.data:
            raise InputError("train config", "data", "is not set.", "Pass --data DATASET_DIR.")
        self.out_dir = Path(out_dir)
        self.device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = setup_distributed(self.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.progress = progress and self.dist.is_main
        torch.manual_seed(config.seed)  # identical initial weights on every rank

        base = CropDataset(config.data, products=config.products)
        self.config = config = resolve_view_sizes(config, base.crop_size)
        self.transform = RadioMultiCrop(config.augment, psfs=base.psfs())
        self.dataset = MultiCropDataset(base, self.transform, config.seed)
        world, bs, accum = self.dist.world_size, config.batch_size, config.accumulate_steps
        if len(base) < bs * world * accum:
            raise InputError(
                config.data, "batch_size",
                f"{bs} x {accum} accumulation step(s) x {world} process(es) exceeds the "
                f"{len(base)} crops of the dataset.",
                "Lower --batch-size (or accumulate_steps).",
            )  # fmt: skip
        self.sampler = torch.utils.data.DistributedSampler(
            self.dataset, num_replicas=world, rank=self.dist.rank, shuffle=True,
            seed=config.seed, drop_last=True,
        )  # fmt: skip
        self.loader_generator = torch.Generator()
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=bs, sampler=self.sampler, drop_last=True,
            num_workers=config.num_workers, pin_memory=self.device.type == "cuda",
            generator=self.loader_generator,
        )  # fmt: skip
        self.steps_per_epoch = len(self.loader) // accum  # optimiser steps

        img = config.augment.global_size

        def backbone_factory(student: bool):
            return build_backbone(
                config.backbone, img, config.pretrained if student else None,
                drop_path_rate=config.drop_path_rate if student else 0.0,
                **config.backbone_kwargs,
            )  # fmt: skip

        method = build_method(config, backbone_factory)
        self.embed_dim = method.embed_dim
        self.method = method.to(self.device)
        if self.dist.world_size > 1 and self.device.type == "cuda":
            if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in method.modules()):
                self.method = nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.method, device_ids=ids)
        else:
            self.model = self.method

        self.optimizer = torch.optim.AdamW(parameter_groups(self.method))
        total_batch = bs * world * accum
        n, e = self.steps_per_epoch, config.epochs
        self.lr_schedule = cosine_scheduler(
            config.lr * total_batch / 256.0, config.min_lr, e, n, config.warmup_epochs
        )
        self.wd_schedule = cosine_scheduler(config.weight_decay, config.weight_decay_end, e, n)
        self.momentum_schedule = cosine_scheduler(config.momentum_teacher, 1.0, e, n)

        # mixed precision: GPU only
        self.autocast_dtype = None
        if self.device.type == "cuda" and config.amp != "off":
            want_bf16 = config.amp == "bf16" and torch.cuda.is_bf16_supported()
            self.autocast_dtype = torch.bfloat16 if want_bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)
        self.epoch = 0
        self.step = 0

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "method": self.config.method,
            "model": self.method.state_dict(),
            "embedding_backbone": self.method.embedding_backbone().state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "config": to_dict(self.config),
            "backbone": self.config.backbone,
            "embed_dim": self.embed_dim,
            "world_size": self.dist.world_size,
            "rng": rng_state(self.device),
        }

    def load_state_dict(self, ckpt: dict) -> None:
        self.method.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.step = int(ckpt["step"])
        if ckpt.get("world_size", 1) == self.dist.world_size:
            set_rng_state(ckpt.get("rng", {}), self.device)

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint.pth`` atomically (main rank only); returns its path."""
        path = self.out_dir / CHECKPOINT
        if self.dist.is_main:
            state = self.state_dict()
            atomic_save(state, path)
            k = self.config.keep_every
            if k and self.epoch % k == 0:
                atomic_save(state, self.out_dir / f"checkpoint_epoch{self.epoch:04d}.pth")
        return path

    # -- one epoch ---------------------------------------------------------------------
    def train_epoch(self, step_log=None) -> dict:
        """Train ``self.epoch``; returns the epoch's metrics and advances the epoch."""
        cfg, epoch = self.config, self.epoch
        self.sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch)
        self.loader_generator.manual_seed(cfg.seed * 1_000_003 + epoch)
        self.model.train()
        sums: dict[str, float] = {}
        losses, grad_max, n_images = [], 0.0, 0
        start = time.perf_counter()
        it = self.loader
        if self.progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=self.steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                      leave=False, dynamic_ncols=True)  # fmt: skip
        accum = cfg.accumulate_steps
        frozen = self.method.last_layer_names() if epoch < cfg.freeze_last_layer else ()
        micro = 0
        for batch in it:
            step = self.step
            if micro == 0:
                for j, group in enumerate(self.optimizer.param_groups):
                    group["lr"] = float(self.lr_schedule[step])
                    if j == 0:
                        group["weight_decay"] = float(self.wd_schedule[step])
                self.optimizer.zero_grad(set_to_none=True)
            views = [v.to(self.device, non_blocking=True) for v in batch["views"]]
            with torch.autocast(
                self.device.type, dtype=self.autocast_dtype or torch.float32,
                enabled=self.autocast_dtype is not None,
            ):  # fmt: skip
                loss, stats = self.model(views, epoch)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss is {loss.item()} at epoch {epoch}, step {step}: training diverged. "
                    "Fix: lower lr, keep amp at bf16 (fp16 overflows), or raise clip_grad."
                )
            self.scaler.scale(loss / accum).backward()
            value = float(loss.detach())
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v / accum
            n_images += views[0].shape[0]
            micro += 1
            if micro < accum:
                continue
            micro = 0
            if cfg.clip_grad:
                self.scaler.unscale_(self.optimizer)
                norms = clip_gradients(self.method, cfg.clip_grad)
                grad_max = max(grad_max, max(norms, default=0.0))
            if frozen:
                for name, p in self.method.named_parameters():
                    if name.startswith(frozen):
                        p.grad = None
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.method.update_momentum(float(self.momentum_schedule[step]))  # no-op: SimCLR
            losses.append(value)
            if step_log is not None:
                step_log(
                    {"epoch": epoch, "step": step, "loss": value, "lr": self.lr_schedule[step],
                     "weight_decay": self.wd_schedule[step],
                     "momentum": self.momentum_schedule[step]}
                )  # fmt: skip
            if self.progress:
                it.set_postfix(loss=f"{value:.4f}", rank=f"{stats['effective_rank']:.1f}")
            self.step += 1
            if self.step % self.steps_per_epoch == 0:
                break  # leftover micro-batches of an accumulation never reach the optimiser
        elapsed = time.perf_counter() - start
        n_steps = max(len(losses), 1)
        metrics = {k: v / n_steps for k, v in sums.items()}
        mean_loss = float(np.mean(losses)) if losses else float("nan")
        metrics.update(
            epoch=epoch, method=cfg.method, steps=len(losses), loss=mean_loss,
            loss_first=losses[0] if losses else float("nan"),
            loss_last=losses[-1] if losses else float("nan"),
            lr=float(self.lr_schedule[self.step - 1]),
            weight_decay=float(self.wd_schedule[self.step - 1]),
            momentum=float(self.momentum_schedule[self.step - 1]),
            grad_norm_max=grad_max,
            images_per_s=n_images * self.dist.world_size / max(elapsed, 1e-9),
            epoch_time_s=elapsed,
        )  # fmt: skip
        if cfg.method == "dino":
            metrics["teacher_temp"] = self.method.loss_fn.teacher_temp(epoch)
        metrics = self._reduce_metrics(metrics)
        self.epoch += 1
        return metrics

    def _reduce_metrics(self, metrics: dict) -> dict:
        """Average the monitors over ranks (throughput already counts all ranks)."""
        if self.dist.world_size <= 1:
            return metrics
        keys = [k for k in ("loss", "embedding_std", "effective_rank", "teacher_entropy",
                            "teacher_batch_entropy", "kl_teacher_student") if k in metrics]  # fmt: skip
        t = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        t /= self.dist.world_size
        metrics.update({k: float(v) for k, v in zip(keys, t.tolist(), strict=True)})
        return metrics

    def close(self) -> None:
        if self.dist.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


# ----------------------------------------------------------------------------------
# logging
# ----------------------------------------------------------------------------------
class _CsvLog:
    """Append rows to a CSV; on resume, rows from ``from_epoch`` on are dropped first."""

    def __init__(self, path: Path, columns, from_epoch: int | None):
        self.path, self.columns = path, list(columns)
        rows = []
        if from_epoch is not None and path.exists():
            try:
                with open(path, newline="") as fh:
                    rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) < from_epoch]
            except (KeyError, TypeError, ValueError, csv.Error):
                raise InputError(str(path), "epoch", "cannot be read to resume the log.",
                                 "Restore the file, or start again with --overwrite.") from None  # fmt: skip
        with atomic_write(path, "w") as fh:  # rows of finished epochs survive a crash here
            writer = csv.DictWriter(fh, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict) -> None:
        with disk_full_guard(self.path), open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, self.columns, extrasaction="ignore").writerow(
                {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()}
            )


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    try:
        return SummaryWriter(str(out_dir / "tensorboard"))
    except Exception:  # noqa: BLE001 - a broken tensorboard install must not stop training
        return None


def collapse_warnings(metrics: dict, out_dim: int) -> list[tuple[str, str]]:
    """(kind, message) for the collapse signatures (docs/architecture.md §4) in an epoch's metrics.

    Every method: normalised embedding std under :data:`COLLAPSE_STD_FLOOR` (all crops map
    to one point) or effective rank under :data:`COLLAPSE_RANK_FLOOR` (a few directions).
    DINO also: loss at ln K (uniform teacher), teacher entropy above 0.8 ln K from epoch 2
    (a near-uniform teacher), or a one-prototype batch.
    """
    out = []
    epoch = metrics["epoch"]
    std, rank = metrics.get("embedding_std"), metrics.get("effective_rank")
    if std is not None and std < COLLAPSE_STD_FLOOR:
        out.append(("std", f"epoch {epoch}: embedding std {std:.3f} is below the collapse floor "
                    f"{COLLAPSE_STD_FLOOR}: the outputs have collapsed to a point. Lower lr, "
                    "raise the temperature or the batch size, or check the views share sources."))  # fmt: skip
    if rank is not None and rank < COLLAPSE_RANK_FLOOR:
        out.append(("rank", f"epoch {epoch}: effective rank {rank:.2f} of the features is below "
                    f"{COLLAPSE_RANK_FLOOR}: dimensional collapse. Use larger batches or "
                    "stronger augmentations."))  # fmt: skip
    if metrics.get("method", "dino") != "dino" or "teacher_entropy" not in metrics:
        return out
    ln_k = math.log(out_dim)
    if epoch >= 1 and abs(metrics["loss"] - ln_k) < 0.02 * ln_k:
        out.append(
            (
                "uniform",
                f"epoch {epoch}: loss {metrics['loss']:.4f} sits at ln(out_dim) = "
                f"{ln_k:.4f}: the outputs look collapsed to uniform. Try a smaller out_dim, a lower "
                "teacher_temp, centering: sinkhorn, and check teacher_entropy and kNN accuracy.",
            )
        )
    entropy = metrics.get("teacher_entropy")
    if epoch >= 2 and entropy is not None and entropy > 0.8 * ln_k:
        out.append(
            (
                "flat-teacher",
                f"epoch {epoch}: teacher entropy {entropy:.3f} nats is above 0.8 ln(out_dim) = "
                f"{0.8 * ln_k:.3f}: the teacher is close to uniform and the student learns little. "
                "Lower teacher_temp or out_dim, or try centering: sinkhorn.",
            )
        )
    if metrics.get("teacher_batch_entropy", ln_k) < 0.05 * ln_k:
        out.append(
            (
                "one-dimension",
                f"epoch {epoch}: the batch-mean teacher distribution has entropy "
                f"{metrics['teacher_batch_entropy']:.3f} nats: every crop maps to the same "
                "prototypes (collapse to one dimension). Use larger batches (centering needs "
                "them) or a lower teacher temperature.",
            )
        )
    return out


# ----------------------------------------------------------------------------------
# entry points
# ----------------------------------------------------------------------------------
RUN_FILES = (CHECKPOINT, "metrics.csv", "steps.csv", "config.yaml")


def check_run_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start over a run that is there, or to resume one that is not.

    A run directory that holds any of :data:`RUN_FILES` is continued with ``resume``
    (which needs ``checkpoint.pth``) or replaced with ``overwrite``; anything else is
    an error, so a finished run, its ``metrics.csv`` or a user's ``config.yaml`` is
    never silently replaced.
    """
    if resume and overwrite:
        raise InputError(str(out_dir), "--resume/--overwrite", "are given together.",
                         "Choose one: continue the run or start it again.")  # fmt: skip
    ckpt_path = out_dir / CHECKPOINT
    if resume:
        if not ckpt_path.is_file():
            raise InputError(str(ckpt_path), "--resume", "there is no checkpoint to resume from.",
                             "Drop --resume to start a new run, or give the run's directory.")  # fmt: skip
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(str(out_dir), "output", "is a file, not a directory.",
                         "Give a run directory.")  # fmt: skip
    present = [name for name in RUN_FILES if (out_dir / name).exists()]
    if present and not overwrite:
        state = ""
        if ckpt_path.is_file():
            ckpt = read_training_checkpoint(ckpt_path)
            epochs = ckpt.get("config", {}).get("epochs")
            done = "finished" if epochs is not None and ckpt["epoch"] >= epochs else "unfinished"
            state = f" ({done}: epoch {ckpt['epoch']} of {epochs})"
        raise InputError(
            str(out_dir), ", ".join(present), f"a training run is already here{state}.",
            "Pass --resume to continue it, --overwrite to start again (replaces its "
            "checkpoint and metrics), or choose another -o.",
        )  # fmt: skip


def train(
    config: TrainConfig | None,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Train ``config.method``; returns the path of the final checkpoint.

    Parameters
    ----------
    config : TrainConfig, or None to resume with the config stored in ``out_dir``'s checkpoint.
    out_dir : run directory (checkpoint.pth, metrics.csv, steps.csv, config.yaml).
    resume : continue from ``out_dir/checkpoint.pth`` (model, optimiser, centre, RNG, epoch);
        an error when there is no checkpoint.
    overwrite : start again in a run directory that holds a run (see :func:`check_run_dir`).
    progress : tqdm bar and a line per epoch (main rank only).
    stop_after : run at most this many epochs in this call (time-limited jobs; resume later).
    """
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT
    ckpt = None
    check_run_dir(out_dir, resume, overwrite)
    if resume:
        ckpt = read_training_checkpoint(ckpt_path)
        if config is None:
            config = from_dict(TrainConfig, ckpt["config"], str(ckpt_path))
        else:
            stored = from_dict(TrainConfig, ckpt["config"], str(ckpt_path))
            for key in ("method", "backbone"):
                if getattr(stored, key) != getattr(config, key):
                    raise InputError(
                        str(ckpt_path), key,
                        f"the checkpoint was trained with {key} {getattr(stored, key)!r}, the "
                        f"config asks for {getattr(config, key)!r}: its weights do not fit.",
                        "Resume with the run's own config, or train a new run (another -o).",
                    )  # fmt: skip
            if config.augment.global_size is None:
                config = resolve_view_sizes(config, stored.augment.global_size)
            changed = [f.name for f in dataclasses.fields(TrainConfig)
                       if getattr(stored, f.name) != getattr(config, f.name)]  # fmt: skip
            if changed:
                warnings.warn(
                    f"resuming {ckpt_path} with changed settings: {', '.join(changed)}",
                    stacklevel=2,
                )
    elif config is None:
        raise InputError(str(ckpt_path), "checkpoint", "not found, and no config was given.")
    make_dirs(out_dir)
    trainer = Trainer(config, out_dir, progress=progress)
    config = trainer.config  # view sizes resolved against the dataset
    try:
        if ckpt is not None:
            trainer.load_state_dict(ckpt)
            if trainer.step != trainer.epoch * trainer.steps_per_epoch:
                raise InputError(
                    str(ckpt_path), "step",
                    f"{trainer.step} does not match epoch {trainer.epoch} x "
                    f"{trainer.steps_per_epoch} steps: the dataset or batch size changed.",
                    "Resume with the original data, batch size and process count.",
                )  # fmt: skip
        main = trainer.dist.is_main
        from_epoch = trainer.epoch if ckpt is not None else 0
        metrics_log = steps_log = writer = None
        if main:
            write_text(out_dir / "config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))
            metrics_log = _CsvLog(out_dir / "metrics.csv", METRIC_COLUMNS, from_epoch)
            steps_log = _CsvLog(
                out_dir / "steps.csv",
                ("epoch", "step", "loss", "lr", "weight_decay", "momentum"), from_epoch,
            )  # fmt: skip
            writer = _tensorboard(out_dir)
        if progress and main:
            print(
                f"{config.method} {config.backbone} (embed {trainer.embed_dim}) on {trainer.device}"
                f" x{trainer.dist.world_size}: {len(trainer.dataset)} crops, "
                f"{trainer.steps_per_epoch} steps/epoch, epochs {trainer.epoch}->{config.epochs}",
                flush=True,
            )
        n_run, warned = 0, set()
        while trainer.epoch < config.epochs and (stop_after is None or n_run < stop_after):
            metrics = trainer.train_epoch(steps_log.write if steps_log else None)
            n_run += 1
            if main:
                metrics_log.write(metrics)
                if writer is not None:
                    for k, v in metrics.items():
                        if k != "epoch":
                            if isinstance(v, (int, float)):
                                writer.add_scalar(f"ssl/{k}", v, metrics["epoch"])
                    writer.flush()
                for kind, message in collapse_warnings(metrics, config.out_dim):
                    if kind not in warned:  # each kind once per call; metrics.csv has the rest
                        warned.add(kind)
                        warnings.warn(message, stacklevel=2)
                if progress:
                    dino = (f"  H(teacher) {metrics['teacher_entropy']:.3f}"
                            f"  KL(t||s) {metrics['kl_teacher_student']:.3f}"
                            if config.method == "dino" else "")  # fmt: skip
                    print(
                        f"epoch {metrics['epoch'] + 1}/{config.epochs}  loss {metrics['loss']:.4f}"
                        f"  std {metrics['embedding_std']:.3f}  rank {metrics['effective_rank']:.1f}"
                        f"{dino}  {metrics['images_per_s']:.1f} img/s",
                        flush=True,
                    )
            trainer.save_checkpoint()
        if writer is not None:
            writer.close()
        if trainer.dist.world_size > 1:
            dist.barrier()
        return ckpt_path
    finally:
        trainer.close()
