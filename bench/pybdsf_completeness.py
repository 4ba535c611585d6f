"""PyBDSF completeness, reliability and flux bias against truth on MGCLS-like fields.

Builds the shipped MGCLS-like example (meersim/data/example_mgcls_small.yaml: 1024 x 2"
fields, rms 3-5 uJy/beam, image mode) with ``pybdsf: {enabled: true}`` for N fields
and prints the report of :func:`meersim.datasets.pybdsf.completeness_report`
(S/N = true apparent peak / field rms for completeness, Peak_flux / Isl_rms for
reliability).

Usage: python bench/pybdsf_completeness.py [--fields 1] [--npix 1024] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from meersim.config import from_dict
from meersim.datasets.build import build_dataset, example_config_path
from meersim.datasets.config import DatasetConfig


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=1)
    ap.add_argument("--npix", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    config = yaml.safe_load(example_config_path().read_text())
    config.update(n_fields=args.fields, seed=args.seed, products=["restored", "residual"])
    config["field"]["npix"] = args.npix
    config["pybdsf"] = {"enabled": True}
    cfg = from_dict(DatasetConfig, config, "bench config")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "ds"
        t = time.perf_counter()
        store = build_dataset(cfg, out, progress=False)
        wall = time.perf_counter() - t
        report = json.loads((out / "pybdsf_report.json").read_text())
    print(f"{args.fields} MGCLS-like field(s) of {args.npix}^2 x 2\": {report['n_true']} true "
          f"sources, {report['n_detected']} PyBDSF detections; {store.n_crops} crops; {wall:.0f} s")  # fmt: skip
    print(f"completeness above 5 sigma: {report['completeness_above_5sigma']:.3f}; "
          f"above 10 sigma: {report['completeness_above_10sigma']:.3f}; "
          f"reliability: {report['reliability']:.3f}")  # fmt: skip
    print(f"{'S/N bin':>12s} {'n_true':>7s} {'complete':>9s} {'n_det':>6s} {'reliable':>9s} "
          f"{'flux bias':>10s}")  # fmt: skip
    for b in report["bins"]:
        hi = "inf" if b["snr_max"] is None else f"{b['snr_max']:g}"
        cells = [f"{b['snr_min']:g}-{hi}", b["n_true"], b["completeness"], b["n_detected"],
                 b["reliability"], b["flux_bias"]]  # fmt: skip
        print(f"{cells[0]:>12s} {cells[1]:7d} {_f(cells[2]):>9s} {cells[3]:6d} {_f(cells[4]):>9s} "
              f"{_f(cells[5], '+.3f'):>10s}")  # fmt: skip


def _f(value, spec=".3f") -> str:
    return "-" if value is None else format(value, spec)


if __name__ == "__main__":
    main()
