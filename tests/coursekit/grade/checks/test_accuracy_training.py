"""The training check on a tiny fake split: the child trains, the parent looks at the weights as they
come, scores them and may stop the run."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit.grade.checks import accuracy
from coursekit.grade.checks.accuracy import resolve_inputs, training_check
from coursekit.grade.sandbox.parent import Sandbox

from ..conftest import copy_solution, inject

HYPER = {
    "two_layer_net": {"hidden_size": 10, "std": 1e-4, "learning_rate": 1e-3, "num_iters": 5, "batch_size": 20},
    "fc_net": {"hidden_dims": [10, 10], "normalization": "batchnorm", "weight_scale": 5e-2,
               "update_rule": "adam", "learning_rate": 1e-3, "batch_size": 20, "num_epochs": 1},
}
THRESHOLDS = {"test_accuracy": 0.0, "val_accuracy": 0.0}
CORPUS = Path(__file__).resolve().parents[1] / "corpus"


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

def test_the_modular_runs_advice_names_each_file_and_every_check_it_trains(course, tiny_data):
    """Does a failed modular-flow training run name fc_net.py and solver.py (not the Solver in fc_net.py),
    and count every code check of that flow among those to fix first (training runs all of that code)?"""
    from coursekit.grade.pipeline import _judge, build_checks
    from coursekit.grade.sandbox.parent import Outcome

    modular = course.with_flow("two_layer_net", "modular")
    assignment = modular.assignment("two_layer_net")
    check = training_check("two_layer_net", assignment.grade_train, assignment.thresholds, tiny_data, 60.0,
                           flow="modular")
    test = _judge(check, 5.0, {check.tasks[0].id: Outcome(False, error="ValueError: shapes do not match")})
    assert ("Where to look: TwoLayerNet.loss in cs231n/classifiers/fc_net.py; Solver in cs231n/solver.py."
            in test.output())
    assert set(test.after) == {c.name for c in build_checks(modular, "two_layer_net")}


def looked_run(course, submission, assignment, data, hyper, thresholds):
    """Train as the execute phase does: the parent's looks score the weights and may stop the run."""
    check = training_check(assignment, hyper, thresholds, data, 60.0)
    looks = accuracy.training_rule(assignment, hyper, thresholds, len(data["y_train"])).looks(data)
    box = Sandbox(submission=submission, limits=course.limits)
    try:
        outcomes = box.run_tasks([resolve_inputs(task, data) for task in check.tasks], on_look=looks.on_look)
    finally:
        box.close()
    outcome = outcomes[check.tasks[0].id]
    outcome.scored = looks.result(outcome)
    return outcome, [judge(outcomes) for _, judge in check.cases]


def test_a_run_that_clears_the_bar_is_stopped_at_that_look(quick_course, tmp_path, tiny_data):
    """With a bar the first look clears, is a run of 100,000 iterations ended at that look, its weights (those
    of the look, handed back in float32) scored, and both cases passed, saying where it stopped?"""
    hyper = {**HYPER["two_layer_net"], "num_iters": 100_000, "look_every": 5}
    outcome, results = looked_run(quick_course, copy_solution(quick_course, "two_layer_net", tmp_path / "s"),
                                  "two_layer_net", tiny_data, hyper, {"test_accuracy": 0.0})
    assert outcome.scored.stopped_at == 5 and len(outcome.scored.looks) == 1
    assert {v.dtype for v in outcome.outputs.values()} == {np.dtype(np.float32)}  # a look's, not the final's
    assert all(r.passed for r in results) and "at step 5 of 100,000: training stopped there" in results[-1].detail


def test_a_run_whose_looks_never_clear_the_bar_is_judged_at_its_end(quick_course, tmp_path, tiny_data):
    """With a bar no look reaches, does the run train to its end, looked at every look_every steps, and is
    it judged on the weights its training returned?"""
    hyper = {**HYPER["two_layer_net"], "num_iters": 20, "look_every": 5}
    outcome, results = looked_run(quick_course, copy_solution(quick_course, "two_layer_net", tmp_path / "s"),
                                  "two_layer_net", tiny_data, hyper, {"test_accuracy": 1.0})
    assert outcome.scored.stopped_at is None and [s for s, _ in outcome.scored.looks] == [5, 10, 15]
    assert outcome.outputs["param_W1"].dtype == np.float64  # the final weights, as train() left them
    assert not results[-1].passed and "at the end of training" in results[-1].detail


@pytest.mark.parametrize("solver", ["course", "2017-style"])
def test_students_own_solvers_are_looked_at_without_a_kit_api(quick_course, tmp_path, tiny_data, solver):
    """Are the looks taken from the course's Solver and from a student's own (2017 style: its own _step
    signature, options table, one shuffled pass per epoch) alike, with nothing the official Solver lacks?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "s")
    if solver == "2017-style":
        (submission / "cs231n" / "solver.py").write_text(corpus_variants().SOLVER_2017)
    hyper = {**HYPER["fc_net"], "num_epochs": 3, "look_every": 2}  # 90 training images, batches of 20: 12 steps
    outcome, results = looked_run(quick_course, submission, "fc_net", tiny_data, hyper, {"val_accuracy": 1.0})
    assert outcome.ok, outcome.error
    assert [step for step, _ in outcome.scored.looks] == [2, 4, 6, 8, 10]
    assert all(acc is not None for _, acc in outcome.scored.looks)


def corpus_variants():
    """tests/coursekit/grade/corpus/variants.py (the corpus of realistic submissions), loaded once."""
    if "corpus_variants" not in sys.modules:
        spec = importlib.util.spec_from_file_location("corpus_variants", CORPUS / "variants.py")
        sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules["corpus_variants"]
