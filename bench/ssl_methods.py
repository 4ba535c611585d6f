"""Benchmark: the four SSL methods, same data and same budget, against known truth.

Builds one small simulated MGCLS-like dataset (the demo's recipe), trains SimCLR, MoCo v2,
BYOL and DINO on it with the same backbone, epochs, batch and learning rate, embeds every
crop with each trained backbone and with the same backbone at random weights, and probes
all of them against the per-crop truth (folds grouped by field; raw-pixel PCA as the third
baseline). Prints one table: count R², log-flux R², class accuracy and precision@k for
trained / random-init / raw-PCA features, the collapse monitors of the last epoch, and
training images/s (crops per second; each crop gives two views, DINO also its local views).

CPU (default): resnet10_w16, 64-px crops of 12 fields, 15 epochs: about 15 minutes on
2 cores. ``--gpu``: ResNet-18 on 128-px crops of 48 fields, 60 epochs, on CUDA.

Usage: python bench/ssl_methods.py [--out DIR] [--methods simclr,moco,byol,dino] [--epochs N]
       [--variants all|NAME,...] [--gpu | --quick] [--seed 0]
``--variants`` adds the runs of docs/train.md's study (``VARIANTS``: data, views, batch,
backbone, DINO's collapse settings), each one change from its method's recipe. With
``--out`` finished training runs are kept and reused, so an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

from meersim.config import from_dict, to_dict
from meersim.datasets.build import build_dataset
from meersim.datasets.config import DatasetConfig
from meersim.datasets.store import open_store
from meersim.eval.report import evaluate_run
from meersim.pipelines.demo import SIZES, demo_dataset_mapping, demo_train_mapping
from meersim.ssl.embed import embed
from meersim.ssl.train import TrainConfig, read_training_checkpoint, train

SETTINGS = {
    "cpu": {
        "size": dict(SIZES["full"]),
        "backbone": "resnet10_w16", "epochs": 15, "batch": 64, "device": "cpu",
    },
    "quick": {
        "size": dict(SIZES["quick"]), "backbone": "resnet10_w16", "epochs": 1, "batch": 16,
        "device": "cpu",
    },
    "gpu": {
        "size": dict(SIZES["full"], n_fields=48, npix=512, crop=128, stride=64),
        "backbone": "resnet18", "epochs": 60, "batch": 128, "device": "cuda",
    },
}  # fmt: skip

# method-specific keys on top of the shared recipe (docs/train.md)
METHOD_KEYS = {
    "simclr": {"temperature": 0.2},
    "moco": {"temperature": 0.2, "memory_bank_size": 512, "momentum_teacher": 0.99},
    "byol": {"momentum_teacher": 0.99},
    "dino": {
        "out_dim": 1024, "hidden_dim": 512, "bottleneck_dim": 128, "teacher_temp": 0.04,
        "warmup_teacher_temp": 0.04, "warmup_teacher_temp_epochs": 0, "momentum_teacher": 0.99,
        "augment": {"n_local": 4, "local_size": 32, "local_scale": [0.2, 0.5]},
    },
}  # fmt: skip
SHARP_DINO = {"out_dim": 256, "teacher_temp": 0.02, "warmup_teacher_temp": 0.02}
# the study of docs/train.md: one change each from a method's recipe above
# (name: method, changed keys, changed dataset keys)
VARIANTS = {
    # data: faint sources (down to 5 uJy, mostly below the noise) instead of >= 50 uJy
    "simclr_faint": ("simclr", {}, {"field": {"flux_min_jy": 5.0e-6}}),
    # views: DINO/ImageNet global scale 0.4-1; no noise augmentation; strong noise
    "simclr_scale04": ("simclr", {"augment": {"global_scale": [0.4, 1.0]}}, {}),
    "simclr_no_noise": ("simclr", {"augment": {"p_noise": 0.0}}, {}),
    "simclr_noise_x4": ("simclr", {"augment": {"p_noise": 1.0, "noise_sigma": [1.0, 4.0]}}, {}),
    # batch: 16 crops per step (fewer negatives) and 16 x 4 accumulated
    "simclr_batch16": ("simclr", {"batch_size": 16}, {}),
    "simclr_b16_acc4": ("simclr", {"batch_size": 16, "accumulate_steps": 4}, {}),
    # backbone: ResNet-18 (11 M parameters) instead of resnet10_w16 (0.3 M)
    "simclr_resnet18": ("simclr", {"backbone": "resnet18"}, {}),
    # DINO collapse settings
    "dino_k65536": ("dino", {"out_dim": 65536}, {}),
    "dino_tt007": ("dino", {"teacher_temp": 0.07, "warmup_teacher_temp": 0.07}, {}),
    "dino_sinkhorn": ("dino", {"centering": "sinkhorn"}, {}),
    "dino_koleo": ("dino", {"koleo_weight": 0.1}, {}),
    "dino_local_small": ("dino", {"augment": {"local_scale": [0.05, 0.4]}}, {}),
    # the regime of the DINO unit test: few prototypes and a sharper teacher
    "dino_k256_tt002": ("dino", dict(SHARP_DINO), {}),
    "dino_k256_tt002_sinkhorn": ("dino", dict(SHARP_DINO, centering="sinkhorn"), {}),
    "dino_k256_m095": ("dino", dict(SHARP_DINO, momentum_teacher=0.95), {}),
    "dino_k256_global_only": ("dino", dict(SHARP_DINO, augment={"n_local": 0}), {}),
}
COLUMNS = (("count R²", "count_r2"), ("log-flux R²", "log_flux_r2"),
           ("class acc", "class_accuracy"), ("prec@k count", "precision_at_k_count"))  # fmt: skip
SETS = (("trained", "model"), ("random", "random_init"), ("raw PCA", "raw_pca"))


def train_mapping(method: str, extra: dict, setting: dict, data: Path, seed: int) -> dict:
    """The demo's training recipe with the setting's backbone and budget, the method's keys
    and the run's changes."""
    size = dict(setting["size"], epochs=setting["epochs"], batch=setting["batch"])
    mapping = demo_train_mapping(size, seed, str(data), setting["device"])
    augment = dict(mapping["augment"])
    augment.update(METHOD_KEYS[method].get("augment", {}))
    augment.update(extra.get("augment", {}))
    keys = {k: v for k, v in {**METHOD_KEYS[method], **extra}.items() if k != "augment"}
    amp = "bf16" if setting["device"] == "cuda" else "off"
    return {**mapping, "method": method, "backbone": setting["backbone"], "amp": amp, **keys,
            "augment": augment}  # fmt: skip


