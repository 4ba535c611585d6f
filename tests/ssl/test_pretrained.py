"""Embedding with pretrained checkpoints written here in the released formats: DINO's
teacher/student dicts with ``module.backbone.`` prefixes, plain state dicts, 3-channel
first layers (the seed study's ViT-S/8 and ResNet-50 releases, DINO ImageNet weights)."""

import numpy as np
import timm
import torch
from _ssl_synthetic import make_store
from click.testing import CliRunner

from meersim.cli import main
from meersim.datasets.embeddings import load_embeddings
from meersim.ssl.augment import AugmentConfig, RadioMultiCrop
from meersim.ssl.pretrained import embed_pretrained, infer_backbone


def _vit3(seed=0):
    torch.manual_seed(seed)
    return timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0,
                             in_chans=3, img_size=32, patch_size=8, embed_dim=64, depth=2,
                             num_heads=1)  # fmt: skip


def _expected(model3, store_path, size=32):
    """Embeddings computed by hand: first layer summed over RGB, same input normalisation."""
    model1 = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0,
                               in_chans=1, img_size=size, patch_size=8, embed_dim=64, depth=2,
                               num_heads=1, dynamic_img_size=True).eval()  # fmt: skip
    state = {k: v for k, v in model3.state_dict().items()}
    state["patch_embed.proj.weight"] = state["patch_embed.proj.weight"].sum(1, keepdim=True)
    model1.load_state_dict(state)
    from meersim.datasets.store import open_store

    crops = np.nan_to_num(np.asarray(open_store(store_path).array("restored")[:]))
    view = RadioMultiCrop(AugmentConfig(global_size=size))
    x = torch.stack([view.eval_view(torch.from_numpy(c)[None]) for c in crops])
    with torch.no_grad():
        return model1(x).numpy()


def test_dino_teacher_student_checkpoint(tmp_path):
    store = make_store(tmp_path / "ds", n=6)
    model3 = _vit3().eval()
    prefixed = {f"module.backbone.{k}": v for k, v in model3.state_dict().items()}
    prefixed["module.head.last_layer.weight_v"] = torch.zeros(8, 4)
    torch.save({"teacher": prefixed, "student": {k: v + 1 for k, v in prefixed.items()},
                "epoch": 100}, tmp_path / "dino_vits8.pth")  # fmt: skip
    out = embed_pretrained(tmp_path / "dino_vits8.pth", store, tmp_path / "emb", img_size=32,
                           progress=False)  # fmt: skip
    emb = load_embeddings(out)
    assert emb.meta["checkpoint_key"] == "teacher"  # the teacher, as DINO evaluates
    assert emb.meta["backbone_kwargs"]["patch_size"] == 8
    assert any("3 channels -> 1" in a for a in emb.meta["adapted"])
    np.testing.assert_allclose(emb.vectors, _expected(model3, store), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(emb.crop_ids, np.arange(6))


def test_plain_state_dict_resnet_and_inferred_architecture(tmp_path):
    store = make_store(tmp_path / "ds", n=4)
    torch.manual_seed(1)
    resnet = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=3)
    torch.save(resnet.state_dict(), tmp_path / "r18.pth")
    assert infer_backbone(resnet.state_dict()) == ("resnet18", {})
    out = embed_pretrained(tmp_path / "r18.pth", store, tmp_path / "emb", img_size=32,
                           progress=False)  # fmt: skip
    emb = load_embeddings(out)
    assert emb.vectors.shape == (4, 512) and emb.meta["backbone"] == "resnet18"
    # random weights give other features: the weights were really loaded
    torch.manual_seed(2)
    other = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=3)
    torch.save(other.state_dict(), tmp_path / "other.pth")
    emb2 = load_embeddings(embed_pretrained(tmp_path / "other.pth", store, tmp_path / "emb2",
                                            img_size=32, progress=False))  # fmt: skip
    assert not np.allclose(emb.vectors, emb2.vectors, rtol=1e-2)


def test_embed_cli_pretrained(tmp_path):
    store = make_store(tmp_path / "ds", n=4)
    torch.save(_vit3().state_dict(), tmp_path / "vit.pth")
    res = CliRunner().invoke(main, ["embed", str(tmp_path / "vit.pth"), "--data", str(store),
                                    "--pretrained", "--img-size", "32", "--no-progress",
                                    "-o", str(tmp_path / "emb")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert load_embeddings(tmp_path / "emb").vectors.shape == (4, 64)
