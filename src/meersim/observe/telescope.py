"""Telescope arrays: antenna positions (east/north/up about the array centre) and baselines.

MeerKAT ships with meersim (``src/meersim/data/meerkat_layout.txt``: 64 dishes of
13.5 m, positions from SARAO's katpoint antenna strings; centre 30°42′39.8″S,
21°26′38.0″E, 1086.6 m). Any other array can be read from a text layout file:

* ENU: ``name east_m north_m up_m [dish_diameter_m]`` relative to the array
  centre, which a comment line ``# centre: lat_deg lon_deg height_m`` gives
  (else the ``centre=`` argument, else MeerKAT's centre);
* ITRF/ECEF: ``name X_m Y_m Z_m [dish_diameter_m]`` geocentric metres, converted
  to ENU about their mean position (or about ``centre=``).

Columns may be separated by spaces, tabs or commas; ``#`` starts a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from meersim.errors import InputError

MEERKAT_LAT_DEG = -(30 + 42 / 60 + 39.8 / 3600)  # 30°42′39.8″S (SARAO)
MEERKAT_LON_DEG = 21 + 26 / 60 + 38.0 / 3600  # 21°26′38.0″E
MEERKAT_HEIGHT_M = 1086.6
MEERKAT_DISH_DIAMETER_M = 13.5
BUILTIN_ARRAYS = {"meerkat": "meerkat_layout.txt"}
FRAMES = ("auto", "enu", "ecef")
# ECEF positions lie ~6.37e6 m from the geocentre; ENU offsets of any array are far smaller.
_ECEF_MIN_RADIUS_M = 6.0e6


@dataclass
class Array:
    """An interferometer array.

    Attributes
    ----------
    names : tuple of str
        Antenna names.
    enu_m : float64 (nant, 3)
        East, north, up positions in metres relative to the array centre.
    dish_diameter_m : float
        Dish diameter in metres (one dish type per array).
    lat_deg, lon_deg, height_m : float
        Geodetic (WGS84) latitude and longitude (deg) and height (m) of the centre.
    name : str
        Array name (for file headers).
    """

    names: tuple[str, ...]
    enu_m: np.ndarray
    dish_diameter_m: float = MEERKAT_DISH_DIAMETER_M
    lat_deg: float = MEERKAT_LAT_DEG
    lon_deg: float = MEERKAT_LON_DEG
    height_m: float = MEERKAT_HEIGHT_M
    name: str = "meerkat"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.names = tuple(str(n) for n in self.names)
        self.enu_m = np.asarray(self.enu_m, dtype=np.float64).reshape(-1, 3)
        src = f"array {self.name!r}"
        if len(self.names) != self.enu_m.shape[0]:
            raise InputError(
                src, "names", f"{len(self.names)} names for {self.enu_m.shape[0]} positions."
            )
        if len(set(self.names)) != len(self.names):
            raise InputError(src, "names", "antenna names are not unique.")
        if len(self.names) < 2:
            raise InputError(src, "antennas", "an interferometer needs at least 2 antennas.")
        if not np.all(np.isfinite(self.enu_m)):
            raise InputError(src, "enu_m", "positions must be finite.")
        if not (np.isfinite(self.dish_diameter_m) and self.dish_diameter_m > 0):
            raise InputError(src, "dish_diameter_m", f"must be > 0 m, got {self.dish_diameter_m}.")
        if not -90.0 <= self.lat_deg <= 90.0:
            raise InputError(src, "lat_deg", f"must lie in [-90, 90], got {self.lat_deg}.")

    @property
    def n_antennas(self) -> int:
        return len(self.names)

    @property
    def n_baselines(self) -> int:
        return self.n_antennas * (self.n_antennas - 1) // 2

    def baselines(self) -> tuple[np.ndarray, np.ndarray]:
        """Antenna pairs ``(i, j)`` with i < j, int32 (nbl, 2), and their lengths (m)."""
        i, j = np.triu_indices(self.n_antennas, k=1)
        pairs = np.stack([i, j], axis=1).astype(np.int32)
        lengths = np.linalg.norm(self.enu_m[j] - self.enu_m[i], axis=1)
        return pairs, lengths

    def select(self, antennas) -> Array:
        """Subarray: ``antennas`` is a count (the first n antennas) or a list of names/indices."""
        idx = _antenna_indices(self, antennas)
        return Array(
            names=tuple(self.names[k] for k in idx),
            enu_m=self.enu_m[idx],
            dish_diameter_m=self.dish_diameter_m,
            lat_deg=self.lat_deg,
            lon_deg=self.lon_deg,
            height_m=self.height_m,
            name=self.name,
            meta=dict(self.meta),
        )

    def centre_ecef_m(self) -> np.ndarray:
        """Geocentric (ITRF/ECEF, WGS84) position of the array centre in metres, shape (3,)."""
        from astropy import units as u
        from astropy.coordinates import EarthLocation

        loc = EarthLocation.from_geodetic(
            self.lon_deg * u.deg, self.lat_deg * u.deg, self.height_m * u.m
        )
        return np.array([loc.x.to_value(u.m), loc.y.to_value(u.m), loc.z.to_value(u.m)])

    def ecef_m(self) -> np.ndarray:
        """Geocentric (ITRF/ECEF) antenna positions in metres, (nant, 3)."""
        return self.centre_ecef_m() + self.enu_m @ _enu_to_ecef_rotation(self.lat_deg, self.lon_deg)

    def as_dict(self) -> dict:
        """Plain-Python description (for JSON metadata)."""
        return {
            "name": self.name,
            "names": list(self.names),
            "enu_m": self.enu_m.tolist(),
            "dish_diameter_m": float(self.dish_diameter_m),
            "lat_deg": float(self.lat_deg),
            "lon_deg": float(self.lon_deg),
            "height_m": float(self.height_m),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Array:
        """Inverse of :meth:`as_dict`."""
        return cls(
            names=tuple(d["names"]),
            enu_m=np.asarray(d["enu_m"], dtype=np.float64),
            dish_diameter_m=float(d["dish_diameter_m"]),
            lat_deg=float(d["lat_deg"]),
            lon_deg=float(d["lon_deg"]),
            height_m=float(d["height_m"]),
            name=str(d.get("name", "array")),
        )


def _enu_to_ecef_rotation(lat_deg: float, lon_deg: float) -> np.ndarray:
    """Rows are the east, north and up unit vectors in ECEF at geodetic (lat, lon)."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    sl, cl, sp, cp = np.sin(lon), np.cos(lon), np.sin(lat), np.cos(lat)
    return np.array(
        [
            [-sl, cl, 0.0],
            [-sp * cl, -sp * sl, cp],
            [cp * cl, cp * sl, sp],
        ]
    )


