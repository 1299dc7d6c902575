"""The two-layer assignment's two flows: the modular (2021+) flow builds from the same source/,
and nbgrader never releases the other flow's notebook.

The course is switched to ``flow = "modular"`` in memory (``Course.with_flow``) or in a copy of
course.toml, and built into a temporary folder.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.errors import BuildError
from coursekit.tracks import build_tracks
from coursekit.tracks.kitnotebook import KIT_NOTEBOOK, CoursePoints, check_released_notebook
from coursekit.tracks.trees import read_tree

ROOT = Path(__file__).resolve().parents[3]
NBGRADER_TIMEOUT = 120  # seconds: only stops a hang
MODULAR_MODULES = {"cs231n/classifiers/fc_net.py", "cs231n/layers.py", "cs231n/layer_utils.py", "cs231n/solver.py",
                   "cs231n/optim.py"}


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


@pytest.fixture(scope="module")
def modular_build(course, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("modular-build")
    build_tracks(course.with_flow("two_layer_net", "modular"), ["two_layer_net"], out_root=root)
    return root


def test_the_modular_release_ships_the_2021_files(modular_build):
    """Does the modular release hold fc_net.py, layers.py and the Solver (not neural_net.py), the
    modular notebook under the official name, and a self-check of the modular checks?"""
    release = modular_build / "release" / "two_layer_net"
    files = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    assert MODULAR_MODULES <= files and "cs231n/classifiers/neural_net.py" not in files
    assert {"two_layer_net.ipynb", KIT_NOTEBOOK} <= files and not any(f.startswith("modular/") for f in files)
    notebook = nbformat.read(release / "two_layer_net.ipynb", as_version=4)
    assert "from cs231n.classifiers.fc_net import *" in notebook.cells[1].source
    checks = json.loads((release / "selfcheck" / "public_cases.json").read_text())
    assert "two_layer_gradients" in json.dumps(checks) and "toy_training" not in json.dumps(checks)
    kit = nbformat.read(release / KIT_NOTEBOOK, as_version=4)
    assert "two_layer_init" in kit.cells[0].source and "predict" not in kit.cells[0].source


def test_the_release_stubs_what_students_write(modular_build):
    """Is TwoLayerNet a stub in the release and whole in the solutions, with the official save/load given?"""
    release = (modular_build / "release" / "two_layer_net" / "cs231n/classifiers/fc_net.py").read_text()
    solution = (modular_build / "solutions" / "two_layer_net" / "cs231n/classifiers/fc_net.py").read_text()
    assert 'raise NotImplementedError("TwoLayerNet.loss in cs231n/classifiers/fc_net.py' in release
    assert "affine_relu_forward(X, W1, b1)" in solution and "affine_relu_forward(X, W1, b1)" not in release
    assert release.count("def save(self, fname):") == 2 and "np.save(os.path.join(SAVED_DIR, fname), params)" in release


def test_nbgrader_refuses_the_other_flows_notebook(course):
    """Does the nbgrader pass refuse, naming the key, a notebook at the top of source/<id>/ that the
    course's flow does not list (it would release the other flow's notebook)?"""
    modular = course.with_flow("two_layer_net", "modular").assignment("two_layer_net")
    with pytest.raises(BuildError, match=r"assignments\.two_layer_net\.flows\.modular\.notebooks.*README"):
        check_released_notebook(modular, "two_layer_net.ipynb")
    check_released_notebook(modular, KIT_NOTEBOOK)
    check_released_notebook(course.assignment("two_layer_net"), "two_layer_net.ipynb")
    assert CoursePoints().enabled  # nbconvert passes are off unless enabled: nbgrader must run this one


def test_swapping_the_notebooks_releases_the_modular_flow_with_nbgrader(tmp_path):
    """With the notebooks swapped as the README says (the modular one at the top of source/two_layer_net/),
    does `nbgrader generate_assignment` release the modular notebook and modules, as `coursekit build` does?"""
    root = tmp_path / "course"
    folder = root / "source" / "two_layer_net"
    shutil.copytree(ROOT / "source" / "two_layer_net", folder)
    os.symlink(ROOT / "source" / "cs231n", root / "source" / "cs231n")  # the package this process imported
    (folder / "neural_net").mkdir()
    os.replace(folder / "two_layer_net.ipynb", folder / "neural_net" / "two_layer_net.ipynb")
    os.replace(folder / "modular" / "two_layer_net.ipynb", folder / "two_layer_net.ipynb")
    text = (ROOT / "course.toml").read_text()
    for old, new in (('flow = "neural_net"', 'flow = "modular"'),
                     ('notebooks = ["two_layer_net.ipynb"]', 'notebooks = ["neural_net/two_layer_net.ipynb"]'),
                     ('notebooks = ["modular/two_layer_net.ipynb"]', 'notebooks = ["two_layer_net.ipynb"]')):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (root / "course.toml").write_text(text)
    course = load_config(root / "course.toml")
    build_tracks(course, ["two_layer_net"], out_root=root / "built")
    build_tracks(course, ["two_layer_net"])  # in the course: nbgrader_config.py, source/.../coursekit_modules.ipynb
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    shutil.rmtree(root / "release")
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "two_layer_net"], cwd=root,
                          text=True, capture_output=True, timeout=NBGRADER_TIMEOUT, env={**os.environ, "PATH": path})
    assert done.returncode == 0, done.stdout + done.stderr
    released = read_tree(root, ["release/two_layer_net"])
    assert "release/two_layer_net/cs231n/classifiers/fc_net.py" in released
    assert "release/two_layer_net/cs231n/classifiers/neural_net.py" not in released
    built = read_tree(root / "built", ["release/two_layer_net"])
    for name in ("cs231n/classifiers/fc_net.py", "cs231n/layers.py"):
        assert released[f"release/two_layer_net/{name}"] == built[f"release/two_layer_net/{name}"]
    notebook = nbformat.reads(released["release/two_layer_net/two_layer_net.ipynb"].decode(), as_version=4)
    assert "TwoLayerNet(input_dim=D, hidden_dim=H" in "".join(c.source for c in notebook.cells)


def test_the_fc_net_release_says_its_two_layer_net_is_not_graded(course):
    """fc_net.py also holds the modular TwoLayerNet: does the fc_net release tell students (notebook and
    class docstring) that this assignment does not grade it, and is that true (no fc_net check builds it)?"""
    from coursekit.grade.pipeline import build_checks

    release = ROOT / "release" / "fc_net"
    intro = json.loads((release / "fc_net.ipynb").read_text())["cells"][0]
    assert "this assignment does not grade `TwoLayerNet`" in "".join(intro["source"])
    net = (release / "cs231n/classifiers/fc_net.py").read_text()
    assert "The fc_net assignment does not grade it" in net[net.index("class TwoLayerNet"):net.index("def __init__")]
    built = [task.spec.get("init", {}).get("cls", "") for check in build_checks(course, "fc_net", hidden_seed=1)
             for task in check.tasks]
    assert built and not [cls for cls in built if cls.endswith(":TwoLayerNet")]
