"""External labelled radio images into the standard crop store (``meersim ingest``).

Readers of the published formats (docs/eval.md "Real labelled data" says where each
is published; nothing is downloaded here, the user points at files they fetched):

- **MiraBest** (Porter & Scaife 2023): CIFAR-style pickled batches ``data_batch_1..N``,
  ``test_batch`` and ``batches.meta`` (``label_names``); 150 x 150 uint8 FIRST images.
  Label names are read from ``batches.meta``. The 3-digit code of Miraghaei & Best
  (2017) leads each file name (``100_159.613_+041.815.png``): first digit 1 FRI,
  2 FRII, 3 hybrid; second 0 confident, 1 uncertain; third the sub-morphology.
- **RadioGalaxyDataset** (Griese et al. 2023): one HDF5 file of groups ``data_K``, each
  with ``Img`` (uint8 300 x 300, attributes RA, DEC, Source) and scalar datasets
  ``Label_literature``/``Split_literature`` and ``Label_CDL1``/``Split_CDL1``.
- a folder of PNG/JPEG/FITS images with a labels CSV (:mod:`meersim.datasets.image_folder`).

Every image is one crop of product ``restored`` (grey levels for PNG/uint8 sources,
the FITS unit for FITS) and its own field (``field_id`` = row), so grouped CV never
splits an image. A source's own train/test split becomes the ``split`` column.
"""

from __future__ import annotations

import io
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
from astropy.table import Table
from tqdm.auto import tqdm

from meersim.datasets.labelled import Ingested, as_text, base_truth, normalise_split
from meersim.datasets.store import CropStore, open_store, write_crops
from meersim.errors import InputError
from meersim.io import atomic_directory

# FIRST cutouts of both MiraBest and RadioGalaxyDataset: 1.8 arcsec per pixel
# (Porter & Scaife 2023; Griese et al. 2023)
FIRST_PIXEL_ARCSEC = 1.8
FORMATS = ("mirabest", "rgd", "folder")
# Miraghaei & Best (2017) code digits
MIRABEST_CLASS = {1: "FRI", 2: "FRII", 3: "hybrid"}
MIRABEST_MORPHOLOGY = {0: "standard", 1: "double-double", 2: "wide-angle tail", 3: "diffuse",
                       4: "head-tail"}  # fmt: skip
# Griese et al. (2023): the class encoding of both labellings
RGD_CLASSES = {0: "FRI", 1: "FRII", 2: "Compact", 3: "Bent"}
RGD_LABELLINGS = ("literature", "CDL1")


