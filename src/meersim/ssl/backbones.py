"""One-channel timm backbones (ViT, ResNet) and loading of DINO ImageNet weights.

Backbones are built with ``in_chans=1`` and ``num_classes=0`` (the forward pass
returns the pooled feature: the CLS token for ViTs, global-average-pooled
features for ResNets). Weights never come from the network: ``pretrained=False``
always, and :func:`load_pretrained` reads a local checkpoint file.
"""

from __future__ import annotations

import argparse
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from meersim.errors import InputError

# short names accepted everywhere (CLI, YAML) -> (timm model name, timm keyword overrides)
_VIT_BASE = {
    "tiny": "vit_tiny_patch16_224",
    "small": "vit_small_patch16_224",
    "base": "vit_base_patch16_224",
}
ALIASES = {
    "resnet18": ("resnet18", {}),
    "resnet50": ("resnet50", {}),
    # a ResNet-10 (one BasicBlock per stage) 16-128 channels wide, single 7x7 stem:
    # 0.3 M parameters, the CPU backbone of docs/train.md's study
    "resnet10_w16": (
        "resnet10t",
        {"channels": (16, 32, 64, 128), "stem_width": 16, "stem_type": ""},
    ),
}
for _size, _name in _VIT_BASE.items():
    for _patch in (8, 16):
        ALIASES[f"vit_{_size}_patch{_patch}"] = (_name, {"patch_size": _patch})
        ALIASES[f"vit_{_size}_patch{_patch}_224"] = (_name, {"patch_size": _patch})


def resolve_name(name: str) -> tuple[str, dict]:
    """Map a short backbone name (``vit_tiny_patch16``, ``resnet18``) to timm's name and kwargs."""
    if name in ALIASES:
        timm_name, kwargs = ALIASES[name]
        return timm_name, dict(kwargs)
    import timm

    if timm.is_model(name):
        return name, {}
    raise InputError(
        "backbone",
        name,
        "is not a known backbone.",
        f"Use one of {', '.join(sorted(ALIASES))} or any timm model name.",
    )


def is_vit(model: nn.Module) -> bool:
    """True for timm VisionTransformer-like models (patch embedding + blocks)."""
    return hasattr(model, "patch_embed") and hasattr(model, "blocks")


def patch_size(model: nn.Module) -> int | None:
    """Patch side in pixels for a ViT, None otherwise."""
    if not is_vit(model):
        return None
    return int(model.patch_embed.patch_size[0])


