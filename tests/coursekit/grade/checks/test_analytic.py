"""Gradients must be derived: a gradient computed numerically earns nothing for its check.

The submissions are the solution with its gradients computed by finite differences
(``numeric_gradients.py``), or derived in ways the checks must still accept.  Most tests run
only the gradient checks, in a real sandboxed child and judged as a grade judges them (a
numeric net also trains for minutes in ``toy_training``); one grades a whole submission.
"""
from __future__ import annotations

import dataclasses

import pytest

from coursekit.grade import grade_submission
from coursekit.grade.checks.analytic import LARGE_LABEL
from coursekit.grade.pipeline import _judge, build_checks
from coursekit.grade.sandbox.parent import Sandbox

from ..conftest import copy_solution, inject
from .numeric_gradients import KINDS, LAYERS, TARGETS, course_for, write_numeric

# what is numeric -> the checks that must score 0 (a net's loss through numeric layers is numeric too)
GRADIENT_CHECKS = {"layers": ("affine_backward", "relu_backward", "softmax_loss", "batchnorm_backward",
                              "batchnorm_backward_alt", "layernorm_backward", "dropout_backward", "fc_gradients"),
                   "fc_net": ("fc_gradients",), "two_layer_net": ("gradients",), "modular": ("two_layer_gradients",)}
RULES = {"fc_gradients": "numeric-net-gradient", "gradients": "numeric-net-gradient",
         "two_layer_gradients": "numeric-net-gradient"}
SEED = 17


def grade_checks(course, assignment, folder, names):
    """The TestResult of each check in ``names``: its tasks run in one sandboxed child, each
    check's large-input one first as in a grade, and judged as a grade judges them."""
    checks = [c for c in build_checks(course, assignment, hidden_seed=SEED) if c.name in names]
    tasks = [dataclasses.replace(t, seconds=float(course.limits.check_seconds)) for c in checks
             for t in sorted(c.tasks, key=lambda task: task.driver != "analytic")]
    sandbox = Sandbox(submission=folder, limits=course.limits)
    try:
        outcomes = sandbox.run_tasks(tasks)
    finally:
        sandbox.close()
    return {c.name: _judge(c, 1.0, outcomes) for c in checks}


@pytest.mark.parametrize("target", sorted(GRADIENT_CHECKS))
@pytest.mark.parametrize("kind", KINDS)
def test_numeric_gradients_score_zero_with_the_diagnosis(course, tmp_path, target, kind):
    """Does every gradient computed numerically (by calling the forward pass, gradient_check or a
    hand loop with its own formula) score 0 on its check, and say so?"""
    course = course_for(course, target)
    folder = write_numeric(course, target, kind, tmp_path / kind)
    for key, test in grade_checks(course, TARGETS[target], folder, GRADIENT_CHECKS[target]).items():
        assert test.score == 0, test.output()
        assert RULES.get(key, "numeric-gradient") in [d.id for d in test.diagnoses], test.output()
        hidden = [case for case in test.cases if not case.public]
        assert hidden and all(not case.passed for case in hidden)
        assert all("numeric" in case.detail or "finite differences" in case.detail for case in hidden), test.output()
        assert "a numeric gradient is what the checker uses" in test.output()


def test_a_numeric_submission_loses_its_gradient_checks_only(course, tmp_path):
    """Graded whole, do numeric backward passes cost their own checks (and the net's gradients
    that run through them) and nothing else, with the large case saying why?"""
    report = grade_submission(course, "fc_net", write_numeric(course, "layers", "forward", tmp_path / "s"),
                              fast=True)
    lost = {t.key: t for t in report.tests if t.score < t.max_score}
    assert set(lost) == set(GRADIENT_CHECKS["layers"])
    large = [c for c in lost["affine_backward"].cases if c.label.startswith(LARGE_LABEL)]
    assert len(large) == 1 and "affine_backward evaluated affine_forward over and over" in large[0].detail


