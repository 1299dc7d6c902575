"""The solution earns every point; the untouched skeleton earns none of the code checks."""
import json

import jsonschema
import pytest

from coursekit.grade import grade_submission
from coursekit.grade.report import GRADESCOPE_SCHEMA

ASSIGNMENTS = ["two_layer_net", "fc_net"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_scores_full_marks(course, solution_submission, assignment, tmp_path):
    """Does the solution-like submission pass every code check, with valid results.json?"""
    results = tmp_path / "results.json"
    report = grade_submission(course, assignment, solution_submission(assignment), results_path=results,
                              fast=True)
    failed = {t.key: t.output() for t in report.tests if not t.passed}
    assert not failed, failed
    assert report.score == report.max_score > 0
    data = json.loads(results.read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["score"] == report.score


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_skeleton_scores_zero_on_every_code_check(course, skeleton_submission, assignment, tmp_path):
    """Does the untouched skeleton earn 0 on every code check, each with an explanation?"""
    feedback = tmp_path / "feedback.md"
    report = grade_submission(course, assignment, skeleton_submission(assignment), feedback_path=feedback,
                              fast=True)
    assert report.tests
    for test in report.tests:
        assert test.score == 0, (test.key, test.output())
        assert all(case.detail for case in test.cases if not case.passed), test.key
    assert "NotImplementedError" in feedback.read_text() or "None" in feedback.read_text()


def test_skeleton_failure_names_the_function_and_file(course, skeleton_submission, tmp_path):
    """Does the feedback for a failed check name the function and the file to open?"""
    feedback = tmp_path / "feedback.md"
    grade_submission(course, "fc_net", skeleton_submission("fc_net"), feedback_path=feedback, fast=True)
    text = feedback.read_text()
    assert "Open `affine_forward` in `cs231n/layers.py`, line" in text  # the error that stops it
    assert "`affine_backward`" in text  # listed among the checks that error stops
    assert "Open `adam` in `cs231n/optim.py`" in text
    assert "affine_forward in cs231n/layers.py: write your code" in text  # the stub's own message


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_listed_modules_import_on_their_own(course, tmp_path, assignment):
    """Can the modules course.toml lists for an assignment be imported without the other's files?

    A release (and so a submission) holds only the listed modules; if
    cs231n/classifiers/__init__.py imports a classifier of the other assignment, every
    check of this one fails with ModuleNotFoundError.
    """
    import subprocess
    import sys

    from .conftest import copy_solution

    folder = copy_solution(course, assignment, tmp_path / "submission")
    done = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, '.'); import cs231n.classifiers"],
                          cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]
