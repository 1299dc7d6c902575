"""Nothing of a grade outlives it: a grader SIGKILLed mid-grade, whose student code cleared its own
death signal and left the grader's process tree, leaves nothing once ``coursekit grade --cleanup``
(or the next grade) has run: no process, no cgroup, no temporary folder, no uid reservation.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coursekit.grade.sandbox import isolation

from .conftest import SURVIVOR, copy_solution, inject, kill_all, survivors, wait_until_gone

ROOT = Path(__file__).resolve().parents[4]
START_SECONDS = 60  # for the grader to get its child going
RUN_SECONDS = 120
# The task clears its death signal and names itself; its grandchild, in a new session, does the same.
ESCAPE = textwrap.dedent(f"""\
    import ctypes, os, time
    libc = ctypes.CDLL(None)
    libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none
    libc.prctl(15, b"{SURVIVOR}", 0, 0, 0)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            libc.prctl(1, 0, 0, 0, 0)
            while True:
                time.sleep(0.5)
        os._exit(0)
    time.sleep(120)
    out, cache = None, None""")


def grader_script(course_path: Path, submission: Path, degraded: bool) -> str:
    """A grader process: a fast grade (bwrap), or the degraded sandbox run directly (its course-files
    check is not the subject here), both stuck in affine_forward."""
    if not degraded:
        return textwrap.dedent(f"""\
            import dataclasses
            from coursekit.config import load_config
            from coursekit.grade import grade_submission
            course = load_config({str(course_path)!r})
            course = dataclasses.replace(course, limits=dataclasses.replace(course.limits, check_seconds=100))
            grade_submission(course, 'fc_net', {str(submission)!r}, fast=True)""")
    return textwrap.dedent(f"""\
        import numpy as np
        from coursekit.config import load_config
        from coursekit.grade.sandbox.parent import Sandbox, Task
        course = load_config({str(course_path)!r})
        box = Sandbox(submission={str(submission)!r}, limits=course.limits, isolation='degraded')
        box.run_tasks([Task('a', 'call', {{'target': 'cs231n.layers:affine_forward', 'returns': ['out', None],
                                          'args': [{{'a': 'x'}}, {{'a': 'w'}}, {{'a': 'b'}}]}},
                            {{'x': np.ones((2, 3)), 'w': np.ones((3, 4)), 'b': np.zeros(4)}}, 100.0)])""")


def left_by(pid: int) -> tuple[list[Path], list[Path], list[Path]]:
    """(temporary folders, uid reservations, cgroups) that the grader ``pid`` recorded or made."""
    state = isolation.state_dir_path()
    records = list((state / "grades").glob(f"{pid}-*"))
    folders = [Path(p) for record in records for p in json.loads(_read(record) or "[]")]
    uids = [f for f in (state / "uids").iterdir() if _read(f).startswith(f"{pid}-")]
    cgroups = [p for p in isolation.cgroup_root().glob(f"**/coursekit-{pid}-*") if p.is_dir()]
    return folders + records, uids, cgroups


def _read(path: Path) -> str:
    """A registry file's text ('' if another grader removed it meanwhile)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


@pytest.mark.skipif(os.geteuid() != 0, reason="spare uids and cgroups need root")
@pytest.mark.parametrize("mode", ["bwrap", "degraded-bare"])
def test_a_killed_graders_escaped_children_are_gone_after_cleanup(quick_course, tmp_path, monkeypatch, mode):
    """When the grader is SIGKILLed while student code that cleared its death signal (and double-forked
    into a new session) runs, is nothing left once `coursekit grade --cleanup` has run: no process, no
    cgroup, no temporary folder, no uid reservation?  ``degraded-bare``: no namespaces and no cgroups, so
    only the grader's registry of spare uids can find the escaped processes."""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, "cs231n/layers.py", "affine_forward", ESCAPE)
    env = dict(os.environ)
    if mode == "degraded-bare":
        (tmp_path / "no-cgroups").mkdir()
        env.update(COURSEKIT_UNSHARE=str(tmp_path / "no-unshare"), COURSEKIT_CGROUP_ROOT=str(tmp_path / "no-cgroups"))
        monkeypatch.setenv("COURSEKIT_CGROUP_ROOT", env["COURSEKIT_CGROUP_ROOT"])
    script = grader_script(quick_course.path, submission, degraded=mode != "bwrap")
    grader = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + START_SECONDS
        while len(survivors()) < 2 and time.monotonic() < end:
            time.sleep(0.2)
        assert len(survivors()) >= 2, "the escaping child never started"
        folders, uids, cgroups = left_by(grader.pid)
        assert folders and uids  # the grade was recorded: the cleanup has something to find
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    try:
        if mode == "bwrap":  # bubblewrap's init, PID 1 of the namespace, dies with the grader: so does all below it
            assert wait_until_gone() == [], "student code outlived the grader's namespace"
        else:
            time.sleep(1)
            assert len(survivors()) >= 2, "nothing escaped: the test proves nothing"
        done = subprocess.run([str(Path(sys.executable).parent / "coursekit"), "--config", str(quick_course.path),
                               "grade", "--cleanup"], capture_output=True, text=True, env=env, timeout=RUN_SECONDS)
        assert done.returncode == 0, done.stderr
        left = wait_until_gone()
        assert left == [], f"processes of the killed grade still run: {left}"
        assert left_by(grader.pid) == ([], [], [])
        assert not any(folder.exists() for folder in folders)
    finally:
        kill_all(survivors())
