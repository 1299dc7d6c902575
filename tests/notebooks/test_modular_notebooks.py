"""The two-layer assignment's modular (2021+) notebook, built into a temporary folder (the committed
course is on the neural_net flow): the solution runs clean under nbval in fast mode, and the
release fails only where student code is missing, by the rules of test_release_notebooks.py.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit.config import load_config
from coursekit.tracks import build_tracks

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NAME = "two_layer_net.ipynb"
SOURCE = ROOT / "source" / "two_layer_net" / "modular" / NAME
NOTEBOOK_TIMEOUT = 900  # seconds for the whole notebook: only stops a hang
CELL_TIMEOUT = 600
OUTPUT_TAIL_CHARS = 6000

_spec = importlib.util.spec_from_file_location("release_notebook_rules", HERE / "test_release_notebooks.py")
rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rules)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("modular-notebooks")
    build_tracks(load_config(ROOT / "course.toml").with_flow("two_layer_net", "modular"), ["two_layer_net"],
                 out_root=root)
    return root


@pytest.mark.dataset
def test_modular_solution_notebook_runs_clean(tracks, cifar10_dir, tmp_path):
    """Does the modular solution notebook run without an error under `pytest --nbval-lax` in fast mode?"""
    folder = tmp_path / "two_layer_net"
    shutil.copytree(tracks / "solutions" / "two_layer_net", folder)
    env = {**os.environ, "COURSEKIT_FAST": "1", "CIFAR10_DIR": str(cifar10_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", NAME],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-OUTPUT_TAIL_CHARS:]
    assert (folder / "cs231n" / "saved" / "best_two_layer_net.npy").is_file()


@pytest.mark.dataset
def test_modular_release_notebook_fails_only_at_student_code(tracks, cifar10_dir, tmp_path):
    """Does the modular release notebook run to the end with only the errors unwritten code explains?"""
    folder = tmp_path / "two_layer_net"
    shutil.copytree(tracks / "release" / "two_layer_net", folder)
    nb = nbformat.read(folder / NAME, as_version=4)
    env = {**os.environ, "COURSEKIT_FAST": "1", "CIFAR10_DIR": str(cifar10_dir)}
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    client.execute(env=env)
    problems = rules.disallowed_errors(nb, nbformat.read(SOURCE, as_version=4), folder, NAME)
    assert not problems, "\n".join(problems)
    assert any(rules.cell_error(cell) for cell in nb.cells)
