"""Staging a submission: the student's region files, the kit's release modules for the rest."""
from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from coursekit.errors import ConfigError
from coursekit.grade.submission import stage_submission, student_files
from coursekit.tracks.modules import render_module

from .conftest import copy_solution


def with_student_files(course, assignment_id, files):
    assignment = dataclasses.replace(course.assignment(assignment_id), student_files=tuple(files))
    return dataclasses.replace(course, assignments=MappingProxyType({**course.assignments,
                                                                      assignment_id: assignment}))


def test_student_files_are_the_region_files(course):
    """Are exactly the modules with student regions taken from a fc_net submission?"""
    assert set(student_files(course, "fc_net")) == {"cs231n/layers.py", "cs231n/optim.py",
                                                    "cs231n/classifiers/fc_net.py"}
    assert student_files(course, "two_layer_net") == ("cs231n/classifiers/neural_net.py",)


def test_other_files_come_from_the_release_track(course, tmp_path):
    """Are the submission's solver.py, classifiers/__init__.py and extra files replaced or left out?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/solver.py").write_text("from future import standard_library\nimport torch\n")
    (submission / "cs231n/classifiers/__init__.py").write_text("from .k_nearest_neighbor import *\n")
    (submission / "cs231n/fast_layers.py").write_text("import torch\n")
    (submission / "cs231n/layers.py").write_text("# the student's own\n")
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    assignment = course.assignment("fc_net")
    assert (staged.folder / "cs231n/solver.py").read_bytes() == render_module(course, assignment, "cs231n/solver.py")[0]
    assert (staged.folder / "cs231n/classifiers/__init__.py").read_text() != "from .k_nearest_neighbor import *\n"
    assert not (staged.folder / "cs231n/fast_layers.py").exists()
    assert (staged.folder / "cs231n/layers.py").read_text() == "# the student's own\n"
    assert "cs231n/layers.py" in staged.from_submission and "cs231n/solver.py" in staged.from_kit


def test_a_missing_region_file_is_the_release_stub_never_the_solution(course, tmp_path):
    """Is a region file the student did not hand in graded as the skeleton, not as the solution?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/optim.py").unlink()
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    release, solution = render_module(course, course.assignment("fc_net"), "cs231n/optim.py")
    assert (staged.folder / "cs231n/optim.py").read_bytes() == release != solution
    assert staged.missing == ("cs231n/optim.py",)


def test_listed_student_files_are_taken_too(course, tmp_path):
    """Does course.toml's student_files add a file (here solver.py) to what is taken from the submission?"""
    course = with_student_files(course, "fc_net", ["cs231n/solver.py", "cs231n/helpers.py"])
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/solver.py").write_text("# the student's solver\n")
    (submission / "cs231n/helpers.py").write_text("X = 1\n")
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    assert (staged.folder / "cs231n/solver.py").read_text() == "# the student's solver\n"
    assert (staged.folder / "cs231n/helpers.py").read_text() == "X = 1\n"


@pytest.mark.parametrize("bad", ["../outside.py", "/etc/passwd"])
def test_student_files_outside_the_folder_are_refused(course, bad):
    """Is a student_files entry outside the assignment folder a ConfigError naming the key?"""
    with pytest.raises(ConfigError, match="student_files"):
        student_files(with_student_files(course, "fc_net", [bad]), "fc_net")
