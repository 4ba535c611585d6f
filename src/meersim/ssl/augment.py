"""Augmentations for one-channel radio images (Jy/beam), for DINO multi-crop training.

Every function works on torch tensors shaped ``[..., H, W]`` (one image ``[C, H, W]``
or a batch ``[B, C, H, W]``; random parameters are then shared by the batch) and
draws its randomness from an optional ``torch.Generator``.

Physical conventions
--------------------
- Pixel values are surface brightness (Jy/beam, as in restored images). Resampling
  (random resized crops) interpolates (bilinear, with anti-aliasing when shrinking,
  which averages pixels): values stay Jy/beam per pixel, they are never summed. The
  beam then spans ``zoom`` times more or fewer output pixels.
- Gaussian beam change (:func:`change_beam`) convolves with a unit-sum Gaussian of
  FWHM sqrt(b2^2 - b1^2) and multiplies by (b2/b1)^2, so the result is in Jy per
  *new* beam: a point source keeps its peak and the total flux (sum / beam area) is kept.
- PSF convolution (:func:`psf_convolve`) normalises the PSF to peak 1 by default, the
  dirty-image convention of docs/architecture.md §2: a Jy/pixel model convolved with it gives a
  Jy/beam dirty image in which a 1 Jy point source reads 1 Jy/beam. ``normalize="sum"``
  keeps the pixel sum instead.
- Correlated noise is white noise convolved with a kernel (the beam or the PSF) and
  rescaled by 1 / sqrt(sum kernel^2), so every pixel has exactly the requested rms in
  expectation (no edge taper: the white field is padded by the kernel size).
- Noise normalisation divides by sigma = 1.4826 MAD (a Gaussian's standard deviation,
  robust to sources; WSClean's auto-threshold rms) after subtracting the median.

No colour jitter, grayscale or solarisation: images have one channel and the pixel
values are physical brightness, whose monotonic scale carries the information.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from meersim.errors import InputError
from meersim.stats import robust_median_sigma


# ----------------------------------------------------------------------------------
# random helpers
# ----------------------------------------------------------------------------------
def _uniform(lo: float, hi: float, generator: torch.Generator | None) -> float:
    return float(lo + (hi - lo) * torch.rand((), generator=generator, dtype=torch.float64))


def _randint(n: int, generator: torch.Generator | None) -> int:
    return int(torch.randint(n, (), generator=generator))


def _chance(p: float, generator: torch.Generator | None) -> bool:
    return p > 0 and (p >= 1 or _uniform(0.0, 1.0, generator) < p)


# ----------------------------------------------------------------------------------
# dihedral group
# ----------------------------------------------------------------------------------
def dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """Element ``k`` (0..7) of the dihedral group D4: rotate by 90°·(k mod 4), then flip
    left-right when k >= 4. A pixel permutation, so the total flux is kept exactly."""
    if not 0 <= k < 8:
        raise InputError("dihedral", "k", f"{k} is outside 0..7.")
    out = torch.rot90(image, k % 4, dims=(-2, -1))
    if k >= 4:
        out = torch.flip(out, dims=(-1,))
    return out


def random_dihedral(image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One of the 8 dihedral transforms, uniformly at random."""
    return dihedral(image, _randint(8, generator))


