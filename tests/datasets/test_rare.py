"""The ``rare:`` section: no draws when empty, unchanged normal population, per-crop truth."""

import numpy as np
import pytest
import yaml
from astropy.table import Table

from meersim.config import from_dict
from meersim.datasets.build import _config_record, build_dataset
from meersim.datasets.config import DatasetConfig, draw_field_params, load_config
from meersim.datasets.crops import CropTruthInputs
from meersim.datasets.fields import simulate_field
from meersim.datasets.rare import RARE_SHARE, rare_crop_truth
from meersim.errors import InputError

NPIX, CELL, SIZE = 192, 3.0, 64  # a 9.6' field, 3 x 3 crops of 3.2'


def config(**overrides) -> DatasetConfig:
    data = {
        "n_fields": 2, "seed": 11, "mode": "image",
        "field": {"survey": "mgcls", "npix": NPIX, "cell_arcsec": CELL, "flux_max_jy": 0.02,
                  "flux_min_jy": 1e-4, "margin_arcsec": 30.0},
        "observation": {"hours": 1.0, "dump_s": 900.0, "nchan": 2, "antennas": 24},
        "noise_rms_jy": {"uniform": [4e-6, 8e-6]},
        "clean": {"niter": 300, "threshold_sigma": 3.0, "max_major": 2},
        "products": ["sky", "restored", "residual"],
        "crops": {"size": SIZE, "stride": SIZE, "psf_size": 32},
    }  # fmt: skip
    data.update(overrides)
    return from_dict(DatasetConfig, data, "test config")


def _same_tables(a, b):
    assert a.colnames == b.colnames
    for col in a.colnames:
        x, y = np.asarray(a[col]), np.asarray(b[col])
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), col


def test_empty_rare_section_reproduces_the_field_exactly(tmp_path):
    path = tmp_path / "ds.yaml"
    plain = config()
    path.write_text(yaml.safe_dump({**_config_record(plain), "rare": {}}))
    with_empty = load_config(path)
    assert with_empty.rare == {}
    # no draw: every parameter of every field is the same, and so is the field itself
    for fid in range(2):
        a, b = draw_field_params(plain, fid), draw_field_params(with_empty, fid)
        assert a == b and a["rare"] == {}
    a, b = simulate_field(plain, 1), simulate_field(with_empty, 1)
    for p in a.arrays:
        np.testing.assert_array_equal(a.arrays[p], b.arrays[p])
    _same_tables(a.truth, b.truth)
    _same_tables(a.sources, b.sources)
    assert "n_rare" not in a.truth.colnames and "rare_class" not in a.sources.colnames
    # a store begun before the section existed compares equal and resumes
    assert "rare" not in _config_record(with_empty)


def test_rarities_leave_the_normal_population_and_draws_unchanged():
    plain = config()
    rare = config(rare={"orc": 2.0, "bent": {"uniform": [1.0, 2.0]}, "grg": 1.0})
    pa, pr = draw_field_params(plain, 0), draw_field_params(rare, 0)
    assert {k: v for k, v in pr.items() if k not in ("rare", "varied")} == {
        k: v for k, v in pa.items() if k not in ("rare", "varied")
    }
    assert set(pr["varied"]) - set(pa["varied"]) == {"rare.bent"}
    a, b = simulate_field(plain, 0), simulate_field(rare, 0)
    normal = b.sources[b.sources["rare_class"] == "none"]
    # detectability is judged against the field's measured rms, which the rarities change
    columns = [c for c in a.sources.colnames if c != "detectable"]
    _same_tables(a.sources[columns], normal[columns])
    assert b.truth["param_rare_bent"][0] == pr["rare"]["bent"]
    np.testing.assert_array_equal(a.truth["noise_rms_predicted"], b.truth["noise_rms_predicted"])


@pytest.fixture(scope="module")
def rare_store(tmp_path_factory):
    cfg = config(rare={"orc": 2.0, "bent": 2.0, "xshaped": 1.0, "grg": 0.5})
    return build_dataset(cfg, tmp_path_factory.mktemp("rare") / "ds", workers=1, progress=False)


