"""The nets' official-style API: `from cs231n.classifiers.fc_net import *`, net.save and net.load.

Files written by `net.save(path)` are read back as the grader reads a saved model
(coursekit.grade.models: allow_pickle=False, keys, shapes and dtypes, the kit's own
forward pass), so the methods and cs231n/model_io.py are one format.
"""
import numpy as np
import pytest

from coursekit.grade import models

D, C, HIDDEN = 12, 4, [7, 5]
SCORES_RTOL = 1e-10  # the kit's forward pass against the net's own test-mode scores (float64)


def test_star_import_gives_what_the_official_module_gives():
    """Do the official notebooks' names (batchnorm_forward, relu_forward, ...) come with fc_net's *?"""
    namespace = {}
    exec("from cs231n.classifiers.fc_net import *", namespace)
    import cs231n.layer_utils as layer_utils
    import cs231n.layers as layers

    wanted = {name for module in (layers, layer_utils) for name, value in vars(module).items()
              if callable(value) and not name.startswith("_") and value.__module__ == module.__name__}
    assert wanted - set(namespace) == set()
    assert "FullyConnectedNet" in namespace and "batchnorm_forward" in namespace


def test_two_layer_save_is_read_by_the_grader(tmp_path):
    """Does TwoLayerNet.save write what the saved_model check accepts, and load restore it?"""
    from cs231n.classifiers.neural_net import TwoLayerNet

    np.random.seed(0)
    net = TwoLayerNet(D, 6, C, std=0.1)
    net.params["b1"] += 0.3
    path = tmp_path / "best_two_layer_net.npz"
    net.save(path)
    params = models.validate_two_layer(models.load_npz(path), path.name, D, C)
    X = np.random.default_rng(1).standard_normal((9, D))
    np.testing.assert_allclose(models.two_layer_scores(params, X), net.loss(X), rtol=SCORES_RTOL)
    other = TwoLayerNet(D, 6, C)
    assert other.load(path) is other
    np.testing.assert_array_equal(other.params["b1"], net.params["b1"])


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_fc_save_is_read_by_the_grader(tmp_path, normalization):
    """Does FullyConnectedNet.save write what the saved_model check accepts, and load restore it?"""
    from cs231n.classifiers.fc_net import FullyConnectedNet

    np.random.seed(0)
    net = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization=normalization,
                            weight_scale=0.5, dtype=np.float64)
    rng = np.random.default_rng(2)
    net.loss(rng.standard_normal((20, D)), rng.integers(0, C, 20))  # running statistics
    path = tmp_path / "best_fc_net.npz"
    net.save(path)
    params, layers, norm = models.validate_fc(models.load_npz(path), path.name, D, C)
    X = rng.standard_normal((9, D))
    expected = net.loss(X)
    np.testing.assert_allclose(models.fc_scores(params, X, layers, norm), expected, rtol=SCORES_RTOL)
    fresh = FullyConnectedNet([3], input_dim=D, num_classes=C)
    assert fresh.load(path) is fresh
    np.testing.assert_allclose(fresh.loss(X), expected, rtol=SCORES_RTOL)
