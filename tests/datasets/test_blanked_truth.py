"""Sources on blanked (NaN) pixels are not counted as present in a crop's truth."""

import numpy as np
import yaml
from astropy.table import Table

from meersim.config import from_dict
from meersim.datasets.build import build_dataset, example_config_path
from meersim.datasets.config import DatasetConfig
from meersim.datasets.crops import CropTruthInputs, crop_truth_tables


def test_crop_truth_skips_sources_on_blanked_pixels():
    components = Table({"source_id": [0, 1, 2, 3], "morph_class": ["sfg"] * 4})
    x = np.array([1.0, 6.0, 2.0, 6.0])
    y = np.array([1.0, 1.0, 6.0, 6.0])
    inputs = CropTruthInputs(components, x, y, np.full(4, 1e-3), np.full(4, 1e-3))
    blank = np.zeros((8, 8), bool)
    blank[:, 4:] = True  # the right half is blanked: sources 1 and 3 sit there
    origins = np.array([[0, 0]])
    stats, sources = crop_truth_tables(inputs, origins, 8, 1e-5, blank=blank)
    assert stats["n_sources"][0] == 2 and stats["n_detectable"][0] == 2
    assert stats["total_flux"][0] == 2e-3
    assert list(sources["blanked"]) == [False, True, False, True]
    assert list(sources["crop_id"]) == [0, -1, 0, -1]
    unblanked, _ = crop_truth_tables(inputs, origins, 8, 1e-5)
    assert unblanked["n_sources"][0] == 4


def test_simulated_crops_count_only_sources_on_finite_pixels(tmp_path):
    data = yaml.safe_load(example_config_path().read_text())
    data.update(n_fields=1, seed=5, mode="image", products=["restored"])
    # 64 px of 60": corners ~45' out, where the primary beam falls below 0.5
    data["field"].update(npix=64, cell_arcsec=60.0, margin_arcsec=0.0, flux_min_jy=2e-3,
                         flux_max_jy=0.05, ra_deg=30.0, dec_deg=-40.0)  # fmt: skip
    data["observation"] = {"hours": 0.5, "dump_s": 900.0, "nchan": 1, "antennas": 8}
    data["clean"] = {"niter": 10, "max_major": 1}
    data["crops"].update(size=16, stride=16, psf_size=16, pb_cut=0.5, max_nan=1.0)
    store = build_dataset(from_dict(DatasetConfig, data, "test"), tmp_path / "ds", progress=False)
    sources = store.sources
    assert np.any(sources["blanked"])  # some sources do lie on blanked pixels
    present = sources[sources["crop_id"] >= 0]
    assert not np.any(present["blanked"])
    restored = store.array("restored")[:]
    ix = np.rint(np.asarray(present["source_x"]) - store.truth["x0"][present["crop_id"]])
    iy = np.rint(np.asarray(present["source_y"]) - store.truth["y0"][present["crop_id"]])
    values = restored[np.asarray(present["crop_id"]), iy.astype(int), ix.astype(int)]
    assert np.all(np.isfinite(values))  # every counted source sits on a finite pixel
    for crop_id, n in enumerate(store.truth["n_sources"]):
        mine = present[present["crop_id"] == crop_id]
        assert n == len(np.unique(mine["source_id"]))
