"""How long a grade takes when the submission hangs: the grader's deadlines (CPU time), as wall time.

The unit suite checks how the grader behaves with a hanging submission (one deadline, then
the other checks that call the hung function fail at once; a module that hangs at import
is bounded by the budget for all checks), never how long it took. The wall time is
measured here, with the short limits the tests use (tests/coursekit/grade/conftest.py).
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from .common import ROOT, Mode, Row, skipped

SECTION = "kit"  # the rows join the kit section (bench/kit.py)
ASSIGNMENT = "fc_net"
LAYERS = "cs231n/layers.py"
CHECK_SECONDS = 4  # one quick check's deadline in CPU seconds, as in the tests' quick_course
MEMORY_MB = 1024
SHARED_CPU_SECONDS = 60  # the CPU budget for all checks when a shared function hangs
IMPORT_CPU_SECONDS = 8  # the CPU budget for all checks when a module hangs at import
SHARED_CALLS = 15  # tasks that call affine_forward: affine_forward, affine_backward (2), fc_loss (12)
SHARED_TARGET = f"<= {CHECK_SECONDS * SHARED_CALLS} s"  # less than one deadline per call
IMPORT_TARGET = "<= 30 s"
AFFINE_BODY = "    out = x.reshape(x.shape[0], -1) @ w + b  # (N, M)\n    cache = (x, w, b)\n"
ENDLESS = "while True:\n    pass\n"
DEADLINE = "of CPU time and was stopped"  # a case that waited for its deadline
AT_ONCE = "did not finish in an earlier check"  # a case stopped at once: its function hung before

NAMES = {"shared": f"coursekit grade {ASSIGNMENT} --fast, affine_forward hangs "
                   f"({CHECK_SECONDS} s per check)",
         "import": f"coursekit grade {ASSIGNMENT} --fast, layers.py hangs at import "
                   f"({IMPORT_CPU_SECONDS} s of CPU for all checks)"}
TARGETS = {"shared": SHARED_TARGET, "import": IMPORT_TARGET}


def run(mode: Mode) -> list[Row]:
    if mode.tiny:
        return [skipped(SECTION, NAMES[key], "s", "tiny mode", TARGETS[key]) for key in NAMES]
    try:
        from coursekit.grade import grade_submission
    except ImportError as err:
        return [skipped(SECTION, NAMES[key], "s", f"no grader: {err}", TARGETS[key]) for key in NAMES]
    from coursekit.config import load_config

    course = load_config(ROOT / "course.toml")
    with tempfile.TemporaryDirectory(prefix="bench-hangs-") as tmp:
        return [_one(course, "shared", SHARED_CPU_SECONDS, _hang_in_affine_forward, Path(tmp), grade_submission),
                _one(course, "import", IMPORT_CPU_SECONDS, _hang_at_import, Path(tmp), grade_submission)]


def _one(course, key: str, cpu: int, fault, tmp: Path, grade_submission) -> Row:
    """Grade the solution with ``fault`` applied to layers.py, under the tests' short limits."""
    limits = dataclasses.replace(course.limits, check_seconds=CHECK_SECONDS, memory_mb=MEMORY_MB,
                                 cpu_seconds=cpu)
    submission = _solution_copy(course, tmp / key)
    problem = fault(submission / LAYERS)
    if problem:
        return skipped(SECTION, NAMES[key], "s", problem, TARGETS[key])
    start = time.perf_counter()
    report = grade_submission(dataclasses.replace(course, limits=limits), ASSIGNMENT, submission, fast=True)
    seconds = time.perf_counter() - start
    details = [case.detail for test in report.tests for case in test.cases if not case.passed]
    waited = sum(DEADLINE in d for d in details)
    at_once = sum(AT_ONCE in d for d in details)
    return Row(SECTION, NAMES[key], seconds, "s",
               detail=f"{waited} deadline(s) waited, {at_once} cases stopped at once, {len(details)} cases failed",
               target=TARGETS[key], note="wall time, grade_submission",
               data={"deadlines_waited": waited, "stopped_at_once": at_once, "failed_cases": len(details),
                     "check_seconds": CHECK_SECONDS, "cpu_seconds": cpu})


def _solution_copy(course, dest: Path) -> Path:
    for rel in course.assignment(ASSIGNMENT).modules:
        source = course.source_dir / rel
        if source.exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest / rel)
    return dest


def _hang_in_affine_forward(path: Path) -> str | None:
    """An endless loop for affine_forward's body; the reason when the body is not found."""
    text = path.read_text()
    if text.count(AFFINE_BODY) != 1:
        return "affine_forward's body in source/ changed: update AFFINE_BODY in bench/hangs.py"
    path.write_text(text.replace(AFFINE_BODY, "".join(f"    {line}\n" for line in ENDLESS.splitlines())))
    return None


def _hang_at_import(path: Path) -> str | None:
    path.write_text(ENDLESS + path.read_text())
    return None
