import numpy as np

from meersim.grid import Grid
from meersim.imaging.gridder import image_to_vis, vis_to_image

C = 299792458.0


def _dft(uvw, freqs, l0, m0):
    n0 = np.sqrt(1 - l0**2 - m0**2)
    u, v, w = (uvw[:, :, None] * freqs[None, None, :] / C).transpose(1, 0, 2)
    return np.exp(-2j * np.pi * (u * l0 + v * m0 + w * (n0 - 1)))


def test_point_source_matches_direct_measurement_equation():
    grid = Grid(64, 48, 2.0, 150.0, -30.0, (1.2e9, 1.4e9))
    rng = np.random.default_rng(1)
    uvw = rng.normal(size=(50, 3)) * 2000.0
    image = np.zeros((grid.npix_y, grid.npix_x))
    x0, y0 = 10, 37  # east of centre (x < nx/2) and north (y > ny/2)
    image[y0, x0] = 2.5
    vis = image_to_vis(image, uvw, grid.freqs, grid.cell_rad, epsilon=1e-10)
    l0, m0 = -(x0 - grid.npix_x // 2) * grid.cell_rad, (y0 - grid.npix_y // 2) * grid.cell_rad
    assert l0 > 0 and m0 > 0
    np.testing.assert_allclose(vis, 2.5 * _dft(uvw, grid.freqs, l0, m0), atol=1e-8)
    # The pixel of (l0, m0) by the WCS is the pixel we set.
    ra, dec = grid.pixel_to_world(x0, y0)
    l, m = grid.radec_to_lm(ra, dec)
    np.testing.assert_allclose([l, m], [l0, m0], rtol=1e-9)


def test_vis_to_image_is_adjoint():
    grid = Grid(32, 40, 3.0, 10.0, -45.0, (1.3e9,))
    rng = np.random.default_rng(2)
    uvw = rng.normal(size=(30, 3)) * 1500.0
    image = rng.normal(size=(grid.npix_y, grid.npix_x))
    vis = rng.normal(size=(30, 1)) + 1j * rng.normal(size=(30, 1))
    a = np.vdot(vis, image_to_vis(image, uvw, grid.freqs, grid.cell_rad, epsilon=1e-10))
    back = vis_to_image(
        vis, uvw, grid.freqs, grid.npix_x, grid.npix_y, grid.cell_rad, epsilon=1e-10
    )
    b = np.sum(image * back)
    np.testing.assert_allclose(a.real, b, rtol=1e-7)
