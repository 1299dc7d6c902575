"""The nets' official-style API: `from cs231n.classifiers.fc_net import *`, net.save and net.load.

`save(fname)` and `load(fname)` behave as in the official CS231n 2021+ code: `np.save` of the
params dict to `cs231n/saved/<fname>` with "<fname> saved.", and `load` prints
"<fname> not available." and returns False for a missing file, "<fname> loaded." and True
otherwise. The nets import nothing that an official `cs231n` tree lacks.
"""
import ast
from pathlib import Path

import numpy as np
import pytest

import cs231n.classifiers.fc_net as fc_net
import cs231n.classifiers.neural_net as neural_net

D, C, HIDDEN = 12, 4, [7, 5]
CLASSIFIERS = Path(fc_net.__file__).resolve().parent
# What an official cs231n package (2017-2026) holds besides the classifiers: the nets may import these.
OFFICIAL_SIBLINGS = {"layers", "layer_utils", "fast_layers", "optim", "solver", "data_utils",
                     "gradient_check", "vis_utils"}


def test_star_import_gives_what_the_official_module_gives():
    """Do the official notebooks' names (TwoLayerNet, batchnorm_forward, ...) come with fc_net's *?"""
    namespace = {}
    exec("from cs231n.classifiers.fc_net import *", namespace)
    import cs231n.layer_utils as layer_utils
    import cs231n.layers as layers

    wanted = {name for module in (layers, layer_utils) for name, value in vars(module).items()
              if callable(value) and not name.startswith("_") and value.__module__ == module.__name__}
    assert wanted - set(namespace) == set()
    assert {"TwoLayerNet", "FullyConnectedNet", "batchnorm_forward"} <= set(namespace)


@pytest.mark.parametrize("module", ["fc_net.py", "neural_net.py"])
def test_the_nets_import_nothing_an_official_tree_lacks(module):
    """Does the net import only numpy, the standard library and official cs231n modules (no model_io)?"""
    tree = ast.parse((CLASSIFIERS / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            imported |= ({node.module.split(".")[0]} if node.module else {a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
    assert imported <= {"numpy", "os"} | OFFICIAL_SIBLINGS, imported


def _nets():
    """(module, a small net of each class with non-trivial params)."""
    np.random.seed(0)
    yield fc_net, fc_net.TwoLayerNet(input_dim=D, hidden_dim=6, num_classes=C, weight_scale=0.1)
    yield fc_net, fc_net.FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization="batchnorm",
                                           dtype=np.float64)
    yield neural_net, neural_net.TwoLayerNet(D, 6, C, std=0.1)


NETS = ["TwoLayerNet (fc_net.py)", "FullyConnectedNet", "TwoLayerNet (neural_net.py)"]


@pytest.fixture
def saved_dir(tmp_path, monkeypatch):
    """cs231n/saved/ of a temporary tree: the nets write there instead of into source/."""
    folder = tmp_path / "cs231n" / "saved"
    for module in (fc_net, neural_net):
        monkeypatch.setattr(module, "SAVED_DIR", str(folder))
    return folder


@pytest.mark.parametrize("index", range(len(NETS)), ids=NETS)
def test_save_writes_the_params_dict_under_cs231n_saved(saved_dir, capsys, index):
    """Does net.save("best.npy") write np.save of net.params as cs231n/saved/best.npy and say so?"""
    _, net = list(_nets())[index]
    net.params["b1"] = net.params["b1"] + 0.25
    net.save("best.npy")
    assert capsys.readouterr().out == "best.npy saved.\n"
    saved = np.load(saved_dir / "best.npy", allow_pickle=True).item()
    assert isinstance(saved, dict) and sorted(saved) == sorted(net.params)
    for name, value in net.params.items():
        np.testing.assert_array_equal(saved[name], value)


@pytest.mark.parametrize("index", range(len(NETS)), ids=NETS)
def test_load_returns_true_and_restores_the_params(saved_dir, capsys, index):
    """Does net.load(fname) of a saved file print "<fname> loaded.", return True and restore params?"""
    module, net = list(_nets())[index]
    net.params["W1"] = net.params["W1"] * 3
    net.save("model.npy")
    _, other = list(_nets())[index]
    capsys.readouterr()
    assert other.load("model.npy") is True
    assert capsys.readouterr().out == "model.npy loaded.\n"
    for name, value in net.params.items():
        np.testing.assert_array_equal(other.params[name], value)


@pytest.mark.parametrize("index", range(len(NETS)), ids=NETS)
def test_load_of_a_missing_file_returns_false(saved_dir, capsys, index):
    """Does net.load of a missing file print "<fname> not available." and return False, params kept?"""
    _, net = list(_nets())[index]
    before = {k: v.copy() for k, v in net.params.items()}
    assert net.load("nothing.npy") is False
    assert capsys.readouterr().out == "nothing.npy not available.\n"
    assert all(np.array_equal(before[k], net.params[k]) for k in before)


def test_saved_is_next_to_classifiers_in_the_package():
    """Is the nets' folder cs231n/saved, the one the official collectSubmission script collects?"""
    for module in (fc_net, neural_net):
        assert Path(module.SAVED_DIR) == CLASSIFIERS.parent / "saved"
