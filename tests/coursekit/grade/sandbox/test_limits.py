"""Limits that hold in every mode: a fork bomb and a memory hog cost their own checks, cgroups or not.

Without cgroups (here: ``COURSEKIT_CGROUP_ROOT`` at an empty folder) only the degraded mode runs
student code at all; there the child's spare uid carries RLIMIT_NPROC and the grader's watch
sums the memory and tasks of every process of that uid.
"""
from __future__ import annotations

import dataclasses
import os
import textwrap

import pytest

from coursekit.grade import grade_submission, pipeline

from .conftest import SURVIVOR, copy_solution, inject, kill_all, probe, wait_until_gone

LAYERS = "cs231n/layers.py"
HOG_MB, TREE_MB = 200, 512  # four hogs of HOG_MB together exceed TREE_MB; one alone does not
# Checks whose tasks never call relu_forward: they must keep full marks.
UNTOUCHED = ("affine_forward", "affine_backward", "batchnorm_forward", "softmax_loss", "sgd_momentum", "adam")


@pytest.fixture
def without_cgroups(quick_course, tmp_path, monkeypatch):
    """The quick course graded in the degraded mode, with no cgroup hierarchy at all."""
    if os.geteuid() != 0:
        pytest.skip("the degraded mode switches uid: it needs root")
    (tmp_path / "no-cgroups").mkdir()
    monkeypatch.setenv("COURSEKIT_CGROUP_ROOT", str(tmp_path / "no-cgroups"))
    # A test checkout's course files are readable by others; that refusal has its own tests
    # (test_fail_closed.py): here the subject is the limits.
    monkeypatch.setattr(pipeline, "course_secrets", lambda course, fast=False: ())
    return dataclasses.replace(quick_course, limits=dataclasses.replace(
        quick_course.limits, memory_mb=TREE_MB, check_seconds=10))


def grade_with(course, tmp_path, body: str):
    submission = copy_solution(course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "relu_forward", body)
    try:
        report = grade_submission(course, "fc_net", submission, fast=True, insecure=True)
    finally:
        left = wait_until_gone()
        kill_all(left)
    assert left == [], "processes of the submission outlived its grade"
    return report, {t.key: t for t in report.tests}


def test_a_fork_bomb_without_cgroups_costs_its_own_checks(without_cgroups, tmp_path):
    """In the degraded mode without cgroups, is a fork bomb stopped at max_processes, costing only the
    checks that call the bombing function, with nothing left running?"""
    report, tests = grade_with(without_cgroups, tmp_path, textwrap.dedent(f"""\
        import ctypes, os, time
        ctypes.CDLL(None).prctl(15, b"{SURVIVOR}", 0, 0, 0)
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)"""))
    limit = without_cgroups.limits.max_processes
    assert f"reached the limit of {limit} processes" in tests["relu_forward"].output()
    assert not tests["relu_forward"].passed and not tests["fc_loss"].passed
    for key in UNTOUCHED:
        assert tests[key].passed, tests[key].output()
    assert any(line.startswith("no cgroup") for line in report.protections["failed"])
    assert any(f"RLIMIT_NPROC {limit} (enforced" in line for line in report.protections["active"])


def test_a_memory_hog_without_cgroups_costs_its_own_checks(without_cgroups, tmp_path):
    """In the degraded mode without cgroups, are four processes that together hold more than memory_mb
    (each alone under it) stopped by the grader's watch, costing only their own checks?"""
    assert 4 * HOG_MB > TREE_MB > HOG_MB
    report, tests = grade_with(without_cgroups, tmp_path, probe(textwrap.dedent(f"""\
        import ctypes, os, time
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                ctypes.CDLL(None).prctl(15, b"{SURVIVOR}", 0, 0, 0)
                hog = np.ones({HOG_MB} * 2**20 // 8)
                time.sleep(5)
                os._exit(0)
            kids.append(pid)
        seen = [os.waitpid(pid, 0)[1] for pid in kids]""")))
    assert f"used more than {TREE_MB} MB of memory together" in tests["relu_forward"].output()
    for key in UNTOUCHED:
        assert tests[key].passed, tests[key].output()
    assert any(line.startswith("no cgroup") for line in report.protections["failed"])

