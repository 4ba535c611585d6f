"""Dataset generation throughput: crops per second per core, and the share of each stage.

Runs the same fields inline (one core, ``threads_per_field=1``) in vis, image and fast
mode and prints crops/s/core, the time share of synth, render, observe, clean (emulated
in fast mode), crop and write, and the speedup of fast over vis+CLEAN.

    python bench/dataset.py [--npix 1024] [--fields 2] [--modes vis,image,fast] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("MEERSIM_NTHREADS", "1")

import yaml  # noqa: E402

from meersim.config import from_dict  # noqa: E402
from meersim.datasets.build import DatasetConfig, example_config_path, simulate_field  # noqa: E402
from meersim.datasets.field_writer import open_field_writer  # noqa: E402


def run(mode: str, npix: int, fields: int, hours: float, dump_s: float, nchan: int,
        device: str) -> float:  # fmt: skip
    data = yaml.safe_load(example_config_path().read_text())
    data.update(n_fields=fields, seed=1, mode=mode)
    if mode == "fast":
        data["fast"] = {"device": device}
    data["field"]["npix"] = npix
    data["observation"].update(hours=hours, dump_s=dump_s, nchan=nchan)
    config = from_dict(DatasetConfig, data, "bench")
    stages = {"synth": 0.0, "render": 0.0, "observe": 0.0, "clean": 0.0, "crop": 0.0, "write": 0.0}
    n_crops = 0
    with tempfile.TemporaryDirectory() as tmp:
        writer = open_field_writer(
            tmp + "/ds", config.products, (config.crops.size,) * 2, fields, {"seed": 1}
        )
        start = time.perf_counter()
        for fid in range(fields):
            result = simulate_field(config, fid)
            for k, v in result.timings.items():
                stages[k] += v
            tick = time.perf_counter()
            writer.stage(result)
            writer.flush()
            stages["write"] += time.perf_counter() - tick
            n_crops += len(result.truth)
        tick = time.perf_counter()
        writer.finalize()
        stages["write"] += time.perf_counter() - tick
        total = time.perf_counter() - start
    share = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in stages.items())
    print(
        f"{mode:5s} npix {npix} ({hours} h, dump {dump_s} s, {nchan} ch, 64 ant): {fields} fields, "
        f"{n_crops} crops in {total:.1f} s -> {n_crops / total:.2f} crops/s/core; {share}"
    )
    return n_crops / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npix", type=int, default=1024)
    parser.add_argument("--fields", type=int, default=2)
    parser.add_argument("--modes", default="vis,image,fast")
    parser.add_argument("--device", default="cpu", help="fast mode: cpu, cuda, torch-cpu")
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--dump", type=float, default=480.0)
    parser.add_argument("--nchan", type=int, default=4)
    args = parser.parse_args()
    rates = {}
    for mode in args.modes.split(","):
        mode = mode.strip()
        rates[mode] = run(mode, args.npix, args.fields, args.hours, args.dump, args.nchan,
                          args.device)  # fmt: skip
    if "fast" in rates and "vis" in rates:
        print(f"fast / vis+CLEAN: {rates['fast'] / rates['vis']:.1f}x")
    if "fast" in rates and "image" in rates:
        print(f"fast / image+CLEAN: {rates['fast'] / rates['image']:.1f}x")


if __name__ == "__main__":
    main()
