"""Numeric gradients run only when a judgement needs them, identical tasks run once, and the
report is the same as when every task runs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.grade import pipeline
from coursekit.grade.checks.base import Check, compare_case, gradient_case
from coursekit.grade.checks.needed import chooser, needed_now
from coursekit.grade.sandbox.parent import Outcome, Task

from ..conftest import copy_solution, inject

SEED = 20  # the hidden cases of every grade here


def grade(course, assignment_id, folder, use_chooser: bool):
    """(report, ids of the tasks that ran) of a fast grade, with or without the chooser."""
    prepared = pipeline.prepare_grade(course, assignment_id, folder, fast=True, seed=SEED)
    choose = chooser(prepared.checks, prepared.aliases) if use_chooser else None
    execution = pipeline.execute_grade(prepared.job, None, choose=choose)
    return pipeline.judge_grade(course, prepared, execution, None), set(execution.outcomes)


def as_read(report):
    """Everything of a report a student or a diagnosis reads (not its timings)."""
    return [(t.key, t.score, [(d.id, d.message) for d in t.diagnoses],
             [(c.label, c.passed, c.detail, c.rel_error, c.public) for c in t.cases]) for t in report.tests]


@pytest.mark.parametrize("fault", [None, "db-mean"], ids=["solution", "wrong-db"])
def test_leaving_out_numeric_gradients_never_changes_the_report(quick_course, tmp_path, fault):
    """Is the report of a grade that leaves out unneeded numeric gradients the one of a grade that
    runs them all, for correct code and for a wrong gradient (whose check gets all of its own)?"""
    folder = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    if fault:
        inject(folder, "cs231n/layers.py", "affine_backward", """
