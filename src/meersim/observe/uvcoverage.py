"""Observation setup and uv coverage: baseline tracks, times, elevations and flags.

Geometry (Thompson, Moran & Swenson 2017, *Interferometry and Synthesis in Radio
Astronomy*, 3rd ed., §4.1): a baseline's east/north/up components become
equatorial (X, Y, Z) with the array latitude φ (eq. 4.4)::

    X = -sin φ · N + cos φ · U,   Y = E,   Z = cos φ · N + sin φ · U

and (u, v, w) for a source at hour angle H and declination δ (eq. 4.1)::

    u =  sin H · X + cos H · Y
    v = -sin δ cos H · X + sin δ sin H · Y + cos δ · Z
    w =  cos δ cos H · X - cos δ sin H · Y + sin δ · Z

uvw are in metres, antenna2 − antenna1 (the pyuvdata/Miriad convention), and
phased to the pointing centre (phase centre = pointing in meersim).

Times: observations start on the first transit-relative hour angle after the
reference epoch 2000-01-01 00:00 UTC (MJD 51544, the J2000 epoch), so that runs
are reproducible and the catalogue (ICRS/J2000) positions are also, to within
nutation and aberration (< 30″), the apparent positions the uvw are computed
for. Sidereal time uses the IAU 1982 GMST polynomial (Meeus 1998, eq. 12.4),
taking UT1 = UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meersim.errors import InputError

SIDEREAL_PER_SOLAR = 1.00273790935  # sidereal seconds per SI second (Meeus 1998, ch. 12)
REFERENCE_MJD = 51544.0  # 2000-01-01 00:00 UTC
SECONDS_PER_DAY = 86400.0
EARTH_RADIUS_M = 6.371e6
L_BAND_DIGITISED_HZ = (856e6, 1712e6)


@dataclass
class ObservationSetup:
    """How MeerKAT observes a field (docs/architecture.md §2 "Observation setup").

    Parameters
    ----------
    array : str
        ``"meerkat"`` or the path of an antenna layout file (see :mod:`telescope`).
    antennas : int, list of names, comma-separated str, or None
        Subarray: the first n antennas, or antennas by name. None = all.
    ra_deg, dec_deg : float or None
        Pointing and phase centre (deg, ICRS). None: the sky grid's centre.
    hours : float
        Track length in hours (solar time).
    ha_start_h : float or None
        Hour angle (h) at the start of the track. None: symmetric about transit.
    dump_s : float
        Integration (dump) time in seconds. Real MeerKAT dumps are 8 s (or 2 s);
        meersim defaults to 60 s to keep simulations fast. Time smearing is not
        modelled; the uv tracks are sampled at the dump centres.
    freq_centre_hz, bandwidth_hz : float
        Band centre and total bandwidth in Hz (default the usable L band,
        ~900–1670 MHz, around 1284 MHz).
    nchan : int
        Number of equal channels across the band.
    elevation_limit_deg : float
        Samples with either antenna below this elevation (deg) are flagged.
    rfi_fraction : float
        Fraction of (time, channel) cells flagged at random as RFI (all baselines).
    target_rms_jy : float or None
        If set, scale the noise so that the natural-weighting image rms is this
        (Jy/beam), instead of the radiometer noise from the SEFD.
    noise : bool
        Add thermal noise to the visibilities.
    seed : int
        Seed of the noise and RFI flags.
    """

    array: str = "meerkat"
    antennas: object = None
    ra_deg: float | None = None
    dec_deg: float | None = None
    hours: float = 8.0
    ha_start_h: float | None = None
    dump_s: float = 60.0
    freq_centre_hz: float = 1.284e9
    bandwidth_hz: float = 770e6
    nchan: int = 8
    elevation_limit_deg: float = 15.0
    rfi_fraction: float = 0.0
    target_rms_jy: float | None = None
    noise: bool = True
    seed: int = 0

    def __post_init__(self):
        src = "observe setup"

        def number(name, lo=None, hi=None, lo_open=False, hi_open=False):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise InputError(src, name, f"must be a number, got {value!r}.") from None
            bad = not np.isfinite(value)
            bad |= lo is not None and (value <= lo if lo_open else value < lo)
            bad |= hi is not None and (value >= hi if hi_open else value > hi)
            if bad:
                lo_s = "" if lo is None else ("> " if lo_open else ">= ") + f"{lo:g}"
                hi_s = "" if hi is None else ("< " if hi_open else "<= ") + f"{hi:g}"
                raise InputError(src, name, f"must be {lo_s} {hi_s}".rstrip() + f", got {value}.")
            object.__setattr__(self, name, value)

        if isinstance(self.array, Path):
            self.array = str(self.array)
        if not isinstance(self.array, str) or not self.array.strip():
            raise InputError(
                src, "array", f"must be 'meerkat' or a layout path, got {self.array!r}."
            )
        if (self.ra_deg is None) != (self.dec_deg is None):
            raise InputError(src, "ra_deg/dec_deg", "give both or neither (neither: sky centre).")
        if self.ra_deg is not None:
            number("ra_deg")
            self.ra_deg = self.ra_deg % 360.0
            number("dec_deg", -90.0, 90.0)
        number("hours", 0.0, 24.0, lo_open=True)
        if self.ha_start_h is not None:
            number("ha_start_h", -12.0, 12.0)
        number("dump_s", 0.0, lo_open=True)
        if self.dump_s > self.hours * 3600.0:
            raise InputError(
                src, "dump_s", f"{self.dump_s} s is longer than the track ({self.hours} h)."
            )
        number("freq_centre_hz", 0.0, lo_open=True)
        number("bandwidth_hz", 0.0, lo_open=True)
        if self.bandwidth_hz >= 2.0 * self.freq_centre_hz:
            raise InputError(src, "bandwidth_hz", "the band reaches 0 Hz or below.")
        if isinstance(self.nchan, bool) or int(self.nchan) != self.nchan or self.nchan < 1:
            raise InputError(src, "nchan", f"must be a positive integer, got {self.nchan!r}.")
        self.nchan = int(self.nchan)
        number("elevation_limit_deg", 0.0, 90.0, hi_open=True)
        number("rfi_fraction", 0.0, 1.0, hi_open=True)
        if self.target_rms_jy is not None:
            number("target_rms_jy", 0.0, lo_open=True)
        if not isinstance(self.noise, (bool, np.bool_)):
            raise InputError(src, "noise", f"must be true or false, got {self.noise!r}.")
        self.noise = bool(self.noise)
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise InputError(src, "seed", f"must be a non-negative integer, got {self.seed!r}.")
        self.seed = int(self.seed)

    @property
    def channel_width_hz(self) -> float:
        """Width of each channel (Hz)."""
        return self.bandwidth_hz / self.nchan

    @property
    def n_times(self) -> int:
        """Number of dumps in the track."""
        return max(1, int(round(self.hours * 3600.0 / self.dump_s)))

    def with_pointing(self, ra_deg: float, dec_deg: float) -> ObservationSetup:
        """A copy pointed at (ra_deg, dec_deg)."""
        import dataclasses

        return dataclasses.replace(self, ra_deg=float(ra_deg), dec_deg=float(dec_deg))


def channel_freqs(setup: ObservationSetup) -> np.ndarray:
    """Channel centre frequencies (Hz), float64 (nchan,): nchan equal channels across the band."""
    width = setup.bandwidth_hz / setup.nchan
    start = setup.freq_centre_hz - setup.bandwidth_hz / 2.0
    return start + (np.arange(setup.nchan) + 0.5) * width


@dataclass
class UVTracks:
    """uv coverage of one track. Rows are time-major: all baselines of dump 0, then dump 1...

    Attributes
    ----------
    uvw : float64 (nrow, 3)
        Baselines in metres (antenna2 − antenna1), phased to the pointing centre.
    antenna1, antenna2 : int32 (nrow,)
        Antenna indices into the array (antenna1 < antenna2).
    time_mjd_s : float64 (nrow,)
        Dump centre, MJD (UTC) in seconds.
    hour_angle_h : float64 (nrow,)
        Hour angle of the pointing centre at the array centre (h, −12..12).
    elevation_deg : float64 (nrow,)
        Elevation of the pointing centre at the lower of the two antennas (deg).
    flag : bool (nrow, nchan)
        True below the elevation limit (either antenna) or in an RFI cell.
    n_times : int
        Number of dumps.
    """

    uvw: np.ndarray
    antenna1: np.ndarray
    antenna2: np.ndarray
    time_mjd_s: np.ndarray
    hour_angle_h: np.ndarray
    elevation_deg: np.ndarray
    flag: np.ndarray
    n_times: int
    meta: dict = field(default_factory=dict)

    @property
    def nrow(self) -> int:
        return int(self.uvw.shape[0])


def gmst_deg(mjd_utc) -> np.ndarray:
    """Greenwich mean sidereal time (deg) at MJD (UTC ≈ UT1), IAU 1982 (Meeus 1998, eq. 12.4)."""
    d = np.asarray(mjd_utc, dtype=np.float64) + 2400000.5 - 2451545.0
    t = d / 36525.0
    return (280.46061837 + 360.98564736629 * d + 0.000387933 * t**2 - t**3 / 38710000.0) % 360.0


def enu_to_xyz(enu_m, lat_deg: float) -> np.ndarray:
    """East/north/up (m) to equatorial X (H=0, δ=0), Y (H=−6h), Z (pole) in metres (TMS eq. 4.4)."""
    enu = np.asarray(enu_m, dtype=np.float64)
    lat = np.radians(lat_deg)
    e, n, u = enu[..., 0], enu[..., 1], enu[..., 2]
    return np.stack(
        [-np.sin(lat) * n + np.cos(lat) * u, e, np.cos(lat) * n + np.sin(lat) * u], axis=-1
    )


def xyz_to_uvw(xyz_m, hour_angle_rad, dec_rad) -> np.ndarray:
    """Equatorial baseline (m) to (u, v, w) in metres for hour angle H and declination (TMS eq. 4.1).

    ``xyz_m`` (..., 3) and ``hour_angle_rad`` broadcast against each other.
    """
    xyz = np.asarray(xyz_m, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    sh, ch = np.sin(hour_angle_rad), np.cos(hour_angle_rad)
    sd, cd = np.sin(dec_rad), np.cos(dec_rad)
    u = sh * x + ch * y
    v = -sd * ch * x + sd * sh * y + cd * z
    w = cd * ch * x - cd * sh * y + sd * z
    return np.stack(np.broadcast_arrays(u, v, w), axis=-1)


def elevation_deg(hour_angle_rad, dec_rad, lat_rad) -> np.ndarray:
    """Elevation (deg) of a source at hour angle/declination seen from latitude (all rad)."""
    s = np.sin(lat_rad) * np.sin(dec_rad) + np.cos(lat_rad) * np.cos(dec_rad) * np.cos(
        hour_angle_rad
    )
    return np.degrees(np.arcsin(np.clip(s, -1.0, 1.0)))


def max_elevation_deg(dec_deg: float, lat_deg: float) -> float:
    """Highest elevation (deg) a source at ``dec_deg`` reaches from ``lat_deg`` (at transit)."""
    return 90.0 - abs(lat_deg - dec_deg)


def _hour_angle_start(setup: ObservationSetup) -> float:
    """Hour angle (h) at the start of the track."""
    if setup.ha_start_h is not None:
        return float(setup.ha_start_h)
    return -0.5 * setup.hours * SIDEREAL_PER_SOLAR


def uv_tracks(array, setup: ObservationSetup, *, ra_deg=None, dec_deg=None) -> UVTracks:
    """uv coverage of ``setup`` with ``array`` (an :class:`~meersim.observe.telescope.Array`).

    The pointing is ``setup.ra_deg/dec_deg`` unless ``ra_deg/dec_deg`` are given.
    Raises :class:`InputError` if the source never rises above the elevation
    limit, or if the whole track lies below it.
    """
    ra = setup.ra_deg if ra_deg is None else float(ra_deg)
    dec = setup.dec_deg if dec_deg is None else float(dec_deg)
    if ra is None or dec is None:
        raise InputError(
            "observe setup",
            "ra_deg/dec_deg",
            "no pointing given.",
            "Set ra_deg/dec_deg, or observe a sky (its grid centre is used).",
        )
    highest = max_elevation_deg(dec, array.lat_deg)
    if highest < setup.elevation_limit_deg:
        raise InputError(
            "observe setup",
            "dec_deg",
            f"Dec {dec:+.2f} deg never rises above the elevation limit "
            f"({setup.elevation_limit_deg:g} deg) at latitude {array.lat_deg:+.2f} deg: "
            f"its highest elevation is {highest:.2f} deg.",
            "Choose a declination that rises higher, or lower elevation_limit_deg.",
        )
    nt = setup.n_times
    ha0_h = _hour_angle_start(setup)
    # Start time: first moment after the reference epoch when the local sidereal time
    # equals RA + HA_start, i.e. the hour angle is HA_start.
    lst0 = (gmst_deg(REFERENCE_MJD) + array.lon_deg) % 360.0
    wait_deg = (ra + 15.0 * ha0_h - lst0) % 360.0
    start_mjd = REFERENCE_MJD + wait_deg / 360.98564736629
    offsets_s = (np.arange(nt) + 0.5) * setup.dump_s
    time_mjd_s = start_mjd * SECONDS_PER_DAY + offsets_s
    ha_h = ha0_h + offsets_s * SIDEREAL_PER_SOLAR / 3600.0
    ha_h = (ha_h + 12.0) % 24.0 - 12.0
    ha_rad = np.radians(15.0 * ha_h)
    dec_rad = np.radians(dec)

    pairs, _ = array.baselines()
    a1, a2 = pairs[:, 0], pairs[:, 1]
    xyz = enu_to_xyz(array.enu_m[a2] - array.enu_m[a1], array.lat_deg)  # (nbl, 3)
    uvw = xyz_to_uvw(xyz[None, :, :], ha_rad[:, None], dec_rad).reshape(-1, 3)

    # Per-antenna elevation: each dish's local vertical is tilted by its offset from
    # the centre (north -> latitude, east -> longitude, on a sphere of Earth radius).
    lat_ant = np.radians(array.lat_deg) + array.enu_m[:, 1] / EARTH_RADIUS_M
    dlon_ant = array.enu_m[:, 0] / (EARTH_RADIUS_M * np.cos(np.radians(array.lat_deg)))
    el_ant = elevation_deg(ha_rad[:, None] + dlon_ant[None, :], dec_rad, lat_ant[None, :])
    el_row = np.minimum(el_ant[:, a1], el_ant[:, a2]).reshape(-1)
    low = el_row < setup.elevation_limit_deg
    if np.all(low):
        raise InputError(
            "observe setup",
            "ha_start_h/hours",
            f"the whole track lies below the elevation limit ({setup.elevation_limit_deg:g} deg); "
            f"the source reaches {highest:.2f} deg at transit.",
            "Leave ha_start_h unset (track centred on transit) or move it closer to 0.",
        )

    nbl = len(a1)
    flag = np.repeat(low[:, None], setup.nchan, axis=1)
    if setup.rfi_fraction > 0:
        # RFI hits whole (dump, channel) cells: every baseline at once.
        rng = np.random.default_rng([setup.seed, 1])
        cells = rng.random((nt, setup.nchan)) < setup.rfi_fraction
        flag |= np.repeat(cells, nbl, axis=0)

    return UVTracks(
        uvw=np.ascontiguousarray(uvw),
        antenna1=np.tile(a1, nt).astype(np.int32),
        antenna2=np.tile(a2, nt).astype(np.int32),
        time_mjd_s=np.repeat(time_mjd_s, nbl),
        hour_angle_h=np.repeat(ha_h, nbl),
        elevation_deg=el_row,
        flag=flag,
        n_times=nt,
        meta={"ra_deg": float(ra), "dec_deg": float(dec), "max_elevation_deg": highest},
    )
