"""Synthetic stand-ins for MiraBest and RadioGalaxyDataset files (NOT the real data).

They have the published layouts (docs/eval.md) so the real readers run on them, and
drawn morphologies with the classes' defining traits: FRI edge-darkened jets from a
bright core; FRII edge-brightened lobes with hotspots; hybrids one of each; bent
sources (WAT/head-tail) with jets swept to one side; compact sources a beam-sized blob.
Pixels are 1.8" (FIRST), the beam ~3 px FWHM; images are scaled to uint8 as both
releases are, MiraBest with the background below 3 sigma zeroed.
Use: ``write_mirabest_standin(dir, n)`` / ``write_rgd_standin(path, n)``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

BEAM_SIGMA_PX = 3.0 / 2.3548
MIRABEST_CODES = (100, 102, 104, 110, 112, 200, 201, 210, 300, 310)
RGD_KINDS = ("FRI", "FRII", "Compact", "Bent")


def _blob(img, x, y, amp, sigma):
    h, w = img.shape
    r = int(4 * sigma) + 1
    x0, x1 = max(0, int(x) - r), min(w, int(x) + r + 1)
    y0, y1 = max(0, int(y) - r), min(h, int(y) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    img[y0:y1, x0:x1] += amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))


def _jet(img, cx, cy, angle, length, kind, rng, bend=0.0):
    """One jet or lobe from the core along ``angle`` (rad), ``bend`` rad of curvature."""
    steps = max(8, int(length))
    for i in range(1, steps + 1):
        t = i / steps
        a = angle + bend * t**2
        x, y = cx + length * t * np.cos(a), cy + length * t * np.sin(a)
        if kind == "fri":  # edge-darkened: bright near the core, fading and widening
            _blob(img, x, y, 0.5 * (1 - t) ** 1.5 + 0.02, BEAM_SIGMA_PX + 2.5 * t)
        else:  # frii: faint bridge, then a bright compact hotspot inside a diffuse lobe
            _blob(img, x, y, 0.03, BEAM_SIGMA_PX + 1.0)
    if kind == "frii":
        a = angle + bend
        hx, hy = cx + length * np.cos(a), cy + length * np.sin(a)
        _blob(img, hx, hy, 1.0, BEAM_SIGMA_PX)
        back = length - rng.uniform(3, 6)
        _blob(img, cx + back * np.cos(a), cy + back * np.sin(a), 0.25, 3.5)


def draw(kind: str, size: int, rng, snr: float) -> np.ndarray:
    """One image (float, peak ~1, noise 1/snr) of ``kind``: FRI, FRII, hybrid, Bent, WAT,
    HT, DD (double-double) or Compact."""
    img = np.zeros((size, size))
    c = size / 2 + rng.uniform(-3, 3, 2)
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.12, 0.3) * size
    if kind == "Compact":
        _blob(img, c[0], c[1], 1.0, BEAM_SIGMA_PX * rng.uniform(1.0, 1.6))
    elif kind in ("FRI", "Bent", "WAT", "HT"):
        _blob(img, c[0], c[1], 1.0, BEAM_SIGMA_PX)
        bend = 0.0 if kind == "FRI" else rng.choice([-1, 1]) * rng.uniform(0.6, 1.2)
        _jet(img, c[0], c[1], angle, length, "fri", rng, bend)
        if kind != "HT":  # head-tail: one swept tail
            _jet(img, c[0], c[1], angle + np.pi, length * rng.uniform(0.7, 1.0), "fri", rng,
                 -bend)  # fmt: skip
    elif kind in ("FRII", "DD"):
        _blob(img, c[0], c[1], rng.uniform(0.0, 0.2), BEAM_SIGMA_PX)
        for side in (0.0, np.pi):
            _jet(img, c[0], c[1], angle + side, length * rng.uniform(0.85, 1.0), "frii", rng)
            if kind == "DD":
                _blob(img, c[0] + 0.4 * length * np.cos(angle + side),
                      c[1] + 0.4 * length * np.sin(angle + side), 0.5, BEAM_SIGMA_PX)  # fmt: skip
    elif kind == "hybrid":
        _blob(img, c[0], c[1], 0.5, BEAM_SIGMA_PX)
        _jet(img, c[0], c[1], angle, length, "fri", rng)
        _jet(img, c[0], c[1], angle + np.pi, length, "frii", rng)
    else:
        raise ValueError(kind)
    img /= img.max()
    return img + rng.normal(0, 1.0 / snr, img.shape)


def to_uint8(img: np.ndarray, zero_below_sigma: float | None) -> np.ndarray:
    sigma = 1.4826 * np.median(np.abs(img - np.median(img)))
    if zero_below_sigma is not None:
        img = np.where(img > zero_below_sigma * sigma, img, 0.0)
    lo, hi = img.min(), img.max()
    return np.round(255 * (img - lo) / (hi - lo)).astype(np.uint8)


def _mirabest_kind(code: int, rng) -> str:
    first, third = code // 100, code % 10
    if first == 3:
        return "hybrid"
    if first == 2:
        return "DD" if third == 1 else "FRII"
    return {0: "FRI", 2: "WAT", 4: "HT"}[third]


def write_mirabest_standin(directory, n: int = 600, n_batches: int = 5, seed: int = 0) -> Path:
    """Batches as the MiraBest release (150 x 150 uint8, 1.8"/px; the test batch is 1/6)."""
    rng = np.random.default_rng(seed)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    codes = rng.choice(MIRABEST_CODES, size=n, p=[0.25, 0.05, 0.03, 0.07, 0.02, 0.3, 0.03, 0.15,
                                                   0.05, 0.05])  # fmt: skip
    data = np.stack([to_uint8(draw(_mirabest_kind(c, rng), 150, rng,
                                   rng.uniform(8, 30) if (c // 10) % 10 else rng.uniform(20, 100)),
                              3.0) for c in codes])  # fmt: skip
    names = [f"{c}_{rng.uniform(0, 360):07.3f}_{rng.uniform(-10, 60):+07.3f}.png" for c in codes]
    n_test = n // (n_batches + 1)
    parts = np.array_split(np.arange(n - n_test), n_batches) + [np.arange(n - n_test, n)]
    files = [f"data_batch_{i + 1}" for i in range(n_batches)] + ["test_batch"]
    label_of = {c: i for i, c in enumerate(MIRABEST_CODES)}
    for name, rows in zip(files, parts, strict=True):
        batch = {"batch_label": name, "labels": [label_of[int(c)] for c in codes[rows]],
                 "data": data[rows].reshape(len(rows), -1), "filenames": [names[i] for i in rows]}  # fmt: skip
        with open(root / name, "wb") as fh:
            pickle.dump(batch, fh)
    meta = {"num_cases_per_batch": len(parts[0]), "label_names": [str(c) for c in MIRABEST_CODES],
            "num_vis": 150 * 150}  # fmt: skip
    with open(root / "batches.meta", "wb") as fh:
        pickle.dump(meta, fh)
    return root


def write_rgd_standin(path, n: int = 600, seed: int = 1) -> Path:
    """HDF5 as the RadioGalaxyDataset (300 x 300 uint8; split ~ 81 / 9.5 / 9.5 %)."""
    import h5py

    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = rng.integers(0, 4, n)
    split = rng.choice(["train", "valid", "test"], size=n, p=[0.81, 0.095, 0.095])
    with h5py.File(path, "w") as h5:
        for k in range(n):
            g = h5.create_group(f"data_{k}")
            img = to_uint8(draw(RGD_KINDS[labels[k]], 300, rng, rng.uniform(15, 80)), None)
            ds = g.create_dataset("Img", data=img)
            ds.attrs["RA"], ds.attrs["DEC"] = rng.uniform(0, 360), rng.uniform(-10, 60)
            ds.attrs["Source"] = "standin"
            g.create_dataset("Label_literature", data=np.int64(labels[k]))
            g.create_dataset("Split_literature", data=str(split[k]))
    return path
