"""Does an SSL model trained on fast-mode crops see real-CLEAN crops the same way?

The issue's probe bar with a trained network: a linear count probe fitted on the
embeddings of fast-mode crops must lose <= 5 % R^2 on the embeddings of vis-mode (real
CLEAN) crops of the same fields, against a probe fitted and tested on vis-mode embeddings.

Steps (each skipped when its output exists, so a re-run resumes):

1. training set: ``--train-fields`` fields built in fast mode (seed 21), the fast
   validation's field settings (bench/fast_validation.py ``config_for``: the example
   MGCLS-like config, 1024^2 at 2", 4 h, 4 channels, CLEAN to 3 sigma), cut into
   ``--crop``-pixel crops without overlap;
2. validation sets: the fast validation's held-out fields (seed 7) built in vis mode
   (visibilities and real CLEAN) and in fast mode, the same crop grid;
3. train: the demo's recipe (SimCLR on ``resnet10_w16``, meersim.pipelines.demo) on the
   training set's restored crops;
4. embed both validation sets with the trained backbone and with the same backbone's
   seeded random weights;
5. probe the per-crop count of sources above 5 sigma (``n_detectable``; also the total
   flux, log) with meersim.eval.probes (standardise, PCA <= 32, ridge), field-grouped
   5-fold: trained and tested on vis embeddings, against trained on fast embeddings of
   the training fields of each fold and tested on vis embeddings of its test fields.

    python bench/fast_ssl_transfer.py [--work bench_fast_ssl] [--train-fields 16]
        [--fields 13] [--crop 64] [--epochs 15] [--workers 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from meersim.config import from_dict
from meersim.datasets.build import build_dataset
from meersim.datasets.embeddings import load_embeddings
from meersim.eval.probes import fit_predict_regression, make_splits, regression_scores
from meersim.pipelines.demo import demo_train_mapping
from meersim.ssl.embed import embed
from meersim.ssl.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent))
from fast_validation import config_for  # noqa: E402

TRAIN_SEED = 21  # neither the calibration's fields (11) nor the validation's (7)
VALIDATION_SEED = 7


def dataset(path: Path, mode: str, fields: int, seed: int, crop: int, workers: int):
    """Build (or reuse) one mode's crops of the validation's field settings."""
    config = config_for(mode, fields, 1024, seed)
    config.products = ["restored"]
    config.crops.size, config.crops.stride, config.crops.psf_size = crop, crop, 32
    tick = time.perf_counter()
    store = build_dataset(config, path, workers=workers, progress=True)  # resumes, or reuses
    print(f"{path.name}: {mode} mode, {fields} fields -> {store.n_crops} crops "
          f"in {time.perf_counter() - tick:.0f} s")  # fmt: skip
    return store


def embeddings(checkpoint, store, out: Path, random_init: bool, device: str) -> np.ndarray:
    """[n_crops, D] embeddings in the store's crop order."""
    if not (out / "meta.json").exists():
        embed(checkpoint, store.path, out, random_init=random_init, device=device,
              progress=False)  # fmt: skip
    emb = load_embeddings(out)
    order = np.argsort(emb.crop_ids)
    if not np.array_equal(emb.crop_ids[order], np.asarray(store.truth["crop_id"])):
        raise SystemExit(f"{out}: embeddings do not pair with {store.path}")
    return emb.vectors[order]


def paired_cosine(feat_vis, feat_fast, seed: int = 0) -> tuple[float, float]:
    """Median cosine similarity of each crop's vis and fast embeddings, and of unpaired crops."""
    a = feat_vis / np.linalg.norm(feat_vis, axis=1, keepdims=True)
    b = feat_fast / np.linalg.norm(feat_fast, axis=1, keepdims=True)
    shuffled = b[np.random.default_rng(seed).permutation(len(b))]
    return float(np.median((a * b).sum(1))), float(np.median((a * shuffled).sum(1)))


