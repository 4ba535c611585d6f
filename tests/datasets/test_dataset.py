"""Simulated datasets: tiling, truth, NaN limit, determinism across workers, resume, CLI."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from meersim.config import from_dict
from meersim.datasets.build import DatasetConfig, build_dataset, example_config_path, load_config
from meersim.datasets.config import draw_field_params, validate
from meersim.datasets.crops import crop_grid
from meersim.datasets.store import open_store
from meersim.errors import InputError

SIZE, STRIDE, NPIX = 64, 48, 208  # crops start at 0, 48, 96, 144 on each axis


def tiny(**overrides) -> DatasetConfig:
    """The shipped example, shrunk: 208^2 fields of 20" (69', about the primary-beam FWHM)."""
    data = yaml.safe_load(example_config_path().read_text())
    data.update(n_fields=2, seed=7)
    data["field"].update(
        npix=NPIX, cell_arcsec=20.0, margin_arcsec=0.0, flux_min_jy=3e-3, flux_max_jy=0.05
    )
    data["observation"] = {
        "hours": {"uniform": [0.5, 1.0]},
        "dump_s": 900.0,
        "nchan": 2,
        "antennas": 16,
    }
    data["clean"] = {"niter": 200, "threshold_sigma": 3.0, "max_major": 3}
    data["crops"].update(size=SIZE, stride=STRIDE, psf_size=32, pb_cut=0.5)
    for key, value in overrides.items():
        data[key] = value
    return from_dict(DatasetConfig, data, "tiny config")


def _assert_same(a, b):
    assert a.products == b.products and a.n_crops == b.n_crops
    for p in a.products:
        np.testing.assert_array_equal(a.array(p)[:], b.array(p)[:])
    np.testing.assert_array_equal(a.psfs(), b.psfs())
    assert a.truth.colnames == b.truth.colnames
    for table in ("truth", "sources"):
        ta, tb = getattr(a, table), getattr(b, table)
        assert ta.colnames == tb.colnames
        for col in ta.colnames:
            x, y = np.asarray(ta[col]), np.asarray(tb[col])
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (table, col)


@pytest.fixture(scope="module")
def inline_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "inline"
    return build_dataset(tiny(), path, workers=1, progress=False)


def test_dataset_crops_truth_and_nan_limit(inline_store):
    store = inline_store
    config = tiny()
    assert store.products == ("sky", "dirty", "restored", "residual", "model")
    assert store.psfs().shape == (2, 32, 32)
    origins = {tuple(int(v) for v in o) for o in crop_grid((NPIX, NPIX), SIZE, STRIDE)}
    truth = store.truth
    for fid in range(2):
        rows = truth[truth["field_id"] == fid]
        got = {(int(r["x0"]), int(r["y0"])) for r in rows}
        assert got <= origins
        # pb_cut 0.5 blanks beyond ~32' radius: the corner crops are mostly NaN, the
        # central ones not at all
        assert not got & {(0, 0), (144, 0), (0, 144), (144, 144)}
        assert {(48, 48), (96, 96)} <= got
    assert np.all(truth["nan_fraction"] <= config.crops.max_nan)
    for i in range(store.n_crops):
        crop = store.crop(i)
        for p in store.products:
            assert np.isnan(crop[p]).sum() == round(truth["nan_fraction"][i] * SIZE * SIZE)
    # labels agree with the source truth catalog
    src = store.sources
    assert np.mean(truth["n_sources"] > 0) > 0.5
    for i in range(store.n_crops):
        members = src[src["crop_id"] == i]
        assert len(set(members["source_id"])) == truth["n_sources"][i]
        x0, y0 = truth["x0"][i], truth["y0"][i]
        assert np.all((members["source_x"] >= x0 - 0.5) & (members["source_x"] < x0 + SIZE - 0.5))
        assert np.all((members["source_y"] >= y0 - 0.5) & (members["source_y"] < y0 + SIZE - 0.5))
        per_class = sum(truth[f"n_{c}"][i] for c in ("point", "sfg", "fr1", "fr2"))
        assert per_class == truth["n_sources"][i]
        assert truth["n_detectable"][i] <= truth["n_sources"][i]
    assert np.all(src["crop_id"] >= -1) and np.any(src["crop_id"] == -1)
    # varied parameters are stored per crop and differ between fields
    hours = [truth["param_observation_hours"][truth["field_id"] == f][0] for f in (0, 1)]
    assert hours[0] != hours[1] and all(0.5 <= h <= 1.0 for h in hours)
    params = draw_field_params(config, 1)
    assert hours[1] == params["observation"]["hours"]
    # the clean beam is ~ an 8-16 antenna, 1 h beam; the noise is the target order
    assert np.all(truth["bmaj"] > truth["bmin"] * 0.99)
    assert np.all((truth["noise_rms"] > 0) & np.isfinite(truth["noise_rms"]))
    assert store.manifest["fields_finished"] == [0, 1]
    assert store.manifest["versions"]["ducc0"]


def test_two_workers_give_identical_data(inline_store, tmp_path):
    store = build_dataset(tiny(), tmp_path / "dask", workers=2, progress=False)
    _assert_same(store, inline_store)


def test_resume_after_crash_is_identical(inline_store, tmp_path):
    path = tmp_path / "crash"

    def crash(field_id):
        if field_id == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(tiny(), path, workers=1, progress=False, on_field=crash)
    partial = open_store(path, allow_partial=True)
    assert partial.manifest["fields_finished"] == [0] and not partial.manifest["complete"]
    seen = []
    store = build_dataset(tiny(), path, workers=1, progress=False, on_field=seen.append)
    assert seen == [1]  # field 0 was not recomputed
    _assert_same(store, inline_store)


