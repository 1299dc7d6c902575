"""The generated course against the real nbgrader (slowish: each test runs nbgrader once or twice).

One copy of the fixture course is built with ``build_tracks`` (which also writes its
``nbgrader_config.py``) and then released with ``nbgrader generate_assignment``, run in
the course folder as an instructor would.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from coursekit.tracks import build_tracks
from coursekit.tracks.trees import diff_trees, read_tree
from coursekit.config import load_config

from .conftest import FIXTURE_COURSE

NBGRADER_TIMEOUT = 120  # seconds per nbgrader command


def nbgrader(root, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in the course folder; fail the test with its output if it fails."""
    # nbgrader runs `alembic` from PATH to create the gradebook: use this interpreter's one.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, text=True,
                          capture_output=True, timeout=NBGRADER_TIMEOUT,
                          env={**os.environ, "PATH": path})
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A built copy of the fixture course, then released by nbgrader; returns (root, built)."""
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    shutil.copytree(FIXTURE_COURSE, root)
    build_tracks(load_config(root / "course.toml"))
    built = read_tree(root, ["release"])
    nbgrader(root, "generate_assignment", "basics", "--force")
    return root, built


def test_generate_assignment_writes_the_same_release(released):
    """Does `nbgrader generate_assignment` in the course folder write exactly our release?"""
    root, built = released
    assert read_tree(root, ["release"]) == built, "\n".join(
        diff_trees(built, read_tree(root, ["release"])))


def test_generate_assignment_fills_the_gradebook(released):
    """Does nbgrader record the assignment and its graded cells in the gradebook?"""
    root, _ = released
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_notebook("basics", "basics")
        assert sorted(cell.name for cell in notebook.grade_cells) == [
            "explain", "test_relu", "test_square"]
        assert notebook.max_score == 4


def test_validate_passes_on_the_solutions(released):
    """Does `nbgrader validate` pass on the solution notebook?"""
    root, _ = released
    done = nbgrader(root, "validate", "solutions/basics/basics.ipynb")
    assert "Success! Your notebook passes all the tests." in done.stdout


def test_autograde_grades_a_submission(released):
    """Does `nbgrader autograde` grade a solved and an untouched submission as expected?"""
    root, _ = released
    shutil.copytree(root / "solutions/basics", root / "submitted/alice/basics")
    shutil.copytree(root / "release/basics", root / "submitted/bob/basics")
    nbgrader(root, "autograde", "basics")  # adds the students to the gradebook as it goes
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        alice = gradebook.find_submission("basics", "alice")
        bob = gradebook.find_submission("basics", "bob")
        assert (alice.score, alice.max_score) == (3.0, 4.0)  # the written answer needs a human
        assert bob.score == 0.0
