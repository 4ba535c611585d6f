"""Export visibilities to pyuvdata ``UVData``, UVH5 and CASA Measurement Sets, and read them back.

Conventions
-----------
* **uvw**: meersim and pyuvdata both use uvw = xyz(antenna2) − xyz(antenna1)
  in metres; uvw are copied unchanged.
* **Phase sign**: meersim's visibilities follow
  ``V = Σ S exp(−2πi(ul + vm + w(n−1)))`` (:mod:`meersim.imaging.gridder`).
  pyuvdata stores the opposite sign for the same uvw: its phasing multiplies
  data by ``exp(−2πi Δw/λ)`` when w changes by Δw (``UVData._apply_w_proj``),
  which holds for ``V ∝ exp(+2πi b·s/λ)``. :func:`to_uvdata` therefore stores
  the complex conjugate, and :func:`read_visibilities` conjugates back. A test
  re-phases a meersim simulation with pyuvdata onto an off-centre point source
  and checks its phases vanish, which pins the sign. pyuvdata's MS writer then
  applies its own (CASA) conjugation convention (``flip_conj=True``).
* **Polarisation**: meersim simulates Stokes I. Files carry two linear
  correlations XX = YY = I (MeerKAT's feeds are linear), which CASA, WSClean
  and DDFacet all read and combine to I = (XX + YY)/2. Each correlation gets
  weight w/2 (w = 1/σ², meersim's natural weight), so the Stokes I weight that
  CASA/WSClean propagate, 4 / (1/w_XX + 1/w_YY), is again w. pyuvdata keeps
  these weights in ``nsample_array`` (written as the MS ``WEIGHT_SPECTRUM``).
* **Times**: UTC Julian dates (pyuvdata) from meersim's MJD seconds.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from meersim.errors import InputError
from meersim.io import make_dirs
from meersim.observe.telescope import Array, load_array
from meersim.types import Visibilities

MJD_TO_JD = 2400000.5
SECONDS_PER_DAY = 86400.0
MS_INSTALL_HINT = 'pip install "meersim[ms]" (python-casacore)'


def _array_for(vis: Visibilities, setup=None, array: Array | None = None) -> Array:
    if array is not None:
        return array
    if "array" in vis.meta:
        return Array.from_dict(vis.meta["array"])
    if setup is not None:
        return load_array(setup.array, setup.antennas)
    raise InputError(
        "export",
        "array",
        "the visibilities carry no antenna positions.",
        "Pass array= (see meersim.observe.telescope.load_array) or setup=.",
    )


def _pointing(vis: Visibilities, setup=None) -> tuple[float, float]:
    ra = vis.meta.get("ra_deg", getattr(setup, "ra_deg", None))
    dec = vis.meta.get("dec_deg", getattr(setup, "dec_deg", None))
    if ra is None or dec is None:
        raise InputError(
            "export",
            "ra_deg/dec_deg",
            "the phase centre is unknown.",
            "Pass setup= with a pointing.",
        )
    return float(ra), float(dec)


def to_uvdata(vis: Visibilities, setup=None, array: Array | None = None, *, run_check: bool = True):
    """Build a pyuvdata ``UVData`` (XX = YY = Stokes I, Jy) from meersim visibilities.

    ``array`` (antenna positions) and the phase centre come from ``vis.meta``
    (as :func:`~meersim.observe.visibilities.simulate_visibilities` sets them),
    else from ``array``/``setup``.
    """
    from astropy import units as u
    from astropy.coordinates import EarthLocation
    from pyuvdata import Telescope, UVData

    array = _array_for(vis, setup, array)
    ra_deg, dec_deg = _pointing(vis, setup)
    nant = array.n_antennas
    if vis.nrow == 0:
        raise InputError("export", "vis", "has no rows.")
    if max(int(vis.antenna1.max()), int(vis.antenna2.max())) >= nant:
        raise InputError(
            "export", "antenna1/antenna2", f"index beyond the array's {nant} antennas."
        )
    location = EarthLocation.from_geodetic(
        array.lon_deg * u.deg, array.lat_deg * u.deg, array.height_m * u.m
    )
    telescope = Telescope.new(
        name="MeerKAT" if array.name == "meerkat" else array.name,
        location=location,
        antenna_positions=array.ecef_m() - array.centre_ecef_m(),
        antenna_names=list(array.names),
        antenna_numbers=list(range(nant)),
        antenna_diameters=np.full(nant, array.dish_diameter_m),
        instrument="MeerKAT" if array.name == "meerkat" else array.name,
        feeds=["x", "y"],
        mount_type="alt-az",
        update_from_known=False,
    )
    catalog = {
        0: {
            "cat_name": "meersim_pointing",
            "cat_type": "sidereal",
            "cat_lon": np.radians(ra_deg),
            "cat_lat": np.radians(dec_deg),
            "cat_frame": "icrs",
            "cat_epoch": 2000.0,
        }
    }
    data = np.conj(np.asarray(vis.vis, dtype=np.complex128))  # see module docstring
    flag = np.asarray(vis.flag, dtype=bool)
    half_weight = 0.5 * np.asarray(vis.weight, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uvw are replaced with meersim's right after
        uvd = UVData.new(
            freq_array=np.asarray(vis.freqs, dtype=np.float64),
            polarization_array=["xx", "yy"],
            times=vis.time_mjd_s / SECONDS_PER_DAY + MJD_TO_JD,
            telescope=telescope,
            antpairs=np.stack([vis.antenna1, vis.antenna2], axis=1).astype(int),
            do_blt_outer=False,
            integration_time=float(vis.integration_s),
            channel_width=float(vis.channel_width_hz),
            data_array=np.repeat(data[:, :, None], 2, axis=2),
            flag_array=np.repeat(flag[:, :, None], 2, axis=2),
            nsample_array=np.repeat(half_weight[:, :, None], 2, axis=2),
            phase_center_catalog=catalog,
            vis_units="Jy",
            history="Simulated with meersim (Stokes I as XX = YY).",
        )
    uvd.uvw_array = np.asarray(vis.uvw, dtype=np.float64).copy()
    if setup is not None:
        uvd.extra_keywords["MEERSEED"] = int(getattr(setup, "seed", 0))
    if run_check:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # uvw vs antpos: meersim ignores nutation/aberration
            uvd.check()
    return uvd


def write_uvh5(vis: Visibilities, path, setup=None, array: Array | None = None, *, overwrite=True):
    """Write ``vis`` as UVH5 (pyuvdata HDF5) to ``path``; returns the Path."""
    path = Path(path)
    make_dirs(path.parent)
    uvd = to_uvdata(vis, setup, array)
    uvd.write_uvh5(str(path), clobber=overwrite)
    return path


def write_ms(vis: Visibilities, path, setup=None, array: Array | None = None, *, overwrite=True):
    """Write ``vis`` as a CASA Measurement Set directory; needs python-casacore (extra ``ms``)."""
    try:
        import casacore.tables  # noqa: F401
    except ImportError:
        raise ImportError(
            f"Writing a Measurement Set needs python-casacore: {MS_INSTALL_HINT}."
        ) from None
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(str(path), "path", "exists.", "Remove it or pass overwrite=True.")
    make_dirs(path.parent)
    uvd = to_uvdata(vis, setup, array)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uvd.write_ms(str(path), clobber=overwrite, run_check=False)
    return path


def from_uvdata(uvd) -> Visibilities:
    """meersim :class:`Visibilities` (Stokes I, meersim sign convention) from a pyuvdata ``UVData``."""
    pols = [p.lower() for p in uvd.get_pols()]
    if uvd.Nspws != 1:
        raise InputError("read_visibilities", "spectral windows", f"{uvd.Nspws}; meersim reads 1.")
    data = uvd.data_array
    nsample = uvd.nsample_array.astype(np.float64)
    flags = uvd.flag_array

    def take(p):
        k = pols.index(p)
        return data[:, :, k], nsample[:, :, k], flags[:, :, k]

    if "pi" in pols:
        vis_i, w, flag = take("pi")
    else:
        pair = next(
            (pp for pp in (("xx", "yy"), ("ee", "nn"), ("rr", "ll")) if all(q in pols for q in pp)),
            None,
        )
        if pair is None:
            raise InputError(
                "read_visibilities",
                "polarization",
                f"has {pols}; meersim needs Stokes I or both parallel hands (XX,YY or RR,LL).",
            )
        (d1, w1, f1), (d2, w2, f2) = take(pair[0]), take(pair[1])
        vis_i = 0.5 * (d1 + d2)
        with np.errstate(divide="ignore"):
            w = np.where((w1 > 0) & (w2 > 0), 4.0 / (1.0 / w1 + 1.0 / w2), 0.0)
        flag = f1 | f2
    times = uvd.time_array
    width = np.atleast_1d(uvd.channel_width)
    cat = uvd.phase_center_catalog[int(uvd.phase_center_id_array[0])]
    meta = {
        "ra_deg": float(np.degrees(cat.get("cat_lon", np.nan))),
        "dec_deg": float(np.degrees(cat.get("cat_lat", np.nan))),
        "telescope": str(uvd.telescope.name),
    }
    return Visibilities(
        uvw=np.asarray(uvd.uvw_array, dtype=np.float64),
        freqs=np.asarray(uvd.freq_array, dtype=np.float64).reshape(-1),
        vis=np.conj(vis_i).astype(np.complex64),
        weight=w.astype(np.float32),
        flag=np.asarray(flag, dtype=bool),
        antenna1=np.asarray(uvd.ant_1_array, dtype=np.int32),
        antenna2=np.asarray(uvd.ant_2_array, dtype=np.int32),
        time_mjd_s=(np.asarray(times, dtype=np.float64) - MJD_TO_JD) * SECONDS_PER_DAY,
        channel_width_hz=float(width[0]),
        integration_s=float(np.median(uvd.integration_time)),
        meta=meta,
    )


def read_visibilities(path) -> Visibilities:
    """Read a UVH5 file or Measurement Set (as written by meersim, or any pyuvdata-readable file)."""
    from pyuvdata import UVData

    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "file", "does not exist.")
    uvd = UVData()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uvd.read(str(path))
    except ImportError:
        raise ImportError(
            f"Reading a Measurement Set needs python-casacore: {MS_INSTALL_HINT}."
        ) from None
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(str(path), "file", f"pyuvdata cannot read it ({exc}).") from None
    return from_uvdata(uvd)