def build_backbone(
    name: str,
    img_size: int,
    pretrained_path: str | Path | None = None,
    *,
    drop_path_rate: float = 0.0,
    channel_reduce: str = "sum",
    **timm_kwargs,
) -> tuple[nn.Module, int]:
    """Build a one-channel timm backbone without a classifier.

    Parameters
    ----------
    name : short name (``vit_tiny_patch16``, ``vit_small_patch8``, ``resnet10_w16``,
        ``resnet18``, ``resnet50``)
        or any timm model name.
    img_size : global crop side in pixels (ViT position-embedding grid = img_size / patch).
        ViTs use ``dynamic_img_size=True``, so smaller (local) crops work too.
    pretrained_path : optional local checkpoint, see :func:`load_pretrained`.
    drop_path_rate : stochastic depth rate (DINO uses 0.1 for the student ViT).
    channel_reduce : ``"sum"`` or ``"mean"``, how 3-channel first-layer weights become one.
    timm_kwargs : passed to ``timm.create_model`` (e.g. ``patch_size=8, depth=2, embed_dim=64``).

    Returns
    -------
    (model, embed_dim)
    """
    import timm

    timm_name, kwargs = resolve_name(name)
    kwargs.update(timm_kwargs)
    kwargs.update(pretrained=False, in_chans=1, num_classes=0)
    if timm_name.startswith("vit") or "patch_size" in kwargs:
        kwargs.setdefault("img_size", int(img_size))
        kwargs.setdefault("dynamic_img_size", True)
    if drop_path_rate:
        kwargs["drop_path_rate"] = float(drop_path_rate)
    try:
        model = timm.create_model(timm_name, **kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(
            "backbone", name, f"timm could not build it with {kwargs} ({exc})."
        ) from None
    p = patch_size(model)
    if p is not None and img_size % p:
        raise InputError(
            "backbone", "img_size", f"{img_size} px is not a multiple of the patch ({p} px)."
        )
    if pretrained_path is not None:
        load_pretrained(model, pretrained_path, channel_reduce=channel_reduce)
    return model, int(model.num_features)


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did."""

    path: str
    checkpoint_key: str | None
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(path, weights_only=True)`` with clear errors (argparse.Namespace allowed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "checkpoint", "does not exist.", "Check the path.")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling raises many types
        raise InputError(
            str(path),
            "checkpoint",
            f"cannot be read as a weights-only torch file ({type(exc).__name__}).",
            "Save plain state dicts (torch.save(model.state_dict(), path)).",
        ) from None
    if not isinstance(obj, dict):
        raise InputError(str(path), "checkpoint", f"holds a {type(obj).__name__}, not a dict.")
    return obj


_PREFIXES = ("module.", "backbone.", "encoder.", "model.")


def extract_backbone_state(obj: dict, key: str | None = None) -> tuple[dict, str | None]:
    """Find the backbone state dict in a checkpoint and strip DDP/wrapper prefixes.

    Accepts plain state dicts and DINO / meersim training checkpoints with
    ``teacher``/``student`` entries (the teacher is preferred, as DINO's own
    evaluation does). Keys of the projection head (``head.*``) are kept so the
    caller can report them as unexpected.
    """
    chosen = None
    if key is not None:
        if key not in obj:
            raise InputError("checkpoint", key, "no such entry.", f"Entries: {sorted(obj)}.")
        state, chosen = obj[key], key
    else:
        for k in ("teacher", "student", "state_dict", "model"):
            if isinstance(obj.get(k), dict):
                state, chosen = obj[k], k
                break
        else:
            state = obj
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        name = k
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    changed = True
        out[name] = v
    return out, chosen


def _reduce_channels(weight: torch.Tensor, n_out: int, how: str) -> torch.Tensor:
    if how not in ("sum", "mean"):
        raise InputError("load_pretrained", "channel_reduce", f"{how!r}", "Use 'sum' or 'mean'.")
    if n_out != 1:
        raise InputError("load_pretrained", "in_chans", "only one-channel models are adapted.")
    return weight.sum(dim=1, keepdim=True) if how == "sum" else weight.mean(dim=1, keepdim=True)


def load_pretrained(
    model: nn.Module,
    path: str | Path,
    channel_reduce: str = "sum",
    checkpoint_key: str | None = None,
) -> LoadReport:
    """Load local DINO (or timm/meersim) weights into a one-channel backbone.

    - first-layer weights with 3 input channels are summed (``channel_reduce="sum"``,
      default: a grey image x·(1,1,1) gives the same response as before) or averaged;
    - a ViT ``pos_embed`` is resampled (bicubic) when its patch grid differs, and
      the patch embedding is resampled when the patch size differs;
    - keys the model lacks (e.g. the DINO head) and keys missing from the
      checkpoint are listed in the returned :class:`LoadReport` and warned about.
    """
    from timm.layers import resample_abs_pos_embed, resample_patch_embed

    state, chosen = extract_backbone_state(read_checkpoint(path), checkpoint_key)
    target = model.state_dict()
    report = LoadReport(path=str(path), checkpoint_key=chosen)
    new_state = {}
    for k, v in state.items():
        if k not in target:
            report.unexpected.append(k)
            continue
        want = target[k]
        if v.shape != want.shape:
            v = v.to(torch.float32)
            if v.ndim == 4 and v.shape[1] == 3 and want.shape[1] == 1:
                v = _reduce_channels(v, want.shape[1], channel_reduce)
                report.adapted.append(f"{k}: 3 channels -> 1 ({channel_reduce})")
            if (
                v.ndim == 4
                and k.endswith("patch_embed.proj.weight")
                and v.shape[2:] != want.shape[2:]
            ):
                v = resample_patch_embed(v, list(want.shape[2:]))
                report.adapted.append(f"{k}: patch resampled to {tuple(want.shape[2:])}")
            if k.endswith("pos_embed") and v.ndim == 3 and v.shape != want.shape:
                n_prefix = int(getattr(model, "num_prefix_tokens", 1))
                grid = model.patch_embed.grid_size
                v = resample_abs_pos_embed(v, new_size=list(grid), num_prefix_tokens=n_prefix)
                report.adapted.append(f"{k}: grid resampled to {tuple(grid)}")
            if v.shape != want.shape:
                raise InputError(
                    str(path),
                    k,
                    f"has shape {tuple(v.shape)}, the model needs {tuple(want.shape)}.",
                    "Choose the backbone the checkpoint was trained with.",
                )
        new_state[k] = v.to(want.dtype)
    result = model.load_state_dict(new_state, strict=False)
    report.missing = list(result.missing_keys)
    report.loaded = sorted(new_state)
    if not new_state:
        raise InputError(
            str(path), "state dict", "shares no parameter names with the backbone.",
            "Check the backbone name matches the checkpoint.",
        )  # fmt: skip
    if report.missing or report.unexpected:
        warnings.warn(
            f"{path}: loaded {len(report.loaded)} tensors; missing {len(report.missing)} "
            f"({_summarise(report.missing)}), unexpected {len(report.unexpected)} "
            f"({_summarise(report.unexpected)})",
            stacklevel=2,
        )
    return report


def _summarise(keys: list[str], n: int = 4) -> str:
    groups = sorted({re.sub(r"\.\d+\.", ".*.", k).split(".")[0] for k in keys})
    text = ", ".join(groups[:n])
    return text + (", ..." if len(groups) > n else "")
