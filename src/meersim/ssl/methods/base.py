"""What every SSL method shares: the training interface, momentum encoders, collapse monitors.

A method is an ``nn.Module`` whose ``forward(views, epoch)`` returns the loss and a dict of
monitor values for one batch, so DDP can wrap it whole. Momentum (EMA) encoders, loss
buffers (DINO's centre, MoCo's queue) and heads live inside it and travel in its
``state_dict``. :meth:`SSLMethod.embedding_backbone` is the network that
``meersim embed`` uses (docs/architecture.md §4).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

# Below these, a run counts as collapsed (docs/architecture.md §4): the normalised
# embedding std is 1 for outputs spread evenly over the sphere and 0 when every image
# maps to one point; an effective rank under 4 means the batch spans only a few directions.
COLLAPSE_STD_FLOOR = 0.1
COLLAPSE_RANK_FLOOR = 4.0


class SSLMethod(nn.Module):
    """Base class: subclasses set ``name``, ``n_views`` and implement ``forward``."""

    name = ""

    def __init__(self, backbone: nn.Module, embed_dim: int):
        super().__init__()
        self.backbone = backbone
        self.embed_dim = int(embed_dim)

    def forward(self, views: list[torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    @torch.no_grad()
    def update_momentum(self, momentum: float) -> None:
        """EMA step of the momentum encoder(s); a no-op for methods without one."""

    def embedding_backbone(self) -> nn.Module:
        """The backbone whose features ``meersim embed`` writes."""
        return self.backbone

    def last_layer_names(self) -> tuple[str, ...]:
        """Parameters frozen during the first ``freeze_last_layer`` epochs (DINO only)."""
        return ()


class MomentumEncoderMethod(SSLMethod):
    """A method whose targets come from an EMA copy of its backbone and projection
    (MoCo's key encoder, BYOL's target network). Subclasses set ``self.projection``,
    then call :meth:`init_momentum`."""

    def init_momentum(self) -> None:
        self.backbone_momentum = momentum_copy(self.backbone)
        self.projection_momentum = momentum_copy(self.projection)

    @torch.no_grad()
    def update_momentum(self, momentum: float) -> None:
        ema_update(self.backbone_momentum, self.backbone, momentum, copy_buffers=False)
        ema_update(self.projection_momentum, self.projection, momentum, copy_buffers=False)


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy (the EMA target / key encoder), same initial weights."""
    twin = copy.deepcopy(module)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


@torch.no_grad()
def ema_update(
    target: nn.Module, online: nn.Module, momentum: float, copy_buffers: bool = True
) -> None:
    """target <- m * target + (1 - m) * online, parameter by parameter.

    ``copy_buffers``: also copy BatchNorm running statistics from the online network
    (for a target that runs in eval mode, such as DINO's teacher).
    """
    t_params = list(target.parameters())
    o_params = [p.detach() for p in online.parameters()]
    if len(t_params) != len(o_params):
        raise RuntimeError("momentum encoder and online encoder have different parameters")
    torch._foreach_mul_(t_params, momentum)
    torch._foreach_add_(t_params, o_params, alpha=1.0 - momentum)
    if copy_buffers:
        for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
            tb.copy_(ob)


@torch.no_grad()
def embedding_std(z: torch.Tensor) -> float:
    """Std over the batch of L2-normalised outputs, averaged over dimensions, times sqrt(D).

    About 1 for outputs spread evenly on the sphere, 0 for complete collapse
    (the monitor of Grill et al. 2020 / Chen & He 2021, scaled to be dimension-free).
    """
    z = F.normalize(z.detach().float(), dim=1)
    return float(z.std(dim=0).mean() * z.shape[1] ** 0.5)


@torch.no_grad()
def effective_rank(features: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of the centred batch (Roy & Vetterli 2007).

    1 when every row is the same direction; at most min(B, D).
    """
    x = features.detach().float()
    x = x - x.mean(dim=0, keepdim=True)
    s = torch.linalg.svdvals(x)
    total = s.sum()
    if not total > 0:
        return 1.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))
