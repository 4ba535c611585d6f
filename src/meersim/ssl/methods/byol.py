"""BYOL (Grill et al. 2020) on lightly's heads: an online network with a predictor learns
to predict an EMA target network's projection of the other view; no negatives.

As in the paper, the loss is symmetrised over the two views and uses the negative
cosine similarity (lightly ``NegativeCosineSimilarity``; 2 - 2 cos in the paper, the
same gradient up to a factor 2).
"""

from __future__ import annotations

import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead

from meersim.ssl.methods.base import (
    MomentumEncoderMethod,
    effective_rank,
    embedding_std,
)


class BYOL(MomentumEncoderMethod):
    """BYOL: backbone -> projection -> prediction, against an EMA target's projection."""

    name = "byol"
    n_views = 2

    def __init__(self, backbone, embed_dim: int, config):
        super().__init__(backbone, embed_dim)
        self.projection = BYOLProjectionHead(embed_dim, config.hidden_dim, config.projection_dim)
        self.prediction = BYOLPredictionHead(
            config.projection_dim, config.hidden_dim, config.projection_dim
        )
        self.init_momentum()
        self.criterion = NegativeCosineSimilarity()

    def forward(self, views, epoch: int):
        b = views[0].shape[0]
        both = torch.cat(views[:2])
        features = self.backbone(both)
        projected = self.projection(features)
        predicted = self.prediction(projected)
        with torch.no_grad():
            targets = self.projection_momentum(self.backbone_momentum(both)).detach()
        loss = 0.5 * (
            self.criterion(predicted[:b], targets[b:]) + self.criterion(predicted[b:], targets[:b])
        )
        stats = {
            "embedding_std": embedding_std(projected[:b]),
            "effective_rank": effective_rank(features[:b]),
        }
        return loss, stats
