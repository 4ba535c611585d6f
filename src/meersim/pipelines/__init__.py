"""meersim.pipelines: runs that drive every stage (the demo, one-parameter sweeps)."""

from meersim.pipelines.demo import run_demo
from meersim.pipelines.sweep import SweepConfig, load_sweep_config, run_sweep

__all__ = ["SweepConfig", "load_sweep_config", "run_demo", "run_sweep"]
