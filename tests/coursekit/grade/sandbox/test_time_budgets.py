"""Time limits in CPU seconds of the child's whole tree, with a wall-clock guard only for code that waits.

A check that computes forever is stopped by its CPU time (what it used, not how long the machine took
to give it); one that sleeps uses no CPU and is stopped by the wall-clock guard; the CPU time of a
process the check forked counts too, with cgroups (their CPU accounting) and without (the watch's sum
over the tree's processes).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from coursekit.grade.sandbox import watch
from coursekit.grade.sandbox.parent import Sandbox, Task

from .conftest import SURVIVOR, copy_solution, inject, kill_all, wait_until_gone

LAYERS = "cs231n/layers.py"
SPINS = "while True:\n    pass"
SLEEPS = "import time\ntime.sleep(600)"
# The check's own process waits (no CPU) while a process it forked computes.
FORKS_A_SPINNER = f"""import ctypes, os
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(15, b"{SURVIVOR}", 0, 0, 0)
    while True:
        pass
os.waitpid(pid, 0)"""
GUARD = 20.0  # the wall-clock guard these tests set (factor 1, floor GUARD): far past a 1 s CPU limit
SLEEP_GUARD = 4.0  # the guard of the test that sleeps (its check uses no CPU time at all)


@pytest.fixture
def short_guard(monkeypatch):
    """Wall-clock guards of GUARD seconds (the course's are 10 x the CPU limit, at least 60 s)."""
    monkeypatch.setattr(watch, "WALL_GUARD_FACTOR", 1)
    monkeypatch.setattr(watch, "WALL_GUARD_FLOOR", GUARD)


@pytest.fixture
def without_cgroups(monkeypatch, tmp_path):
    """No cgroup hierarchy at all: the degraded mode, where the watch counts the tree's CPU itself."""
    if os.geteuid() != 0:
        pytest.skip("the degraded mode switches uid: it needs root")
    (tmp_path / "no-cgroups").mkdir()
    monkeypatch.setenv("COURSEKIT_CGROUP_ROOT", str(tmp_path / "no-cgroups"))


def run_relu(course, tmp_path, body: str, cpu_seconds: float, isolation: str = "bwrap"):
    """relu_forward replaced by ``body``, called once with a limit of ``cpu_seconds`` CPU seconds."""
    submission = copy_solution(course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "relu_forward", body)
    box = Sandbox(submission=submission, limits=course.limits, isolation=isolation)
    task = Task("relu", "call", {"target": "cs231n.layers:relu_forward", "args": [{"a": "x"}],
                                 "returns": ["out", None]}, {"x": np.ones((2, 3))}, cpu_seconds)
    try:
        return box.run_tasks([task])["relu"], box
    finally:
        box.close()
        kill_all(wait_until_gone())


def test_a_check_that_computes_forever_is_stopped_by_its_cpu_time(quick_course, tmp_path, short_guard):
    """Is an endless loop stopped once it has used its CPU seconds, long before the wall-clock guard, saying
    where it was stuck?"""
    outcome, box = run_relu(quick_course, tmp_path, SPINS, 1.0)
    assert not outcome.ok
    assert "used more than 1 s of CPU time" in outcome.error and "while running relu_forward" in outcome.error
    assert "wall-clock" not in outcome.error


def test_a_check_that_sleeps_is_stopped_by_the_wall_clock_guard(quick_course, tmp_path, short_guard, monkeypatch):
    """Is a check that sleeps (no CPU time) stopped by the wall-clock guard, with a message that says it
    was waiting, not computing?"""
    monkeypatch.setattr(watch, "WALL_GUARD_FLOOR", SLEEP_GUARD)
    outcome, _ = run_relu(quick_course, tmp_path, SLEEPS, 1.0)
    assert not outcome.ok
    assert f"more than {SLEEP_GUARD:.0f} s of wall-clock time while using only" in outcome.error
    assert "waiting or sleeping" in outcome.error and "while running relu_forward" in outcome.error


@pytest.mark.parametrize("mode", ["bwrap", "degraded-bare"])
def test_the_cpu_time_of_a_forked_process_counts(quick_course, tmp_path, short_guard, request, mode):
    """When the check's own process waits while a process it forked computes, is the check stopped by the
    CPU time of its whole tree (the cgroup's count; without cgroups, the watch's), not by the guard?"""
    if mode == "degraded-bare":
        request.getfixturevalue("without_cgroups")
    isolation = "degraded" if mode == "degraded-bare" else "bwrap"
    outcome, box = run_relu(quick_course, tmp_path, FORKS_A_SPINNER, 1.0, isolation)
    assert "used more than 1 s of CPU time" in outcome.error, outcome.error
    counted = "the cgroup's CPU accounting" if mode == "bwrap" else "over the tree's processes"
    assert any(counted in line for line in box.protections["active"]), box.protections


def test_the_report_says_which_limits_are_cpu_time_and_which_wall_clock(quick_course, tmp_path):
    """Does the protections line name the CPU-time limits (per check, training and all checks) and the
    wall-clock guards?"""
    outcome, box = run_relu(quick_course, tmp_path, "out = np.maximum(x, 0)\ncache = x", 4.0)
    assert outcome.ok
    line = next(line for line in box.protections["active"] if line.startswith("time in CPU seconds"))
    limits = quick_course.limits
    assert f"at most {limits.check_seconds} s for one check, {limits.cpu_seconds} s for the grader's training run" in line
    assert "wall-clock time only as a guard for code that waits or sleeps" in line
    assert f"{limits.wall_seconds} s for all checks together" in line
