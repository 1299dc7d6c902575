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

The gradebook's URL never sits on a command line, where every process of the machine can read
it (student code included, in the degraded mode without a PID namespace): :func:`gradebook_url`
takes it from ``$COURSEKIT_GRADEBOOK_URL`` or from a file only its owner can read, and refuses a
URL with a password given on the command line.  :func:`redact` is the URL as it may be shown.
"""
from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Mapping

from urllib.parse import parse_qsl, urlsplit

from ..errors import UsageError
from ..tracks.kitnotebook import KIT_NOTEBOOK_ID
from .results import iter_results

NOTEBOOK = KIT_NOTEBOOK_ID
ENV_GRADEBOOK_URL = "COURSEKIT_GRADEBOOK_URL"
SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "secret", "token")


def gradebook_url(option: str | None, file: str | None) -> str | None:
    """The gradebook URL of ``--gradebook [URL]`` / ``--gradebook-file PATH`` (None: no gradebook).

    ``--gradebook`` with no value reads $COURSEKIT_GRADEBOOK_URL; a URL on the command line must
    hold no password (``sqlite:///gradebook.db`` holds none); the file must be a regular file of
    the grader's user that no one else may read (chmod 600).  A UsageError says what to do.
    """
    if option is not None and file is not None:
        raise UsageError("Give the gradebook either with --gradebook or with --gradebook-file, not both.")
    if file is not None:
        return _url_from_file(Path(file))
    if option is None:
        return None
    if option == "":
        url = os.environ.get(ENV_GRADEBOOK_URL, "").strip()
        if not url:
            raise UsageError(f"--gradebook with no URL reads it from ${ENV_GRADEBOOK_URL}, which is not set. "
                             f"Set it (export {ENV_GRADEBOOK_URL}=postgresql://...), or pass --gradebook-file PATH.")
        return url
    if _has_secret(option):
        raise UsageError(f"The gradebook URL on the command line holds a password ({redact(option)}): every "
                         f"process on this machine can read a command line. Put the URL in ${ENV_GRADEBOOK_URL} "
                         "and pass --gradebook with no value, or write it to a file only you can read "
                         "(chmod 600 FILE) and pass --gradebook-file FILE.")
    return option


def _url_from_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise UsageError(f"--gradebook-file {path} cannot be read ({err.strerror}): give a file that holds "
                         "the gradebook URL.") from None
    with os.fdopen(fd) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise UsageError(f"--gradebook-file {path} may be read by others (mode {stat.filemode(info.st_mode)}, "
                             f"owner uid {info.st_uid}): it holds a secret. Run chmod 600 {path} as its "
                             "owner, the user who grades.")
        url = f.read(10_000).strip()
    if not url:
        raise UsageError(f"--gradebook-file {path} is empty: write the gradebook URL in it.")
    return url


def _has_secret(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return bool(parts.password) or any(key.lower() in SECRET_QUERY_KEYS for key, _ in parse_qsl(parts.query))
    except ValueError:
        return True  # a URL that cannot be parsed is not shown nor taken from the command line


def redact(url: str | None) -> str | None:
    """The URL with its password (and secret query values) hidden, as it may be printed."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password:
            netloc = netloc.replace(":" + parts.password + "@", ":***@", 1)
        query = "&".join(f"{k}=***" if k.lower() in SECRET_QUERY_KEYS else f"{k}={v}"
                         for k, v in parse_qsl(parts.query, keep_blank_values=True))
        if not _has_secret(url):
            return url  # as given (urlsplit would drop the empty host of sqlite:///)
        return parts._replace(netloc=netloc, query=query).geturl()
    except ValueError:
        return "(a gradebook URL that cannot be shown)"


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
