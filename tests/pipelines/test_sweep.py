"""meersim sweep: one row per swept value, leakage per normalisation, resumable."""

import json

import numpy as np
import pytest

from meersim.errors import InputError
from meersim.pipelines.sweep import SweepConfig, dataset_config_for, load_sweep_config, run_sweep

DATASET = {
    "n_fields": 3,
    "seed": 5,
    "mode": "image",
    "field": {"survey": "mightee", "npix": 96, "cell_arcsec": 1.5, "flux_max_jy": 0.05,
              "margin_arcsec": 10.0, "ra_deg": {"uniform": [149.5, 150.5]}},
    "observation": {"hours": 2.0, "dump_s": 1200.0, "nchan": 1},
    "weighting": {"scheme": "briggs", "robust": 0.0},
    "noise_rms_jy": 3.0e-6,
    "clean": {"niter": 100},
    "products": ["restored", "residual"],
    "crops": {"size": 32, "stride": 32, "psf_size": 16},
}  # fmt: skip
TRAIN = {
    "method": "dino",
    "backbone": "vit_tiny_patch8",
    "backbone_kwargs": {"depth": 2, "embed_dim": 48, "num_heads": 2},
    "out_dim": 64, "hidden_dim": 64, "bottleneck_dim": 32,
    "epochs": 1, "batch_size": 16, "warmup_epochs": 0, "warmup_teacher_temp_epochs": 0,
    "num_workers": 0, "amp": "off", "device": "cpu",
    "augment": {"global_size": 32, "local_size": 16, "n_local": 2},
}  # fmt: skip


def test_noise_sweep_rows_leakage_and_resume(tmp_path):
    values = [2.0e-6, 5.0e-5]
    config = SweepConfig(dataset=DATASET, parameter="noise_rms_jy", values=values,
                         train=TRAIN, normalize="both", eval={"n_folds": 3})  # fmt: skip
    table = run_sweep(config, tmp_path, progress=False, quick=True)
    assert len(table) == 2 * len(values)
    assert sorted(set(table["normalize"])) == ["fixed", "noise"]
    for mode in ("noise", "fixed"):
        rows = table[table["normalize"] == mode]
        assert list(rows["value"]) == values
        # the image noise follows the swept value; the skies do not change
        assert rows["mean_noise_rms"][1] > 5 * rows["mean_noise_rms"][0]
        assert np.all(np.isfinite(rows["count_mse"]))
        assert rows["count_mse"][0] != rows["count_mse"][1]
    assert len(set(table["catalog"])) == 1
    leakage = json.loads((tmp_path / "leakage.json").read_text())
    assert leakage["same_catalogs"] is True
    for mode in ("noise", "fixed"):
        scores = leakage["normalize"][mode]
        assert 0.0 <= scores["value_accuracy"] <= 1.0
        assert scores["value_chance"] == pytest.approx(0.5)
        assert np.isfinite(scores["value_r2"])
        assert 0.0 <= scores["field_accuracy"] <= 1.0
    # a 25x noise step in fixed flux scale is plain to see
    assert leakage["normalize"]["fixed"]["value_accuracy"] > 0.7
    for name in ("sweep.csv", "sweep.ecsv", "index.html", "count_mse.png"):
        assert (tmp_path / name).stat().st_size > 0
    done = sorted(tmp_path.glob("value_*/done.json"))
    stamps = [p.stat().st_mtime_ns for p in done]
    again = run_sweep(config, tmp_path, progress=False, quick=True)
    assert [p.stat().st_mtime_ns for p in done] == stamps  # finished values skipped
    assert np.allclose(np.asarray(again["count_mse"]), np.asarray(table["count_mse"]))


def test_sweep_config_errors(tmp_path):
    with pytest.raises(InputError, match="not a key of observation"):
        dataset_config_for(SweepConfig(dataset=DATASET, parameter="observation.hourz",
                                       values=[1, 2], checkpoint="x"), 1)  # fmt: skip
    with pytest.raises(InputError, match="not a dataset-config key"):
        dataset_config_for(SweepConfig(dataset=DATASET, parameter="nois", values=[1, 2],
                                       checkpoint="x"), 1)  # fmt: skip
    # settable keys of the pass-through sections are accepted
    ds = dataset_config_for(SweepConfig(dataset=DATASET, parameter="observation.hours",
                                        values=[1.0, 4.0], checkpoint="x"), 4.0)  # fmt: skip
    assert ds.observation["hours"] == 4.0
    # the morphology of the synthetic sources can be swept too
    ds = dataset_config_for(SweepConfig(dataset=DATASET, parameter="morphology.agn_compact_fraction",
                                        values=[0.1, 0.9], checkpoint="x"), 0.9)  # fmt: skip
    assert ds.morphology == {"agn_compact_fraction": 0.9}
    with pytest.raises(InputError, match="sfg_crossover_mjy"):
        dataset_config_for(SweepConfig(dataset=DATASET, parameter="morphology.agn_fraction",
                                       values=[0.1, 0.9], checkpoint="x"), 0.9)  # fmt: skip
    with pytest.raises(InputError, match="agn_compact_fraction"):
        dataset_config_for(SweepConfig(dataset=DATASET, parameter="morphology.agn_compact_fraction",
                                       values=[0.1, 1.5], checkpoint="x"), 1.5)  # fmt: skip
    with pytest.raises(InputError, match="checkpoint"):
        SweepConfig(dataset=DATASET, parameter="noise_rms_jy", values=[1e-6, 2e-6])
    path = tmp_path / "s.yaml"
    path.write_text("dataset: {n_fields: 2}\nparameter: noise_rms_jy\nvalues: [1.0e-6, 2.0e-6]\n"
                    "checkpoint: c.pth\nbogus: 1\n")  # fmt: skip
    with pytest.raises(InputError, match="bogus"):
        load_sweep_config(path)


def test_example_sweep_config_loads():
    from importlib import resources

    path = resources.files("meersim") / "data" / "example_sweep_noise.yaml"
    config = load_sweep_config(str(path))
    assert config.parameter == "noise_rms_jy" and len(config.values) == 3
    assert config.modes == ("noise", "fixed")
