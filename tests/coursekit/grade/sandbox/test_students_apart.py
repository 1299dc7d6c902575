"""Students kept apart in the degraded mode: a class graded two at a time, each student's code looking
for the others' and for the grader's secrets.

The class is graded by the ``coursekit`` command, as an instructor runs it, from a copy of the kit
and the course that only root can read (the degraded mode refuses anything else), with util-linux
``unshare`` disabled: no PID namespace, so student code sees every process's command line (the
test checks that it did) and must still find no secret there.  The secret (a gradebook URL with
a password) is where the kit tells instructors to put it, in ``$COURSEKIT_GRADEBOOK_URL``; the
refusal of a password on the command line is tested in ``tests/coursekit/classroom/test_gradebook.py``.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import SEEN, copy_solution, inject, probe

ROOT = Path(__file__).resolve().parents[4]
STUDENTS = ("alice", "bob")
TOKEN = "s3cr3t-gradebook-4711"  # the gradebook's password: must reach no student's code
OVERLAP_SECONDS = 15  # how long a probe waits to see another student's grade running beside its own
RUN_SECONDS = 600


def root_only_course(dest: Path) -> Path:
    """The kit and the course (course.toml, source/) copied where only root can read them."""
    dest.mkdir(mode=0o700)
    shutil.copytree(ROOT / "coursekit", dest / "coursekit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "source", dest / "source", ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    shutil.copy(ROOT / "course.toml", dest / "course.toml")
    return dest


def snooping(student: str) -> str:
    """relu_forward's body: once per child, look for every student's staged code and the grader's secrets."""
    return textwrap.dedent(f"""\
        import builtins
        if hasattr(builtins, 'snooped'):
            return np.maximum(x, 0), x
        builtins.snooped = True
        # MARK-{student}
        """) + probe(textwrap.dedent(f"""\
        import os, re, time
        marks, grades, secret, grader = set(), set(), False, False
        end = time.time() + {OVERLAP_SECONDS}
        while time.time() < end:
            for top in ('/tmp', '/var/tmp', '/dev/shm'):
                for name in os.listdir(top):
                    if not name.startswith('coursekit'):  # the kit's folders: grades, staging, state
                        continue
                    grades.update([name] if name.startswith('coursekit-grade-') else [])
                    for folder, dirs, files in os.walk(os.path.join(top, name)):
                        for f in files:
                            if f.endswith('.py'):
                                try:
                                    marks.update(re.findall(r'MARK-(\\w+)', open(os.path.join(folder, f)).read()))
                                except OSError:
                                    pass
            for pid in filter(str.isdigit, os.listdir('/proc')):
                for what in ('cmdline', 'environ'):
                    try:
                        line = open('/proc/' + pid + '/' + what, 'rb').read()
                    except OSError:
                        continue
                    secret |= {TOKEN!r}.encode() in line
                    grader |= what == 'cmdline' and b'--insecure' in line
            if len(grades) > 1:
                break
            time.sleep(0.2)
        seen = (sorted(marks), len(grades), secret, grader)"""))


@pytest.mark.skipif(os.geteuid() != 0, reason="the degraded mode switches uid: it needs root")
def test_degraded_class_mode_keeps_students_apart_and_secrets_off_command_lines(quick_course, tmp_path):
    """Graded two at a time in the degraded mode (no PID namespace), does each student's code find only
    its own staged files, and no secret on any command line or in any environment, though it can read
    the grader's command line?"""
    course_root = root_only_course(tmp_path / "course")
    submitted = tmp_path / "submitted"
    for student in STUDENTS:
        submission = copy_solution(quick_course, "fc_net", submitted / student / "fc_net")
        inject(submission, "cs231n/layers.py", "relu_forward", snooping(student))
    env = {**os.environ, "PYTHONPATH": str(course_root), "COURSEKIT_UNSHARE": str(tmp_path / "no-unshare"),
           "COURSEKIT_GRADEBOOK_URL": f"postgresql://grader:{TOKEN}@db.example/gradebook"}
    done = subprocess.run([sys.executable, "-m", "coursekit", "--config", str(course_root / "course.toml"), "-q",
                           "grade", "fc_net", str(submitted), "--fast", "--insecure", "--workers", "2",
                           "--out", str(tmp_path / "graded")],
                          capture_output=True, text=True, env=env, timeout=RUN_SECONDS, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    overlaps = 0
    for student in STUDENTS:
        results = json.loads((tmp_path / "graded" / "students" / student / "results.json").read_text())
        relu = next(t for t in results["tests"] if "ReLU: forward" in t["name"])
        marks, grades, secret, grader = ast.literal_eval(SEEN.findall(relu["output"])[-1])
        assert marks == [student], f"{student} read the staged code of {marks}"
        assert not secret and grader  # the grader's command line was there to read, without the secret
        assert "DEGRADED" in results["extra_data"]["protections"]["active"][0]
        overlaps += grades > 1
    assert overlaps == len(STUDENTS), "the grades did not run at once: the test proved nothing"
