"""Benchmark: sim-to-real transfer, the seed study's protocol on labelled FIRST images.

Trains the demo's recipe (SimCLR on ``resnet10_w16``, meersim.pipelines.demo) on a small
simulated MGCLS-like dataset, then probes the frozen
features on MiraBest (FRI/FRII, Confident subset) and RadioGalaxyDataset (FRI / FRII /
Compact / Bent) stores: linear probe trained on the official train (+ valid) split,
scored on the official test split (Lastufka et al. 2024; docs/eval.md). Prints the test
accuracy of the trained model beside the random-init and raw-pixel PCA baselines.

Usage:
  python bench/transfer.py --mirabest MiraBest_full/batches --rgd galaxy_data_h5.h5
  python bench/transfer.py --standins      # synthetic stand-in files, NOT the real data
  [--work bench_transfer] [--fields 8] [--epochs 40] [--device cpu] [--seed 0]
  [--baseline CKPT]  (also a pretrained checkpoint, e.g. the seed study's DINO weights)

Every step is skipped when its output exists, so a re-run resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from meersim.config import from_dict
from meersim.datasets.build import build_dataset
from meersim.datasets.config import DatasetConfig
from meersim.datasets.ingest import ingest
from meersim.eval.report import evaluate_run
from meersim.pipelines.demo import SIZES, demo_dataset_mapping, demo_train_mapping
from meersim.ssl.embed import embed
from meersim.ssl.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent))
from labelled_standins import write_mirabest_standin, write_rgd_standin  # noqa: E402

SETS = {"raw_pca": "raw-pixel PCA", "random_init": "random init", "model": "trained"}


def simulated_dataset(work: Path, n_fields: int, seed: int):
    """MGCLS-like fields (FRI/FRII among the sources), 64-px crops, 2" pixels."""
    size = dict(SIZES["full"], n_fields=n_fields, npix=320)
    mapping = demo_dataset_mapping(size, seed)
    mapping["field"].update(survey="mgcls", cell_arcsec=2.0, ra_deg=None, dec_deg=None,
                            flux_min_jy=5e-5)  # fmt: skip
    return build_dataset(from_dict(DatasetConfig, mapping, "transfer dataset"), work / "sim",
                         progress=True), size  # fmt: skip


def labelled_stores(args, work: Path) -> dict:
    """name -> (store path, label column) for the MiraBest and RGD inputs given."""
    mirabest, rgd = args.mirabest, args.rgd
    if args.standins:
        root = work / "standins"
        if not (root / "mirabest" / "batches.meta").exists():
            write_mirabest_standin(root / "mirabest", n=600, seed=args.seed)
        if not (root / "rgd.h5").exists():
            write_rgd_standin(root / "rgd.h5", n=600, seed=args.seed + 1)
        mirabest, rgd = root / "mirabest", root / "rgd.h5"
    out = {}
    if mirabest:
        path = work / "mirabest_confident"
        if not (path / "manifest.json").exists():
            ingest(mirabest, path, "mirabest", subset="confident", progress=False)
        out["MiraBest Confident"] = (path, "fr_class")
    if rgd:
        path = work / "rgd"
        if not (path / "manifest.json").exists():
            ingest(rgd, path, "rgd", progress=False)
        out["RadioGalaxyDataset"] = (path, "label_literature")
    if not out:
        raise SystemExit("give --mirabest DIR and/or --rgd FILE, or --standins")
    return out


def probe(checkpoint, store, label, work: Path, name: str, args) -> dict:
    emb, rnd = work / f"emb_{name}", work / f"emb_{name}_random"
    if not (emb / "meta.json").exists():
        embed(checkpoint, store, emb, device=args.device, progress=False)
    if not (rnd / "meta.json").exists():
        embed(checkpoint, store, rnd, random_init=True, device=args.device, progress=False)
    result = evaluate_run(emb, work / f"eval_{name}", random_emb_dir=rnd, labels=[label],
                          maps=False, tsne=False, attention=False, seed=args.seed,
                          device=args.device, progress=False, baseline=args.baseline,
                          baseline_backbone=args.baseline_backbone)  # fmt: skip
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirabest", type=Path, help="MiraBest batches folder")
    ap.add_argument("--rgd", type=Path, help="RadioGalaxyDataset HDF5 file")
    ap.add_argument("--standins", action="store_true", help="write and use synthetic stand-ins")
    ap.add_argument("--work", type=Path, default=Path("bench_transfer"))
    ap.add_argument("--fields", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=SIZES["full"]["epochs"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", default=None, help="pretrained checkpoint baseline")
    ap.add_argument("--baseline-backbone", default=None)
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    store, size = simulated_dataset(work, args.fields, args.seed)
    tcfg = from_dict(TrainConfig, dict(demo_train_mapping(size, args.seed, str(store.path),
                                                          args.device), epochs=args.epochs),
                     "transfer train")  # fmt: skip
    run = work / "train"
    # continue an interrupted run; train refuses to resume where there is no checkpoint
    checkpoint = train(tcfg, run, resume=(run / "checkpoint.pth").is_file(), progress=True)
    t_train = time.time() - t0
    rows = []
    for name, (path, label) in labelled_stores(args, work).items():
        key = name.split()[0].lower()
        result = probe(checkpoint, path, label, work, key, args)
        rows.append((name, label, result))
    print(f"\nsimulated training set: {store.n_crops} crops of {size['crop']} px from "
          f"{args.fields} fields, {tcfg.method} on {tcfg.backbone}, {args.epochs} epochs "
          f"({t_train:.0f} s)")  # fmt: skip
    if args.standins:
        print("labelled sets: SYNTHETIC STAND-INS in the MiraBest / RGD formats, not the real data")
    sets = [s for s in ("model", "random_init", "raw_pca", "pretrained")
            if any(s in r["dims"] for *_, r in rows)]  # fmt: skip
    print(f"{'dataset':22s} {'label':17s} {'split':>14s} {'chance':>7s}"
          + "".join(f"{SETS.get(s, s):>15s}" for s in sets))  # fmt: skip
    summary = {}
    for name, label, result in rows:
        acc = result["metrics"][f"{label}:accuracy"]
        chance = result["metrics"][f"{label}:chance_accuracy"]["model"]
        n_test = result["metrics"][f"{label}:n_test"]["model"]
        split = f"{result['split']['kind']} ({n_test})"
        print(f"{name:22s} {label:17s} {split:>14s} {chance:7.3f}"
              + "".join(f"{acc.get(s, float('nan')):15.3f}" for s in sets))  # fmt: skip
        summary[name] = {"label": label, "accuracy": acc, "chance": chance, "n_test": n_test,
                         "knn_accuracy": result["metrics"][f"{label}:knn_accuracy"]}  # fmt: skip
    (work / "transfer.json").write_text(json.dumps(summary, indent=1))
    print(f"total {time.time() - t0:.0f} s; {work / 'transfer.json'}")


if __name__ == "__main__":
    main()