def test_rebuild_of_finished_store_is_a_no_op(inline_store):
    manifest = (inline_store.path / "manifest.json").read_bytes()
    seen = []
    again = build_dataset(
        tiny(), inline_store.path, workers=1, progress=False, on_field=seen.append
    )
    assert seen == []  # no field recomputed
    assert again.manifest["complete"] and not (inline_store.path / "fields").exists()
    assert (inline_store.path / "manifest.json").read_bytes() == manifest
    _assert_same(again, inline_store)


def test_other_seed_refuses_to_resume(inline_store, tmp_path):
    with pytest.raises(InputError, match="seed"):
        build_dataset(tiny(seed=8), inline_store.path, workers=1, progress=False)


def test_tiling_rule_without_blanking_and_cli(tmp_path):
    from meersim.cli import main

    config = yaml.safe_load(example_config_path().read_text())
    config.update(n_fields=1, seed=3, mode="image", products=["restored", "model"])
    config["field"].update(
        npix=160, cell_arcsec=20.0, margin_arcsec=0.0, flux_min_jy=1e-3, flux_max_jy=0.05
    )
    config["observation"] = {"hours": 0.5, "dump_s": 900.0, "nchan": 1, "antennas": 12}
    config["clean"] = {"niter": 50, "max_major": 2}
    config["crops"].update(size=SIZE, stride=STRIDE, psf_size=16, pb_cut=None)
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(
        main, ["dataset", "--config", str(path), "-o", str(tmp_path / "o"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    store = open_store(tmp_path / "o")
    expected = crop_grid((160, 160), SIZE, STRIDE)  # starts 0, 48, 96 on each axis
    assert store.n_crops == len(expected) == 9
    np.testing.assert_array_equal(np.c_[store.truth["x0"], store.truth["y0"]], expected)
    assert store.products == ("restored", "model")
    assert np.all(store.truth["nan_fraction"] == 0)


def test_example_config_and_errors(tmp_path):
    config = load_config(example_config_path())
    assert config.crops.size == 256 and config.crops.stride == 200
    bad = yaml.safe_load(example_config_path().read_text())
    bad["field"]["npixx"] = 3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError, match="npixx"):
        load_config(path)
    with pytest.raises(InputError, match="ra_deg"):
        tiny(observation={"ra_deg": 10.0})
    with pytest.raises(InputError, match="distribution"):
        tiny(noise_rms_jy={"gauss": [1, 2]})
    with pytest.raises(InputError, match="uniform"):
        tiny(noise_rms_jy={"uniform": [2, 1]})
    with pytest.raises(InputError):
        load_config_dict = dict(yaml.safe_load(example_config_path().read_text()))
        load_config_dict["observation"] = {"hourz": 1.0}
        path.write_text(yaml.safe_dump(load_config_dict))
        load_config(path)


def test_morphology_section_sets_the_source_classes():
    from meersim.datasets.build import simulate_field

    # Every source an AGN (SFG/AGN crossover far below the flux range), every AGN compact.
    compact = tiny(morphology={"sfg_crossover_mjy": 1e-6, "agn_compact_fraction": 1.0})
    catalog = simulate_field(compact, 0).sources
    assert len(catalog) > 0 and set(catalog["morph_class"]) == {"point"}
    # a distribution is drawn per field and recorded as a varied parameter
    varied = tiny(morphology={"agn_compact_fraction": {"uniform": [0.2, 0.8]}})
    params = draw_field_params(varied, 1)
    assert 0.2 <= params["morphology"]["agn_compact_fraction"] <= 0.8
    assert (
        params["varied"]["morphology.agn_compact_fraction"]
        == (params["morphology"]["agn_compact_fraction"])
    )
    # an empty section draws nothing: the other parameters are those of the plain config
    plain, empty = draw_field_params(tiny(), 1), draw_field_params(tiny(morphology={}), 1)
    assert plain == empty
    with pytest.raises(InputError, match="agn_fraction"):
        validate(tiny(morphology={"agn_fraction": 0.5}))
    with pytest.raises(InputError, match="disc_thickness"):
        simulate_field(tiny(morphology={"disc_thickness": 2.0}), 0)


def test_field_renderer_key_chooses_the_sky_renderer():
    from meersim.datasets.fields import field_sky

    field = dict(yaml.safe_load(example_config_path().read_text())["field"])
    field.update(npix=NPIX, cell_arcsec=2.0, margin_arcsec=0.0, flux_min_jy=1e-4)
    skies = {}
    for renderer in ("fast", "galsim"):
        cfg = tiny(field=dict(field, renderer=renderer))
        params, catalog, _, _, sky = field_sky(cfg, 0)
        assert params["field"]["renderer"] == renderer
        skies[renderer] = np.asarray(sky.data, dtype=np.float64)
    assert set(np.asarray(catalog["shape"])) & {"exponential", "sersic"}  # both paths used
    fast, slow = skies["fast"], skies["galsim"]
    assert not np.array_equal(fast, slow)  # the two renderers really differ ...
    np.testing.assert_allclose(fast.sum(), slow.sum(), rtol=1e-3)  # ... but keep the flux
    with pytest.raises(InputError) as info:
        tiny(field=dict(field, renderer="pixels"))
    assert "field.renderer" in str(info.value) and "\n" not in str(info.value)
