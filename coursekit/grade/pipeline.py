"""``grade_submission``: grade one student folder for one assignment.

The pipeline, in order:

1. validate the course's ``points``, ``thresholds`` and ``grade_train`` for the assignment;
2. build the checks (their inputs from the grader's seeds, their references from ``source/``);
3. run the quick checks' tasks in one jailed child (a crash resumes in a fresh one), while
   the parent loads CIFAR-10 and the training check runs in a second child;
4. judge every case in the parent, score the saved model, and write the reports.
"""
from __future__ import annotations

import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import Course
from ..errors import ConfigError, GradingError
from ..solution import solution_module
from .checks import accuracy
from .checks.base import Check, CaseResult
from .diagnose import Evidence, diagnose
from .checks.layers import layer_checks
from .checks.nets import net_checks
from .feedback import feedback_format
from .report import GradeReport, TestResult
from .sandbox.parent import Outcome, Sandbox
from .checks.two_layer import two_layer_checks

CODE_CHECKS = {"two_layer_net": two_layer_checks, "fc_net": lambda: [*layer_checks(), *net_checks()]}
DATA_CHECKS = ("cifar_accuracy", "saved_model")
STAGES = ("running your functions", "loading CIFAR-10", "training your net on CIFAR-10",
          "scoring your saved model", "waiting for your functions", "judging")  # what ``progress`` hears
REQUIRED_THRESHOLDS = {"two_layer_net": ("test_accuracy", "review_above"),
                       "fc_net": ("val_accuracy", "review_above")}
SOLUTION_MODULES = {"two_layer_net": ("classifiers.neural_net",),
                    "fc_net": ("layers", "optim", "classifiers.fc_net", "solver")}


def build_checks(course: Course, assignment_id: str) -> list[Check]:
    """The assignment's code checks, their references computed from the solution in ``source/``."""
    if assignment_id not in CODE_CHECKS:
        raise ConfigError(f"{course.path}: the grader has no checks for assignment '{assignment_id}'; "
                          f"it grades {', '.join(CODE_CHECKS)}.")
    for name in SOLUTION_MODULES[assignment_id]:
        solution_module(course, name)
    return CODE_CHECKS[assignment_id]()


def validate_assignment(course: Course, assignment_id: str, names: list[str]) -> None:
    """The points table names exactly the checks in ``names``; thresholds and grade_train are usable."""
    assignment = course.assignment(assignment_id)
    where = f"assignments.{assignment_id}"
    for key in assignment.points:
        if key not in names:
            raise ConfigError(f"{course.path}: key '{where}.points.{key}' names no check of the grader. "
                              f"Checks: {', '.join(names)}.")
    for key in names:
        if key not in assignment.points:
            raise ConfigError(f"{course.path}: missing key '{where}.points.{key}': give the check points.")
        if assignment.points[key] < 0:
            raise ConfigError(f"{course.path}: key '{where}.points.{key}' must not be negative.")
    for key in REQUIRED_THRESHOLDS[assignment_id]:
        if key not in assignment.thresholds:
            raise ConfigError(f"{course.path}: missing key '{where}.thresholds.{key}'.")
    accuracy.check_grade_train(assignment_id, assignment.grade_train, str(course.path))


