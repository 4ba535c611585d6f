"""Scale-out check: a fast-mode build on a dask cluster started from the command line,
killed midway, resumed, and compared with an inline build.

    python bench/dask_cluster.py [--fields 64] [--workers 2] [--npix 256] [--kill-after 20]

Starts ``dask scheduler`` and ``--workers`` x ``dask worker --nthreads 1`` as
subprocesses, runs ``meersim dataset --scheduler tcp://...`` (``python -m meersim``),
kills it (SIGKILL) once ``--kill-after`` fields are staged, runs the same command again
(resume), builds the same config inline (``--workers 0``) and checks that every array
and truth column is identical. Also times ``--scheduler`` at an address where nothing
listens. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from meersim.datasets.build import example_config_path
from meersim.datasets.store import open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, fields: int, npix: int) -> None:
    data = yaml.safe_load(example_config_path().read_text())
    data.update(n_fields=fields, seed=11, mode="fast", products=["restored", "residual", "model"])
    data["field"].update(npix=npix, cell_arcsec=8.0, margin_arcsec=0.0, flux_min_jy=2e-4)
    data["observation"].update(hours=1.0, dump_s=900.0, nchan=2, antennas=32)
    data["clean"] = {"threshold_sigma": 3.0}
    data["crops"].update(size=npix // 2, stride=npix // 4, psf_size=32)
    path.write_text(yaml.safe_dump(data))


def meersim(*args: str) -> list[str]:
    return [sys.executable, "-m", "meersim", "dataset", *args]


def staged_fields(out: Path) -> int:
    manifest = out / "manifest.json"
    done = len(json.loads(manifest.read_text())["fields_finished"]) if manifest.exists() else 0
    staging = out / "fields"
    return done + (len(list(staging.glob("field_*"))) if staging.exists() else 0)


def same(a, b) -> bool:
    if a.products != b.products or a.n_crops != b.n_crops:
        return False
    for p in a.products:
        if not np.array_equal(a.array(p)[:], b.array(p)[:], equal_nan=True):
            return False
    for col in a.truth.colnames:
        x, y = np.asarray(a.truth[col]), np.asarray(b.truth[col])
        if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--npix", type=int, default=256)
    parser.add_argument("--kill-after", type=int, default=20)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MEERSIM_NTHREADS="1")
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "fast.yaml"
        write_config(config, args.fields, args.npix)
        dead = f"tcp://127.0.0.1:{free_port()}"
        tick = time.perf_counter()
        run = subprocess.run(meersim("--config", str(config), "-o", str(tmp / "dead"),
                                     "--scheduler", dead), env=env, capture_output=True,
                             text=True)  # fmt: skip
        print(f"dead scheduler: exit {run.returncode} after {time.perf_counter() - tick:.1f} s: "
              f"{run.stderr.strip().splitlines()[-1]}")  # fmt: skip
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        try:
            procs.append(subprocess.Popen(["dask", "scheduler", "--port", str(port),
                                           "--dashboard-address", ":0"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            time.sleep(3)
            for _ in range(args.workers):
                procs.append(subprocess.Popen(["dask", "worker", address, "--nthreads", "1",
                                               "--nworkers", "1", "--memory-limit", "0"], env=env,
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))  # fmt: skip
            time.sleep(5)
            out = tmp / "cluster"
            cmd = meersim("--config", str(config), "-o", str(out), "--scheduler", address,
                          "--no-progress")  # fmt: skip
            tick = time.perf_counter()
            first = subprocess.Popen(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            while staged_fields(out) < args.kill_after and first.poll() is None:
                time.sleep(0.2)
            first.send_signal(signal.SIGKILL)
            first.wait()
            t_first = time.perf_counter() - tick
            print(f"killed the cluster build after {t_first:.1f} s with {staged_fields(out)} of "
                  f"{args.fields} fields staged or appended")  # fmt: skip
            tick = time.perf_counter()
            second = subprocess.run(cmd, env=env, capture_output=True, text=True)
            t_second = time.perf_counter() - tick
            print(f"resumed: exit {second.returncode} in {t_second:.1f} s: {second.stdout.strip()}")
            if second.returncode:
                print(second.stderr[-2000:])
                return
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
        inline = tmp / "inline"
        tick = time.perf_counter()
        subprocess.run(meersim("--config", str(config), "-o", str(inline), "--workers", "0",
                               "--no-progress"), env=env, check=True, capture_output=True)  # fmt: skip
        t_inline = time.perf_counter() - tick
        a, b = open_store(out), open_store(inline)
        print(
            f"inline build: {t_inline:.1f} s; cluster (killed + resumed) {t_first + t_second:.1f} s"
        )
        print(f"{a.n_crops} crops from {a.manifest['n_fields']} fields; identical to the inline "
              f"build: {same(a, b)}")  # fmt: skip


if __name__ == "__main__":
    main()
