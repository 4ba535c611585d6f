"""DINO building blocks: projection head, loss, multi-crop wrapper, schedules, EMA.

Semantics follow facebookresearch/dino ``main_dino.py`` (Caron et al. 2021,
"Emerging Properties in Self-Supervised Vision Transformers"); the code is our own.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from meersim.ssl.methods.base import (
    SSLMethod,
    effective_rank,
    ema_update,
    embedding_std,
)


class DINOHead(nn.Module):
    """Projection head: MLP -> L2-normalised bottleneck -> weight-normed linear to ``out_dim``.

    Parameters
    ----------
    in_dim : backbone feature size.
    out_dim : number of prototypes K (DINO uses 65536; 4096 suits small radio sets).
    hidden_dim, bottleneck_dim : MLP widths (DINO: 2048, 256).
    n_layers : MLP depth (DINO: 3).
    norm_last_layer : fix the weight-norm gain g to 1 (not trained), as DINO does for stability.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 4096,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        n_layers: int = 3,
        norm_last_layer: bool = True,
    ):
        super().__init__()
        n_layers = max(int(n_layers), 1)
        if n_layers == 1:
            self.mlp = nn.Linear(in_dim, bottleneck_dim)
        else:
            layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim), nn.GELU()]
            for _ in range(n_layers - 2):
                layers += [nn.Linear(hidden_dim, hidden_dim), nn.GELU()]
            layers.append(nn.Linear(hidden_dim, bottleneck_dim))
            self.mlp = nn.Sequential(*layers)
        self.apply(self._init_weights)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        gain = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            gain.fill_(1.0)
        if norm_last_layer:
            gain.requires_grad_(False)
        self.out_dim = out_dim

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        x = F.normalize(x, dim=-1, p=2)
        return self.last_layer(x)


class MultiCropWrapper(nn.Module):
    """Run the backbone once per run of equal-size crops, concatenate, then the head."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, crops: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone_features(crops))

    def backbone_features(self, crops: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Backbone features of all crops, in crop-major order [n_crops*B, D]."""
        if isinstance(crops, torch.Tensor):
            crops = [crops]
        sizes = torch.tensor([c.shape[-1] for c in crops])
        counts = torch.unique_consecutive(sizes, return_counts=True)[1]
        ends = torch.cumsum(counts, 0).tolist()
        features, start = [], 0
        for end in ends:
            out = self.backbone(torch.cat(crops[start:end]))
            if isinstance(out, tuple):
                out = out[0]
            features.append(out)
            start = end
        return torch.cat(features)


def teacher_temperature_schedule(
    warmup_temp: float, temp: float, warmup_epochs: int, epochs: int
) -> np.ndarray:
    """Teacher temperature per epoch: linear ``warmup_temp -> temp`` then constant."""
    warmup_epochs = min(int(warmup_epochs), int(epochs))
    return np.concatenate(
        [np.linspace(warmup_temp, temp, warmup_epochs), np.full(epochs - warmup_epochs, temp)]
    )


