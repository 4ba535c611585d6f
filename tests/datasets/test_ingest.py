"""``meersim ingest``: MiraBest batches, RadioGalaxyDataset HDF5 and labelled folders,
read from tiny files written here in exactly the published layouts."""

import pickle

import h5py
import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner
from PIL import Image

from meersim.cli import main
from meersim.datasets import CropDataset, ingest, open_store
from meersim.errors import InputError

# the full MiraBest release: 10 classes (Porter & Scaife 2023)
FULL_NAMES = ["100", "102", "104", "110", "112", "200", "201", "210", "300", "310"]
CODES = [100, 102, 104, 110, 112, 200, 201, 210, 300, 310]


def write_mirabest(root, names=FULL_NAMES, n_train=3, per_batch=10, side=150, seed=0,
                   flat=True, with_filenames=True):  # fmt: skip
    """CIFAR-style batches as the MiraBest release: dict keys batch_label, labels, data,
    filenames; data uint8 [n, side*side]; batches.meta with label_names and num_vis."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    meta = {"num_cases_per_batch": per_batch, "label_names": list(names), "num_vis": side * side}
    with open(root / "batches.meta", "wb") as fh:
        pickle.dump(meta, fh)
    truth = []
    for k, name in enumerate([f"data_batch_{i + 1}" for i in range(n_train)] + ["test_batch"]):
        labels = rng.integers(0, len(names), per_batch).tolist()
        data = np.zeros((per_batch, side, side), np.uint8)
        for i, lab in enumerate(labels):
            data[i, :, :] = (lab * 20 + 5) % 256  # image i encodes its label
        fnames = []
        for i, lab in enumerate(labels):
            code = CODES[lab] if len(names) == 10 else (100 if lab == 0 else 200)
            fnames.append(f"BestCat_proc/Cropped/{code}_{150.0 + i:07.3f}_+0{k}.500.png")
        batch = {"batch_label": f"batch {k}", "labels": labels,
                 "data": data.reshape(per_batch, -1) if flat else data}  # fmt: skip
        if with_filenames:
            batch["filenames"] = fnames
        with open(root / name, "wb") as fh:
            pickle.dump(batch, fh)
        truth.append((labels, "test" if name == "test_batch" else "train"))
    return truth


def write_rgd(path, n=12, side=300, seed=0, with_cdl1=True):
    """HDF5 as the RadioGalaxyDataset: groups data_K with Img (uint8, attrs RA, DEC, Source)
    and scalar Label_literature (int) / Split_literature (string), same for CDL1."""
    rng = np.random.default_rng(seed)
    splits = ["train", "valid", "test"]
    with h5py.File(path, "w") as h5:
        for k in range(n):
            g = h5.create_group(f"data_{k}")
            lab = k % 4
            img = g.create_dataset("Img", data=np.full((side, side), 10 * lab + 1, np.uint8))
            img.attrs["RA"], img.attrs["DEC"] = 150.0 + k, 20.0 + k / 10
            img.attrs["Source"] = "Gendre"
            g.create_dataset("Label_literature", data=np.int64(lab))
            g.create_dataset("Split_literature", data=splits[k % 3])
            if with_cdl1:
                g.create_dataset("Label_CDL1", data=np.int64((lab + 1) % 4))
                g.create_dataset("Split_CDL1", data=splits[(k + 1) % 3].encode())
        # a stray dataset at top level is ignored
        h5.create_dataset("readme", data=rng.integers(0, 2, 3))


def test_mirabest_full_release_codes_and_split(tmp_path):
    truth = write_mirabest(tmp_path / "batches")
    store = ingest(tmp_path, tmp_path / "mb", "mirabest", progress=False)
    t = store.truth
    labels = np.concatenate([np.asarray(lab) for lab, _ in truth])
    assert store.n_crops == 40 and store.crop_size == (150, 150)
    assert list(t["label"]) == [FULL_NAMES[i] for i in labels]
    assert list(t["mirabest_code"]) == [CODES[i] for i in labels]
    fr = {1: "FRI", 2: "FRII", 3: "hybrid"}
    assert list(t["fr_class"]) == [fr[CODES[i] // 100] for i in labels]
    assert list(t["confident"]) == [(CODES[i] // 10) % 10 == 0 for i in labels]
    assert list(t["hybrid"]) == [CODES[i] // 100 == 3 for i in labels]
    assert list(t["split"]) == ["train"] * 30 + ["test"] * 10
    morph = dict(zip(CODES, ["standard", "wide-angle tail", "head-tail", "standard",
                             "wide-angle tail", "standard", "double-double", "standard",
                             "standard", "standard"], strict=True))  # fmt: skip
    assert list(t["morphology"]) == [morph[CODES[i]] for i in labels]
    # pixels exactly as stored, image i of the store is image i of the batches
    crops = np.asarray(store.array("restored")[:])
    np.testing.assert_array_equal(crops[:, 75, 75], (labels * 20 + 5) % 256)
    assert store.manifest["label_names"] == FULL_NAMES
    np.testing.assert_allclose(t["cell_arcsec"], 1.8)
    np.testing.assert_allclose(t["ra"][:2], [150.0, 151.0])
    np.testing.assert_allclose(t["dec"][:2], [0.5, 0.5])
    ds = CropDataset(store.path, label_columns=("fr_class", "confident", "mirabest_code"))
    item = ds[0]
    assert ds.label_classes["fr_class"] == sorted(set(t["fr_class"]))
    assert int(item["labels"]["confident"]) == int(t["confident"][0])
    assert int(item["labels"]["mirabest_code"]) == CODES[labels[0]]


def test_mirabest_confident_subset(tmp_path):
    truth = write_mirabest(tmp_path, seed=3)
    store = ingest(tmp_path, tmp_path / "mb", "mirabest", subset="confident", progress=False)
    labels = np.concatenate([np.asarray(lab) for lab, _ in truth])
    expected = [CODES[i] for i in labels if CODES[i] in (100, 102, 104, 200, 201)]
    assert list(store.truth["mirabest_code"]) == expected
    assert set(store.truth["fr_class"]) <= {"FRI", "FRII"}
    assert list(store.truth["field_id"]) == list(range(len(expected)))


def test_mirabest_two_class_release_reads_names_from_meta(tmp_path):
    # the GitHub release: label_names ['FRI', 'FRII'], data as [n, 150, 150]
    write_mirabest(tmp_path, names=["FRI", "FRII"], flat=False, with_filenames=False)
    store = ingest(tmp_path, tmp_path / "mb", "mirabest", progress=False)
    t = store.truth
    assert list(t["fr_class"]) == list(t["label"])
    assert set(t["label"]) <= {"FRI", "FRII"}
    assert np.all(t["mirabest_code"] == -1)
    with pytest.raises(InputError, match="no 3-digit codes"):
        ingest(tmp_path, tmp_path / "mb2", "mirabest", subset="confident", progress=False)


def test_mirabest_refuses_pickled_code(tmp_path):
    write_mirabest(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    with open(tmp_path / "data_batch_2", "wb") as fh:
        pickle.dump({"labels": [0], "data": Evil()}, fh)
    with pytest.raises(InputError, match="data_batch_2.*not allowed"):
        ingest(tmp_path, tmp_path / "mb", "mirabest", progress=False)


def test_rgd_both_labellings_and_official_split(tmp_path):
    write_rgd(tmp_path / "galaxy_data_h5.h5")
    store = ingest(tmp_path / "galaxy_data_h5.h5", tmp_path / "rgd", "rgd", progress=False)
    t = store.truth
    names = ["FRI", "FRII", "Compact", "Bent"]
    assert store.crop_size == (300, 300) and store.n_crops == 12
    assert list(t["label_literature"]) == [names[k % 4] for k in range(12)]
    assert list(t["label_CDL1"]) == [names[(k + 1) % 4] for k in range(12)]
    assert list(t["split"]) == [["train", "valid", "test"][k % 3] for k in range(12)]
    assert list(t["split_CDL1"]) == [["train", "valid", "test"][(k + 1) % 3] for k in range(12)]
    np.testing.assert_allclose(t["ra"], 150.0 + np.arange(12))
    assert set(t["source_catalog"]) == {"Gendre"}
    np.testing.assert_array_equal(np.asarray(store.array("restored")[:, 0, 0]),
                                  10 * (np.arange(12) % 4) + 1)  # fmt: skip
    other = ingest(tmp_path / "galaxy_data_h5.h5", tmp_path / "rgd2", "rgd", labelling="CDL1",
                   progress=False)  # fmt: skip
    assert list(other.truth["split"]) == list(t["split_CDL1"])


def test_rgd_without_cdl1_and_bad_file(tmp_path):
    write_rgd(tmp_path / "lit.h5", with_cdl1=False)
    store = ingest(tmp_path / "lit.h5", tmp_path / "rgd", "rgd", progress=False)
    assert "label_CDL1" not in store.truth.colnames
    with pytest.raises(InputError, match="Split_CDL1"):
        ingest(tmp_path / "lit.h5", tmp_path / "x", "rgd", labelling="CDL1", progress=False)
    (tmp_path / "bad.h5").write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5"):
        ingest(tmp_path / "bad.h5", tmp_path / "y", "rgd", progress=False)


def _folder(tmp_path, n=6):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = ["file,morph,size_arcsec,split"]
    for i in range(n):
        Image.fromarray(np.full((20, 20), 40 * i, np.uint8)).save(folder / f"g{i}.png")
        rows.append(
            f"g{i}.png,{'FRI' if i % 2 else 'FRII'},{1.5 * i},{'test' if i > 3 else 'train'}"
        )
    # a FITS image without WCS and one with a celestial WCS
    fits.PrimaryHDU(np.full((20, 20), 7.0, np.float32)).writeto(folder / "plain.fits")
    h = fits.Header()
    for key, val in (("CTYPE1", "RA---SIN"), ("CTYPE2", "DEC--SIN"), ("CDELT1", -2 / 3600),
                     ("CDELT2", 2 / 3600), ("CRPIX1", 10), ("CRPIX2", 10), ("CRVAL1", 150.0),
                     ("CRVAL2", 2.0)):  # fmt: skip
        h[key] = val
    fits.PrimaryHDU(np.full((20, 20), 3.0, np.float32), header=h).writeto(folder / "wcs.fits")
    rows += ["plain.fits,FRI,0.5,train", "wcs.fits,FRII,0.7,valid"]
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(folder / "unlisted.png")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_folder_with_labels_csv(tmp_path):
    folder = _folder(tmp_path)
    store = ingest(folder, tmp_path / "st", "folder", pixel_scale_arcsec=1.8, progress=False)
    t = store.truth
    assert store.n_crops == 8 and list(t["file"][:2]) == ["g0.png", "g1.png"]
    assert list(t["morph"][:4]) == ["FRII", "FRI", "FRII", "FRI"]
    np.testing.assert_allclose(t["size_arcsec"][:3], [0.0, 1.5, 3.0])
    assert list(t["split"]) == ["train"] * 4 + ["test"] * 2 + ["train", "valid"]
    np.testing.assert_allclose(t["cell_arcsec"], [1.8] * 7 + [2.0])  # wcs.fits: its own scale
    crops = np.asarray(store.array("restored")[:])
    np.testing.assert_array_equal(crops[:6, 5, 5], 40 * np.arange(6))
    assert crops[6, 0, 0] == 7.0 and crops[7, 0, 0] == 3.0
    assert store.manifest["n_unlisted"] == 1
    ds = CropDataset(tmp_path / "st", label_columns=("morph", "size_arcsec", "split"))
    item = ds[1]
    assert ds.label_classes["morph"] == ["FRI", "FRII"] and int(item["labels"]["morph"]) == 0
    assert float(item["labels"]["size_arcsec"]) == 1.5


def test_folder_needs_pixel_scale_size_and_listed_files(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(InputError, match="g0.png: pixel scale.*--pixel-scale"):
        ingest(folder, tmp_path / "a", "folder", progress=False)
    Image.fromarray(np.zeros((30, 24), np.uint8)).save(folder / "g0.png")
    with pytest.raises(InputError, match="--size"):
        ingest(folder, tmp_path / "b", "folder", pixel_scale_arcsec=1.8, progress=False)
    store = ingest(folder, tmp_path / "c", "folder", pixel_scale_arcsec=1.8, size=16,
                   progress=False)  # fmt: skip
    assert store.crop_size == (16, 16)
    labels = folder / "labels.csv"
    labels.write_text(labels.read_text() + "missing.png,FRI,1.0,train\n")
    with pytest.raises(InputError, match="missing.png"):
        ingest(folder, tmp_path / "d", "folder", pixel_scale_arcsec=1.8, size=16, progress=False)


def test_ingest_cli_refuses_to_overwrite(tmp_path):
    write_mirabest(tmp_path / "b")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    runner = CliRunner()
    res = runner.invoke(main, ["ingest", "mirabest", str(tmp_path / "b"), "-o", str(out),
                               "--no-progress"])  # fmt: skip
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert (out / "keep.txt").read_text() == "user data"
    res = runner.invoke(main, ["ingest", "mirabest", str(tmp_path / "b"), "-o", str(out),
                               "--overwrite", "--no-progress", "--subset", "confident"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "split" in res.output and not (out / "keep.txt").exists()
    assert open_store(out).n_crops > 0
