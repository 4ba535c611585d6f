"""meersim.imaging: imaging weights, gridding (ducc0), dirty image, PSF and clean-beam fit."""

from meersim.imaging.beamfit import convolve_with_beam, fit_clean_beam
from meersim.imaging.gridder import image_to_vis, vis_to_image
from meersim.imaging.images import make_dirty, make_psf, predicted_rms, residual_image
from meersim.imaging.weighting import Weighting, imaging_weights

__all__ = [
    "Weighting",
    "convolve_with_beam",
    "fit_clean_beam",
    "image_to_vis",
    "imaging_weights",
    "make_dirty",
    "make_psf",
    "predicted_rms",
    "residual_image",
    "vis_to_image",
]
