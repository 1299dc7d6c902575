"""Which modules the graded ones import, found by parsing (coursekit/grade/imports.py)."""
from __future__ import annotations

from coursekit.grade.imports import import_closure, module_name

FILES = {
    "cs231n/__init__.py": b"",
    "cs231n/classifiers/__init__.py": b"from .k_nearest_neighbor import *\n",
    "cs231n/classifiers/k_nearest_neighbor.py": b"import numpy as np\n",
    "cs231n/classifiers/fc_net.py": (b"from __future__ import print_function\nimport numpy as np\n"
                                     b"from ..layers import *\nfrom ..layer_utils import *\nfrom .. import model_io\n"),
    "cs231n/layers.py": b"def f():\n    import cs231n.helpers.deep as deep\n    return deep\n",
    "cs231n/layer_utils.py": b"from .layers import *\ntry:\n    from cs231n.fast_layers import *\nexcept ImportError:\n    pass\n",
    "cs231n/fast_layers.py": b"import torch\nfrom cs231n.im2col_cython import col2im_cython\n",
    "cs231n/helpers/__init__.py": b"",
    "cs231n/helpers/deep.py": b"from ...outside import x\nfrom ..data_utils import load\n",
    "cs231n/data_utils.py": b"import pickle\n",
    "cs231n/solver.py": b"from cs231n import optim\n",
    "cs231n/optim.py": b"this is not python (\n",
    "cs231n/vis_utils.py": b"import matplotlib\n",
}


def closure(roots):
    return set(import_closure(list(roots), FILES.__contains__, FILES.get))


def test_every_import_form_is_followed():
    """Are relative, absolute, star, aliased, nested and try-block imports followed, with the packages above?"""
    found = closure(["cs231n/classifiers/fc_net.py"])
    assert found == {"cs231n/__init__.py", "cs231n/classifiers/__init__.py", "cs231n/classifiers/k_nearest_neighbor.py",
                     "cs231n/classifiers/fc_net.py", "cs231n/layers.py", "cs231n/layer_utils.py",
                     "cs231n/fast_layers.py", "cs231n/helpers/__init__.py", "cs231n/helpers/deep.py",
                     "cs231n/data_utils.py"}  # model_io, im2col_cython: no file answers them


def test_unparsable_files_and_other_packages_stop_the_walk():
    """Does a file that does not parse import nothing, and are numpy/torch/matplotlib never followed?"""
    assert closure(["cs231n/solver.py"]) == {"cs231n/__init__.py", "cs231n/solver.py", "cs231n/optim.py"}
    assert closure(["cs231n/vis_utils.py"]) == {"cs231n/__init__.py", "cs231n/vis_utils.py"}


def test_module_names():
    """Is a package's __init__.py the package itself?"""
    assert module_name("cs231n/classifiers/__init__.py") == "cs231n.classifiers"
    assert module_name("cs231n/classifiers/fc_net.py") == "cs231n.classifiers.fc_net"