def test_crop_truth_counts_the_rare_sources(rare_store):
    truth, src = rare_store.truth, rare_store.sources
    assert {"n_rare", "has_rare", "rare_class"} <= set(truth.colnames)
    assert set(src["rare_class"]) <= {"none", "grg", "bent", "xshaped", "orc"}
    rare_rows = src[src["rare_class"] != "none"]
    assert len(rare_rows) > 0 and truth["has_rare"].sum() > 0
    np.testing.assert_array_equal(truth["has_rare"], truth["n_rare"] > 0)
    # every crop holding a rare source's centre is flagged with at least that many
    for cid in range(len(truth)):
        here = rare_rows[rare_rows["crop_id"] == cid]
        n_centred = len(set(zip(here["field_id"], here["source_id"], strict=True)))
        assert truth["n_rare"][cid] >= n_centred
        if truth["n_rare"][cid] == 0:
            assert truth["rare_class"][cid] == "none"
        else:
            assert truth["rare_class"][cid] in set(rare_rows["rare_class"])
    # and the flagged crops show it: more sky flux than the crops of the same field without
    sky = np.nansum(rare_store.array("sky")[:], axis=(1, 2))
    assert np.median(sky[truth["has_rare"]]) > np.median(sky[~truth["has_rare"]])


def test_a_crop_that_misses_the_centre_counts_a_large_share():
    """A giant's lobe on a crop flags it even when the centre lies elsewhere."""
    cfg = config(rare={"grg": 3.0})
    result = simulate_field(cfg, 0)
    truth, src = result.truth, result.sources
    grg = src[(src["rare_class"] == "grg")]
    centre_crops = set(grg["crop_id"][grg["crop_id"] >= 0])
    flagged = set(np.flatnonzero(truth["n_rare"] > 0))
    assert centre_crops <= flagged
    assert flagged - centre_crops, f"no crop flagged by its {RARE_SHARE:.0%} share"


def test_every_crop_with_a_rare_source_names_its_class():
    """A giant whose flux-weighted centre lies on a crop that holds none of its lobes is
    counted there, and the crop takes its class (not "none")."""
    # lobes at x = 40 and 160 (crops 0 and 2 of three 64-px crops), centre at x = 100 (crop 1)
    comps = Table({"source_id": [7, 7, 8], "rare_class": ["grg", "grg", "none"]})
    inputs = CropTruthInputs(components=comps, x=np.array([40.0, 160.0, 20.0]),
                             y=np.array([30.0, 30.0, 30.0]),
                             apparent_flux=np.array([1e-3, 1e-3, 1e-3]), peak=None)  # fmt: skip
    truth = rare_crop_truth(inputs, np.array([[0, 0], [64, 0], [128, 0]]), 64, 1e-5, None)
    assert truth["n_rare"].tolist() == [1, 1, 1]
    assert truth["rare_class"].tolist() == ["grg", "grg", "grg"]
    assert truth["has_rare"].all()


def test_off_field_artefact_rings_the_field():
    cfg = config(n_fields=1, rare={"artefact": 3.0, "artefact_flux_jy": 0.5})
    result = simulate_field(cfg, 0)
    src, truth = result.sources, result.truth
    art = src[src["rare_class"] == "artefact"]
    assert len(art) >= 1 and np.all(art["crop_id"] == -1) and np.all(art["apparent_flux"] == 0)
    assert np.all(truth["rare_class"] == "artefact")
    # the same field without the artefact: its residual crops are several times quieter
    quiet = simulate_field(config(n_fields=1), 0).truth
    assert np.all(truth["crop_rms"] > 3 * quiet["crop_rms"])


@pytest.mark.parametrize(
    "rare, field",
    [({"orc": -1.0}, "rare.orc"), ({"flux_scale": 0}, "rare.flux_scale"), ({"comet": 1}, "comet")],
)
def test_bad_rare_values_are_refused(tmp_path, rare, field):
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump({**_config_record(config()), "rare": rare}))
    with pytest.raises(InputError) as err:
        load_config(path)
    assert field in str(err.value)


def test_shipped_anomaly_benchmark_config_loads():
    from importlib import resources

    path = resources.files("meersim") / "data" / "example_rare.yaml"
    cfg = load_config(path)
    assert set(cfg.rare) >= {"grg", "bent", "xshaped", "orc", "artefact"}
    assert draw_field_params(cfg, 3)["rare"]["artefact_flux_jy"] == 0.005