RECOMPUTE = {
    # the backward passes evaluate their forward pass once more instead of trusting the cache
    "relu_backward": "out, _ = relu_forward(x)\ndx = dout * (out > 0)",
    "affine_backward": "out, _ = affine_forward(x, w, b)  # (N, M), unused: a recomputation\n"
                       "dx = (dout @ w.T).reshape(x.shape)\ndw = x.reshape(x.shape[0], -1).T @ dout\n"
                       "db = dout.sum(axis=0)",
    # and a loop over the examples, as 2017 solutions wrote dw
    "batchnorm_backward_alt": "dbeta = dout.sum(axis=0)\ndgamma = np.sum(dout * x_hat, axis=0)\n"
                              "dx = np.empty_like(dout)\nfor i in range(len(dout)):\n"
                              "    dx_hat = dout * gamma\n"
                              "    dx[i] = inv_std * (dx_hat[i] - dx_hat.mean(axis=0) - x_hat[i] * "
                              "np.mean(dx_hat * x_hat, axis=0))",
}


def test_backward_passes_that_recompute_or_loop_keep_full_marks(course, tmp_path):
    """Does a correct backward pass that recomputes its forward pass once, or loops over the
    examples, keep every point, its large case included?"""
    folder = copy_solution(course, "fc_net", tmp_path / "submission")
    for function, code in RECOMPUTE.items():
        inject(folder, LAYERS, function, code)
    report = grade_submission(course, "fc_net", folder, fast=True)
    assert report.score == report.max_score, [t.output() for t in report.tests if not t.passed]


def test_the_large_case_counts_only_what_the_small_cases_miss(course, tmp_path):
    """Does a gradient right on the small inputs and wrong on the large one (it looks at the
    input's size) lose the large case, while a mistake the small cases show loses what it lost
    before the large case existed?"""
    folder = copy_solution(course, "fc_net", tmp_path / "submission")
    inject(folder, LAYERS, "relu_backward", "dx = dout * (x > 0)\nif x.size > 10000:\n    dx = dx * 0.5")
    inject(folder, LAYERS, "layernorm_backward", "dbeta = dout.sum(axis=0)\ndgamma = np.sum(dout * x_hat, axis=0)\n"
           "dx_hat = dout * gamma\ndx = inv_std * (dx_hat - dx_hat.mean(axis=1, keepdims=True))")
    tests = grade_checks(course, "fc_net", folder, ("relu_backward", "layernorm_backward"))
    relu = [c for c in tests["relu_backward"].cases if not c.public]
    assert [c.label.startswith(LARGE_LABEL) for c in relu if not c.passed] == [True]
    assert "relative error" in [c for c in relu if not c.passed][0].detail
    layernorm = [c for c in tests["layernorm_backward"].cases if not c.public]
    assert [c.label for c in layernorm if not c.passed] == ["gradient on x"]  # dgamma, dbeta right


def test_a_backward_pass_that_never_ends_is_told_apart(quick_course, tmp_path):
    """Is an endless loop in a backward pass reported as one (the small cases' deadline), not as
    a numeric gradient (the large-input run, stopped, does not end on a small input either)?"""
    # a deadline that the large-input task (about 0.7 s of CPU time here) meets on a busy machine
    course = dataclasses.replace(quick_course, limits=dataclasses.replace(quick_course.limits, check_seconds=8))
    folder = copy_solution(course, "fc_net", tmp_path / "submission")
    inject(folder, LAYERS, "relu_backward", "while True:\n    pass")
    test = grade_checks(course, "fc_net", folder, ("relu_backward",))["relu_backward"]
    assert test.score == 0
    assert "numeric-gradient" not in [d.id for d in test.diagnoses]
    details = " ".join(case.detail for case in test.cases)
    assert "numeric" not in details and "finite differences" not in details
    assert "while running relu_backward" in details  # the deadline's own message, on the small cases
