"""vis_utils.visualize_grid."""
import numpy as np

from cs231n.vis_utils import visualize_grid


def test_grid_shape_and_scaling():
    """Are 10 images laid out on a 4x4 grid with padding, each scaled to [0, 255]?"""
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(10, 5, 6, 3))
    grid = visualize_grid(Xs, padding=1)
    assert grid.shape == (4 * 5 + 3, 4 * 6 + 3, 3)
    first = grid[0:5, 0:6]
    assert np.isclose(first.min(), 0) and np.isclose(first.max(), 255)
    assert np.all(grid[5, :, :] == 0)  # padding row


def test_constant_image_does_not_divide_by_zero():
    """Does a constant image (e.g. an untrained weight) render as zeros, not NaN?"""
    grid = visualize_grid(np.ones((1, 2, 2, 3)))
    assert np.all(grid == 0)
