"""What the cells of ``coursekit_modules.ipynb`` run under ``nbgrader autograde``.

Each autograded cell of that generated notebook (see :mod:`coursekit.tracks.kitnotebook`)
ends with ``check_score("<assignment>", "<check>")``.  The first call grades the folder the
kernel runs in (nbgrader's ``autograded/<student>/<assignment>/``) with the kit's grader,
once per kernel; every call prints its check's cases and returns its score, which nbgrader
reads as the cell's partial credit.  So nbgrader, ``coursekit grade`` and Gradescope give
each check the same score from the same code.

``COURSEKIT_FAST=1`` in nbgrader's environment skips the CIFAR-10 checks, as ``--fast``
does: their cells then score 0 and say so.  Nothing is written to stderr while grading
(nbgrader gives a cell that wrote to stderr no points).
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from ..config import find_course_root, load_config, CONFIG_NAME
from ..grade import grade_submission
from ..grade.feedback import points_text

ENV_FAST = "COURSEKIT_FAST"
_REPORTS: dict[tuple[str, str, bool], object] = {}  # (assignment, folder, fast) -> report or error


def check_score(assignment_id: str, check: str, folder: Path | str | None = None) -> float:
    """The kit's score for ``check`` of the submission in ``folder`` (default: the working directory)."""
    folder = Path(folder or Path.cwd()).resolve()
    fast = os.environ.get(ENV_FAST) == "1"
    key = (assignment_id, str(folder), fast)
    if key not in _REPORTS:
        _REPORTS[key] = _grade(assignment_id, folder, fast)
    report = _REPORTS[key]
    if isinstance(report, Exception):
        raise report
    test = next((t for t in report.tests if t.key == check), None)
    if test is None:
        if check in report.skipped:
            print(f"{check}: not graded in fast mode ({ENV_FAST}=1): 0 of its "
                  f"{points_text(report.skipped[check])} points. Autograde without {ENV_FAST} to grade it.")
            return 0.0
        raise KeyError(f"The grader of {assignment_id} has no check '{check}': rebuild the course "
                       "(`coursekit build`) and run `nbgrader generate_assignment --force`.")
    print(report.test_output(test))
    return test.score


def _grade(assignment_id: str, folder: Path, fast: bool):
    """The report of ``folder`` (or the exception that stopped the grader), stderr kept quiet."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            course = load_config(find_course_root(folder) / CONFIG_NAME)
            return grade_submission(course, assignment_id, folder, fast=fast)
    except Exception as err:  # noqa: BLE001 - re-raised by every cell, so each scores 0
        return err