x, w, b = cache
dx = (dout @ w.T).reshape(x.shape)
dw = x.reshape(x.shape[0], -1).T @ dout
db = dout.mean(axis=0)""")
    every, ran_all = grade(quick_course, "fc_net", folder, use_chooser=False)
    chosen, ran_chosen = grade(quick_course, "fc_net", folder, use_chooser=True)
    assert as_read(chosen) == as_read(every)
    grids = {task_id for task_id in ran_all if task_id.endswith("numeric")}
    assert ran_chosen < ran_all and grids - ran_chosen  # some numeric gradients were left out
    assert {"fc_gradients.4numeric", "fc_gradients.5numeric"} <= ran_chosen  # dropout: no reference, always run
    if fault:
        assert not chosen.tests[[t.key for t in chosen.tests].index("affine_backward")].passed
        assert {t for t in ran_all if t.startswith("affine_backward.") and t.endswith("numeric")} <= ran_chosen
    else:
        assert chosen.score == chosen.max_score
        assert "affine_backward.numeric" not in ran_chosen


def _gradient_check(expected):
    """A check with one gradient case, its analytic task 'g.a' and its numeric task 'g.n' (x of shape (2,))."""
    check = Check("g", "a gradient", "f", "f.py", "")
    check.tasks = [Task("g.a", "call", {}, {}, 1.0), Task("g.n", "grid", {}, {}, 1.0, optional=True),
                   Task("g.v", "call", {}, {}, 1.0)]
    check.cases = [("dx", gradient_case("dx", "g.a", "dx", "g.n", "x", (2,), None, expected, "f")),
                   ("value", compare_case("value", "g.v", "y", np.ones(2)))]
    return check


def test_a_check_needs_its_numeric_gradient_only_when_a_case_reads_it():
    """Does a check need its numeric gradient only while a case that reads it fails, and every other
    task once a case fails that reads none of them?"""
    right = {"g.a": Outcome(True, {"dx": np.array([1.0, 2.0])}), "g.v": Outcome(True, {"y": np.ones(2)})}
    assert needed_now(_gradient_check(np.array([1.0, 2.0])), right, {"g.n"}) == set()
    assert needed_now(_gradient_check(None), right, {"g.n"}) == {"g.n"}  # no reference: the grid judges
    assert needed_now(_gradient_check(np.array([1.0, 3.0])), right, {"g.n"}) == {"g.n"}
    wrong_value = {**right, "g.v": Outcome(True, {"y": np.zeros(2)})}
    # a check that fails anyway gets all of its tasks
    assert needed_now(_gradient_check(np.array([1.0, 2.0])), wrong_value, {"g.n"}) == {"g.n"}


def test_the_chooser_names_a_task_for_every_check_that_shares_it():
    """Is a task run once for two checks (an alias) named when either of them needs it?"""
    first, second = _gradient_check(np.array([1.0, 2.0])), _gradient_check(None)
    second.name = "h"
    second.tasks = [Task("h.a", "call", {}, {}, 1.0), Task("h.n", "grid", {}, {}, 1.0, optional=True),
                    Task("h.v", "call", {}, {}, 1.0)]
    second.cases = [("dx", gradient_case("dx", "h.a", "dx", "h.n", "x", (2,), None, None, "f"))]
    choose = chooser([first, second], aliases={"h.n": "g.n", "h.a": "g.a"})
    outcomes = {"g.a": Outcome(True, {"dx": np.array([1.0, 2.0])}), "g.v": Outcome(True, {"y": np.ones(2)})}
    assert choose(outcomes, ["g.n"]) == "g.n"  # the second check has no reference
    assert chooser([first], aliases={})(outcomes, ["g.n"]) is None


def test_identical_tasks_run_once():
    """Are tasks with the same driver, spec, inputs and limits sent once, the others named as aliases?"""
    x = np.arange(3.0)
    tasks = [Task("a.1", "call", {"k": 1}, {"x": x}, 5.0), Task("b.1", "call", {"k": 1}, {"x": x.copy()}, 5.0),
             Task("c.1", "call", {"k": 1}, {"x": x.astype(np.float32)}, 5.0),
             Task("d.1", "call", {"k": 2}, {"x": x}, 5.0), Task("e.1", "call", {"k": 1}, {"x": x}, 6.0)]
    unique, aliases = pipeline.distinct(tasks)
    assert [t.id for t in unique] == ["a.1", "c.1", "d.1", "e.1"]
    assert aliases == {"b.1": "a.1"}


def test_a_shared_task_is_judged_for_every_check(quick_course, tmp_path):
    """Do the hidden build's public-input tasks (run once) count for both builds' cases?"""
    folder = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    prepared = pipeline.prepare_grade(quick_course, "fc_net", folder, fast=True, seed=SEED)
    assert prepared.aliases["fc_gradients.hidden-4numeric"] == "fc_gradients.4numeric"
    assert len(prepared.job.quick) + len(prepared.aliases) == sum(len(c.tasks) for c in prepared.checks)
    report = pipeline.judge_grade(quick_course, prepared, pipeline.execute_grade(prepared.job, None), None)
    gradients = next(t for t in report.tests if t.key == "fc_gradients")
    assert gradients.passed and all(c.passed for c in gradients.cases)


def test_results_carry_the_stages_of_the_grade(quick_course, tmp_path):
    """Does results.json say where the grade's time went (building checks, the child, judging, ...)?"""
    folder = copy_solution(quick_course, "two_layer_net", tmp_path / "submission")
    report = pipeline.grade_submission(quick_course, "two_layer_net", folder, fast=True, seed=SEED,
                                       results_path=tmp_path / "results.json", feedback_path=tmp_path / "f.md")
    seconds = report.to_gradescope()["extra_data"]["seconds"]
    for stage in ("building checks", "staging", "sandbox start", "child setup", "child start (bubblewrap, Python, "
                  "numpy)", "child tasks", "child end", "execute", "judging", "reports"):
        assert isinstance(seconds[stage], float) and math.isfinite(seconds[stage]) and seconds[stage] >= 0, stage
    assert seconds["children"] == 1
