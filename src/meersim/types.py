"""Small typed objects passed between simulation stages (docs/architecture.md §2)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from meersim.grid import Grid


@dataclass(frozen=True)
class Beam:
    """An elliptical Gaussian restoring (clean) beam.

    Parameters
    ----------
    bmaj_arcsec, bmin_arcsec : float
        FWHM of the major and minor axes in arcsec.
    bpa_deg : float
        Position angle of the major axis in degrees, east of north.
    """

    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float

    def area_in_pixels(self, cell_arcsec: float) -> float:
        """Beam solid angle in pixels of ``cell_arcsec``: pi*bmaj*bmin / (4 ln 2)."""
        return np.pi * self.bmaj_arcsec * self.bmin_arcsec / (4.0 * np.log(2.0) * cell_arcsec**2)

    def header_cards(self) -> dict[str, float]:
        """BMAJ/BMIN/BPA header values (deg), as FITS radio images carry them."""
        return {
            "BMAJ": self.bmaj_arcsec / 3600.0,
            "BMIN": self.bmin_arcsec / 3600.0,
            "BPA": float(self.bpa_deg),
        }


@dataclass
class Sky:
    """A sky model cube: ``data`` float32 [nchan, ny, nx] in Jy/pixel on ``grid``."""

    data: np.ndarray
    grid: Grid

    def __post_init__(self):
        self.data = np.asarray(self.data, dtype=np.float32)
        if self.data.ndim == 2:
            self.data = self.data[None]
        if self.data.shape != self.grid.shape:
            raise ValueError(f"sky data shape {self.data.shape} != grid shape {self.grid.shape}")


@dataclass
class Image:
    """An image product read from or written to FITS.

    ``data`` is float32 [nchan, ny, nx]; ``bunit`` is ``JY/BEAM`` or ``JY/PIXEL``.
    ``grid`` is None for real images whose reference pixel is not at the centre;
    ``wcs`` (celestial, 2-D) is always set.
    """

    data: np.ndarray
    wcs: object
    freqs_hz: tuple[float, ...]
    bunit: str
    beam: Beam | None = None
    grid: Grid | None = None
    header: dict = field(default_factory=dict)


@dataclass
class Visibilities:
    """Visibilities of one observation (docs/architecture.md §2).

    Attributes
    ----------
    uvw : float64 (nrow, 3)
        Baseline coordinates in metres (antenna2 - antenna1, pyuvdata convention).
    freqs : float64 (nchan,)
        Channel frequencies in Hz.
    vis : complex64 (nrow, nchan)
        Visibilities in Jy (Stokes I), convention of :mod:`meersim.imaging.gridder`.
    weight : float32 (nrow, nchan)
        Natural weights 1/sigma^2 in Jy^-2 (sigma per real/imaginary part).
    flag : bool (nrow, nchan)
        True where the sample is flagged (below the elevation limit, RFI).
    antenna1, antenna2 : int32 (nrow,)
        Antenna indices of each row.
    time_mjd_s : float64 (nrow,)
        Time of each row, MJD in seconds (as a Measurement Set stores it).
    channel_width_hz : float
        Width of every channel in Hz.
    integration_s : float
        Dump time in seconds.
    """

    uvw: np.ndarray
    freqs: np.ndarray
    vis: np.ndarray
    weight: np.ndarray
    flag: np.ndarray
    antenna1: np.ndarray
    antenna2: np.ndarray
    time_mjd_s: np.ndarray
    channel_width_hz: float
    integration_s: float
    meta: dict = field(default_factory=dict)

    @property
    def nrow(self) -> int:
        return int(self.uvw.shape[0])

    @property
    def nchan(self) -> int:
        return int(self.freqs.shape[0])

    @property
    def nvis_unflagged(self) -> int:
        return int(np.count_nonzero(~self.flag))


@dataclass
class Observation:
    """A dirty image with everything needed to clean it (docs/architecture.md §2).

    Images are multi-frequency synthesis (one plane over the whole band) at
    ``grid.freqs_hz[0]``, the band's mean frequency.

    Attributes
    ----------
    grid : Grid
        Image grid (one channel: the band centre).
    dirty : float32 [ny, nx]
        Apparent dirty image in Jy/beam (PSF peak normalised to 1).
    psf : float32 [2 ny, 2 nx]
        Point spread function, peak 1 at pixel (ny, nx).
    beam : Beam
        Clean beam fitted to the PSF main lobe.
    primary_beam : float32 [ny, nx]
        Band-averaged primary-beam gain (1 at the pointing centre).
    noise_rms_predicted : float
        Thermal rms predicted from the weights, Jy/beam.
    noise_rms_measured : float
        1.4826 MAD of the dirty image where it is noise-dominated, Jy/beam.
    vis : Visibilities or None
        The visibilities (None in image-plane mode).
    imaging_weight : float32 (nrow, nchan) or None
        The weights used for imaging (natural x density weighting).
    norm : float
        Raw sum that divides the gridded image to give Jy/beam (PSF peak).
    weighting : dict
        ``{"scheme": "natural"|"uniform"|"briggs", "robust": float}``.
    outside_dirty : float32 [ny, nx] or None
        Noise-free dirty image (Jy/beam) of the sources beyond the grid that
        ``observe(..., outside=)`` added (already part of ``dirty``).
    """

    grid: Grid
    dirty: np.ndarray
    psf: np.ndarray
    beam: Beam
    primary_beam: np.ndarray
    noise_rms_predicted: float
    noise_rms_measured: float
    vis: Visibilities | None = None
    imaging_weight: np.ndarray | None = None
    norm: float = 1.0
    weighting: dict = field(default_factory=lambda: {"scheme": "briggs", "robust": -0.5})
    meta: dict = field(default_factory=dict)
    outside_dirty: np.ndarray | None = None
