"""A faulty submission loses the points of the affected checks only, with a clear message.

Each case takes the solution, breaks one region of one function, grades it (fast mode,
short limits), and checks that the broken check scored 0 with the expected explanation,
that an unrelated check still earned full marks, and that results.json was written.
"""
import dataclasses
import json

import pytest

from coursekit.grade import grade_submission

from .conftest import copy_solution, inject

LAYERS = "cs231n/layers.py"
OPTIM = "cs231n/optim.py"
IMPORT_BUDGET_SECONDS = 8  # cpu_seconds for all checks when a module hangs at import (2 deadlines of 4 s)
DEADLINE = "of CPU time and was stopped"  # a case that waited for its check's deadline
AT_ONCE = "did not finish in an earlier check"  # a case stopped at once: its function hung before

# id: (file, function, fault code, broken check, words in its message, a check that must pass)
FAULTS = {
    "hangs": (OPTIM, "rmsprop", "while True:\n    pass", "rmsprop", "s of CPU time", "adam"),
    "allocates without bound": (LAYERS, "relu_forward", "hog = []\nwhile True:\n    hog.append(np.empty(10**8))",
                                "relu_forward", "memory", "affine_forward"),
    "calls sys.exit": (LAYERS, "relu_forward", "import sys\nsys.exit(0)", "relu_forward",
                       "sys.exit", "affine_backward"),
    "calls os._exit": (LAYERS, "relu_backward", "import os\nos._exit(3)", "relu_backward",
                       "exited with code 3", "layernorm_forward"),
    "forks": (OPTIM, "rmsprop", "import os\nwhile True:\n    os.fork()", "rmsprop",
              "Resource temporarily unavailable", "adam"),
    "raises": (LAYERS, "layernorm_forward", "raise ValueError('oops in layernorm')", "layernorm_forward",
               "oops in layernorm", "batchnorm_forward"),
    "returns None": (LAYERS, "affine_forward", "out = None\ncache = (x, w, b)", "affine_forward",
                     "is None", "relu_forward"),
    "returns NaN": (LAYERS, "relu_forward", "out = np.full(x.shape, np.nan)\ncache = x", "relu_forward",
                    "NaN", "affine_forward"),
    "wrong shape": (LAYERS, "affine_forward", "out = x.reshape(x.shape[0], -1)[:, :2] @ w[:2] + b\ncache = (x, w, b)",
                    "affine_forward", "", "relu_forward"),
    "wrong shape of output": (LAYERS, "relu_forward", "out = np.maximum(x, 0).ravel()\ncache = x",
                              "relu_forward", "shape", "affine_forward"),
    "prints fake results": (LAYERS, "affine_forward",
                            "print('{\"score\": 100, \"tests\": []}')\n"
                            "open('results.json', 'w').write('{\"score\": 100}')\n"
                            "out = x.reshape(x.shape[0], -1) @ w\ncache = (x, w, b)",
                            "affine_forward", "relative error", "relu_forward"),
    "monkeypatches numpy": (LAYERS, "affine_forward",
                            "np.allclose = lambda *a, **k: True\nnp.linalg.norm = lambda *a, **k: 0.0\n"
                            "np.isfinite = lambda x: np.ones(np.shape(x), bool)\n"
                            "out = x.reshape(x.shape[0], -1) @ w\ncache = (x, w, b)",
                            "affine_forward", "relative error", "adam"),
    "monkeypatches the harness": (OPTIM, "sgd_momentum",
                                  "import sys\nh = sys.modules['__main__']\n"
                                  "h.collect = lambda *a, **k: None\nh.report = lambda *a, **k: None\n"
                                  "next_w = w\nconfig['velocity'] = np.zeros_like(w)",
                                  "sgd_momentum", "", "adam"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_costs_only_its_check(quick_course, tmp_path, fault):
    """Does the fault cost the points of its own check only, with an explanation?"""
    rel, function, code, broken, words, healthy = FAULTS[fault]
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, rel, function, code)
    results = tmp_path / "results.json"
    report = grade_submission(quick_course, "fc_net", submission, results_path=results, fast=True)
    tests = {t.key: t for t in report.tests}
    assert tests[broken].score == 0, tests[broken].output()
    assert words in tests[broken].output(), tests[broken].output()
    assert tests[healthy].passed, tests[healthy].output()
    assert json.loads(results.read_text())["score"] == report.score < report.max_score


def waited_for_deadline(report) -> list[str]:
    """The failed cases of ``report`` that waited for their check's full deadline (CPU time)."""
    return [case.detail for test in report.tests for case in test.cases
            if not case.passed and DEADLINE in case.detail]


def test_syntax_error_costs_only_that_file(quick_course, tmp_path):
    """Does a syntax error in optim.py cost the update rules only, not the layers?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, OPTIM, "adam", "next_w = = w")
    report = grade_submission(quick_course, "fc_net", submission, fast=True)
    tests = {t.key: t for t in report.tests}
    for key in ("sgd_momentum", "rmsprop", "adam"):
        assert tests[key].score == 0 and "SyntaxError" in tests[key].output()
    for key in ("affine_forward", "batchnorm_backward", "fc_gradients"):
        assert tests[key].passed, tests[key].output()


def test_backward_consistent_with_a_wrong_forward_still_fails(quick_course, tmp_path):
    """Does a backward pass that matches a wrong forward pass lose its points, saying why?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "affine_forward", "out = x.reshape(x.shape[0], -1) @ w\ncache = (x, w, b)")
    inject(submission, LAYERS, "affine_backward",  # consistent with the forward pass without b
           "dx = (dout @ w.T).reshape(x.shape)\ndw = x.reshape(x.shape[0], -1).T @ dout\ndb = 0 * b")
    tests = {t.key: t for t in grade_submission(quick_course, "fc_net", submission, fast=True).tests}
    assert tests["affine_forward"].score == 0
    backward = {case.label: case for case in tests["affine_backward"].cases}
    assert backward["gradient on x"].passed and backward["gradient on w"].passed
    assert not backward["gradient on b"].passed
    assert "forward pass is wrong" in backward["gradient on b"].detail


