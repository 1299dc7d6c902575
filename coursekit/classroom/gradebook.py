"""Write a graded batch into nbgrader's gradebook, check by check, so formgrader shows the kit's scores.

The kit grades modules (``cs231n/*.py``), which nbgrader's notebooks do not score.  Its checks
are the autograded cells of the generated notebook ``coursekit_modules`` of the assignment
(see :mod:`coursekit.tracks.kitnotebook`): one cell per check, named after it, worth the
check's points of course.toml.  ``nbgrader generate_assignment`` puts them in the gradebook
and ``nbgrader autograde`` scores them by running the kit; :func:`record_grades` writes the
same scores from a class grade (``coursekit grade ... --gradebook``), for example for a
student whose submission lacks the notebook.

Recording twice updates the same cells.  A score an instructor entered in formgrader is a
manual score, which nbgrader prefers to the auto score: it is never overwritten.  Only the
checks the batch graded are written: a check it did not run (fast mode skips the CIFAR-10
checks) or a student it could not grade (an error row) leaves the gradebook's score as it
was, so a fast regrade never lowers points that a full one gave.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Mapping

from ..tracks.kitnotebook import KIT_NOTEBOOK_ID
from .results import iter_results

NOTEBOOK = KIT_NOTEBOOK_ID


def batch_points(out_dir: Path, assignment_id: str) -> dict[str, float]:
    """Each check's max score, from the batch's graded students (used when no table is given)."""
    points: dict[str, float] = {}
    for row in iter_results(out_dir, assignment_id):
        points.update({check: float(score_max[1]) for check, score_max in row["checks"].items()})
    return points


def record_grades(db_url: str, assignment_id: str, out_dir, *,
                  points: Mapping[str, float] | None = None) -> int:
    """Put each student's check scores from ``out_dir`` into the gradebook at ``db_url``; return
    how many students got scores.  A check a student's row does not hold (not graded by the
    batch) keeps the score the gradebook has.

    ``points``: the assignment's points table (check -> max score); default: the batch's checks.
    """
    from nbgrader.api import Gradebook

    out_dir = Path(out_dir)
    points = dict(points) if points is not None else batch_points(out_dir, assignment_id)
    if not points:
        return 0  # nobody was graded
    count = 0
    _alembic_on_path()
    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(assignment_id)
        gb.update_or_create_notebook(NOTEBOOK, assignment_id)
        for check, max_score in points.items():
            gb.update_or_create_grade_cell(check, NOTEBOOK, assignment_id, max_score=max_score, cell_type="code")
        for row in iter_results(out_dir, assignment_id):
            graded = [check for check in points if check in row["checks"]]
            if not graded:  # the batch could not grade this student (an error row): touch nothing
                continue
            for check in points:  # every cell exists (formgrader's max), only graded ones get a score
                grade = _grade_of(gb, assignment_id, row["student_id"], check)
                if check in graded:
                    grade.auto_score = float(row["checks"][check][0])
                    grade.needs_manual_grade = False
            gb.db.commit()
            count += 1
    return count


def _grade_of(gb, assignment_id: str, student_id: str, cell_name: str):
    """The student's Grade row for one kit cell, created (with the submission) if missing."""
    from nbgrader.api import Grade, MissingEntry, SubmittedNotebook

    gb.update_or_create_student(student_id)
    try:
        submission = gb.find_submission(assignment_id, student_id)
    except MissingEntry:
        gb.add_submission(assignment_id, student_id)  # mirrors every notebook and cell, ours too
        return gb.find_grade(cell_name, NOTEBOOK, assignment_id, student_id)
    try:
        return gb.find_grade(cell_name, NOTEBOOK, assignment_id, student_id)
    except MissingEntry:  # the submission predates the kit's notebook or cell
        notebook = gb.find_notebook(NOTEBOOK, assignment_id)
        submitted = next((nb for nb in submission.notebooks if nb.notebook_id == notebook.id), None)
        if submitted is None:
            submitted = SubmittedNotebook(notebook=notebook, assignment=submission)
            gb.db.add(submitted)
        cell = gb.find_grade_cell(cell_name, NOTEBOOK, assignment_id)
        gb.db.add(Grade(cell_id=cell.id, notebook=submitted))
        gb.db.commit()
        return gb.find_grade(cell_name, NOTEBOOK, assignment_id, student_id)


def _alembic_on_path() -> None:
    """nbgrader creates a new gradebook by running ``alembic``: find it next to this Python."""
    here = Path(sys.executable).parent
    if shutil.which("alembic") is None and (here / "alembic").exists():
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"
