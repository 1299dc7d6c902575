"""The benchmark's variants of the solution code compute what the solution computes."""
from __future__ import annotations

import numpy as np
import pytest

from bench import variants
from bench.common import use_source


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_in_cache_blocks_is_the_same_update(dtype):
    """Does the blocked adam (not adopted, README Benchmarks) give the solution's w, m and v, over
    blocks that do not divide the array evenly and the first steps, where the bias corrections matter?"""
    use_source()
    from cs231n.optim import adam

    rng = np.random.default_rng(0)
    shape = (300, 257)  # 77,100 elements: two full blocks and a partial one
    assert np.prod(shape) % variants.CACHE_BLOCK and np.prod(shape) > 2 * variants.CACHE_BLOCK
    w = rng.standard_normal(shape).astype(dtype)
    solution, blocked = (w.copy(), {}), (w.copy(), {})
    for _ in range(3):
        dw = rng.standard_normal(shape).astype(dtype)
        solution = adam(solution[0], dw, solution[1])
        blocked = variants.adam_in_cache_blocks(blocked[0], dw, blocked[1])
    tolerance = 1e-5 if dtype is np.float32 else 1e-12
    for key in ("m", "v"):
        np.testing.assert_allclose(blocked[1][key], solution[1][key], rtol=tolerance)
    np.testing.assert_allclose(blocked[0], solution[0], rtol=tolerance, atol=tolerance)
    assert blocked[1]["t"] == solution[1]["t"] == 3


def test_adam_in_cache_blocks_refuses_a_w_it_would_copy():
    """A w that is not contiguous would be updated in a copy: refused, not silently lost."""
    w = np.zeros((64, 32)).T  # its flat view would be a copy
    with pytest.raises(ValueError, match="contiguous"):
        variants.adam_in_cache_blocks(w, np.ones_like(w))
