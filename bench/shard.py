"""A store against its sharded copy (``meersim shard``): files, bytes, copy rate, read rate.

    python bench/shard.py [--fields 16] [--crops-per-shard 64] [--store DS]

Without ``--store`` it builds the example config in mode fast (1024^2 fields, 256-px
crops, five products) in a temporary directory. It then copies the store with
:func:`meersim.datasets.shard.shard_store`, counts the files and bytes of each, and reads
the same shuffled crops through ``CropDataset(in_memory=False)`` (one Zarr read per item,
as a DataLoader worker does) from both, alternating twice, and prints the rates and their
ratio (sharded / plain).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MEERSIM_NTHREADS", "1")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from meersim.config import from_dict  # noqa: E402
from meersim.datasets.build import DatasetConfig, build_dataset, example_config_path  # noqa: E402
from meersim.datasets.shard import shard_store  # noqa: E402


def files_and_bytes(root: Path) -> tuple[int, int]:
    sizes = [p.stat().st_size for p in root.rglob("*") if p.is_file()]
    return len(sizes), sum(sizes)


def read_rate(path: Path, order: np.ndarray) -> float:
    """Items per second through CropDataset (all products, no in-memory copy)."""
    from meersim.datasets.loader import CropDataset

    data = CropDataset(path, products=("restored", "residual", "dirty", "model", "sky"),
                       in_memory=False)  # fmt: skip
    start = time.perf_counter()
    for i in order:
        data[int(i)]
    return len(order) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=16)
    ap.add_argument("--crops-per-shard", type=int, default=64)
    ap.add_argument("--store", default=None, help="an existing finished store to copy")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(args.store) if args.store else Path(tmp) / "plain"
        if not args.store:
            data = yaml.safe_load(example_config_path().read_text())
            data.update(n_fields=args.fields, seed=1, mode="fast")
            build_dataset(from_dict(DatasetConfig, data, "bench"), source, progress=False)
        tick = time.perf_counter()
        copy = shard_store(source, Path(tmp) / "sharded", args.crops_per_shard, progress=False)
        seconds = time.perf_counter() - tick
        n = copy.n_crops
        plain, sharded = files_and_bytes(source), files_and_bytes(Path(tmp) / "sharded")
        print(f"{n} crops x {len(copy.products)} products of {copy.crop_size[0]} px; "
              f"{copy.manifest['sharded']['n_shards']} shards of {args.crops_per_shard}")  # fmt: skip
        print(f"files: plain {plain[0]}, sharded {sharded[0]} ({plain[0] / sharded[0]:.0f}x fewer); "
              f"bytes: plain {plain[1] / 2**20:.1f} MiB, sharded {sharded[1] / 2**20:.1f} MiB")  # fmt: skip
        print(f"copy: {seconds:.1f} s, {n / seconds:.0f} crops/s (written, read back and compared)")
        order = np.random.default_rng(0).permutation(n)
        rates = {"plain": [], "sharded": []}
        for _ in range(2):
            rates["plain"].append(read_rate(source, order))
            rates["sharded"].append(read_rate(Path(tmp) / "sharded", order))
        best = {k: max(v) for k, v in rates.items()}
        print(f"shuffled reads (CropDataset, 5 products): plain {best['plain']:.0f} items/s, "
              f"sharded {best['sharded']:.0f} items/s, ratio {best['sharded'] / best['plain']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