def ecef_to_enu(ecef_m, lat_deg: float, lon_deg: float, height_m: float) -> np.ndarray:
    """ECEF positions (m, (n, 3)) to east/north/up (m) about the geodetic point given."""
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    loc = EarthLocation.from_geodetic(lon_deg * u.deg, lat_deg * u.deg, height_m * u.m)
    centre = np.array([loc.x.to_value(u.m), loc.y.to_value(u.m), loc.z.to_value(u.m)])
    return (np.asarray(ecef_m, float) - centre) @ _enu_to_ecef_rotation(lat_deg, lon_deg).T


def _antenna_indices(array: Array, antennas) -> list[int]:
    src = f"array {array.name!r}"
    if antennas is None:
        return list(range(array.n_antennas))
    if isinstance(antennas, (int, np.integer)) and not isinstance(antennas, bool):
        n = int(antennas)
        if not 2 <= n <= array.n_antennas:
            raise InputError(
                src,
                "antennas",
                f"asked for {n} antennas; the array has {array.n_antennas}.",
                f"Use a count between 2 and {array.n_antennas}, or a list of names.",
            )
        return list(range(n))
    if isinstance(antennas, str):
        antennas = [a.strip() for a in antennas.split(",") if a.strip()]
    idx = []
    lookup = {name: k for k, name in enumerate(array.names)}
    for a in antennas:
        if isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            if not 0 <= int(a) < array.n_antennas:
                raise InputError(
                    src, "antennas", f"index {a} out of range 0..{array.n_antennas - 1}."
                )
            idx.append(int(a))
        elif str(a) in lookup:
            idx.append(lookup[str(a)])
        else:
            raise InputError(
                src,
                "antennas",
                f"no antenna named {a!r}.",
                f"Known names: {', '.join(array.names[:5])}, ... ({array.n_antennas} in all).",
            )
    if len(set(idx)) != len(idx):
        raise InputError(src, "antennas", "an antenna is listed twice.")
    if len(idx) < 2:
        raise InputError(src, "antennas", "select at least 2 antennas.")
    return idx


def _parse_centre(text: str, source: str):
    values = text.replace(",", " ").split()
    try:
        lat, lon, height = (float(v) for v in values)
    except ValueError:
        raise InputError(
            source,
            "# centre:",
            f"expected 'lat_deg lon_deg height_m', got {text.strip()!r}.",
            "Write e.g. '# centre: -30.7111 21.4439 1086.6'.",
        ) from None
    return lat, lon, height


