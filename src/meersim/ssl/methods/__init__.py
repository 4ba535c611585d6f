"""SSL methods chosen by the train config's ``method:`` key (docs/train.md)."""

from __future__ import annotations

METHODS = ("dino", "simclr", "moco", "byol")
CONTRASTIVE = ("simclr", "moco", "byol")  # two views, BatchNorm heads: batch size >= 2


def build_method(config, backbone_factory):
    """The method module of ``config.method`` around backbones from ``backbone_factory``.

    ``backbone_factory(student: bool)`` returns ``(backbone, embed_dim)``; the student
    (online) backbone gets drop path and pretrained weights.
    """
    name = config.method
    backbone, embed_dim = backbone_factory(True)
    if name == "dino":
        from meersim.ssl.methods.dino import DINOMethod

        return DINOMethod(backbone, backbone_factory(False)[0], embed_dim, config)
    if name == "simclr":
        from meersim.ssl.methods.contrastive import SimCLR

        return SimCLR(backbone, embed_dim, config)
    if name == "moco":
        from meersim.ssl.methods.contrastive import MoCo

        return MoCo(backbone, embed_dim, config)
    if name == "byol":
        from meersim.ssl.methods.byol import BYOL

        return BYOL(backbone, embed_dim, config)
    raise ValueError(f"unknown SSL method {name!r}")  # TrainConfig validates first