# ----------------------------------------------------------------------------------
# crops
# ----------------------------------------------------------------------------------
def sample_crop_box(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """A random box (top, left, h, w) covering ``scale`` of the area with aspect in ``ratio``
    (log-uniform), as torchvision's RandomResizedCrop; the whole image if 10 tries fail."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(log_lo, log_hi, generator))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = _randint(height - h + 1, generator)
            left = _randint(width - w + 1, generator)
            return top, left, h, w
    return 0, 0, height, width


def resize(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resample to ``size`` px keeping per-pixel surface brightness (bilinear; antialiased
    averaging when shrinking). Units stay Jy/beam; nothing is summed."""
    if isinstance(size, int):
        size = (size, size)
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    lead = image.shape[:-2]
    flat = image.reshape(-1, 1, *image.shape[-2:])
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    out = F.interpolate(
        flat, size=size, mode="bilinear", align_corners=False, antialias=bool(shrinking)
    )
    return out.reshape(*lead, *size)


def random_resized_crop(
    image: torch.Tensor,
    size: int | tuple[int, int],
    scale: tuple[float, float] = (0.4, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random box (``scale`` = area fraction) and resample it to ``size`` px
    (surface brightness kept, see :func:`resize`)."""
    top, left, h, w = sample_crop_box(image.shape[-2], image.shape[-1], scale, ratio, generator)
    return resize(image[..., top : top + h, left : left + w], size)


# ----------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------
def _crop_kernel(kernel: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, int, int]:
    """Cut a kernel (centre at index size//2) to at most 2H-1 x 2W-1: farther taps never
    reach the image."""
    kh, kw = kernel.shape[-2:]
    ch, cw = kh // 2, kw // 2
    y0, y1 = max(ch - (height - 1), 0), min(ch + height, kh)
    x0, x1 = max(cw - (width - 1), 0), min(cw + width, kw)
    return kernel[..., y0:y1, x0:x1], ch - y0, cw - x0


def fft_convolve(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Linear (zero-padded, not circular) convolution, same size as ``image``.

    ``kernel`` is [kh, kw] (any size, centre at pixel (kh//2, kw//2), the Grid's
    phase-centre convention). Computed in float64 with FFTs, returned in image dtype.
    """
    if kernel.ndim != 2:
        raise InputError("convolve", "kernel", f"must be 2-D, got shape {tuple(kernel.shape)}.")
    height, width = image.shape[-2:]
    kernel, ch, cw = _crop_kernel(kernel, height, width)
    kh, kw = kernel.shape
    fh, fw = height + kh - 1, width + kw - 1
    spec = torch.fft.rfft2(image.to(torch.float64), s=(fh, fw))
    spec = spec * torch.fft.rfft2(kernel.to(torch.float64, copy=False).to(image.device), s=(fh, fw))
    full = torch.fft.irfft2(spec, s=(fh, fw))
    return full[..., ch : ch + height, cw : cw + width].to(image.dtype)


def _valid_convolve(field_: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """'Valid' convolution: output (H-kh+1, W-kw+1), every pixel sees the whole kernel."""
    height, width = field_.shape[-2:]
    kh, kw = kernel.shape
    spec = torch.fft.rfft2(field_, s=(height, width)) * torch.fft.rfft2(kernel, s=(height, width))
    full = torch.fft.irfft2(spec, s=(height, width))  # circular; the wrapped part is discarded
    return full[..., kh - 1 :, kw - 1 :]


def normalise_kernel(kernel: torch.Tensor, normalize: str = "peak") -> torch.Tensor:
    """Scale a kernel to peak 1 (``"peak"``) or unit sum (``"sum"``)."""
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    if not torch.isfinite(kernel).all():
        raise InputError("kernel", "values", "contain NaN or inf.")
    if normalize == "peak":
        norm = kernel.max()
    elif normalize == "sum":
        norm = kernel.sum()
    else:
        raise InputError("kernel", "normalize", f"{normalize!r}", "Use 'peak' or 'sum'.")
    if float(norm) <= 0:
        raise InputError("kernel", normalize, "is not positive.")
    return kernel / norm


def psf_convolve(image: torch.Tensor, psf, normalize: str = "peak") -> torch.Tensor:
    """Convolve with a PSF ([P, P], peak at (P//2, P//2)), normalised to peak 1 (default:
    Jy/pixel -> Jy/beam, the dirty-image convention) or unit sum (keeps the pixel sum)."""
    return fft_convolve(image, normalise_kernel(torch.as_tensor(psf), normalize))


def gaussian_kernel(fwhm_pix: float, size: int | None = None) -> torch.Tensor:
    """Circular Gaussian sampled on pixels, unit sum, float64 [size, size] (odd size,
    default covering ±4 sigma). ``fwhm_pix``: FWHM in pixels."""
    if not fwhm_pix > 0:
        raise InputError("gaussian_kernel", "fwhm_pix", f"{fwhm_pix} must be > 0.")
    sigma = fwhm_pix / (2 * math.sqrt(2 * math.log(2)))
    if size is None:
        size = 2 * int(math.ceil(4 * sigma)) + 1
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    kernel = g[:, None] * g[None, :]
    return kernel / kernel.sum()


def change_beam(image: torch.Tensor, fwhm_from_pix: float, fwhm_to_pix: float) -> torch.Tensor:
    """Broaden a circular Gaussian beam from ``fwhm_from_pix`` to ``fwhm_to_pix`` (pixels).

    Convolves with a unit-sum Gaussian of FWHM sqrt(b2^2 - b1^2) and rescales by
    (b2/b1)^2 so values are Jy per new beam (point-source peaks and total flux kept).
    """
    b1, b2 = float(fwhm_from_pix), float(fwhm_to_pix)
    if not (b1 > 0 and b2 >= b1):
        raise InputError(
            "change_beam", "fwhm_to_pix", f"{b2} px must be >= the current beam {b1} px > 0.",
            "A beam can only be broadened.",
        )  # fmt: skip
    if b2 == b1:
        return image.clone()
    kernel = gaussian_kernel(math.sqrt(b2**2 - b1**2))
    return fft_convolve(image, kernel) * ((b2 / b1) ** 2)


# ----------------------------------------------------------------------------------
# noise
# ----------------------------------------------------------------------------------
def correlated_noise(
    shape: tuple[int, ...],
    rms: float,
    kernel: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Gaussian noise of standard deviation ``rms`` per pixel (in the image's unit, e.g.
    Jy/beam), white or correlated by ``kernel`` (the beam or the PSF, any normalisation).

    White noise on a field padded by the kernel size is 'valid'-convolved and divided by
    sqrt(sum kernel^2), so each pixel's variance is exactly rms^2 in expectation.
    """
    *lead, height, width = shape
    if kernel is None:
        white = torch.randn(*lead, height, width, generator=generator, dtype=torch.float64)
        return (white * rms).to(dtype)
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    kernel, _, _ = _crop_kernel(kernel, height, width)
    kh, kw = kernel.shape
    white = torch.randn(
        *lead, height + kh - 1, width + kw - 1, generator=generator, dtype=torch.float64
    )
    noise = _valid_convolve(white, kernel) / torch.sqrt((kernel**2).sum())
    return (noise * rms).to(dtype)


def add_noise(
    image: torch.Tensor,
    rms: float,
    kernel: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``image`` plus :func:`correlated_noise` of standard deviation ``rms`` (image units)."""
    noise = correlated_noise(tuple(image.shape), rms, kernel, generator, image.dtype)
    return image + noise.to(image.device)


# ----------------------------------------------------------------------------------
# normalisation and stretches
# ----------------------------------------------------------------------------------
def robust_stats(
    image: torch.Tensor, ignore_zeros: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Median and sigma = 1.4826 MAD over the last two axes (shapes [..., 1, 1], image units).

    With ``ignore_zeros`` exact zeros (blanked pixels filled with 0) are left out
    while other pixels remain. Falls back to the standard deviation (then 1) where
    the MAD is 0.
    """
    flat = image.detach().reshape(-1, image.shape[-2] * image.shape[-1]).cpu().double().numpy()
    medians = np.empty(len(flat))
    sigmas = np.empty(len(flat))
    for i, row in enumerate(flat):
        if ignore_zeros:
            nonzero = row[row != 0]
            row = nonzero if nonzero.size else row
        median, sigma = robust_median_sigma(row)
        if not sigma > 0:
            sigma = row.std()
        medians[i], sigmas[i] = median, sigma if sigma > 0 else 1.0
    shape = (*image.shape[:-2], 1, 1)
    as_tensor = lambda a: torch.as_tensor(a, dtype=image.dtype, device=image.device).reshape(shape)  # noqa: E731
    return as_tensor(medians), as_tensor(sigmas)


def normalise_noise(image: torch.Tensor, ignore_zeros: bool = True) -> torch.Tensor:
    """(image - median) / (1.4826 MAD): pixel values in units of the noise sigma."""
    median, sigma = robust_stats(image, ignore_zeros)
    return (image - median) / sigma


STRETCHES = ("arcsinh", "clip", "none")


def stretch(
    image_sigma: torch.Tensor,
    mode: str = "arcsinh",
    asinh_scale: float = 3.0,
    clip_sigma: tuple[float, float] = (-3.0, 50.0),
) -> torch.Tensor:
    """Compress the dynamic range of a noise-normalised image (values in sigma).

    ``arcsinh``: arcsinh(x / asinh_scale), linear within ~asinh_scale sigma and
    logarithmic for bright sources; ``clip``: clamp to ``clip_sigma`` and map to [0, 1];
    ``none``: unchanged.
    """
    if mode == "arcsinh":
        return torch.asinh(image_sigma / asinh_scale)
    if mode == "clip":
        lo, hi = clip_sigma
        return (image_sigma.clamp(lo, hi) - lo) / (hi - lo)
    if mode == "none":
        return image_sigma
    raise InputError("augment", "stretch", f"{mode!r}", f"Use one of {', '.join(STRETCHES)}.")


# ----------------------------------------------------------------------------------
# PSF bank helpers
# ----------------------------------------------------------------------------------
def psf_fwhm_pix(psf) -> float:
    """Equivalent circular FWHM (pixels) of a PSF's main lobe: the mean half-maximum
    radius along 8 directions (ln-value interpolated in r^2), times 2. NaN for a bad PSF."""
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != 2 or not np.isfinite(psf).all():
        return float("nan")
    c0, c1 = psf.shape[0] // 2, psf.shape[1] // 2
    peak = psf[c0, c1]
    if not peak > 0:
        return float("nan")
    radii = []
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)):
        step = math.hypot(dy, dx)
        prev = 1.0
        for n in range(1, max(psf.shape)):
            y, x = c0 + n * dy, c1 + n * dx
            if not (0 <= y < psf.shape[0] and 0 <= x < psf.shape[1]):
                break
            value = psf[y, x] / peak
            if value <= 0.5:
                r0, r1 = (n - 1) * step, n * step
                if value > 0:  # interpolate ln(value) in r^2: exact for a Gaussian main lobe
                    t = (math.log(prev) - math.log(0.5)) / (math.log(prev) - math.log(value))
                    radii.append(math.sqrt(r0**2 + t * (r1**2 - r0**2)))
                else:
                    radii.append(r0 + (prev - 0.5) / (prev - value) * (r1 - r0))
                break
            prev = value
    return 2.0 * float(np.mean(radii)) if radii else float("nan")


# ----------------------------------------------------------------------------------
# multi-crop transform
# ----------------------------------------------------------------------------------
@dataclass
class AugmentConfig:
    """Multi-crop radio augmentation settings (sizes in pixels, probabilities in [0, 1]).

    global_size, local_size : output sides of the global and local views (px); a
        ``global_size`` of None keeps the crop's own side (no resampling).
    n_local : number of local views; None = the method's default (DINO 8, others 0).
    global_scale, local_scale : area fractions of the crop. Global views keep 70-100%
        of it: on source-rich crops, smaller views often miss the sources the other view
        shows (docs/train.md); DINO on ImageNet used 0.4-1 and 0.05-0.4.
    ratio : aspect-ratio range of the crop boxes.
    dihedral : random 90° rotation / flip (8 elements, flux kept).
    p_beam, beam_factor : chance of a Gaussian beam broadening, by a factor b2/b1 drawn
        uniformly in ``beam_factor``; needs the native beam (``beam_fwhm_pix`` or the PSF bank).
    beam_fwhm_pix : native beam FWHM in pixels (None: measured from the dataset's PSFs).
    p_psf, psf_normalize : chance of convolving with a PSF drawn from the dataset's bank,
        normalised to ``peak`` (default) or ``sum``.
    p_noise, noise_sigma : chance of adding noise of rms f x (the view's 1.4826 MAD rms),
        f uniform in ``noise_sigma``, correlated by the beam (``noise_kernel="beam"``),
        the PSF (``"psf"``) or white (``"white"``).
    stretch, asinh_scale, clip_sigma : see :func:`stretch` (after noise normalisation).
    paired_views : with 2+ products (e.g. dirty, restored), the two global views show two
        different products of the same crop; local views use a random product.
    """

    global_size: int | None = None
    local_size: int = 32
    n_local: int | None = None
    global_scale: tuple[float, float] = (0.7, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.4)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    dihedral: bool = True
    p_beam: float = 0.2
    beam_factor: tuple[float, float] = (1.0, 1.6)
    beam_fwhm_pix: float | None = None
    p_psf: float = 0.1
    psf_normalize: str = "peak"
    p_noise: float = 0.5
    noise_sigma: tuple[float, float] = (0.3, 2.0)
    noise_kernel: str = "beam"
    stretch: str = "arcsinh"
    asinh_scale: float = 3.0
    clip_sigma: tuple[float, float] = (-3.0, 50.0)
    paired_views: bool = True

    def __post_init__(self):
        src = "augment config"
        for name in (
            "global_scale",
            "local_scale",
            "ratio",
            "beam_factor",
            "noise_sigma",
            "clip_sigma",
        ):
            value = getattr(self, name)
            if not (isinstance(value, (list, tuple)) and len(value) == 2):
                raise InputError(src, name, f"{value!r} is not a pair [low, high].")
            lo, hi = float(value[0]), float(value[1])
            if lo > hi:
                raise InputError(src, name, f"low {lo} > high {hi}.")
            setattr(self, name, (lo, hi))
        for name in ("global_scale", "local_scale"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi <= 1:
                raise InputError(src, name, "must lie in (0, 1].")
        for name in ("p_beam", "p_psf", "p_noise"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(src, name, "is a probability: use 0..1.")
        if self.beam_factor[0] < 1:
            raise InputError(src, "beam_factor", "must be >= 1 (beams only broaden).")
        if (
            (self.global_size is not None and self.global_size <= 0)
            or self.local_size <= 0
            or (self.n_local is not None and self.n_local < 0)
        ):
            raise InputError(src, "global_size/local_size/n_local", "must be positive.")
        if self.stretch not in STRETCHES:
            raise InputError(src, "stretch", f"{self.stretch!r}", f"Use {', '.join(STRETCHES)}.")
        if self.noise_kernel not in ("beam", "psf", "white"):
            raise InputError(
                src, "noise_kernel", f"{self.noise_kernel!r}", "Use beam, psf or white."
            )
        if self.psf_normalize not in ("peak", "sum"):
            raise InputError(src, "psf_normalize", f"{self.psf_normalize!r}", "Use peak or sum.")


@dataclass
class RadioMultiCrop:
    """DINO multi-crop for radio crops: 2 global + ``n_local`` local one-channel views.

    Per view: choose the product (channel); at native pixel scale, maybe broaden the
    beam or convolve with a bank PSF, maybe add correlated noise; measure median and
    1.4826 MAD rms of that whole image; cut a random resized crop; random dihedral
    element; normalise by the measured median/rms; stretch.

    Parameters
    ----------
    config : AugmentConfig
    psfs : optional PSF bank [n_fields, P, P] (peak 1; NaN-filled entries are ignored).
    """

    config: AugmentConfig = field(default_factory=AugmentConfig)
    psfs: np.ndarray | None = None

    def __post_init__(self):
        self._bank: list[torch.Tensor] = []
        self._bank_index: dict[int, int] = {}
        self._fwhm: dict[int, float] = {}
        if self.psfs is not None:
            for fid, psf in enumerate(np.asarray(self.psfs)):
                fwhm = psf_fwhm_pix(psf)
                if np.isfinite(fwhm):
                    self._bank_index[fid] = len(self._bank)
                    self._bank.append(torch.as_tensor(psf, dtype=torch.float64))
                    self._fwhm[fid] = fwhm
        cfg = self.config
        if cfg.beam_fwhm_pix is not None:
            self.default_fwhm = float(cfg.beam_fwhm_pix)
        elif self._fwhm:
            self.default_fwhm = float(np.median(list(self._fwhm.values())))
        else:
            self.default_fwhm = None

    @property
    def n_views(self) -> int:
        return 2 + (self.config.n_local or 0)

    def beam_fwhm(self, field_id: int | None) -> float | None:
        """Native beam FWHM (px) of a field: config value, else the field's PSF, else median."""
        if self.config.beam_fwhm_pix is not None:
            return float(self.config.beam_fwhm_pix)
        if field_id is not None and int(field_id) in self._fwhm:
            return self._fwhm[int(field_id)]
        return self.default_fwhm

    def _physical(self, plane: torch.Tensor, fwhm: float | None, gen) -> torch.Tensor:
        cfg = self.config
        kernel_psf = None
        if fwhm is not None and _chance(cfg.p_beam, gen):
            new = fwhm * _uniform(*cfg.beam_factor, gen)
            plane = change_beam(plane, fwhm, new)
            fwhm = new
        if self._bank and _chance(cfg.p_psf, gen):
            kernel_psf = self._bank[_randint(len(self._bank), gen)]
            plane = psf_convolve(plane, kernel_psf, cfg.psf_normalize)
        if _chance(cfg.p_noise, gen):
            rms = float(robust_stats(plane)[1].max()) * _uniform(*cfg.noise_sigma, gen)
            kernel = None
            if cfg.noise_kernel == "psf" and self._bank:
                kernel = (
                    kernel_psf
                    if kernel_psf is not None
                    else self._bank[_randint(len(self._bank), gen)]
                )
            elif cfg.noise_kernel in ("beam", "psf") and fwhm is not None:
                kernel = gaussian_kernel(fwhm)
            plane = add_noise(plane, rms, kernel, gen)
        return plane

    def _finish(self, plane: torch.Tensor, size: int, scale, gen) -> torch.Tensor:
        cfg = self.config
        median, sigma = robust_stats(plane)
        view = random_resized_crop(plane, size, scale, cfg.ratio, gen)
        if cfg.dihedral:
            view = random_dihedral(view, gen)
        view = (view - median) / sigma
        return stretch(view, cfg.stretch, cfg.asinh_scale, cfg.clip_sigma).to(torch.float32)

    def __call__(
        self,
        image: torch.Tensor,
        generator: torch.Generator | None = None,
        field_id: int | None = None,
    ) -> list[torch.Tensor]:
        """image [C, H, W] (C products, Jy/beam) -> list of 2 + n_local tensors [1, h, w]."""
        if image.ndim != 3:
            raise InputError(
                "RadioMultiCrop", "image", f"needs [C, H, W], got {tuple(image.shape)}."
            )
        cfg = self.config
        gen = generator
        n_chan = image.shape[0]
        fwhm = self.beam_fwhm(field_id)
        if cfg.paired_views and n_chan >= 2:
            first = _randint(n_chan, gen)
            second = (first + 1 + _randint(n_chan - 1, gen)) % n_chan
            global_channels = [first, second]
        else:
            global_channels = [_randint(n_chan, gen) for _ in range(2)]
        views = []
        for c in global_channels:
            plane = self._physical(image[c : c + 1], fwhm, gen)
            size = cfg.global_size or image.shape[-1]
            views.append(self._finish(plane, size, cfg.global_scale, gen))
        for _ in range(cfg.n_local or 0):
            c = _randint(n_chan, gen)
            plane = self._physical(image[c : c + 1], fwhm, gen)
            views.append(self._finish(plane, cfg.local_size, cfg.local_scale, gen))
        return views

    def eval_view(
        self, image: torch.Tensor, channel: int = 0, scale_jy: float | None = None
    ) -> torch.Tensor:
        """The deterministic global view for embedding: the whole crop of one product,
        normalised by its median and 1.4826 MAD (or, with ``scale_jy``, by that fixed
        rms in Jy/beam after subtracting its median), resized to ``global_size``, stretched."""
        cfg = self.config
        plane = image[channel : channel + 1]
        if scale_jy is None:
            median, sigma = robust_stats(plane)
            view = resize((plane - median) / sigma, cfg.global_size or plane.shape[-1])
        else:
            plane = plane.to(torch.float64)
            view = resize((plane - plane.median()) / float(scale_jy),
                          cfg.global_size or plane.shape[-1])  # fmt: skip
        return stretch(view, cfg.stretch, cfg.asinh_scale, cfg.clip_sigma).to(torch.float32)