class DINOLoss(nn.Module):
    """Cross-entropy between sharpened, centred teacher and student distributions.

    ``loss = mean over pairs (t, s), s != t, of  mean_batch  sum_k -P_t[k] log P_s[k]``
    with ``P_t = softmax((g_t - c) / tau_t)`` over the teacher's global views and
    ``P_s = softmax(g_s / tau_s)`` over all student views. The centre ``c`` is an EMA
    (momentum 0.9) of the teacher outputs' batch mean, all-reduced across DDP ranks.
    """

    def __init__(
        self,
        out_dim: int,
        n_crops: int,
        epochs: int,
        warmup_teacher_temp: float = 0.04,
        teacher_temp: float = 0.07,
        warmup_teacher_temp_epochs: int = 30,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        centering: str = "ema",
    ):
        super().__init__()
        self.out_dim = out_dim
        self.centering = centering
        self.n_crops = n_crops
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.teacher_temps = teacher_temperature_schedule(
            warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs, epochs
        )

    def teacher_temp(self, epoch: int) -> float:
        return float(self.teacher_temps[min(epoch, len(self.teacher_temps) - 1)])

    def teacher_probs(self, teacher_output: torch.Tensor, epoch: int) -> torch.Tensor:
        """Centred, sharpened teacher distributions [n_global*B, K].

        ``centering="ema"``: softmax((g_t - c) / tau_t) (DINO). ``"sinkhorn"``: three
        Sinkhorn-Knopp iterations over the global batch, which spread the batch evenly
        over the K prototypes (DINOv2, Oquab et al. 2024; lightly's SwAV implementation).
        """
        temp = self.teacher_temp(epoch)
        if self.centering == "sinkhorn":
            from lightly.loss.swav_loss import sinkhorn

            logits = teacher_output.float()
            logits = logits - logits.max()  # exp() stays finite; Sinkhorn is shift-invariant
            return sinkhorn(logits, iterations=3, epsilon=temp, gather_distributed=True)
        return F.softmax((teacher_output.float() - self.center) / temp, dim=-1)

    def forward(
        self, student_output: torch.Tensor, teacher_output: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        """student_output [n_crops*B, K], teacher_output [n_global*B, K] (crop-major order)."""
        student_logp = F.log_softmax(student_output.float() / self.student_temp, dim=-1)
        student_chunks = student_logp.chunk(self.n_crops)
        teacher = self.teacher_probs(teacher_output, epoch).detach()
        teacher_chunks = teacher.chunk(teacher.shape[0] // student_chunks[0].shape[0])
        total, n_terms = 0.0, 0
        for t_idx, q in enumerate(teacher_chunks):
            for s_idx, logp in enumerate(student_chunks):
                if s_idx == t_idx:
                    continue
                total = total + torch.sum(-q * logp, dim=-1).mean()
                n_terms += 1
        loss = total / n_terms
        self.update_center(teacher_output)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        """EMA of the teacher outputs' mean over the global batch (all ranks)."""
        batch_sum = teacher_output.float().sum(dim=0, keepdim=True)
        count = torch.tensor(
            [teacher_output.shape[0]], dtype=torch.float32, device=batch_sum.device
        )
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(batch_sum)
            dist.all_reduce(count)
        batch_center = batch_sum / count
        self.center.mul_(self.center_momentum).add_(batch_center * (1 - self.center_momentum))


class DINOMethod(SSLMethod):
    """DINO (Caron et al. 2021): a student matches an EMA teacher's centred, sharpened
    prototype distribution across multi-crop views. Optional DINOv2 pieces: Sinkhorn-Knopp
    centering and the KoLeo regulariser on the student's global-view features.
    """

    name = "dino"

    def __init__(self, backbone, teacher_backbone, embed_dim: int, config):
        super().__init__(backbone, embed_dim)
        head_kw = dict(out_dim=config.out_dim, hidden_dim=config.hidden_dim,
                       bottleneck_dim=config.bottleneck_dim)  # fmt: skip
        self.student = MultiCropWrapper(
            backbone, DINOHead(embed_dim, norm_last_layer=config.norm_last_layer, **head_kw)
        )
        self.teacher = MultiCropWrapper(teacher_backbone, DINOHead(embed_dim, **head_kw))
        self.teacher.load_state_dict(self.student.state_dict())
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.n_views = 2 + config.augment.n_local
        self.loss_fn = DINOLoss(
            config.out_dim, self.n_views, config.epochs, config.warmup_teacher_temp,
            config.teacher_temp, config.warmup_teacher_temp_epochs, config.student_temp,
            config.center_momentum, config.centering,
        )  # fmt: skip
        self.koleo_weight = float(config.koleo_weight)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher never uses batch statistics or dropout
        return self

    def forward(self, views, epoch: int):
        with torch.no_grad():
            teacher_out = self.teacher(views[:2])
        features = self.student.backbone_features(views)
        student_out = self.student.head(features)
        stats = collapse_stats(student_out, teacher_out, self.loss_fn, epoch)
        loss = self.loss_fn(student_out, teacher_out, epoch)
        n_global = views[0].shape[0] * 2
        if self.koleo_weight:
            from lightly.loss import KoLeoLoss

            koleo = sum(KoLeoLoss()(f) for f in features[:n_global].chunk(2)) / 2
            loss = loss + self.koleo_weight * koleo
            stats["koleo"] = float(koleo.detach())
        stats["embedding_std"] = embedding_std(features[: n_global // 2])
        stats["effective_rank"] = effective_rank(features[: n_global // 2])
        return loss, stats

    @torch.no_grad()
    def update_momentum(self, momentum: float) -> None:
        ema_update(self.teacher, self.student, momentum)

    def embedding_backbone(self):
        return self.teacher.backbone

    def last_layer_names(self):
        return ("student.head.last_layer",)


def cosine_scheduler(
    base_value: float,
    final_value: float,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: int = 0,
    start_warmup_value: float = 0.0,
) -> np.ndarray:
    """Per-step values: linear warmup to ``base_value``, then cosine decay to ``final_value``."""
    warmup_steps = int(min(warmup_epochs, epochs) * steps_per_epoch)
    warmup = np.linspace(start_warmup_value, base_value, warmup_steps)
    n = epochs * steps_per_epoch - warmup_steps
    steps = np.arange(n)
    cosine = final_value + 0.5 * (base_value - final_value) * (
        1 + np.cos(np.pi * steps / max(n, 1))
    )
    schedule = np.concatenate([warmup, cosine])
    assert len(schedule) == epochs * steps_per_epoch
    return schedule


def clip_gradients(model: nn.Module, clip: float) -> list[float]:
    """DINO's clipping: rescale each parameter's gradient to norm <= ``clip`` (per parameter,
    not the global norm). Returns the gradient norms before clipping (one device sync)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return []
    norms = torch.stack(torch._foreach_norm(grads)).float()
    coefs = (clip / (norms + 1e-6)).clamp(max=1.0)
    torch._foreach_mul_(grads, [c.to(g.dtype) for c, g in zip(coefs.unbind(), grads, strict=True)])
    return norms.tolist()


def cancel_last_layer_gradients(model: nn.Module) -> None:
    """Drop the gradients of the head's last layer (frozen during the first epoch(s))."""
    for name, p in model.named_parameters():
        if "last_layer" in name:
            p.grad = None


def parameter_groups(model: nn.Module) -> list[dict]:
    """AdamW groups: weight decay on matrices only (biases, norms, tokens are not decayed)."""
    decay, no_decay = [], []
    for _name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def collapse_stats(
    student_output: torch.Tensor, teacher_output: torch.Tensor, loss_fn: DINOLoss, epoch: int
) -> dict[str, float]:
    """Collapse monitors for one batch (nats).

    ``teacher_entropy``: mean entropy of the teacher's per-image distributions
    (-> 0 when one prototype dominates, -> ln K when the teacher goes uniform);
    ``teacher_batch_entropy``: entropy of the batch-mean teacher distribution
    (low = every image maps to the same prototypes); ``kl_teacher_student``:
    KL(P_t || P_s) on the views both see (0 means the student copies the teacher).
    """
    p_t = loss_fn.teacher_probs(teacher_output, epoch)
    log_t = torch.log(p_t.clamp_min(1e-30))
    entropy = -(p_t * log_t).sum(-1).mean()
    mean_p = p_t.mean(0)
    batch_entropy = -(mean_p * torch.log(mean_p.clamp_min(1e-30))).sum()
    logp_s = F.log_softmax(
        student_output[: teacher_output.shape[0]].float() / loss_fn.student_temp, -1
    )
    kl = (p_t * (log_t - logp_s)).sum(-1).mean()
    values = torch.stack([entropy, batch_entropy, kl, loss_fn.center.norm()]).tolist()
    names = ("teacher_entropy", "teacher_batch_entropy", "kl_teacher_student", "center_norm")
    return dict(zip(names, values, strict=True))


def uniform_loss(out_dim: int) -> float:
    """The DINO loss of a fully collapsed (uniform) model: ln K nats."""
    return math.log(out_dim)