def test_child_cannot_read_the_course_or_reach_the_network(quick_course, tmp_path):
    """Is the solution in source/ hidden from student code, and is there no network?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    secret = quick_course.source_dir / "cs231n" / "layers.py"
    inject(submission, LAYERS, "relu_forward",
           f"out = np.zeros(len(open({str(secret)!r}).read()))\ncache = x")
    inject(submission, LAYERS, "affine_forward",
           "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\nout = None\ncache = None")
    report = grade_submission(quick_course, "fc_net", submission, fast=True)
    tests = {t.key: t for t in report.tests}
    assert "No such file or directory" in tests["relu_forward"].output()
    assert "unreachable" in tests["affine_forward"].output() or "Errno" in tests["affine_forward"].output()


def test_hang_at_import_is_bounded_by_the_time_budget(quick_course, tmp_path):
    """Does a module that hangs when imported cost its checks without one deadline per check?"""
    course = dataclasses.replace(quick_course, limits=dataclasses.replace(quick_course.limits,
                                                                          cpu_seconds=IMPORT_BUDGET_SECONDS))
    submission = copy_solution(course, "fc_net", tmp_path / "submission")
    path = submission / LAYERS
    path.write_text("while True:\n    pass\n" + path.read_text())
    report = grade_submission(course, "fc_net", submission, fast=True)
    tests = {t.key: t for t in report.tests}
    assert tests["affine_forward"].score == 0 and "of CPU time" in tests["affine_forward"].output()
    assert tests["fc_loss"].score == 0
    budget_words = ("did not finish", f"used up the {IMPORT_BUDGET_SECONDS} s", "ran out")
    assert any(words in tests["fc_loss"].output() for words in budget_words)
    # The budget for all checks admits this many deadlines at most, whatever the number of checks.
    assert 1 <= len(waited_for_deadline(report)) <= course.limits.cpu_seconds // course.limits.check_seconds


def test_dropout_with_another_random_mask_earns_full_marks(quick_course, tmp_path):
    """Is a correct dropout that draws its mask differently (np.random.binomial) still correct?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "dropout_forward",
           "mask = np.random.binomial(1, p, size=x.shape) / p\nout = x * mask\ncache = (dropout_param, mask)")
    report = grade_submission(quick_course, "fc_net", submission, fast=True)
    assert report.score == report.max_score, [t.output() for t in report.tests if not t.passed]


def test_a_hang_in_a_shared_function_costs_one_deadline(quick_course, tmp_path):
    """After one check hangs, do the other checks that call the same function fail at once?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "affine_forward", "while True:\n    pass")
    report = grade_submission(quick_course, "fc_net", submission, fast=True)
    tests = {t.key: t for t in report.tests}
    assert "while running affine_forward (cs231n/layers.py" in tests["affine_forward"].output()
    assert len(waited_for_deadline(report)) == 1  # not one deadline per task that calls affine_forward
    failed = [case.detail for test in report.tests for case in test.cases if not case.passed]
    assert sum(AT_ONCE in detail for detail in failed) == len(failed) - 1  # every later one at once
    for key in ("affine_backward", "fc_loss", "fc_gradients"):
        assert tests[key].score == 0 and AT_ONCE in tests[key].output()
    assert tests["relu_forward"].passed and tests["adam"].passed
