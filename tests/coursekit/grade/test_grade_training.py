"""Full grades of the grader's training run on CIFAR-10: a busy machine and a slow learner cost no points.

The budget of the training run is CPU time of the child's tree, so load, which stretches wall-clock
time only, cannot make a correct net late; and the stop rule ends a run as soon as it clears its bar,
so the budget left serves nets that learn slowly.  Both are graded here for real (minutes: slow).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest

from coursekit.grade import grade_submission

from .conftest import copy_solution

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "two_layer_net"  # the cheaper of the two runs
BUSY = 3  # busy processes beside the grade: with the training child, twice as many processes that compute
# as there are cores (2), so the training gets at most half a core, more load or not
BUSY_LOOP = "while True: pass"
BUDGET_FACTOR = 1.3  # the training budget of the loaded grade, in CPU seconds the quiet grade needed
START_CPU = 1.0  # CPU seconds a child takes to start (Python, numpy, the harness), on top of its training
NO_LOOKS = 10**9  # look_every: the run trains to its end (600 iterations), so its start is a small part of it
STEP = re.compile(r"at step ([\d,]+) of ([\d,]+)")


def with_limits(course, **limits):
    return dataclasses.replace(course, limits=dataclasses.replace(course.limits, **limits))


def with_grade_train(course, assignment_id: str, **values):
    assignment = course.assignment(assignment_id)
    switched = dataclasses.replace(assignment, grade_train=MappingProxyType({**assignment.grade_train, **values}))
    return dataclasses.replace(course, assignments=MappingProxyType({**course.assignments, assignment_id: switched}))


def training_of(report):
    """(the cifar_accuracy test, the step its run was judged at: the stop, or the end of the schedule)."""
    test = next(t for t in report.tests if t.key == "cifar_accuracy")
    detail = test.cases[-1].detail
    found = STEP.search(detail)
    steps = int(found.group(1).replace(",", "")) if found else None
    return test, steps


@pytest.mark.slow
@pytest.mark.dataset
def test_a_busy_machine_cannot_cost_a_correct_net_its_points(course, cifar10_dir, tmp_path):
    """With three busy processes beside the grade on 2 cores (four processes that compute for two cores:
    the training gets at most half a core, so it takes twice its CPU seconds of wall-clock time or more),
    does a correct net keep cifar_accuracy's points under a training budget of 1.3 x the CPU seconds it
    needed in a grade without them, which a wall-clock budget of that size would run out of?  (The run
    trains to its end, without looks: the subject is the budget, not the stop rule.)"""
    submission = copy_solution(course, ASSIGNMENT, tmp_path / "submission")
    course = with_grade_train(course, ASSIGNMENT, look_every=NO_LOOKS)
    quiet = grade_submission(course, ASSIGNMENT, submission)
    test, _ = training_of(quiet)
    assert test.passed, test.output()
    needed = quiet.seconds["training_cpu"]
    budget = math.ceil(BUDGET_FACTOR * needed + START_CPU)
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(BUSY)]
    try:
        loaded = grade_submission(with_limits(course, cpu_seconds=budget), ASSIGNMENT, submission)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    test, _ = training_of(loaded)
    print(f"training: {needed:.1f} CPU s alone; beside {BUSY} busy processes {loaded.seconds['training_cpu']:.1f} "
          f"CPU s in {loaded.seconds['training']:.1f} s of wall-clock time; budget {budget} CPU s")
    assert test.passed and test.score == test.max_score, test.output()


def slow_variant(assignment: str) -> dict:
    """The slow-learning variant of autograder/margin_variants.toml (its grade_train values)."""
    spec = importlib.util.spec_from_file_location("margin_for_tests", ROOT / "autograder" / "margin.py")
    margin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(margin)
    return next(v for v in margin.load_variants() if v["assignment"] == assignment and v["hyper"])


@pytest.mark.slow
@pytest.mark.dataset
def test_a_net_that_learns_slowly_still_gets_its_points(course, cifar10_dir, tmp_path):
    """Does a correct net that learns slowly (margin_variants.toml's slow-lr: a third of the learning rate)
    train past the look where the reference stops, using the budget the stop rule leaves, and still get
    cifar_accuracy's points?"""
    variant = slow_variant(ASSIGNMENT)
    submission = copy_solution(course, ASSIGNMENT, tmp_path / "submission")
    reference, reference_step = training_of(grade_submission(course, ASSIGNMENT, submission))
    slow, slow_step = training_of(grade_submission(with_grade_train(course, ASSIGNMENT, **variant["hyper"]),
                                                   ASSIGNMENT, submission))
    print(f"the reference was judged at step {reference_step}, {variant['id']} at {slow_step or 'the end'}")
    assert reference.passed and reference_step is not None, reference.output()
    assert slow.passed and slow.score == slow.max_score, slow.output()
    assert slow_step is None or slow_step > reference_step
