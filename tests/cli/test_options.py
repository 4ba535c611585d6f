"""Shared CLI options: one device syntax, defaults taken from the library, one error line."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from meersim.clean import CleanConfig
from meersim.cli import COMMANDS, main
from meersim.cli.options import DeviceType, field_default
from meersim.imaging import Weighting
from meersim.observe import ObservationSetup


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:1", "CUDA:0"])
def test_device_accepts(name):
    assert DeviceType().convert(name, None, None) == name.lower()


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "mps"])
def test_device_rejects(name):
    with pytest.raises(click.BadParameter):
        DeviceType().convert(name, None, None)


def test_observe_and_clean_defaults_come_from_the_dataclasses():
    runner = CliRunner()
    observe_help = runner.invoke(main, ["observe", "--help"]).output
    clean_help = runner.invoke(main, ["clean", "--help"]).output
    params = {p.name: p.default for p in main.get_command(None, "observe").params}
    assert params["hours"] == field_default(ObservationSetup, "hours")
    assert params["robust"] == field_default(Weighting, "robust")
    assert params["dump_s"] == field_default(ObservationSetup, "dump_s")
    cparams = {p.name: p.default for p in main.get_command(None, "clean").params}
    assert cparams["gain"] == field_default(CleanConfig, "gain")
    assert cparams["niter"] == field_default(CleanConfig, "niter")
    assert "--progress / --no-progress" in observe_help and "--quiet" not in clean_help


def test_every_command_loads_and_uses_the_shared_progress_flag():
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "--quiet" not in result.output


def test_demo_accepts_cuda_n_syntax_and_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--device", "gpu", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "not auto, cpu, cuda or cuda:N" in result.output
    result = CliRunner().invoke(main, ["sky", "--catalog", str(tmp_path / "x"), "-o", "s.fits"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_python_m_ssl_train_is_the_train_command():
    out = subprocess.run([sys.executable, "-m", "meersim.ssl.train", "--help"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Train" in out.stdout and "--resume" in out.stdout
