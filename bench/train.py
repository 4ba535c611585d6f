"""Benchmark: DINO training throughput (images/s) for tiny and small backbones.

One training step = teacher on 2 global views + student on 2 global and n_local local
views, DINO loss, backward, per-parameter clipping, AdamW step, EMA teacher update
(exactly the work of meersim.ssl.train's inner loop, without data loading). Images/s
counts crops (each with 2 + n_local views). Runs on CPU, and on GPU when present
(bf16 autocast).

If ``lightly`` is installed, its DINOProjectionHead + DINOLoss replace meersim's head
and loss on the same backbone and batch, and the ratio meersim/lightly is printed.

Usage: python bench/train.py [--steps 5] [--batch 16] [--global-size 224]
       [--local-size 96] [--n-local 8] [--backbones vit_tiny_patch16,vit_small_patch16]
       [--device cpu|cuda|all] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

from meersim.ssl.backbones import build_backbone
from meersim.ssl.methods.dino import (
    DINOHead,
    DINOLoss,
    MultiCropWrapper,
    clip_gradients,
    ema_update,
    parameter_groups,
)


def _views(batch, global_size, local_size, n_local, device):
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(batch, 1, global_size, global_size, generator=g) for _ in range(2)]
    views += [torch.randn(batch, 1, local_size, local_size, generator=g) for _ in range(n_local)]
    return [v.to(device) for v in views]


def _time_steps(step, steps, device):
    step()  # warm-up (allocations, cudnn autotune)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def bench_meersim(name, args, device, out_dim):
    torch.manual_seed(0)
    s_bb, dim = build_backbone(name, args.global_size, drop_path_rate=0.1)
    t_bb, _ = build_backbone(name, args.global_size)
    student = MultiCropWrapper(s_bb, DINOHead(dim, out_dim)).to(device)
    teacher = MultiCropWrapper(t_bb, DINOHead(dim, out_dim)).to(device)
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad_(False)
    loss_fn = DINOLoss(out_dim, 2 + args.n_local, 100).to(device)
    opt = torch.optim.AdamW(parameter_groups(student), lr=1e-4)
    views = _views(args.batch, args.global_size, args.local_size, args.n_local, device)
    amp = device.type == "cuda"

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            t = teacher(views[:2])
            s = student(views)
            loss = loss_fn(s, t, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(student, 3.0)
        opt.step()
        ema_update(teacher, student, 0.996)

    return args.batch / _time_steps(step, args.steps, device), (s_bb, t_bb, dim, views)


def bench_lightly(parts, args, device, out_dim):
    try:
        from lightly.loss import DINOLoss as LDINOLoss
        from lightly.models.modules import DINOProjectionHead
        from lightly.models.utils import update_momentum
    except ImportError:
        return None
    s_bb, t_bb, dim, views = parts
    s_head = DINOProjectionHead(dim, 2048, 256, out_dim, freeze_last_layer=1).to(device)
    t_head = DINOProjectionHead(dim, 2048, 256, out_dim).to(device)
    t_head.load_state_dict(s_head.state_dict())
    for p in t_head.parameters():
        p.requires_grad_(False)
    loss_fn = LDINOLoss(output_dim=out_dim).to(device)
    params = list(s_bb.parameters()) + list(s_head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    amp = device.type == "cuda"

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            t = [t_head(t_bb(v)) for v in views[:2]]
            s = [s_head(s_bb(v)) for v in views]
            loss = loss_fn(t, s, epoch=0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 3.0)
        opt.step()
        update_momentum(s_bb, t_bb, 0.996)
        update_momentum(s_head, t_head, 0.996)

    return args.batch / _time_steps(step, args.steps, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--global-size", type=int, default=224)
    parser.add_argument("--local-size", type=int, default=96)
    parser.add_argument("--n-local", type=int, default=8)
    parser.add_argument("--out-dim", type=int, default=4096)
    parser.add_argument("--backbones", default="vit_tiny_patch16,vit_small_patch16")
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cpu + cuda if present)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    print(
        f"batch {args.batch} crops x (2 x {args.global_size}px + {args.n_local} x "
        f"{args.local_size}px views), K={args.out_dim}, {args.steps} timed steps, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    for dev_name in devices:
        device = torch.device(dev_name)
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        for name in args.backbones.split(","):
            ours, parts = bench_meersim(name, args, device, args.out_dim)
            line = f"{label:>24s}  {name:20s} meersim {ours:8.2f} img/s"
            theirs = bench_lightly(parts, args, device, args.out_dim)
            if theirs is None:
                line += "   (lightly not installed: no comparison)"
            else:
                line += (
                    f"   lightly {theirs:8.2f} img/s   ratio meersim/lightly {ours / theirs:.2f}"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
