"""Write a graded batch into nbgrader's gradebook, so that formgrader shows the kit's score.

The kit grades modules (``cs231n/*.py``), which nbgrader does not see.  Its score goes into
the gradebook as one autograded grade cell, ``coursekit``, of one extra notebook of the
assignment, ``coursekit_modules``, worth the batch's max score.  formgrader then adds it to
the notebooks' own points in each student's total.

The rows come from a batch's ``out_dir`` (see :mod:`coursekit.classroom.batch`), streamed one at a time.
Recording twice updates the same cell: it never adds a second one.  A manual score entered
in formgrader is kept (nbgrader prefers it to the auto score).

Caveat: ``nbgrader generate_assignment`` refuses to remove a notebook that has submissions,
so this notebook stays in the gradebook once grades are recorded.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .results import iter_results

NOTEBOOK = "coursekit_modules"
CELL = "coursekit"


def batch_max_score(out_dir: Path, assignment_id: str) -> float | None:
    """The max score of the batch's graded students (the same for all of them), or None."""
    return next((row["max_score"] for row in iter_results(out_dir, assignment_id)
                 if row["max_score"] is not None), None)


def record_grades(db_url: str, assignment_id: str, out_dir, *, max_score: float | None = None) -> int:
    """Put each student's total from ``out_dir`` into the gradebook at ``db_url``; return how many."""
    from nbgrader.api import Gradebook

    out_dir = Path(out_dir)
    max_score = max_score if max_score is not None else batch_max_score(out_dir, assignment_id)
    if max_score is None:
        return 0  # nobody was graded
    count = 0
    _alembic_on_path()
    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(assignment_id)
        gb.update_or_create_notebook(NOTEBOOK, assignment_id)
        gb.update_or_create_grade_cell(CELL, NOTEBOOK, assignment_id, max_score=max_score, cell_type="code")
        for row in iter_results(out_dir, assignment_id):
            grade = _grade_of(gb, assignment_id, row["student_id"])
            grade.auto_score = float(row["score"])
            grade.needs_manual_grade = False
            gb.db.commit()
            count += 1
    return count


def _grade_of(gb, assignment_id: str, student_id: str):
    """The student's Grade row for the kit's cell, created (with the submission) if missing."""
    from nbgrader.api import Grade, MissingEntry, SubmittedNotebook

    gb.update_or_create_student(student_id)
    try:
        submission = gb.find_submission(assignment_id, student_id)
    except MissingEntry:
        gb.add_submission(assignment_id, student_id)  # mirrors every notebook and cell, ours too
        return gb.find_grade(CELL, NOTEBOOK, assignment_id, student_id)
    try:
        return gb.find_grade(CELL, NOTEBOOK, assignment_id, student_id)
    except MissingEntry:  # the submission predates the kit's notebook or cell
        notebook = gb.find_notebook(NOTEBOOK, assignment_id)
        submitted = next((nb for nb in submission.notebooks if nb.notebook_id == notebook.id), None)
        if submitted is None:
            submitted = SubmittedNotebook(notebook=notebook, assignment=submission)
            gb.db.add(submitted)
        cell = gb.find_grade_cell(CELL, NOTEBOOK, assignment_id)
        gb.db.add(Grade(cell_id=cell.id, notebook=submitted))
        gb.db.commit()
        return gb.find_grade(CELL, NOTEBOOK, assignment_id, student_id)


def _alembic_on_path() -> None:
    """nbgrader creates a new gradebook by running ``alembic``: find it next to this Python."""
    here = Path(sys.executable).parent
    if shutil.which("alembic") is None and (here / "alembic").exists():
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"
