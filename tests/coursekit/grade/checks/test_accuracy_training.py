"""The training check on a tiny fake split: the child trains, the parent scores the weights."""
import numpy as np
import pytest

from coursekit.grade.checks.accuracy import resolve_inputs, training_check
from coursekit.grade.sandbox.parent import Sandbox

from ..conftest import copy_solution, inject

HYPER = {
    "two_layer_net": {"hidden_size": 10, "std": 1e-4, "learning_rate": 1e-3, "num_iters": 5, "batch_size": 20},
    "fc_net": {"hidden_dims": [10, 10], "normalization": "batchnorm", "weight_scale": 5e-2,
               "update_rule": "adam", "learning_rate": 1e-3, "batch_size": 20, "num_epochs": 1},
}
THRESHOLDS = {"test_accuracy": 0.0, "val_accuracy": 0.0}


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    X = lambda n: rng.standard_normal((n, 3, 32, 32)).astype(np.float32)  # noqa: E731
    y = lambda n: rng.integers(0, 10, n)  # noqa: E731
    return {"X_train": X(100), "y_train": y(100), "X_val": X(30), "y_val": y(30), "X_test": X(30), "y_test": y(30),
            "X_heldout": X(60), "y_heldout": y(60)}


def run(course, submission, assignment, data):
    check = training_check(assignment, HYPER[assignment], THRESHOLDS, data, 60.0)
    box = Sandbox(submission=submission, limits=course.limits)
    try:
        outcomes = box.run_tasks([resolve_inputs(task, data) for task in check.tasks])
    finally:
        box.close()
    return [judge(outcomes) for _, judge in check.cases]


@pytest.mark.parametrize("assignment", ["two_layer_net", "fc_net"])
def test_solution_trains_and_is_scored(quick_course, tmp_path, tiny_data, assignment):
    """Does the solution train in the child and get scored in the parent?"""
    results = run(quick_course, copy_solution(quick_course, assignment, tmp_path / "s"), assignment, tiny_data)
    assert all(r.passed for r in results), results
    assert "accuracy" in results[-1].detail


def test_training_that_exits_fails_with_a_reason(quick_course, tmp_path, tiny_data):
    """Does a train() that kills its process fail the check, saying so?"""
    submission = copy_solution(quick_course, "two_layer_net", tmp_path / "s")
    inject(submission, "cs231n/classifiers/neural_net.py", "train", "import os\nos._exit(1)")
    results = run(quick_course, submission, "two_layer_net", tiny_data)
    assert not any(r.passed for r in results)
    assert "exited with code 1" in results[-1].detail


def test_training_that_returns_nan_weights_fails(quick_course, tmp_path, tiny_data):
    """Are NaN weights after training refused before any accuracy is computed?"""
    submission = copy_solution(quick_course, "two_layer_net", tmp_path / "s")
    inject(submission, "cs231n/classifiers/neural_net.py", "train",
           "for name in self.params:\n    self.params[name] = self.params[name] * np.nan", region=1)
    results = run(quick_course, submission, "two_layer_net", tiny_data)
    assert not results[-1].passed and "NaN" in results[-1].detail


def test_the_grader_run_has_its_own_bar_when_the_course_sets_one(tiny_data):
    """Is the grader's own run held to thresholds.grade_train_<key>, and to <key> when that is absent?"""
    own = training_check("fc_net", HYPER["fc_net"], {"val_accuracy": 0.5, "grade_train_val_accuracy": 0.46},
                         tiny_data, 60.0)
    assert [label for label, _ in own.cases] == ["held-out accuracy >= 0.414", "held-out accuracy >= 0.46"]
    plain = training_check("two_layer_net", HYPER["two_layer_net"], {"test_accuracy": 0.36}, tiny_data, 60.0)
    assert [label for label, _ in plain.cases] == ["held-out accuracy >= 0.324", "held-out accuracy >= 0.36"]
