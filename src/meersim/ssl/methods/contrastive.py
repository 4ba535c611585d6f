"""Contrastive methods: SimCLR and MoCo v2, on lightly's heads and NT-Xent loss.

SimCLR (Chen et al. 2020): two views of each crop through one encoder and an MLP
projection; each view must pick out its partner among all 2B - 1 other views of the
global batch (lightly ``NTXentLoss(gather_distributed=True)`` gathers the negatives of
every DDP rank). MoCo v2 (Chen et al. 2020b): queries from an encoder, keys from its EMA
copy, negatives from a queue of past keys (lightly's memory bank, filled with the keys
of all ranks); batch statistics of the key encoder are shuffled across the batch
(ShuffleBN) so BatchNorm cannot leak which key matches which query.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightly.loss import NTXentLoss
from lightly.models.modules.heads import MoCoProjectionHead, SimCLRProjectionHead
from lightly.models.utils import (
    batch_shuffle,
    batch_shuffle_distributed,
    batch_unshuffle,
    batch_unshuffle_distributed,
)

from meersim.ssl.methods.base import (
    MomentumEncoderMethod,
    SSLMethod,
    effective_rank,
    embedding_std,
)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class SimCLR(SSLMethod):
    """SimCLR: backbone -> 2-layer MLP projection -> NT-Xent at ``temperature``."""

    name = "simclr"
    n_views = 2

    def __init__(self, backbone, embed_dim: int, config):
        super().__init__(backbone, embed_dim)
        self.projection = SimCLRProjectionHead(embed_dim, config.hidden_dim, config.projection_dim)
        self.criterion = NTXentLoss(temperature=config.temperature, gather_distributed=True)

    def forward(self, views, epoch: int):
        b = views[0].shape[0]
        features = self.backbone(torch.cat(views[:2]))
        z = self.projection(features)
        loss = self.criterion(z[:b], z[b:])
        stats = {
            "embedding_std": embedding_std(z[:b]),
            "effective_rank": effective_rank(features[:b]),
        }
        return loss, stats


class MoCo(MomentumEncoderMethod):
    """MoCo v2: query encoder, EMA key encoder, queue of ``memory_bank_size`` keys."""

    name = "moco"
    n_views = 2

    def __init__(self, backbone, embed_dim: int, config):
        super().__init__(backbone, embed_dim)
        self.projection = MoCoProjectionHead(embed_dim, config.hidden_dim, config.projection_dim)
        self.init_momentum()
        self.criterion = NTXentLoss(
            temperature=config.temperature,
            memory_bank_size=(config.memory_bank_size, config.projection_dim),
            gather_distributed=True,
        )

    def _keys(self, view: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if _distributed():
                shuffled, unshuffle = batch_shuffle_distributed(view)
                keys = self.projection_momentum(self.backbone_momentum(shuffled))
                return batch_unshuffle_distributed(keys, unshuffle).detach()
            shuffled, unshuffle = batch_shuffle(view)
            keys = self.projection_momentum(self.backbone_momentum(shuffled))
            return batch_unshuffle(keys, unshuffle).detach()

    def forward(self, views, epoch: int):
        features = self.backbone(views[0])
        queries = self.projection(features)
        keys = self._keys(views[1])
        loss = self.criterion(queries, keys)
        stats = {
            "embedding_std": embedding_std(queries),
            "effective_rank": effective_rank(features),
        }
        return loss, stats

    # lightly registers its queue as a non-persistent buffer; a resumed run needs it back
    def get_extra_state(self) -> dict:
        bank = self.criterion.memory_bank
        return {"queue": bank.bank.detach().clone(), "queue_ptr": bank.bank_ptr.detach().clone()}

    def set_extra_state(self, state: dict) -> None:
        bank = self.criterion.memory_bank
        bank.bank.copy_(state["queue"])
        bank.bank_ptr.copy_(state["queue_ptr"])
