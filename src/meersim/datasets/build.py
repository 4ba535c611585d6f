"""Build a simulated crop dataset: fields computed inline or on dask, appended in order.

Fields run inline (``workers <= 1``) or on dask.distributed; the driver stages each
finished field and appends fields to the store in field order
(:class:`meersim.datasets.field_writer.FieldWriter`), so an interrupted build resumes
where it stopped and the result does not depend on the worker count.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from tqdm.auto import tqdm

from meersim.config import to_dict
from meersim.datasets.config import DatasetConfig, load_config
from meersim.datasets.field_writer import FieldResult, open_field_writer
from meersim.datasets.fields import simulate_field
from meersim.datasets.pybdsf import REPORT, store_report
from meersim.datasets.store import open_store
from meersim.datasets.store_files import check_output, store_lock
from meersim.errors import InputError

# seconds to wait for a dask scheduler before --scheduler fails
SCHEDULER_TIMEOUT_S = 5.0


def _config_record(config: DatasetConfig) -> dict:
    """The config as the manifest keeps it. An empty ``rare`` section is left out, so a
    store begun before that section existed still resumes (its config compares equal)."""
    record = to_dict(config)
    if not record.get("rare"):
        record.pop("rare", None)
    # the fast section exists only in mode fast; the device does not change the result
    fast = record.pop("fast", None)
    if config.mode == "fast":
        record["fast"] = {k: v for k, v in fast.items() if k != "device"}
    return record


def _manifest_for(config: DatasetConfig) -> dict:
    return {
        "kind": "simulated",
        "config": _config_record(config),
        "seed": config.seed,
        "seeds": {
            "master": config.seed,
            "field_seeds": "SeedSequence(master, spawn_key=(field_id,)).spawn(4) -> "
            "params, catalog, observe, clean",
        },
        "stride": config.crops.stride,
        "max_nan": config.crops.max_nan,
        "mode": config.mode,
    }


def build_dataset(
    config: DatasetConfig,
    output,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_field: Callable[[int], None] | None = None,
):
    """Build (or resume) a simulated dataset in ``output``; returns its :class:`CropStore`.

    Parameters
    ----------
    workers : int
        Fields computed in parallel on a local dask cluster (one process and one
        thread each); 0 or 1 runs inline without dask.
    scheduler : str, optional
        Address of an existing dask scheduler (``tcp://host:8786``); overrides ``workers``.
    overwrite : bool
        Start again even if ``output`` holds a (partial) dataset of another config
        (only the store's own files are removed; a folder that is not a store is never
        emptied, the store then goes beside its files).

    A second build on the same ``output`` is refused while this one runs (lock), and a
    build that ends with 0 crops is an error.
    on_field : callable, optional
        Called with each field id once it is staged (safe on disk).
    """
    output = Path(output)
    check_output(output, overwrite)  # before the lock file goes into a foreign folder
    client = connect_scheduler(scheduler) if scheduler is not None else None
    try:
        with store_lock(output):
            _build_locked(config, output, workers, client, overwrite, progress, on_field)
    finally:
        if client is not None:
            client.close()
    store = open_store(output)
    if store.n_crops == 0:
        raise InputError(
            str(output), "crops",
            f"0 crops: no {config.crops.size}-pixel crop fits in the fields, or every crop was "
            f"blanked beyond max_nan {config.crops.max_nan}.",
            "Use field.npix >= crops.size, a smaller crops.size, a lower crops.pb_cut or a "
            "higher crops.max_nan (then --overwrite).",
        )  # fmt: skip
    return store


def connect_scheduler(address: str, timeout_s: float = SCHEDULER_TIMEOUT_S):
    """A dask ``Client`` of the scheduler at ``address``; InputError within ``timeout_s`` (s) if none answers."""
    from dask.distributed import Client  # only when distributing

    try:
        return Client(str(address), timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            "meersim dataset", "--scheduler",
            f"no dask scheduler answered at {address!r} within {timeout_s:g} s ({reason[:160]}).",
            "Start one (dask scheduler; dask worker ADDRESS) and pass its tcp://host:port, "
            "or use --workers N for a local cluster.",
        ) from None  # fmt: skip


def _build_locked(config, output, workers, client, overwrite, progress, on_field) -> None:
    """The build itself, under the store's write lock."""
    writer = open_field_writer(
        output,
        list(config.products),
        (config.crops.size, config.crops.size),
        config.n_fields,
        _manifest_for(config),
        resume=not overwrite,
    )
    todo = writer.todo()
    done = config.n_fields - len(todo)
    bar = tqdm(
        total=config.n_fields, initial=done, desc="fields", unit="field", disable=not progress
    )
    n_crops = int(writer.manifest["n_crops"])
    bar.set_postfix(crops=n_crops)

    def accept(result: FieldResult) -> None:
        nonlocal n_crops
        writer.stage(result)
        writer.flush()
        n_crops += len(result.truth)
        bar.update(1)
        bar.set_postfix(crops=n_crops)
        if on_field is not None:
            on_field(result.field_id)

    try:
        if todo and client is None and workers <= 1:
            for fid in todo:
                accept(simulate_field(config, fid))
        elif todo:
            _run_distributed(config, todo, workers, client, accept)
    finally:
        bar.close()
    writer.finalize()
    if config.pybdsf.enabled and not (output / REPORT).exists():
        store_report(open_store(output))


def _run_distributed(config, todo, workers, client, accept) -> None:
    """Fields on ``client``'s cluster, or on a local cluster of ``workers`` processes."""
    from dask.distributed import Client, LocalCluster, as_completed  # only when distributing

    cluster = None
    if client is None:
        # each worker process computes one field at a time with threads_per_field threads
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        cluster = LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        futures = [
            client.submit(simulate_field, config, fid, key=f"meersim-field-{fid}", pure=False)
            for fid in todo
        ]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            accept(result)
    finally:
        if cluster is not None:
            client.close()
            cluster.close()


def build_from_yaml(path, output, **kwargs):
    """:func:`build_dataset` for a YAML config file (``seed`` kwarg overrides the file's)."""
    config = load_config(path)
    seed = kwargs.pop("seed", None)
    if seed is not None:
        config.seed = int(seed)
    device = kwargs.pop("device", None)
    if device is not None:
        if config.mode != "fast":
            raise InputError(str(path), "--device", f"only mode fast runs on a device; this "
                             f"config has mode {config.mode!r}.",
                             "Drop --device, or set mode: fast.")  # fmt: skip
        config.fast = dataclasses.replace(config.fast, device=device)
    return build_dataset(config, output, **kwargs)


def example_config_path() -> Path:
    """The shipped MGCLS-like example config."""
    return Path(str(resources.files("meersim") / "data" / "example_mgcls_small.yaml"))
