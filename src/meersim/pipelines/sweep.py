"""Controlled sweeps: change one dataset parameter, keep everything else, measure the embedding.

For each value of the swept parameter (``noise_rms_jy``, ``observation.hours``,
``weighting.robust``, ``field.cell_arcsec``, ...) the dataset is rebuilt from the same
config and seed (so the same catalogs and pointings), embedded with one model (or a
model trained on that dataset), and evaluated against its truth. Then the embeddings
of all values are pooled to measure *nuisance leakage*: how well a linear probe
recovers the swept parameter (splits grouped by field, so the test skies are unseen)
and the field id (random splits) from the embedding alone. The seed study found that
MGCLS crops cluster by the sensitivity of their observation (Lastufka et al. 2024,
A&A 690, A310); a leakage score well above chance is that effect.

``normalize`` chooses the input scaling of the embedding:

- ``noise``: the training normalisation of :func:`meersim.ssl.embed.embed`, each crop
  divided by its own robust rms (1.4826 MAD) -- the noise level is divided out;
- ``fixed``: the same stretch, but every crop divided by one reference rms (the median
  crop rms of the first swept value, Jy/beam), so noise differences stay visible;
- ``both``: the two, side by side.

Outputs in ``out_dir``: ``sweep.ecsv`` and ``sweep.csv`` (one row per value and
normalisation), ``leakage.json``, ``<metric>.png`` per metric, ``index.html``, and one
directory per value (dataset, embeddings, metrics) so a re-run skips finished values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from sklearn.model_selection import StratifiedKFold

from meersim.catalogs.synthetic import MorphologyModel
from meersim.clean.config import CleanConfig
from meersim.config import from_dict, load_yaml, to_dict
from meersim.datasets.build import build_dataset
from meersim.datasets.config import (
    RESERVED_SETUP_KEYS,
    DatasetConfig,
    draw_field_params,
    validate,
)
from meersim.datasets.embeddings import check_pairing, load_embeddings
from meersim.errors import InputError
from meersim.eval import pages
from meersim.eval.baselines import raw_pixel_pca
from meersim.eval.metrics import EvalConfig, evaluate
from meersim.eval.plotting import new_figure, save_figure
from meersim.eval.probes import (
    Split,
    fit_predict_classification,
    fit_predict_regression,
    make_splits,
    out_of_fold,
    regression_scores,
)
from meersim.io import atomic_write, make_dirs, write_ecsv, write_json, write_text
from meersim.observe.uvcoverage import ObservationSetup
from meersim.ssl.embed import embed
from meersim.ssl.train import TrainConfig, train

NORMALIZE_MODES = ("noise", "fixed")
# metric -> (column in sweep.ecsv, label); better direction as in evaluate.METRIC_INFO
ROW_METRICS = (
    "count_mse",
    "count_r2",
    "log_flux_r2",
    "log_rms_r2",
    "class_accuracy",
    "class_macro_f1",
    "knn_class_accuracy",
    "precision_at_k_count",
    "precision_at_k_class",
)
SECTIONS_FREE = ("observation", "weighting", "clean", "morphology")


@dataclass
class SweepConfig:
    """A one-parameter sweep (``meersim sweep --config sweep.yaml``).

    dataset : dataset config: a YAML path (relative to the sweep file) or an inline mapping
        of :class:`meersim.datasets.build.DatasetConfig`.
    parameter : dotted key of the dataset config to sweep (``noise_rms_jy`` in Jy/beam,
        ``observation.hours``, ``weighting.robust``, ``field.cell_arcsec`` in arcsec,
        ``field.flux_max_jy``, ``crops.size``, ``morphology.agn_compact_fraction``, ...).
    values : the values to set it to (each a plain value).
    checkpoint : DINO checkpoint used to embed every value; or
    train : false, true (TrainConfig defaults) or a TrainConfig mapping: train one model
        per value on that value's dataset (``data`` is set per value).
    normalize : ``noise``, ``fixed`` or ``both`` (see the module docstring).
    product : product to embed (default: the model's).
    seed : seed of the probes and splits (the dataset keeps its own seed).
    eval : :class:`meersim.eval.metrics.EvalConfig` keys.
    batch_size : embedding batch. device : ``cpu``/``cuda`` (default auto).
    """

    dataset: Any = None
    parameter: str = ""
    values: list = field(default_factory=list)
    checkpoint: str | None = None
    train: Any = False
    normalize: str = "noise"
    product: str | None = None
    seed: int = 0
    eval: dict = field(default_factory=dict)
    batch_size: int = 64
    device: str | None = None

    def __post_init__(self):
        src = "sweep config"
        if self.dataset is None:
            raise InputError(src, "dataset", "is missing.", "Give a dataset YAML path or mapping.")
        if not isinstance(self.values, list) or len(self.values) < 2:
            raise InputError(src, "values", f"{self.values!r}: need a list of >= 2 values.")
        if len({json.dumps(v, sort_keys=True) for v in self.values}) != len(self.values):
            raise InputError(src, "values", "contain duplicates.")
        if self.normalize not in (*NORMALIZE_MODES, "both"):
            raise InputError(src, "normalize", f"{self.normalize!r}", "Use noise, fixed or both.")
        if not (self.checkpoint or self.train):
            raise InputError(src, "checkpoint", "missing.", "Give a checkpoint or `train: true`.")
        if self.checkpoint and self.train:
            raise InputError(src, "train", "given together with checkpoint.", "Choose one.")
        if not isinstance(self.train, (bool, dict)):
            raise InputError(src, "train", f"{self.train!r}", "Use true/false or a mapping.")

    @property
    def modes(self) -> tuple[str, ...]:
        return NORMALIZE_MODES if self.normalize == "both" else (self.normalize,)


def load_sweep_config(path, **overrides) -> SweepConfig:
    """Read a sweep YAML (strict keys); a relative dataset/checkpoint path is taken
    relative to the YAML file."""
    data = load_yaml(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    base = Path(path).parent
    for key in ("dataset", "checkpoint"):
        value = data.get(key)
        if isinstance(value, str) and not Path(value).is_absolute() and (base / value).exists():
            data[key] = str(base / value)
    config = from_dict(SweepConfig, data, str(path))
    dataset_config_for(config, config.values[0], str(path))  # validates the key and values
    return config


# ----------------------------------------------------------------------------------
# dataset configs per value
# ----------------------------------------------------------------------------------
def _base_mapping(config: SweepConfig, source: str) -> dict:
    if isinstance(config.dataset, (str, Path)):
        path = Path(config.dataset)
        if not path.exists():
            raise InputError(source, "dataset", f"{path} not found.", "Give a dataset YAML.")
        raw = load_yaml(path)
        where = str(path)
    elif isinstance(config.dataset, dict):
        raw, where = dict(config.dataset), f"{source}: dataset"
    else:
        raise InputError(source, "dataset", f"{config.dataset!r}", "Use a path or a mapping.")
    return to_dict(from_dict(DatasetConfig, raw, where))


def _settable_keys(section: str) -> set[str]:
    if section == "observation":
        return {f.name for f in dataclasses.fields(ObservationSetup)} - set(RESERVED_SETUP_KEYS)
    if section == "weighting":
        return {"scheme", "robust"}
    if section == "morphology":
        return {f.name for f in dataclasses.fields(MorphologyModel)}
    return {f.name for f in dataclasses.fields(CleanConfig)}


def set_dotted(mapping: dict, key: str, value, source: str = "sweep config") -> dict:
    """Copy of the full dataset-config mapping with ``key`` (``a.b``) set to ``value``."""
    out = json.loads(json.dumps(mapping))
    parts = key.split(".") if key else []
    if not parts or parts[0] not in out:
        raise InputError(
            source, "parameter", f"{key!r} is not a dataset-config key.",
            f"Use one of {', '.join(sorted(out))} (dotted into sections, e.g. observation.hours).",
        )  # fmt: skip
    node = out
    for i, part in enumerate(parts[:-1]):
        node = node[part]
        if not isinstance(node, dict):
            raise InputError(source, "parameter", f"{'.'.join(parts[: i + 1])} is not a section.")
    last = parts[-1]
    if len(parts) > 1 and last not in node:
        section = parts[0]
        if len(parts) != 2 or section not in SECTIONS_FREE or last not in _settable_keys(section):
            choices = (
                sorted(node) if section not in SECTIONS_FREE else sorted(_settable_keys(section))
            )
            raise InputError(
                source, "parameter", f"{key!r}: {last!r} is not a key of {section}.",
                f"Use one of {', '.join(choices)}.",
            )  # fmt: skip
    node[last] = value
    return out


def dataset_config_for(config: SweepConfig, value, source: str = "sweep config"):
    """The :class:`DatasetConfig` of one swept value (validated)."""
    mapping = set_dotted(_base_mapping(config, source), config.parameter, value, source)
    where = f"{source}: dataset with {config.parameter}={value!r}"
    ds = from_dict(DatasetConfig, mapping, where)
    validate(ds, where)
    return ds


def quick_dataset(ds):
    """A much smaller copy of a dataset config for tests (<= 3 fields of <= 160 px, 32-px crops)."""
    ds = dataclasses.replace(ds)
    ds.n_fields = min(ds.n_fields, 3)
    ds.field = dataclasses.replace(ds.field)
    if not isinstance(ds.field.npix, dict):
        ds.field.npix = min(int(ds.field.npix), 160)
    ds.crops = dataclasses.replace(ds.crops, size=min(ds.crops.size, 32))
    ds.crops.stride = ds.crops.size
    ds.crops.psf_size = min(ds.crops.psf_size, 32)
    ds.observation = {**ds.observation, "nchan": 1}
    if "dump_s" not in ds.observation:
        ds.observation["dump_s"] = 900.0
    ds.clean = {**ds.clean, "niter": min(int(ds.clean.get("niter", 300)), 300)}
    return ds


def _nuisance_params(ds, field_id: int, parameter: str) -> str:
    """JSON of every drawn parameter of a field except the swept one (for the sameness check)."""
    params = draw_field_params(ds, field_id)
    params.pop("varied")
    section, _, key = parameter.partition(".")
    if key and isinstance(params.get(section), dict):
        params[section].pop(key, None)
    else:
        params.pop(section, None)
    return json.dumps(params, sort_keys=True, default=str)


def check_fixed(configs: list, parameter: str) -> None:
    """Raise unless every field draws the same values for all parameters but the swept one.

    A distribution in the swept slot of the base config is replaced by a fixed value, which
    shifts the random draws of the parameters after it; this catches that.
    """
    ref = configs[0]
    for ds in configs[1:]:
        for fid in range(ref.n_fields):
            if _nuisance_params(ds, fid, parameter) != _nuisance_params(ref, fid, parameter):
                raise InputError(
                    "sweep config", "parameter",
                    f"setting {parameter} changes the other drawn parameters of field {fid}.",
                    "Make the swept key a fixed value in the base dataset config.",
                )  # fmt: skip


def catalog_fingerprint(store) -> str:
    """Hash of the source truth catalog (RA, Dec, flux rounded) of a dataset."""
    sources = store.sources
    if sources is None or len(sources) == 0:
        return "empty"
    cols = [c for c in ("ra", "dec", "flux") if c in sources.colnames]
    arr = np.stack([np.round(np.asarray(sources[c], float), 9) for c in cols], axis=1)
    arr = arr[np.lexsort(arr.T[::-1])]
    return hashlib.sha1(arr.tobytes()).hexdigest()[:16]


# ----------------------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------------------
def _label(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return "".join(c if c.isalnum() or c in ".-+" else "_" for c in text)[:40]


def _numeric(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def run_sweep(config: SweepConfig, out_dir, progress: bool = True, quick: bool = False,
              train_overrides: dict | None = None) -> Table:  # fmt: skip
    """Run (or resume) a sweep; returns the table written to ``out_dir/sweep.ecsv``.

    One row per (value, normalisation): the swept value, crops, mean noise rms
    (Jy/beam), the catalog fingerprint and the truth metrics of :data:`ROW_METRICS`
    (model embedding; ``raw_`` columns: raw-pixel PCA of the same crops).
    ``quick`` shrinks the datasets (and training) for tests.
    """
    out = Path(out_dir)
    make_dirs(out)
    t0 = time.time()
    eval_cfg = from_dict(EvalConfig, config.eval, "sweep config: eval")
    datasets = [dataset_config_for(config, v) for v in config.values]
    if quick:
        datasets = [quick_dataset(ds) for ds in datasets]
    check_fixed(datasets, config.parameter)
    write_text(out / "sweep_config.json", json.dumps(to_dict(config), indent=1, default=str))
    rows, pooled, reference_scale = [], {m: [] for m in config.modes}, None
    for index, (value, ds) in enumerate(zip(config.values, datasets, strict=True)):
        vdir = out / f"value_{index:02d}_{_label(value)}"
        vdir.mkdir(exist_ok=True)
        if progress:
            print(
                f"[sweep {index + 1}/{len(config.values)}] {config.parameter} = {value!r}",
                flush=True,
            )
        done_path = vdir / "done.json"
        done = json.loads(done_path.read_text()) if done_path.exists() else None
        store_path = vdir / "dataset"
        store = build_dataset(ds, store_path, progress=progress)
        checkpoint = config.checkpoint
        if config.train:
            mapping = dict(config.train) if isinstance(config.train, dict) else {}
            mapping.update(train_overrides or {})
            mapping["data"] = str(store_path)
            if quick:
                mapping["epochs"] = 1
            tcfg = from_dict(TrainConfig, mapping, "sweep config: train")
            checkpoint = vdir / "train" / "checkpoint.pth"
            if done is None:
                again = checkpoint.is_file()  # the sweep owns vdir
                checkpoint = train(tcfg, vdir / "train", resume=again, overwrite=not again,
                                   progress=progress)  # fmt: skip
        if reference_scale is None:
            reference_scale = float(np.median(np.asarray(store.truth["crop_rms"], float)))
        if done is None:
            done = {"rows": {}, "catalog": catalog_fingerprint(store)}
            for mode in config.modes:
                edir = vdir / f"embeddings_{mode}"
                if mode == "noise":
                    embed(checkpoint, store_path, edir, batch_size=config.batch_size,
                          products=config.product, device=config.device, progress=progress)  # fmt: skip
                else:
                    embed(checkpoint, store_path, edir, batch_size=config.batch_size,
                          products=config.product, device=config.device, progress=progress,
                          scale_jy=reference_scale)  # fmt: skip
                emb = load_embeddings(edir)
                check_pairing(emb, store, str(edir))
                truth = store.truth[np.asarray(emb.crop_ids, np.int64)]
                product = (emb.meta.get("products") or ["restored"])[0]
                raw = raw_pixel_pca(
                    store, emb.crop_ids, product, emb.vectors.shape[1], 32, config.seed
                )
                result = evaluate(emb.vectors, truth, {"raw_pca": raw}, config.seed, eval_cfg)
                result.pop("predictions")
                write_json(vdir / f"metrics_{mode}.json", result)
                done["rows"][mode] = {
                    "n_crops": len(truth),
                    "mean_noise_rms": float(np.mean(np.asarray(truth["noise_rms"], float))),
                    **{m: result["metrics"].get(m, {}).get("model") for m in ROW_METRICS},
                    **{
                        f"raw_{m}": result["metrics"].get(m, {}).get("raw_pca") for m in ROW_METRICS
                    },
                }
            write_json(done_path, done)
        for mode in config.modes:
            row = {"parameter": config.parameter, "value": _numeric(value),
                   "value_label": str(value), "normalize": mode,
                   "catalog": done["catalog"], **done["rows"][mode]}  # fmt: skip
            rows.append(row)
            emb = load_embeddings(vdir / f"embeddings_{mode}")
            check_pairing(emb, store, str(vdir / f"embeddings_{mode}"))
            truth = store.truth[np.asarray(emb.crop_ids, np.int64)]
            pooled[mode].append((index, emb.vectors, np.asarray(truth["field_id"])))
    table = Table(rows=[{k: (np.nan if v is None else v) for k, v in r.items()} for r in rows])
    table.meta = {"parameter": config.parameter, "values": [str(v) for v in config.values]}
    write_ecsv(table, out / "sweep.ecsv")
    with atomic_write(out / "sweep.csv", "w") as fh:
        table.write(fh, format="ascii.csv")
    leakage = {mode: leakage_scores(pooled[mode], config.values, config.seed, eval_cfg)
               for mode in config.modes}  # fmt: skip
    catalogs = sorted(set(table["catalog"]))
    leak = {"parameter": config.parameter, "values": config.values, "normalize": leakage,
            "same_catalogs": len(catalogs) == 1,
            "note": "same_catalogs is expected to be false only when the sweep changes the "
                    "field geometry (field.npix, field.cell_arcsec, crops.*, flux limits) or "
                    "the source population (morphology.*)."}  # fmt: skip
    write_json(out / "leakage.json", leak)
    figures = plot_sweep(table, out, config.parameter)
    write_sweep_html(table, leak, figures, out / "index.html", time.time() - t0)
    if progress:
        print(f"sweep report: {out / 'index.html'}", flush=True)
    return table


def leakage_scores(pooled, values, seed: int, cfg) -> dict:
    """Probe the pooled embeddings for the swept parameter and the field id.

    ``pooled``: [(value_index, vectors [N, D], field_ids [N])]. Returns R^2 of a linear
    probe of the (numeric) value with folds grouped by field (unseen skies), accuracy
    of a logistic probe of the value index (chance 1/len(values)), and accuracy of the
    field id with random stratified folds (chance: the largest field's share).
    """
    x = np.concatenate([v for _, v, _ in pooled]).astype(np.float64)
    value_index = np.concatenate([np.full(len(v), i) for i, v, _ in pooled])
    fields = np.concatenate([f for _, _, f in pooled])
    numeric = np.array([_numeric(values[i]) for i in value_index])
    folds, note = make_splits(fields, cfg.n_folds, seed)
    kw = {"n_components": cfg.n_components, "cap": cfg.pca_cap, "seed": seed}
    out = {"n_crops": int(len(x)), "split_note": note}
    if np.all(np.isfinite(numeric)):
        target = np.log10(numeric) if np.all(numeric > 0) else numeric
        pred = out_of_fold(fit_predict_regression, folds, len(x), features=x, target=target,
                           alpha=cfg.ridge_alpha, **kw)  # fmt: skip
        out["value_r2"] = regression_scores(target, pred)["r2"]
        out["value_target"] = "log10(value)" if np.all(numeric > 0) else "value"
    pred = out_of_fold(fit_predict_classification, folds, len(x), dtype=value_index.dtype,
                       features=x, labels=value_index, C=cfg.logistic_C, **kw)  # fmt: skip
    out["value_accuracy"] = float(np.mean(pred == value_index))
    out["value_chance"] = float(np.max(np.bincount(value_index)) / len(value_index))
    n_splits = int(min(cfg.n_folds, np.min(np.unique(fields, return_counts=True)[1])))
    if np.unique(fields).size >= 2 and n_splits >= 2:
        skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        random_folds = [Split(tr, te, False) for tr, te in skf.split(x, fields)]
        pred = out_of_fold(fit_predict_classification, random_folds, len(x), dtype=fields.dtype,
                           features=x, labels=fields, C=cfg.logistic_C, **kw)  # fmt: skip
        out["field_accuracy"] = float(np.mean(pred == fields))
        out["field_chance"] = float(np.max(np.bincount(fields)) / len(fields))
    return out


def plot_sweep(table: Table, out_dir: Path, parameter: str, dpi: int = 100) -> list[str]:
    """One PNG per metric versus the swept value (a line per normalisation, dashed: raw PCA)."""
    x = np.asarray(table["value"], float)
    numeric = np.all(np.isfinite(x))
    names = []
    for metric in ("count_mse", "count_r2", "log_flux_r2", "class_accuracy", "knn_class_accuracy",
                   "precision_at_k_count"):  # fmt: skip
        if metric not in table.colnames or not np.any(
            np.isfinite(np.asarray(table[metric], float))
        ):
            continue
        fig, ax = new_figure((5, 3.5), dpi=dpi, squeeze=True)
        for mode in sorted(set(table["normalize"])):
            sel = np.asarray(table["normalize"]) == mode
            xs = x[sel] if numeric else np.arange(sel.sum())
            ax.plot(xs, np.asarray(table[metric][sel], float), "o-", label=f"model ({mode})")
            if f"raw_{metric}" in table.colnames and mode == table["normalize"][0]:
                ax.plot(xs, np.asarray(table[f"raw_{metric}"][sel], float), "s--", color="grey",
                        label="raw-pixel PCA")  # fmt: skip
        if not numeric:
            ax.set_xticks(np.arange(len(set(table["value_label"]))))
            ax.set_xticklabels(list(dict.fromkeys(table["value_label"])))
        ax.set_xlabel(parameter)
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"{metric}.png"
        save_figure(fig, out_dir / name)
        names.append(name)
    return names


def write_sweep_html(table: Table, leakage: dict, figures: list[str], path: Path, seconds: float):
    """The sweep's index.html: table, leakage and plots."""
    cols = ["value_label", "normalize", "n_crops", "mean_noise_rms", *ROW_METRICS]
    cols = [c for c in cols if c in table.colnames]
    rows = [[pages.fmt(r[c]) for c in cols] for r in table]
    leak_rows = [
        [
            pages.esc(mode),
            pages.fmt(s.get("value_r2")),
            f"{pages.fmt(s['value_accuracy'])} (chance {pages.fmt(s['value_chance'])})",
            f"{pages.fmt(s.get('field_accuracy'))} (chance {pages.fmt(s.get('field_chance'))})",
        ]
        for mode, s in leakage["normalize"].items()
    ]
    parameter = pages.esc(leakage["parameter"])
    body = (
        "<p>Everything but the swept parameter is fixed (same seed; same catalogs: "
        f"{leakage['same_catalogs']}). Metrics: linear/logistic probes with folds grouped by "
        f"field (see metrics_*.json per value). {seconds:.0f} s.</p>"
        + pages.table(cols, rows)
        + "<h2>Nuisance leakage (all values pooled)</h2><p>How well the embedding alone tells "
        "the swept value (R&sup2; with unseen fields; accuracy) and the field a crop came from "
        "(random folds). Near chance = no leakage.</p>"
        + pages.table(["normalize", "value R²", "value accuracy", "field accuracy"], leak_rows)
        + f"<h2>Metrics versus {parameter}</h2>"
        + pages.figures([(f, f) for f in figures])
        + '<p><a href="sweep.csv">sweep.csv</a> &middot; <a href="leakage.json">leakage.json</a></p>'
    )
    return pages.write_page(path, f"Sweep of {leakage['parameter']}", body)
