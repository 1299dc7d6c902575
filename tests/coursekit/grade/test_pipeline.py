"""The public API: config validation, clean errors, and the reports it writes."""
import dataclasses
import json
from types import MappingProxyType

import jsonschema
import pytest

from coursekit.errors import ConfigError, DatasetError, GradingError
from coursekit.grade import grade_submission
from coursekit.grade.pipeline import build_checks, validate_assignment
from coursekit.grade.report import GRADESCOPE_SCHEMA

from .conftest import copy_solution, inject


def with_table(course, assignment_id, table, values):
    assignment = dataclasses.replace(course.assignment(assignment_id), **{table: MappingProxyType(values)})
    return dataclasses.replace(course, assignments=MappingProxyType({**course.assignments,
                                                                    assignment_id: assignment}))


@pytest.mark.parametrize("assignment", ["two_layer_net", "fc_net"])
def test_points_table_matches_the_checks(course, assignment):
    """Does every check of the grader have points in course.toml, and every key a check?"""
    names = [c.name for c in build_checks(course, assignment)] + ["cifar_accuracy", "saved_model"]
    assert sorted(course.assignment(assignment).points) == sorted(names)
    validate_assignment(course, assignment, names)


def test_unknown_points_key_is_named(course, tmp_path):
    """Is a points key that names no check a ConfigError naming the key?"""
    points = {**course.assignment("fc_net").points, "batchnorm_fwd": 1}
    with pytest.raises(ConfigError, match=r"assignments\.fc_net\.points\.batchnorm_fwd"):
        grade_submission(with_table(course, "fc_net", "points", points), "fc_net", tmp_path, fast=True)


def test_missing_points_key_is_named(course, tmp_path):
    """Is a check without points a ConfigError naming the missing key?"""
    points = {k: v for k, v in course.assignment("fc_net").points.items() if k != "adam"}
    with pytest.raises(ConfigError, match=r"assignments\.fc_net\.points\.adam"):
        grade_submission(with_table(course, "fc_net", "points", points), "fc_net", tmp_path, fast=True)


def test_unknown_grade_train_key_is_named(course, tmp_path):
    """Is a grade_train key the grader does not use a ConfigError naming it?"""
    hyper = {**course.assignment("two_layer_net").grade_train, "momentum": 0.9}
    with pytest.raises(ConfigError, match=r"grade_train\.momentum"):
        grade_submission(with_table(course, "two_layer_net", "grade_train", hyper), "two_layer_net",
                         tmp_path, fast=True)


def test_missing_submission_is_a_grading_error(course, tmp_path):
    """Is a submission folder that does not exist a GradingError that says what to pass?"""
    with pytest.raises(GradingError, match="does not exist"):
        grade_submission(course, "fc_net", tmp_path / "nowhere", fast=True)


def test_missing_dataset_is_a_dataset_error(course, tmp_path):
    """Without CIFAR-10, does a full grade stop with a DatasetError that names the fix?"""
    data = dataclasses.replace(course.data, cifar10_dir=tmp_path / "no-cifar")
    submission = copy_solution(course, "fc_net", tmp_path / "submission")
    with pytest.raises(DatasetError, match="coursekit data"):
        grade_submission(dataclasses.replace(course, data=data), "fc_net", submission)


def test_reports_are_written_and_valid(course, tmp_path):
    """Are results.json (Gradescope format) and an escaped HTML feedback written for a failing check?"""
    submission = copy_solution(course, "fc_net", tmp_path / "submission")
    inject(submission, "cs231n/optim.py", "adam", "raise ValueError('<script>bad</script>')")
    results, feedback = tmp_path / "results.json", tmp_path / "feedback.html"
    report = grade_submission(course, "fc_net", submission, results_path=results, feedback_path=feedback,
                              fast=True)
    data = json.loads(results.read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["score"] == report.score == report.max_score - course.assignment("fc_net").points["adam"]
    adam = next(t for t in data["tests"] if t["name"].startswith("adam:"))
    assert adam["status"] == "failed" and adam["score"] == 0 and "cs231n/optim.py" in adam["output"]
    assert data["extra_data"]["protections"]["active"]
    page = feedback.read_text()
    assert "<script>bad" not in page and "&lt;script&gt;" in page
    assert "<code>adam</code> in <code>cs231n/optim.py</code>" in page
    assert "adam" in report.table() and "FAILED" in report.table()


def test_markdown_feedback_for_a_wrong_value(course, tmp_path):
    """Does the Markdown feedback show expected, got and the relative error of a wrong value?"""
    submission = copy_solution(course, "two_layer_net", tmp_path / "submission")
    inject(submission, "cs231n/classifiers/neural_net.py", "predict", "y_pred = np.zeros(X.shape[0])")
    feedback = tmp_path / "feedback.md"
    grade_submission(course, "two_layer_net", submission, feedback_path=feedback, fast=True)
    text = feedback.read_text()
    assert "Open `TwoLayerNet.predict` in `cs231n/classifiers/neural_net.py`" in text
    assert "expected [" in text and "got [" in text and "relative error" in text
    assert "Hint:" in text
