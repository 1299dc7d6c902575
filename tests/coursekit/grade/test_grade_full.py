"""One complete grade per assignment, CIFAR-10 checks included (slow: trains twice)."""
import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest

from coursekit.grade import grade_submission
from coursekit.grade.checks.accuracy import load_cifar10
from coursekit.grade.report import GRADESCOPE_SCHEMA

from .conftest import copy_solution

ROOT = Path(__file__).resolve().parents[3]


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_grade", ROOT / "autograder" / "bench_grade.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.dataset
@pytest.mark.parametrize("assignment", ["two_layer_net", "fc_net"])
def test_full_grade_of_the_solution(course, patient_course, cifar10_dir, tmp_path, assignment):
    """Does the solution, with a saved tuned model, earn every point of a full grade in time?"""
    submission = copy_solution(course, assignment, tmp_path / "submission")
    bench_module().save_reference_model(course, assignment, submission, load_cifar10(course))
    results = tmp_path / "results.json"
    report = grade_submission(patient_course, assignment, submission, results_path=results)
    failed = {t.key: t.output() for t in report.tests if not t.passed}
    assert not failed, failed
    assert report.score == report.max_score
    assert {"cifar_accuracy", "saved_model"} <= {t.key for t in report.tests}
    jsonschema.validate(json.loads(results.read_text()), GRADESCOPE_SCHEMA)
    print(f"{assignment}: full grade in {report.execution_time:.1f} s")