def read_layout(
    path,
    frame: str = "auto",
    centre: tuple[float, float, float] | None = None,
    dish_diameter_m: float | None = None,
    name: str | None = None,
) -> Array:
    """Read an antenna layout text file (see module docstring) into an :class:`Array`.

    Parameters
    ----------
    path : str or Path
        The layout file.
    frame : ``"auto"``, ``"enu"`` or ``"ecef"``
        Position frame; ``auto`` takes ECEF when the positions lie > 6000 km
        from the geocentre.
    centre : (lat_deg, lon_deg, height_m), optional
        Array centre (overrides the file's ``# centre:`` line; for ECEF files the
        ENU origin, default the antennas' mean position).
    dish_diameter_m : float, optional
        Dish diameter (m) when the file has no fifth column (default 13.5 m).
    """
    path = Path(path)
    source = str(path)
    if frame not in FRAMES:
        raise InputError(source, "frame", f"{frame!r} is unknown.", f"Use one of {FRAMES}.")
    if not path.is_file():
        raise InputError(
            source, "file", "does not exist.", "Give a layout file or the name 'meerkat'."
        )
    names, pos, diam = [], [], []
    file_centre = None
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        m = re.match(r"#\s*centre\s*:(.*)$", line, flags=re.IGNORECASE)
        if m:
            file_centre = _parse_centre(m.group(1), f"{source}:{lineno}")
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[,\s]+", line) if p]
        if len(parts) not in (4, 5):
            raise InputError(
                f"{source}:{lineno}",
                "columns",
                f"expected 'name x y z [dish_diameter]', got {len(parts)} column(s): {raw!r}.",
                "One antenna per line: name and three coordinates in metres.",
            )
        try:
            values = [float(p) for p in parts[1:]]
        except ValueError:
            raise InputError(
                f"{source}:{lineno}",
                "coordinates",
                f"not numbers: {raw!r}.",
                "Coordinates must be metres (plain numbers).",
            ) from None
        names.append(parts[0])
        pos.append(values[:3])
        diam.append(values[3] if len(values) == 4 else np.nan)
    if len(names) < 2:
        raise InputError(source, "antennas", f"found {len(names)} antenna line(s); need >= 2.")
    pos = np.asarray(pos, dtype=np.float64)
    diam = np.asarray(diam)
    if np.all(np.isnan(diam)):
        dish = MEERKAT_DISH_DIAMETER_M if dish_diameter_m is None else float(dish_diameter_m)
    elif np.any(np.isnan(diam)) or np.ptp(diam) > 1e-6:
        raise InputError(
            source,
            "dish_diameter",
            "some lines give a diameter and others do not, or the diameters differ.",
            "meersim models one dish type per array: give all antennas the same diameter.",
        )
    else:
        dish = float(diam[0])
    radius = np.linalg.norm(pos, axis=1)
    if frame == "auto":
        frame = "ecef" if np.median(radius) > _ECEF_MIN_RADIUS_M else "enu"
    if frame == "ecef":
        if np.any(radius < _ECEF_MIN_RADIUS_M):
            raise InputError(
                source,
                "coordinates",
                "frame is ECEF but some positions lie < 6000 km from the geocentre.",
                "Give geocentric X Y Z in metres, or use frame='enu'.",
            )
        if centre is None:
            from astropy import units as u
            from astropy.coordinates import EarthLocation

            mean = pos.mean(axis=0)
            loc = EarthLocation.from_geocentric(*mean, unit=u.m).to_geodetic("WGS84")
            centre = (loc.lat.to_value(u.deg), loc.lon.to_value(u.deg), loc.height.to_value(u.m))
        enu = ecef_to_enu(pos, *centre)
    else:
        if np.any(radius > 1.0e6):
            raise InputError(
                source,
                "coordinates",
                "frame is ENU but some positions are > 1000 km from the centre.",
                "Give east/north/up offsets in metres, or use frame='ecef'.",
            )
        enu = pos
        centre = centre or file_centre or (MEERKAT_LAT_DEG, MEERKAT_LON_DEG, MEERKAT_HEIGHT_M)
    return Array(
        names=tuple(names),
        enu_m=enu,
        dish_diameter_m=dish,
        lat_deg=float(centre[0]),
        lon_deg=float(centre[1]),
        height_m=float(centre[2]),
        name=name or path.stem,
        meta={"layout_file": str(path), "frame": frame},
    )


def load_array(
    name_or_path: str | Path = "meerkat",
    antennas=None,
    *,
    frame: str = "auto",
    centre: tuple[float, float, float] | None = None,
) -> Array:
    """Load a built-in array (``"meerkat"``) or a layout file, optionally a subarray.

    Parameters
    ----------
    name_or_path : str or Path
        ``"meerkat"`` or the path of a layout file (see :func:`read_layout`).
    antennas : int, list of str/int, comma-separated str, or None
        Subarray: the first n antennas, or antennas by name/index. None = all.
    frame, centre :
        Passed to :func:`read_layout` for files.
    """
    if isinstance(name_or_path, Array):
        array = name_or_path
    else:
        key = str(name_or_path).strip()
        if key.lower() in BUILTIN_ARRAYS:
            ref = resources.files("meersim") / "data" / BUILTIN_ARRAYS[key.lower()]
            with resources.as_file(ref) as p:
                array = read_layout(p, frame="enu", name=key.lower())
        else:
            if not Path(key).exists():
                raise InputError(
                    "observe setup",
                    "array",
                    f"{key!r} is neither a known array ({', '.join(BUILTIN_ARRAYS)}) nor a file.",
                    "Use 'meerkat' or the path of a layout file (name east north up).",
                )
            array = read_layout(key, frame=frame, centre=centre)
    return array if antennas is None else array.select(antennas)