# ----------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------
def check_output(output, overwrite: bool) -> Path:
    """Refuse a non-empty ``output`` unless ``overwrite``."""
    out = Path(output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise InputError(str(out), "output", "exists and is not empty.", "Use --overwrite.")
    return out


def write_ingested(data: Ingested, output, overwrite: bool = False) -> CropStore:
    """Write ``data`` as a crop store at ``output`` (built in a temporary sibling, then renamed)."""
    out = check_output(output, overwrite)
    images = np.asarray(data.images, dtype=np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise InputError(str(out), "images", f"need [N, H, W] with N >= 1, got {images.shape}.")
    with atomic_directory(out) as tmp:
        write_crops(tmp, {"restored": images}, data.truth, manifest={"kind": "ingested",
                    **data.manifest})  # fmt: skip
        if out.exists():  # checked above: empty, or --overwrite
            shutil.rmtree(out) if out.is_dir() else out.unlink()
    return open_store(out)


def ingest(source, output, format: str, *, subset: str = "all", labelling: str = "literature",
           labels=None, pixel_scale_arcsec: float | None = None, size: int | None = None,
           stokes: str = "I", overwrite: bool = False, progress: bool = True) -> CropStore:  # fmt: skip
    """Read ``source`` in ``format`` (mirabest, rgd, folder) and write the crop store ``output``.

    subset : MiraBest ``all`` or ``confident`` (FRI/FRII with confident labels).
    labelling : RadioGalaxyDataset labelling whose split becomes ``split`` (literature, CDL1).
    labels, pixel_scale_arcsec, size, stokes : the folder reader's options
        (:func:`meersim.datasets.image_folder.read_image_folder`); ``pixel_scale_arcsec``
        also overrides FIRST's 1.8 arcsec/px for MiraBest and RGD.
    """
    check_output(output, overwrite)
    if format == "mirabest":
        data = read_mirabest(source, subset, pixel_scale_arcsec or FIRST_PIXEL_ARCSEC, progress)
    elif format == "rgd":
        data = read_rgd(source, labelling, pixel_scale_arcsec or FIRST_PIXEL_ARCSEC, progress)
    elif format == "folder":
        from meersim.datasets.image_folder import read_image_folder

        data = read_image_folder(source, labels, pixel_scale_arcsec=pixel_scale_arcsec,
                                 size=size, stokes=stokes, progress=progress)  # fmt: skip
    else:
        raise InputError(str(source), "format", f"{format!r} unknown.", f"Use one of {FORMATS}.")
    data.manifest.setdefault("source", str(Path(source).resolve()))
    data.manifest.setdefault("format_read", format)
    return write_ingested(data, output, overwrite)


# ----------------------------------------------------------------------------------
# MiraBest
# ----------------------------------------------------------------------------------
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only: a batch file cannot run code."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a batch file")
        return super().find_class(module, name)


def load_batch(path: Path) -> dict:
    """One CIFAR-style pickle (``encoding="latin1"`` for Python 2 files), keys as str."""
    try:
        with open(path, "rb") as fh:
            obj = _ArrayUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise InputError(str(path), "pickle", f"cannot be read as a batch ({exc}).") from None
    if not isinstance(obj, dict):
        raise InputError(str(path), "pickle", f"holds a {type(obj).__name__}, not a dict.")
    return {as_text(k): v for k, v in obj.items()}


def _batch_dir(directory) -> Path:
    root = Path(directory)
    for cand in (root, root / "batches"):
        if (cand / "batches.meta").is_file():
            return cand
    raise InputError(str(root), "batches.meta", "not found (here or in batches/).",
                     "Point at the folder holding data_batch_*, test_batch and batches.meta.")  # fmt: skip


def _batch_images(batch: dict, path: Path) -> np.ndarray:
    for key in ("data", "labels"):
        if key not in batch:
            raise InputError(str(path), key, "missing from the batch.", "Is this a MiraBest batch?")
    data = np.asarray(batch["data"])
    n = data.shape[0]
    side = int(round(np.sqrt(data[0].size))) if n else 0
    if n and side * side != data[0].size:
        raise InputError(str(path), "data", f"rows of {data[0].size} values are not square images.")
    if len(batch["labels"]) != n:
        raise InputError(str(path), "labels", f"{len(batch['labels'])} labels for {n} images.")
    return data.reshape(n, side, side)


_MIRABEST_NAME = re.compile(r"^(\d{3})_(\d+(?:\.\d+)?)_?([+-]\d+(?:\.\d+)?)")


def mirabest_columns(codes: np.ndarray) -> dict[str, np.ndarray]:
    """fr_class, confident, hybrid and morphology from 3-digit codes (-1 = unknown)."""
    codes = np.asarray(codes, dtype=np.int64)
    first, second, third = codes // 100, (codes // 10) % 10, codes % 10
    known = codes >= 0
    return {
        "fr_class": np.array(
            [
                MIRABEST_CLASS.get(int(d), "unknown") if k else "unknown"
                for d, k in zip(first, known, strict=True)
            ]
        ),  # fmt: skip
        "confident": known & (second == 0),
        "hybrid": known & (first == 3),
        "morphology": np.array(
            [
                MIRABEST_MORPHOLOGY.get(int(d), "unknown") if k else "unknown"
                for d, k in zip(third, known, strict=True)
            ]
        ),  # fmt: skip
    }


def read_mirabest(directory, subset: str = "all", pixel_scale_arcsec: float = FIRST_PIXEL_ARCSEC,
                  progress: bool = True) -> Ingested:  # fmt: skip
    """All MiraBest batches of ``directory`` (training batches -> split train, test -> test).

    Columns: label (name from batches.meta), label_id, mirabest_code (the raw 3-digit code
    from the file name; -1 when the release has none), fr_class, confident, hybrid,
    morphology, ra, dec (deg, from the file name), filename, split. ``subset="confident"``
    keeps confident FRI and FRII (codes 100, 102, 104, 200, 201).
    """
    if subset not in ("all", "confident"):
        raise InputError("mirabest", "subset", f"{subset!r} unknown.", "Use all or confident.")
    bdir = _batch_dir(directory)
    meta = load_batch(bdir / "batches.meta")
    if "label_names" not in meta:
        raise InputError(str(bdir / "batches.meta"), "label_names", "missing.")
    names = [as_text(v) for v in meta["label_names"]]
    files = sorted(bdir.glob("data_batch_*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    files += [bdir / "test_batch"] if (bdir / "test_batch").is_file() else []
    if not files:
        raise InputError(str(bdir), "data_batch_*", "no batch files.")
    images, rows = [], []
    for path in tqdm(files, desc="MiraBest batches", disable=not progress):
        batch = load_batch(path)
        images.append(_batch_images(batch, path))
        fnames = [as_text(f) for f in batch.get("filenames", [""] * len(batch["labels"]))]
        for label, fname in zip(batch["labels"], fnames, strict=True):
            if not 0 <= int(label) < len(names):
                raise InputError(str(path), "labels", f"{label} outside the {len(names)} names.")
            rows.append((int(label), fname, "test" if path.name == "test_batch" else "train"))
    label_id = np.array([r[0] for r in rows], dtype=np.int64)
    table = _mirabest_table(label_id, names, [r[1] for r in rows], [r[2] for r in rows],
                            pixel_scale_arcsec)  # fmt: skip
    stack = np.concatenate(images).astype(np.float32)
    keep = np.ones(len(table), bool)
    if subset == "confident":
        if np.all(table["mirabest_code"] < 0):
            raise InputError(str(bdir), "filenames", "carry no 3-digit codes; the Confident "
                             "subset cannot be chosen.", "Use subset all.")  # fmt: skip
        keep = np.asarray(table["confident"]) & np.isin(table["fr_class"], ("FRI", "FRII"))
    table = table[keep]
    table["field_id"] = np.arange(len(table), dtype=np.int64)
    manifest = {"format_read": "mirabest", "subset": subset, "label_names": names,
                "pixel_unit": "uint8 grey level (FIRST, background zeroed)"}  # fmt: skip
    return Ingested(stack[keep], table, manifest)


def _mirabest_table(label_id, names, filenames, split, pixel_scale_arcsec) -> Table:
    n = len(label_id)
    codes, ra, dec = np.full(n, -1), np.full(n, np.nan), np.full(n, np.nan)
    for i, fname in enumerate(filenames):
        match = _MIRABEST_NAME.match(Path(fname).name)
        if match:
            codes[i], ra[i], dec[i] = int(match[1]), float(match[2]), float(match[3])
    label = np.array([names[i] for i in label_id])
    # a release whose label names are the codes themselves ("100", "102", ...)
    by_name = np.array([int(s) if re.fullmatch(r"\d{3}", s) else -1 for s in label])
    codes = np.where(codes >= 0, codes, by_name)
    table = base_truth(n, pixel_scale_arcsec, split)
    table["label"] = label
    table["label_id"] = label_id
    table["mirabest_code"] = codes.astype(np.int64)
    derived = mirabest_columns(codes)
    if np.all(codes < 0):  # no codes: FRI/FRII from the label names themselves
        derived["fr_class"] = np.array([s if s in ("FRI", "FRII") else "unknown" for s in label])
    for name, values in derived.items():
        table[name] = values
    table["ra"], table["dec"] = ra, dec
    table["ra"].unit = table["dec"].unit = "deg"
    table["filename"] = np.array(filenames, dtype=str)
    return table


# ----------------------------------------------------------------------------------
# RadioGalaxyDataset
# ----------------------------------------------------------------------------------
def _scalar(group, key: str):
    if key not in group:
        return None
    value = group[key][()]
    return as_text(value) if isinstance(value, (bytes, np.bytes_, str)) else value


def read_rgd(path, labelling: str = "literature", pixel_scale_arcsec: float = FIRST_PIXEL_ARCSEC,
             progress: bool = True) -> Ingested:  # fmt: skip
    """The RadioGalaxyDataset HDF5 file: both labellings, the chosen one's split as ``split``.

    Columns: label_literature / label_CDL1 (FRI, FRII, Compact, Bent), their integer
    ``*_id``, split_literature / split_CDL1, split (of ``labelling``), source_catalog, ra,
    dec (deg), group. A labelling absent from the file is left out.
    """
    import h5py

    path = Path(path)
    if labelling not in RGD_LABELLINGS:
        raise InputError(str(path), "labelling", f"{labelling!r} unknown.",
                         f"Use one of {RGD_LABELLINGS}.")  # fmt: skip
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(str(path), "file", f"is not a readable HDF5 file ({exc}).") from None
    with h5:
        keys = sorted(h5.keys(), key=lambda k: (int(re.sub(r"\D", "", k) or 0), k))
        keys = [k for k in keys if isinstance(h5[k], h5py.Group) and "Img" in h5[k]]
        if not keys:
            raise InputError(str(path), "groups", "no group with an Img dataset.",
                             "Is this the RadioGalaxyDataset HDF5 file?")  # fmt: skip
        images, rows = [], []
        for key in tqdm(keys, desc="RGD images", disable=not progress):
            group = h5[key]
            images.append(np.asarray(group["Img"][()], dtype=np.float32))
            attrs = group["Img"].attrs
            row = {"group": key, "ra": float(attrs.get("RA", np.nan)),
                   "dec": float(attrs.get("DEC", np.nan)),
                   "source_catalog": as_text(attrs.get("Source", ""))}  # fmt: skip
            for name in RGD_LABELLINGS:
                row[f"label_{name}"] = _scalar(group, f"Label_{name}")
                row[f"split_{name}"] = _scalar(group, f"Split_{name}")
            rows.append(row)
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise InputError(str(path), "Img", f"images of several shapes {sorted(shapes)[:3]}.")
    table = _rgd_table(rows, labelling, pixel_scale_arcsec, str(path))
    manifest = {"format_read": "rgd", "labelling": labelling, "classes": RGD_CLASSES,
                "pixel_unit": "uint8 grey level (FIRST)"}  # fmt: skip
    return Ingested(np.stack(images), table, manifest)


def _rgd_table(rows: list[dict], labelling: str, pixel_scale_arcsec: float, source: str) -> Table:
    n = len(rows)
    chosen = [r[f"split_{labelling}"] for r in rows]
    if any(s is None for s in chosen):
        raise InputError(source, f"Split_{labelling}", "missing from some groups.",
                         "Choose the other labelling.")  # fmt: skip
    table = base_truth(n, pixel_scale_arcsec, chosen)
    for name in RGD_LABELLINGS:
        ids = [r[f"label_{name}"] for r in rows]
        if all(v is None for v in ids):
            continue
        if any(v is None for v in ids):
            raise InputError(source, f"Label_{name}", "missing from some groups.")
        ids = np.asarray(ids, dtype=np.int64)
        unknown = sorted(set(ids.tolist()) - set(RGD_CLASSES))
        if unknown:
            raise InputError(source, f"Label_{name}", f"codes {unknown} are not 0-3.")
        table[f"label_{name}"] = np.array([RGD_CLASSES[int(i)] for i in ids])
        table[f"label_{name}_id"] = ids
        splits = [r[f"split_{name}"] for r in rows]
        if all(s is not None for s in splits):
            table[f"split_{name}"] = normalise_split(splits, f"{source}: Split_{name}")
    table["source_catalog"] = np.array([r["source_catalog"] for r in rows], dtype=str)
    table["ra"] = np.array([r["ra"] for r in rows])
    table["dec"] = np.array([r["dec"] for r in rows])
    table["ra"].unit = table["dec"].unit = "deg"
    table["group"] = np.array([r["group"] for r in rows], dtype=str)
    return table
