"""Clark (1980, A&A 89, 377) minor iterations: the PSF's central patch and a tiled peak search.

A Högbom iteration on the active set (:func:`meersim.clean.minor.hogbom_active_set`)
subtracts only :class:`PsfPatch` from the tracked pixels its patch covers; the tracked
pixels sit in square tiles that keep their own peak, so an iteration costs the tiles
under its patch, not the active set. The caller's FFT update with the whole PSF makes
the residual exact after each round (docs/clean.md, "Högbom minor cycle").
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

# Clark (1980) minor iterations subtract only the PSF's central patch, this many clean-beam
# FWHM in half-width (at least CLARK_MIN_RADIUS px): the main lobe and near sidelobes.
CLARK_PATCH_BEAMS = 6.0
CLARK_MIN_RADIUS = 16
# Tracked pixels are bucketed in tiles of this many pixels a side; an iteration updates
# the tiles its patch overlaps and keeps each tile's peak.
CLARK_TILE = 32


@dataclass
class PsfPatch:
    """The central part of a [2 ny, 2 nx] PSF for Clark minor iterations.

    values : float32 [2 r + 1, 2 r + 1], origin at (r, r).
    exterior : the largest |PSF| outside the patch (in units of the PSF peak, 1).
    """

    radius: int
    values: np.ndarray
    exterior: float

    @classmethod
    def from_psf(cls, psf: np.ndarray, fwhm_px: float) -> PsfPatch:
        """Patch of half-width ``CLARK_PATCH_BEAMS`` x ``fwhm_px`` (clean-beam FWHM, px)."""
        cy, cx = psf.shape[0] // 2, psf.shape[1] // 2
        r = int(max(CLARK_MIN_RADIUS, np.ceil(CLARK_PATCH_BEAMS * fwhm_px)))
        r = min(r, cy - 1, cx - 1)
        values = np.ascontiguousarray(psf[cy - r : cy + r + 1, cx - r : cx + r + 1],
                                      dtype=np.float32)  # fmt: skip
        magnitude = np.abs(psf)
        exterior = max(
            float(magnitude[: cy - r].max(initial=0.0)),
            float(magnitude[cy + r + 1 :].max(initial=0.0)),
            float(magnitude[cy - r : cy + r + 1, : cx - r].max(initial=0.0)),
            float(magnitude[cy - r : cy + r + 1, cx + r + 1 :].max(initial=0.0)),
        )
        return cls(r, values, exterior)


@numba.njit(cache=True, nogil=True, inline="always")
def _best_tile(tile_peak, tile_arg):
    """The largest tile peak and its candidate (the first tile wins ties)."""
    best, k = -1.0, 0
    for t in range(tile_peak.size):
        if tile_peak[t] > best:
            best = tile_peak[t]
            k = tile_arg[t]
    return best, k


@numba.njit(cache=True, nogil=True, fastmath=False)
def clark_iterations(values, cy, cx, tile_start, tiles_x, tile, patch, radius, stop_level, gain,
                  found, fluxes, max_iter):  # fmt: skip
    """Compiled Clark loop; returns (iterations, peak |value| left).

    ``values`` (Jy/beam) are sorted by tile (``tile_start`` [n_tiles + 1] bounds each
    tile's run) and updated in place; a component at candidate k subtracts
    ``patch[dy + r, dx + r]`` from the candidates within ``radius`` px of it, then
    the peaks of the tiles it touched are recomputed.
    """
    n_tiles = tile_start.size - 1
    tile_peak = np.full(n_tiles, -1.0)
    tile_arg = np.zeros(n_tiles, np.int64)
    for t in range(n_tiles):
        for j in range(tile_start[t], tile_start[t + 1]):
            a = abs(values[j])
            if a > tile_peak[t]:
                tile_peak[t] = a
                tile_arg[t] = j
    tiles_y = n_tiles // tiles_x
    best, k = _best_tile(tile_peak, tile_arg)
    done = 0
    while done < max_iter and best >= stop_level:
        flux = gain * values[k]
        found[done] = k
        fluxes[done] = flux
        done += 1
        py, px = cy[k], cx[k]
        for ty in range(max(py - radius, 0) // tile, min((py + radius) // tile, tiles_y - 1) + 1):
            for tx in range(max(px - radius, 0) // tile,
                            min((px + radius) // tile, tiles_x - 1) + 1):  # fmt: skip
                t = ty * tiles_x + tx
                peak, arg = -1.0, tile_start[t]
                for j in range(tile_start[t], tile_start[t + 1]):
                    dy = cy[j] - py
                    dx = cx[j] - px
                    if -radius <= dy <= radius and -radius <= dx <= radius:
                        values[j] -= flux * patch[dy + radius, dx + radius]
                    a = abs(values[j])
                    if a > peak:
                        peak = a
                        arg = j
                tile_peak[t] = peak
                tile_arg[t] = arg
        best, k = _best_tile(tile_peak, tile_arg)
    return done, best