def transfer(feat_vis, feat_fast, y_vis, y_fast, fields_vis, fields_fast) -> dict:
    """R^2 on vis crops of probes fitted on vis and on fast crops (the same folds by field)."""
    folds, _ = make_splits(fields_vis, 5, seed=0)
    pred_vv, pred_fv = np.full(len(y_vis), np.nan), np.full(len(y_vis), np.nan)
    pred_ff = np.full(len(y_fast), np.nan)
    both_x = np.concatenate([feat_fast, feat_vis])
    both_y = np.concatenate([y_fast, y_vis])
    both_groups = np.concatenate([fields_fast, fields_vis])
    for split in folds:
        pred_vv[split.test] = fit_predict_regression(feat_vis, y_vis, split)[0]
        test_fields = np.unique(fields_vis[split.test])
        # fit rows: fast crops of this fold's training fields; test rows: vis crops
        train_rows = np.flatnonzero(~np.isin(fields_fast, test_fields))
        shifted = type(split)(train_rows, split.test + len(y_fast), split.by_field, both_groups)
        pred_fv[split.test] = fit_predict_regression(both_x, both_y, shifted)[0]
        # fast on fast, the same folds: how well the fast embeddings carry the count
        fast_test = np.flatnonzero(np.isin(fields_fast, test_fields))
        ff = type(split)(train_rows, fast_test, split.by_field, fields_fast)
        pred_ff[fast_test] = fit_predict_regression(feat_fast, y_fast, ff)[0]
    r_vv = regression_scores(y_vis, pred_vv)["r2"]
    r_fv = regression_scores(y_vis, pred_fv)["r2"]
    r_ff = regression_scores(y_fast, pred_ff)["r2"]
    return {"vis->vis": r_vv, "fast->vis": r_fv, "fast->fast": r_ff,
            "loss": (r_vv - r_fv) / r_vv if r_vv > 0 else float("nan")}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("bench_fast_ssl"))
    ap.add_argument("--train-fields", type=int, default=16)
    ap.add_argument("--fields", type=int, default=13, help="validation fields (seed 7)")
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--workers", type=int, default=2, help="fields built in parallel")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_store = dataset(work / "train_fast", "fast", args.train_fields, TRAIN_SEED, args.crop,
                          args.workers)  # fmt: skip
    stores = {mode: dataset(work / f"val_{mode}", mode, args.fields, VALIDATION_SEED, args.crop,
                            args.workers) for mode in ("vis", "fast")}  # fmt: skip
    size = {"epochs": args.epochs, "batch": 64}
    tcfg = from_dict(TrainConfig, demo_train_mapping(size, args.seed, str(train_store.path),
                                                     args.device), "fast ssl train")  # fmt: skip
    run = work / "train"
    tick = time.time()
    checkpoint = train(tcfg, run, resume=(run / "checkpoint.pth").is_file(), progress=True)
    seconds_file = run / "bench_train_seconds.json"  # the first run's time, kept for re-runs
    if not seconds_file.exists():
        seconds_file.write_text(json.dumps(time.time() - tick))
    t_train = json.loads(seconds_file.read_text())
    results, cosines = {}, {}
    for weights in ("trained", "random"):
        feats = {mode: embeddings(checkpoint, store, work / f"emb_{mode}_{weights}",
                                  weights == "random", args.device)
                 for mode, store in stores.items()}  # fmt: skip
        cosines[weights] = paired_cosine(feats["vis"], feats["fast"])
        for target in ("n_detectable", "log total_flux"):
            column = target.split()[-1]
            ys = {m: np.asarray(s.truth[column], float) for m, s in stores.items()}
            if target.startswith("log"):
                ys = {m: np.log10(np.maximum(y, 1e-7)) for m, y in ys.items()}
            fids = {m: np.asarray(s.truth["field_id"]) for m, s in stores.items()}
            results[f"{weights} {target}"] = transfer(feats["vis"], feats["fast"], ys["vis"],
                                                      ys["fast"], fids["vis"], fids["fast"])  # fmt: skip
    print(f"\ntraining: {train_store.n_crops} fast-mode crops of {args.crop} px from "
          f"{args.train_fields} fields (seed {TRAIN_SEED}), SimCLR resnet10_w16, {args.epochs} "
          f"epochs, {t_train:.0f} s")  # fmt: skip
    print(f"validation: {args.fields} fields (seed {VALIDATION_SEED}), "
          f"{stores['vis'].n_crops} vis / {stores['fast'].n_crops} fast crops")  # fmt: skip
    print(f"{'embedding target':32s} {'vis->vis':>9s} {'fast->vis':>10s} {'fast->fast':>11s} "
          f"{'loss':>7s}")  # fmt: skip
    ok = True
    for name, r in results.items():
        met = r["loss"] <= 0.05
        if name.startswith("trained n_detectable"):
            ok = met
        print(f"{name:32s} {r['vis->vis']:9.3f} {r['fast->vis']:10.3f} {r['fast->fast']:11.3f} "
              f"{100 * r['loss']:+6.1f}% {'ok' if met else '> 5%'}")  # fmt: skip
    gain = results["trained n_detectable"]["vis->vis"] - results["random n_detectable"]["vis->vis"]
    for weights, (paired, unpaired) in cosines.items():
        print(f"{weights} weights: median cosine of a crop's vis and fast embeddings {paired:.3f}, "
              f"of two different crops {unpaired:.3f}")  # fmt: skip
    print(f"trained - random weights, count R2 on vis crops: {gain:+.3f}")
    print("bar (count probe loses <= 5 % R2 fitted on fast, tested on vis):",
          "met" if ok else "NOT met")  # fmt: skip
    results["median cosine (paired, unpaired)"] = cosines
    (work / "transfer.json").write_text(json.dumps(results, indent=1))
    print(f"total {time.time() - t0:.0f} s; {work / 'transfer.json'}")


if __name__ == "__main__":
    main()
