"""The image grid: pixel size, phase centre, frequencies and the SIN-projected WCS.

Conventions (docs/architecture.md §2):

* Arrays are indexed ``[chan, y, x]``; x runs along RA, y along Dec.
* The phase centre sits on the 0-based pixel ``(npix_x // 2, npix_y // 2)``
  (FITS CRPIX = npix // 2 + 1), which is also where ducc0's wgridder puts
  l = m = 0 (pixel i sits at ``(i - n/2) * pixsize``).
* CDELT1 < 0 so east is left. For SIN the direction cosines are linear in
  pixels: ``l = -(x - npix_x//2) * cell``, ``m = (y - npix_y//2) * cell``
  (Calabretta & Greisen 2002, A&A 395, 1077, §5.1.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.wcs import WCS

from meersim.errors import InputError

ARCSEC_TO_RAD = np.pi / (180.0 * 3600.0)
L_BAND_CENTRE_HZ = 1.284e9


@dataclass(frozen=True)
class Grid:
    """A SIN-projected image grid.

    Parameters
    ----------
    npix_x, npix_y : int
        Image size in pixels along RA (x) and Dec (y).
    cell_arcsec : float
        Pixel size in arcsec (square pixels).
    ra_deg, dec_deg : float
        Phase centre (deg, ICRS).
    freqs_hz : tuple of float
        Channel centre frequencies in Hz.
    """

    npix_x: int
    npix_y: int
    cell_arcsec: float
    ra_deg: float
    dec_deg: float
    freqs_hz: tuple[float, ...] = field(default=(L_BAND_CENTRE_HZ,))

    def __post_init__(self):
        object.__setattr__(self, "freqs_hz", tuple(float(f) for f in np.atleast_1d(self.freqs_hz)))
        object.__setattr__(self, "npix_x", int(self.npix_x))
        object.__setattr__(self, "npix_y", int(self.npix_y))
        if self.npix_x < 2 or self.npix_y < 2:
            raise InputError(
                "grid", "npix", f"must be at least 2, got {self.npix_x}x{self.npix_y}."
            )
        if not np.isfinite(self.cell_arcsec) or self.cell_arcsec <= 0:
            raise InputError("grid", "cell", f"must be > 0 arcsec, got {self.cell_arcsec}.")
        if not -90.0 <= self.dec_deg <= 90.0:
            raise InputError("grid", "dec", f"must lie in [-90, 90] deg, got {self.dec_deg}.")
        if len(self.freqs_hz) == 0 or any(not np.isfinite(f) or f <= 0 for f in self.freqs_hz):
            raise InputError("grid", "freqs", f"must be positive Hz, got {self.freqs_hz}.")

    # -- basic derived quantities -------------------------------------------------
    @property
    def nchan(self) -> int:
        return len(self.freqs_hz)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Cube shape ``(nchan, npix_y, npix_x)``."""
        return (self.nchan, self.npix_y, self.npix_x)

    @property
    def cell_rad(self) -> float:
        """Pixel size in radians."""
        return self.cell_arcsec * ARCSEC_TO_RAD

    @property
    def centre_pixel(self) -> tuple[int, int]:
        """0-based (x, y) pixel of the phase centre."""
        return (self.npix_x // 2, self.npix_y // 2)

    @property
    def freqs(self) -> np.ndarray:
        """Channel frequencies in Hz as an array."""
        return np.asarray(self.freqs_hz, dtype=np.float64)

    @property
    def fov_deg(self) -> tuple[float, float]:
        """Field of view (x, y) in degrees."""
        return (self.npix_x * self.cell_arcsec / 3600.0, self.npix_y * self.cell_arcsec / 3600.0)

    def with_freqs(self, freqs_hz) -> Grid:
        """Return a copy with other channel frequencies (Hz)."""
        return Grid(
            self.npix_x, self.npix_y, self.cell_arcsec, self.ra_deg, self.dec_deg, tuple(freqs_hz)
        )

    # -- WCS --------------------------------------------------------------------
    @property
    def wcs(self) -> WCS:
        """Celestial 2-D WCS (RA---SIN, DEC--SIN)."""
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
        w.wcs.crval = [self.ra_deg % 360.0, self.dec_deg]
        w.wcs.crpix = [self.npix_x // 2 + 1, self.npix_y // 2 + 1]
        w.wcs.cdelt = [-self.cell_arcsec / 3600.0, self.cell_arcsec / 3600.0]
        w.wcs.cunit = ["deg", "deg"]
        w.wcs.radesys = "ICRS"
        w.wcs.equinox = 2000.0
        w.wcs.set()
        return w

    def world_to_pixel(self, ra_deg, dec_deg):
        """Convert RA/Dec (deg) to 0-based pixel (x, y) as float arrays."""
        x, y = self.wcs.wcs_world2pix(np.asarray(ra_deg, float), np.asarray(dec_deg, float), 0)
        return x, y

    def pixel_to_world(self, x, y):
        """Convert 0-based pixel (x, y) to RA/Dec (deg)."""
        ra, dec = self.wcs.wcs_pix2world(np.asarray(x, float), np.asarray(y, float), 0)
        return ra, dec

    def radec_to_lm(self, ra_deg, dec_deg):
        """Direction cosines (l, m) of RA/Dec (deg) relative to the phase centre (SIN)."""
        ra = np.radians(np.asarray(ra_deg, float))
        dec = np.radians(np.asarray(dec_deg, float))
        ra0, dec0 = np.radians(self.ra_deg), np.radians(self.dec_deg)
        dra = ra - ra0
        l = np.cos(dec) * np.sin(dra)
        m = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(dra)
        return l, m

    def lm_to_pixel(self, l, m):
        """Direction cosines to 0-based pixel (x, y): linear for SIN, east to the left."""
        cx, cy = self.centre_pixel
        return cx - np.asarray(l) / self.cell_rad, cy + np.asarray(m) / self.cell_rad

    def pixel_lm(self):
        """(l, m) direction cosines of every pixel, each an array of shape (npix_y, npix_x)."""
        cx, cy = self.centre_pixel
        x = np.arange(self.npix_x)
        y = np.arange(self.npix_y)
        l = -(x - cx) * self.cell_rad
        m = (y - cy) * self.cell_rad
        return np.broadcast_to(l[None, :], (self.npix_y, self.npix_x)), np.broadcast_to(
            m[:, None], (self.npix_y, self.npix_x)
        )

    def contains(self, ra_deg, dec_deg, margin_pix: float = 0.0):
        """Boolean mask: which positions (deg) fall on the grid, ``margin_pix`` inside its edge."""
        x, y = self.world_to_pixel(ra_deg, dec_deg)
        return (
            (x >= -0.5 + margin_pix)
            & (x <= self.npix_x - 0.5 - margin_pix)
            & (y >= -0.5 + margin_pix)
            & (y <= self.npix_y - 0.5 - margin_pix)
        )
