"""The jail: what a child can see and do, and how the grader copes when a protection fails."""
import os

import numpy as np
import pytest

from coursekit.grade.pipeline import hidden_folders
from coursekit.grade.sandbox.parent import Sandbox, Task

from ..conftest import copy_solution


@pytest.fixture
def sandbox(quick_course, tmp_path):
    def make(**kwargs):
        submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
        hidden, keep = hidden_folders(quick_course, submission)
        return Sandbox(submission=submission, limits=quick_course.limits, hidden=hidden, keep=keep, **kwargs)
    return make


def call(task_id, target, *args):
    return Task(task_id, "call", {"target": target, "args": list(args), "returns": "value"}, {}, 10.0)


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and uids need root")
def test_every_protection_is_active_as_root(sandbox, monkeypatch):
    """As root, are all four protections active, the uid unprivileged and the environment scrubbed?"""
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    box = sandbox()
    try:
        out = box.run_tasks([call("uid", "os:getuid"), call("env", "os:getenv", "SECRET_TOKEN")])
    finally:
        box.close()
    active = " ".join(box.protections["active"])
    for word in ("network namespace", "mount namespace", "resource limits", "unprivileged uid"):
        assert word in active
    assert not box.protections["failed"]
    assert int(out["uid"].outputs["value"]) != 0
    assert "is None" in out["env"].error


def test_grading_goes_on_when_namespaces_are_unavailable(sandbox):
    """When the jail cannot isolate, does the child still run, and are the failures recorded?"""
    box = sandbox(skip=("isolate_network", "hide_folders", "drop_privileges"))
    try:
        x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.zeros(4)
        task = Task("affine", "call", {"target": "cs231n.layers:affine_forward", "returns": ["out", None],
                                       "args": [{"a": "x"}, {"a": "w"}, {"a": "b"}]}, {"x": x, "w": w, "b": b}, 10.0)
        out = box.run_tasks([task])
    finally:
        box.close()
    assert out["affine"].ok and np.allclose(out["affine"].outputs["out"], 3.0)
    assert box.protections["active"] and "resource limits" in box.protections["active"][0]
    assert not any("namespace" in p for p in box.protections["active"])
