"""``meersim sweep`` and ``meersim demo``."""

from __future__ import annotations

import click

from meersim.cli.options import (
    argument_default,
    config_option,
    device_option,
    output_option,
    progress_option,
    seed_option,
)
from meersim.pipelines import load_sweep_config, run_demo, run_sweep


@click.command("sweep")
@config_option("Sweep YAML (dataset, parameter, values, checkpoint or train).", required=True)
@output_option("dir", help="Sweep directory (resumable: finished values are skipped).")
@click.option("--quick", is_flag=True, help="Shrink datasets and training (tests, smoke runs).")
@device_option()
@progress_option()
def sweep(config_path, output, quick, device, progress):
    """Sweep one dataset parameter (e.g. noise_rms_jy in Jy/beam) and measure the embedding."""
    config = load_sweep_config(config_path, device=device)
    table = run_sweep(config, output, progress=progress, quick=quick)
    cols = [c for c in ("value_label", "normalize", "n_crops", "count_mse", "count_r2",
                        "class_accuracy") if c in table.colnames]  # fmt: skip
    click.echo("  ".join(cols))
    for row in table:
        click.echo("  ".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                             for c in cols))  # fmt: skip
    click.echo(f"wrote {output}/sweep.ecsv, leakage.json, index.html")


@click.command("demo")
@output_option("dir", default=argument_default(run_demo, "out_dir"),
               help="Demo directory (resumable).")  # fmt: skip
@click.option("--quick", is_flag=True, help="A much smaller run (under a minute).")
@seed_option(argument_default(run_demo, "seed"), help="Seed of every step.")
@device_option()
@progress_option()
def demo(output, quick, seed, device, progress):
    """Catalog -> dataset -> SSL -> embeddings -> evaluation -> noise sweep -> report."""
    run_demo(output, quick=quick, seed=seed, device=device, progress=progress)
