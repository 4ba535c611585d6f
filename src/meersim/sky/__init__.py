"""meersim.sky: render a canonical catalog onto a SIN image grid (Jy/pixel)."""

from meersim.sky.render import (
    band_channels,
    check_sky_values,
    default_grid,
    read_sky,
    render_sky,
    render_to_fits,
)

__all__ = [
    "band_channels",
    "check_sky_values",
    "default_grid",
    "read_sky",
    "render_sky",
    "render_to_fits",
]
