"""Benchmark: `meersim ingest folder` on N PNG images beside decoding them alone.

Writes N 150 x 150 grey PNGs (FIRST-like sizes) and a labels CSV into a temporary
folder, then times, side by side in one run: (a) decoding every PNG with Pillow into
a float32 stack (the floor any reader pays), (b) the whole ingest (decode, labels,
checks, the Zarr store and crops.ecsv, written atomically). Prints both and their ratio.

Usage: python bench/ingest.py [--n 2000] [--size 150] [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from meersim.datasets.ingest import ingest


def make_folder(root: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "images"
    folder.mkdir()
    rows = ["file,fr_class,split"]
    for i in range(n):
        img = (rng.random((size, size)) ** 8 * 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i:05d}.png")
        rows.append(
            f"img{i:05d}.png,{'FRI' if i % 2 else 'FRII'},{'test' if i % 10 == 0 else 'train'}"
        )
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def decode_only(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    return np.stack([np.asarray(Image.open(f), dtype=np.float32) for f in files])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp), args.n, args.size)
        best_decode, best_ingest = np.inf, np.inf
        for r in range(args.repeat):
            t = time.perf_counter()
            stack = decode_only(folder)
            best_decode = min(best_decode, time.perf_counter() - t)
            t = time.perf_counter()
            store = ingest(folder, Path(tmp) / f"store{r}", "folder", pixel_scale_arcsec=1.8,
                           progress=False)  # fmt: skip
            best_ingest = min(best_ingest, time.perf_counter() - t)
        assert store.n_crops == args.n and stack.shape[0] == args.n
        print(f"{args.n} PNGs of {args.size}x{args.size} px (best of {args.repeat}):")
        print(f"  decode only (Pillow -> float32): {best_decode:7.2f} s")
        print(f"  meersim ingest folder (store)  : {best_ingest:7.2f} s "
              f"({args.n / best_ingest:.0f} images/s)")  # fmt: skip
        print(f"  ratio ingest / decode          : {best_ingest / best_decode:7.2f}")


if __name__ == "__main__":
    main()
