"""One point table (coursekit/tracks/kitnotebook.py): the build takes every point from course.toml."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.errors import BuildError
from coursekit.tracks.generate import render_tracks
from coursekit.tracks.kitnotebook import KIT_NOTEBOOK, CoursePoints

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def course_copy(tmp_path, monkeypatch):
    """course.toml and source/ of the real course, to edit; the solution package is imported
    from the copy while the test runs (the build exports the grader's public cases)."""
    shutil.copy(ROOT / "course.toml", tmp_path / "course.toml")
    shutil.copytree(ROOT / "source", tmp_path / "source", ignore=shutil.ignore_patterns("__pycache__"))
    for name in [n for n in sys.modules if n == "cs231n" or n.startswith("cs231n.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p).resolve() != (ROOT / "source").resolve()])
    return tmp_path


def _grade_cells(data: bytes) -> dict[str, float]:
    cells = json.loads(data)["cells"]
    return {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
            for c in cells if c["metadata"].get("nbgrader", {}).get("grade")
            and c["metadata"]["nbgrader"]["points"] > 0}  # the notebooks' own test cells are worth 0


def test_kit_notebook_has_one_cell_per_check_with_the_tables_points():
    """Does coursekit_modules.ipynb hold one autograded cell per check, worth the table's points, hidden from students?"""
    course = load_config(ROOT / "course.toml")
    tree = render_tracks(course, ["fc_net"])
    points = course.assignment("fc_net").points
    assert _grade_cells(tree[f"release/fc_net/{KIT_NOTEBOOK}"]) == dict(points)
    release = nbformat.reads(tree[f"release/fc_net/{KIT_NOTEBOOK}"].decode(), 4)
    assert not any("check_score" in cell.source for cell in release.cells)
    solution = nbformat.reads(tree[f"solutions/fc_net/{KIT_NOTEBOOK}"].decode(), 4)
    assert sum("check_score(\"fc_net\", \"adam\")" in cell.source for cell in solution.cells) == 1
    assert tree[f"source/fc_net/{KIT_NOTEBOOK}"] == tree[f"solutions/fc_net/{KIT_NOTEBOOK}"]


def test_only_the_kit_and_the_questions_carry_points():
    """Are the questions the only cells of the assignment's own notebooks with points, the table's?"""
    course = load_config(ROOT / "course.toml")
    tree = render_tracks(course, ["fc_net", "two_layer_net"])
    for assignment_id in ("fc_net", "two_layer_net"):
        assignment = course.assignment(assignment_id)
        graded = {}
        for name in assignment.notebooks:
            graded.update(_grade_cells(tree[f"release/{assignment_id}/{name}"]))
        assert graded == dict(assignment.question_points), assignment_id


def test_question_points_come_from_the_table(course_copy):
    """Does a question's points in course.toml (not the notebook's metadata) reach both tracks?"""
    toml = course_copy / "course.toml"
    toml.write_text(toml.read_text().replace("inline_question_1_answer = 2", "inline_question_1_answer = 5"))
    tree = render_tracks(load_config(toml), ["fc_net"])
    for track in ("release", "solutions"):
        assert _grade_cells(tree[f"{track}/fc_net/fc_net.ipynb"]) == {"inline_question_1_answer": 5}


def test_nbgraders_pass_applies_the_table(course_copy):
    """Does the CoursePoints pass (nbgrader generate_assignment's path) give a question the table's points?"""
    toml = course_copy / "course.toml"
    toml.write_text(toml.read_text().replace("inline_question_1_answer = 2", "inline_question_1_answer = 5"))
    nb = nbformat.read(course_copy / "source/fc_net/fc_net.ipynb", 4)
    resources = {"nbgrader": {"assignment": "fc_net", "notebook": "fc_net"}}
    nb, _ = CoursePoints(course_toml=str(toml)).preprocess(nb, resources)
    assert _grade_cells(nbformat.writes(nb).encode()) == {"inline_question_1_answer": 5}


@pytest.mark.parametrize("edit, message", [
    ("missing", "gives it no points"),
    ("unknown", "names no manually graded cell"),
    ("test_points", "autograded test cell with points"),
])
def test_point_mistakes_are_build_errors(course_copy, edit, message):
    """Is a question without points, a table key without a cell, or a test cell with points a located BuildError?"""
    toml = course_copy / "course.toml"
    if edit == "missing":
        toml.write_text(toml.read_text().replace("inline_question_1_answer = 2   # fc_net.ipynb\n", ""))
    elif edit == "unknown":
        toml.write_text(toml.read_text().replace("inline_question_1_answer = 2", "inline_question_9 = 2\n"
                                                 "inline_question_1_answer = 2"))
    else:
        path = course_copy / "source/fc_net/fc_net.ipynb"
        nb = nbformat.read(path, 4)
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_affine")
        cell.metadata["nbgrader"].update(grade=True, points=2)
        nbformat.write(nb, path)
    with pytest.raises(BuildError, match=message):
        render_tracks(load_config(toml), ["fc_net"])
