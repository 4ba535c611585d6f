"""The number behind a map's visible structure."""

import numpy as np
import pytest

from meersim.eval.maps import map_structure


@pytest.mark.parametrize("n", [400, 4100])
def test_map_structure_separates_smooth_from_random_colourings(n):
    rng = np.random.default_rng(0)
    coords = rng.uniform(size=(n, 2))
    smooth = 3 * coords[:, 0] + rng.normal(0, 0.1, n)
    assert map_structure(coords, smooth) > 0.85
    shuffled = rng.permutation(smooth)
    # neighbours of a random colouring predict nothing: R² = -1/k in expectation
    assert abs(map_structure(coords, shuffled) + 0.1) < 0.1


def test_map_structure_of_constant_or_tiny_inputs_is_nan():
    coords = np.zeros((50, 2))
    assert np.isnan(map_structure(coords, np.ones(50)))
    assert np.isnan(map_structure(coords[:5], np.arange(5.0)))
