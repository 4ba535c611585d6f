"""meersim.ssl: radio augmentations, one-channel timm backbones, SSL training, embeddings."""

from meersim.ssl.augment import AugmentConfig, RadioMultiCrop
from meersim.ssl.backbones import build_backbone, load_pretrained
from meersim.ssl.embed import embed, embed_image
from meersim.ssl.train import TrainConfig, train

__all__ = [
    "AugmentConfig",
    "RadioMultiCrop",
    "TrainConfig",
    "build_backbone",
    "embed",
    "embed_image",
    "load_pretrained",
    "train",
]