def hidden_folders(course: Course, submission: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the child must not see, and what it must keep seeing (Python and numpy)."""
    hidden = {course.root, course.solutions_dir, course.source_dir, course.data.cifar10_dir,
              Path(tempfile.gettempdir()), Path.home(), submission}
    keep = {Path(sys.prefix), Path(sys.base_prefix), Path(np.__file__).parent.parent}
    hidden_paths = sorted({str(p.resolve()) for p in hidden if p.resolve() != Path("/")})
    return tuple(hidden_paths), tuple(sorted({str(p.resolve()) for p in keep}))


def grade_submission(course: Course, assignment_id: str, submission_dir, *, results_path=None,
                     feedback_path=None, fast: bool = False, progress=None) -> GradeReport:
    """Grade ``submission_dir`` for ``assignment_id``; write results.json / feedback if asked.

    ``fast=True`` skips the CIFAR-10 checks (no dataset needed).  ``progress``, if given, is
    called with the name of each stage as it starts (see ``STAGES``).  Raises ConfigError,
    DatasetError or GradingError only when the grader itself cannot run.
    """
    start = time.monotonic()
    step = progress or (lambda stage: None)
    if feedback_path is not None:
        feedback_format(feedback_path)  # an unknown extension is an error before anything runs
    assignment = course.assignment(assignment_id)
    checks = build_checks(course, assignment_id)
    names = [check.name for check in checks] + list(DATA_CHECKS)
    validate_assignment(course, assignment_id, names)
    submission = Path(submission_dir).resolve()
    if not submission.is_dir():
        raise GradingError(f"The submission folder {submission} does not exist. Pass the folder that "
                           f"holds cs231n/ (laid out like release/{assignment_id}/).")
    if not fast:
        accuracy.check_cifar10_files(course)  # before any child starts
    hidden, keep = hidden_folders(course, submission)
    sandbox = Sandbox(submission=submission, limits=course.limits, hidden=hidden, keep=keep)
    outcomes: dict[str, Outcome] = {}
    saved: list[tuple[Check, list[CaseResult]]] = []
    seconds = float(course.limits.check_seconds)
    quick_tasks = [replace(t, seconds=seconds) for c in checks for t in c.tasks]
    quick = threading.Thread(target=lambda: outcomes.update(sandbox.run_tasks(quick_tasks)))
    try:
        step("running your functions")
        quick.start()
        if not fast:
            step("loading CIFAR-10")
            data = accuracy.load_cifar10(course)
            trainer = accuracy.training_check(assignment_id, assignment.grade_train, assignment.thresholds,
                                              data, float(course.limits.wall_seconds))
            checks.append(trainer)
            step("training your net on CIFAR-10")
            outcomes.update(sandbox.run_tasks(trainer.tasks, threads=2))
            step("scoring your saved model")
            saved.append(accuracy.saved_model_check(assignment_id, submission, assignment.thresholds, data))
    finally:
        if quick.is_alive():
            step("waiting for your functions")
            quick.join()
        sandbox.close()
    step("judging")
    tests = [_judge(check, assignment.points[check.name], outcomes) for check in checks]
    tests += [_result(check, assignment.points[check.name], results) for check, results in saved]
    tests.sort(key=lambda t: names.index(t.key))
    report = GradeReport(assignment_id, tests, protections=sandbox.protections,
                         skipped=list(DATA_CHECKS) if fast else [],
                         seconds={"checks": round(sum(v for k, v in sandbox.seconds.items()
                                                      if not k.startswith("cifar_accuracy")), 2),
                                  "training": sandbox.seconds.get("cifar_accuracy.train")})
    report.execution_time = time.monotonic() - start
    if results_path is not None:
        report.write_results(Path(results_path))
    if feedback_path is not None:
        report.write_feedback(Path(feedback_path))
    return report


def _judge(check: Check, points: float, outcomes: dict[str, Outcome]) -> TestResult:
    results = []
    for label, judge in check.cases:
        try:
            results.append(judge(outcomes))
        except Exception as err:  # noqa: BLE001 - a bad value must cost this case, not the grade
            results.append(CaseResult(label, False, f"the grader could not judge what came back "
                                      f"({type(err).__name__}: {err})"))
    test = _result(check, points, results)
    if not test.passed:
        test.diagnoses = diagnose(Evidence.of(check, outcomes, results))
    return test


def _result(check: Check, points: float, results: list[CaseResult]) -> TestResult:
    return TestResult(key=check.name, title=check.title, function=check.function, file=check.file,
                      hint=check.hint, max_score=float(points), cases=results)
