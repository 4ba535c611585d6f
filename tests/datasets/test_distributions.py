"""Fixed-or-distribution config values."""

import numpy as np
import pytest

from meersim.datasets import distributions as d
from meersim.errors import InputError


def test_draws_stay_in_range_and_are_reproducible():
    rng = np.random.default_rng(0)
    u = [d.draw({"uniform": [2.0, 3.0]}, rng) for _ in range(200)]
    lu = [d.draw({"loguniform": [1e-6, 1e-4]}, rng) for _ in range(200)]
    ri = [d.draw({"randint": [1, 3]}, rng) for _ in range(200)]
    nc = [d.draw({"normal": [0.0, 5.0, -1.0, 1.0]}, rng) for _ in range(200)]
    ch = [d.draw({"choice": ["a", "b"]}, rng) for _ in range(200)]
    assert min(u) >= 2 and max(u) < 3
    assert min(lu) >= 1e-6 and max(lu) < 1e-4
    # log-uniform: about half the draws below the geometric mean 1e-5
    assert 0.35 < np.mean(np.array(lu) < 1e-5) < 0.65
    assert set(ri) == {1, 2, 3}
    assert min(nc) == -1.0 and max(nc) == 1.0
    assert set(ch) == {"a", "b"}
    assert d.draw(5, rng) == 5 and d.draw(None, rng) is None
    a = d.draw({"normal": [1.0, 2.0]}, np.random.default_rng(4))
    assert a == d.draw({"normal": [1.0, 2.0]}, np.random.default_rng(4))


@pytest.mark.parametrize(
    "bad",
    [
        {"uniform": [3, 1]},
        {"loguniform": [0, 1]},
        {"normal": [0]},
        {"poisson": [1]},
        {"uniform": "1,2"},
        {"choice": []},
        {"uniform": ["a", "b"]},
    ],
)
def test_bad_distributions_name_the_key(bad):
    with pytest.raises(InputError, match="field.npix"):
        d.check(bad, "cfg", "field.npix")
