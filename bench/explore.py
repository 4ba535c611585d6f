"""Benchmark: ``meersim explore`` answers at 10 000 and 100 000 crops.

Synthetic data: embeddings of dimension ``--dim`` (192, a ViT-tiny's) drawn from a
mixture of 50 Gaussian clusters, a store of small noise crops (``--size`` pixels) with a
truth table of field ids, source counts and classes. For each size the server is
started as ``meersim explore`` starts it (index, kNN anomaly scores), then timed over
HTTP on 127.0.0.1, side by side in one run:

* ``GET /api/neighbours?crop=ID&k=8`` for random crops (median and 95th percentile);
  at 100 000 crops both the default FAISS IVF index (above the exact-search limit)
  and an exact flat index, with their ratio and the IVF recall@8 against exact;
* ``GET /api/crops`` (a page of 60, sorted by anomaly score);
* ``GET /api/thumb`` first (made and cached) and again (read from the cache).

Usage: python bench/explore.py [--sizes 10000,100000] [--dim 192] [--requests 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from astropy.table import Table

from meersim.datasets.embeddings import write_embeddings
from meersim.datasets.store import open_store, write_crops
from meersim.eval.explore import make_server, start_in_thread, url_of
from meersim.eval.explorer import Explorer


def make_data(root: Path, n: int, dim: int, size: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    cluster = rng.integers(0, 50, n)
    vectors = (centres[cluster] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)
    crops = rng.normal(0, 1e-5, (n, size, size)).astype(np.float32)
    classes = np.array(["point", "sfg", "fr1", "fr2"])[cluster % 4]
    truth = Table({"field_id": np.arange(n) // 256, "n_sources": rng.poisson(3, n),
                   "dominant_class": classes})  # fmt: skip
    ds = write_crops(root / f"ds{n}", {"restored": crops}, truth)
    meta = {"dataset": str(ds), "checkpoint": None, "products": ["restored"]}
    return write_embeddings(root / f"emb{n}", vectors, np.arange(n), meta, dataset=open_store(ds))


def timed_get(url: str) -> float:
    tick = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
    return time.perf_counter() - tick


def serve(emb: Path, **kwargs):
    tick = time.perf_counter()
    explorer = Explorer(emb, **kwargs)
    load = time.perf_counter() - tick
    server = make_server(explorer, "127.0.0.1", 0)
    start_in_thread(server)
    return server, explorer, load


def neighbour_times(url: str, n: int, requests: int, seed: int = 1) -> list[float]:
    crops = np.random.default_rng(seed).integers(0, n, requests)
    timed_get(f"{url}api/neighbours?crop=0&k=8")  # warm up
    return [timed_get(f"{url}api/neighbours?crop={int(c)}&k=8") for c in crops]


def report(label: str, seconds: list[float]) -> float:
    ms = sorted(1e3 * s for s in seconds)
    median = statistics.median(ms)
    print(f"  {label:34s} median {median:8.2f} ms   p95 {ms[int(0.95 * (len(ms) - 1))]:8.2f} ms")
    return median


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--size", type=int, default=16, help="crop side, pixels")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            tick = time.perf_counter()
            emb = make_data(root, n, args.dim, args.size)
            print(
                f"{n} crops, D={args.dim} (synthetic; written in {time.perf_counter() - tick:.1f} s)"
            )
            server, ex, load = serve(emb, cache_dir=root / f"thumbs{n}")
            url = url_of(server)
            print(f"  start (truth, {ex.index.kind} index, kNN scores): {load:.1f} s")
            default = report(
                f"neighbours, {ex.index.kind} index", neighbour_times(url, n, args.requests)
            )
            report("crops page (60, by anomaly)", [timed_get(f"{url}api/crops?limit=60")
                                                   for _ in range(10)])  # fmt: skip
            first = [timed_get(f"{url}api/thumb?crop={c}") for c in range(20)]
            again = [timed_get(f"{url}api/thumb?crop={c}") for c in range(20)]
            report("thumbnail, first request", first)
            report("thumbnail, cached", again)
            server.shutdown()
            server.server_close()
            if ex.index.kind == "ivf":
                scores = root / f"scores{n}.csv"  # exact kNN scores of 10^5 crops take minutes
                Table({"crop_id": ex.crop_ids, "knn": ex.scores}).write(scores, format="ascii.csv")
                flat_server, flat, _ = serve(emb, cache_dir=root / "t2", exact_limit=n,
                                             scores_csv=scores)  # fmt: skip
                exact = report("neighbours, exact flat index", neighbour_times(url_of(flat_server), n,
                                                                               args.requests))  # fmt: skip
                flat_server.shutdown()
                flat_server.server_close()
                probe = np.random.default_rng(2).integers(0, n, 200)
                hits = [len({c["crop_id"] for c in ex.neighbours(int(q))["neighbours"]}
                            & {c["crop_id"] for c in flat.neighbours(int(q))["neighbours"]}) / 8
                        for q in probe]  # fmt: skip
                print(
                    f"  exact / IVF time ratio {exact / default:.2f}; IVF recall@8 "
                    f"{np.mean(hits):.3f} (200 queries)"
                )


if __name__ == "__main__":
    main()
