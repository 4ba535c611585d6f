"""One-channel backbones and loading of (DINO-style) 3-channel checkpoints."""

import pytest
import timm
import torch

from meersim.errors import InputError
from meersim.ssl.backbones import build_backbone, load_pretrained

TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2}


def _three_channel_vit(patch=8, img=32):
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0,
                             patch_size=patch, img_size=img, **TINY)  # fmt: skip


def test_build_vit_and_resnet_one_channel():
    vit, dim = build_backbone("vit_tiny_patch8", 32, **TINY)
    assert dim == 32 and vit.patch_embed.proj.weight.shape[1] == 1
    assert vit(torch.randn(2, 1, 32, 32)).shape == (2, 32)
    assert vit(torch.randn(2, 1, 16, 16)).shape == (2, 32)  # local crops (dynamic size)
    res, rdim = build_backbone("resnet18", 32)
    assert rdim == 512 and res.conv1.weight.shape[1] == 1
    with pytest.raises(InputError):
        build_backbone("vit_tiny_patch8", 36, **TINY)  # not a multiple of the patch
    with pytest.raises(InputError):
        build_backbone("no_such_net", 32)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_plain_state_dict_channels_reduced(tmp_path, reduce):
    src = _three_channel_vit()
    state = src.state_dict()
    state["head.weight"] = torch.zeros(5, 32)  # e.g. a classifier the backbone lacks
    torch.save(state, tmp_path / "vit.pth")
    model, _ = build_backbone("vit_tiny_patch8", 32, **TINY)
    with pytest.warns(UserWarning, match="unexpected 1"):
        report = load_pretrained(model, tmp_path / "vit.pth", channel_reduce=reduce)
    w3 = src.patch_embed.proj.weight
    want = w3.sum(1, keepdim=True) if reduce == "sum" else w3.mean(1, keepdim=True)
    torch.testing.assert_close(model.patch_embed.proj.weight, want)
    torch.testing.assert_close(model.blocks[1].attn.qkv.weight, src.blocks[1].attn.qkv.weight)
    assert report.unexpected == ["head.weight"] and report.missing == []
    # sum: a grey 3-channel image and its one-channel version give the same features
    x = torch.randn(1, 1, 32, 32)
    if reduce == "sum":
        torch.testing.assert_close(model(x), src(x.repeat(1, 3, 1, 1)), atol=1e-5, rtol=1e-5)


def test_dino_training_checkpoint_prefixes_and_pos_embed(tmp_path):
    src = _three_channel_vit(patch=8, img=64)  # 8x8 patch grid, the model has 4x4
    student = {f"module.backbone.{k}": v for k, v in src.state_dict().items()}
    student["module.head.last_layer.weight_g"] = torch.ones(10, 1)
    teacher = {f"backbone.{k}": v for k, v in src.state_dict().items()}
    teacher["head.mlp.0.weight"] = torch.zeros(4, 32)
    torch.save({"student": student, "teacher": teacher, "epoch": 3}, tmp_path / "full.pth")
    model, _ = build_backbone("vit_tiny_patch8", 32, **TINY)
    with pytest.warns(UserWarning):
        report = load_pretrained(model, tmp_path / "full.pth")
    assert report.checkpoint_key == "teacher" and report.unexpected == ["head.mlp.0.weight"]
    assert model.pos_embed.shape == (1, 17, 32)
    torch.testing.assert_close(model.pos_embed[:, 0], src.pos_embed[:, 0])  # class token kept
    assert any("pos_embed" in a for a in report.adapted)


def test_resnet_checkpoint_and_bad_files(tmp_path):
    src = timm.create_model("resnet18", pretrained=False, num_classes=0)
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    model, _ = build_backbone("resnet18", 32, pretrained_path=tmp_path / "r18.pth")
    torch.testing.assert_close(model.conv1.weight, src.conv1.weight.sum(1, keepdim=True))
    with pytest.raises(InputError):
        load_pretrained(model, tmp_path / "missing.pth")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="no parameter names"):
        load_pretrained(model, tmp_path / "other.pth")
    resnet50, _ = build_backbone("resnet50", 32)  # same key names, other shapes
    with pytest.raises(InputError, match="shape"):
        load_pretrained(resnet50, tmp_path / "r18.pth")
