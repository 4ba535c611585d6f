"""meersim.observe: MeerKAT layout, uv coverage, primary beam, thermal noise, visibilities."""

from meersim.observe.export import write_ms, write_uvh5
from meersim.observe.observe import observe, observe_fits
from meersim.observe.products import load_observation, save_observation
from meersim.observe.telescope import load_array
from meersim.observe.uvcoverage import ObservationSetup

__all__ = [
    "ObservationSetup",
    "load_array",
    "load_observation",
    "observe",
    "observe_fits",
    "save_observation",
    "write_ms",
    "write_uvh5",
]