def dataset(work: Path, setting: dict, seed: int, change: dict, run: str = "") -> Path:
    """The demo's dataset, or the one ``run`` makes with ``change`` merged into its
    mapping (``work/dataset_<run>``); built once, reused after."""
    mapping = demo_dataset_mapping(setting["size"], seed)
    for key, value in change.items():
        mapping[key] = {**mapping[key], **value} if isinstance(value, dict) else value
    name = f"dataset_{run}" if change else "dataset"
    path = work / name
    t0 = time.perf_counter()
    store = build_dataset(from_dict(DatasetConfig, mapping, "bench dataset"), path, progress=False)
    if time.perf_counter() - t0 > 1:
        print(f"{name}: {store.n_crops} crops in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def last_epoch(run_dir: Path) -> dict:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))[-1]


def run_one(name, method, extra, setting, data, work, seed) -> dict:
    """Train, embed (trained and random weights) and evaluate one run. With a kept work
    directory, a finished training run is reused and only embedded and evaluated again."""
    run_dir, emb, rnd, ev = (work / name / p for p in ("run", "emb", "random", "eval"))
    cfg = from_dict(TrainConfig, train_mapping(method, extra, setting, data, seed), name)
    timing = work / name / "train_seconds.json"
    ckpt = run_dir / "checkpoint.pth"
    if timing.is_file() and read_training_checkpoint(run_dir)["epoch"] >= cfg.epochs:
        train_s = json.loads(timing.read_text())["train_s"]
    else:
        t0 = time.perf_counter()
        ckpt = train(cfg, run_dir, overwrite=True, progress=False)
        train_s = time.perf_counter() - t0
        timing.write_text(json.dumps({"train_s": train_s}))
    device = setting["device"]
    for out, random_init in ((emb, False), (rnd, True)):
        if out.exists():
            shutil.rmtree(out)  # made by this script
        embed(ckpt, data, out, random_init=random_init, device=device, progress=False)
    result = evaluate_run(emb, ev, random_emb_dir=rnd, seed=seed, maps=False, tsne=False,
                          attention=False, device=device, progress=False)  # fmt: skip
    return {"name": name, "method": method, "train_s": train_s, "monitors": last_epoch(run_dir),
            "metrics": result["metrics"], "spread": result.get("spread", {}),
            "config": to_dict(cfg)}  # fmt: skip


def fmt(v) -> str:
    return "  —  " if v is None else f"{v:6.3f}"


def print_table(rows: list[dict], n_crops: int, setting: dict) -> None:
    print(f"\n{n_crops} crops, {setting['backbone']}, {setting['epochs']} epochs, "
          f"batch {setting['batch']}, {setting['device']}")  # fmt: skip
    head = f"{'run':15s}" + "".join(f" | {c:^22s}" for c, _ in COLUMNS)
    print(head + " | monitors (last epoch)        | img/s")
    print(f"{'':15s}" + " | trained random rawPCA" * len(COLUMNS) + " |")
    for r in rows:
        cells = []
        for _, key in COLUMNS:
            m = r["metrics"].get(key, {})
            cells.append(" ".join(fmt(m.get(s)) for _, s in SETS))
        mon = r["monitors"]
        watch = f"std {float(mon['embedding_std']):.2f} rank {float(mon['effective_rank']):5.1f}"
        if r["method"] == "dino":
            watch += f" H {float(mon['teacher_entropy']):.2f}"
        print(f"{r['name']:15s} | " + " | ".join(cells)
              + f" | {watch:29s}| {float(mon['images_per_s']):6.1f}")  # fmt: skip
    print("\ncount R², mean ± std over the probe folds (field-grouped from 4 fields on)")
    for r in rows:
        mean, std = r["metrics"]["count_r2"], r.get("spread", {}).get("count_r2", {})
        cells = [f"{label} {mean.get(s, float('nan')):.3f} ± {std.get(s, float('nan')):.3f}"
                 for label, s in SETS]  # fmt: skip
        gain = mean.get("model", float("nan")) - mean.get("random_init", float("nan"))
        print(f"{r['name']:15s}  " + "   ".join(cells) + f"   trained - random {gain:+.3f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="work directory (default: a temporary one)")
    parser.add_argument("--methods", default="simclr,moco,byol,dino")
    parser.add_argument(
        "--variants",
        default="",
        help="study runs to add: 'all' or names of VARIANTS, comma-separated",
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setting = dict(SETTINGS["gpu" if args.gpu else "quick" if args.quick else "cpu"])
    if args.epochs:
        setting["epochs"] = args.epochs
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="meersim_bench_ssl_"))
    work.mkdir(parents=True, exist_ok=True)
    runs = [(m, m, {}, {}) for m in args.methods.split(",") if m]
    if args.variants:
        wanted = args.variants.split(",") if args.variants != "all" else list(VARIANTS)
        runs += [(name, *VARIANTS[name]) for name in wanted]
    rows = []
    for name, method, extra, data_change in runs:
        data = dataset(work, setting, args.seed, data_change, name)
        row = run_one(name, method, extra, setting, data, work, args.seed)
        rows.append(row)
        print(f"{name}: trained in {row['train_s']:.0f} s", flush=True)
    print_table(rows, open_store(dataset(work, setting, args.seed, {})).n_crops, setting)
    if args.out:
        (work / "bench_ssl.json").write_text(json.dumps(rows, indent=1, default=str))
        print(f"\nresults: {work / 'bench_ssl.json'}")
    else:
        shutil.rmtree(work)  # the temporary directory this run made


if __name__ == "__main__":
    main()
