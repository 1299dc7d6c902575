"""Grade a whole class: nbgrader's ``submitted/<student_id>/<assignment>/`` folders, in parallel.

The steps of :func:`grade_batch`, in order:

1. list the students who submitted the assignment (:func:`find_students`);
   (a student id that is not a safe folder name, or a symlinked folder, is refused with an error row);
2. skip those already graded: ``<out>/students/<student>/results.json`` exists, is complete
   (it is written last, atomically, so an interrupted batch resumes where it stopped) and
   holds the content hash the submission has now (:mod:`coursekit.classroom.regrade`);
   ``regrade=True`` regrades everyone;
3. grade the others in a thread pool (each grade runs the student's code in its own sandboxed
   child process); an exception for one student becomes an error row with score 0;
4. stream every ``results.json`` back into ``grades.csv``, a pass-rate chart and a score
   histogram.  No report is kept in memory after it is written;
5. if asked, record each check's score in nbgrader's gradebook (:mod:`coursekit.classroom.gradebook`):
   only the checks this run graded, so a fast run never lowers the CIFAR-10 checks of a full one.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..config import Course
from ..errors import ConfigError, DatasetError, GradingError, IsolationError
from ..grade import grade_submission
from ..grade.feedback import feedback_format
from .regrade import is_current, submission_hash
from .results import FEEDBACK, RESULTS, id_problem, is_complete, student_folder, write_atomic
from .summary import GRADES_CSV, HISTOGRAM_PNG, PASS_RATE_PNG, write_summaries

__all__ = ["GRADES_CSV", "HISTOGRAM_PNG", "PASS_RATE_PNG", "RESULTS", "BatchReport", "grade_batch",
           "is_complete", "looks_like_batch"]

GRADER_WIDE_ERRORS = (ConfigError, DatasetError, IsolationError)  # nobody can be graded: stop the batch


@dataclass
class BatchReport:
    """What one batch did; the grades themselves are in ``out_dir``."""

    assignment: str
    out_dir: Path
    students: int = 0
    graded: int = 0  # graded in this run
    resumed: int = 0  # already graded by an earlier run, not graded again
    errors: list[tuple[str, str]] = field(default_factory=list)  # (student_id, message)
    mean_score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)
    gradebook: str | None = None
    recorded: int = 0  # students whose check scores were written into the nbgrader gradebook

    def summary(self) -> str:
        lines = [f"{self.assignment}: {self.students} students, {self.graded} graded now, "
                 f"{self.resumed} already graded; mean {self.mean_score:.2f} / {self.max_score:g} "
                 f"in {self.seconds:.1f} s."]
        lines += [f"ERROR {student}: {message}" for student, message in self.errors]
        lines += [f"wrote {path}" for path in self.files]
        if self.gradebook:
            lines.append(f"recorded the check scores of {self.recorded} students in the nbgrader gradebook "
                         f"{self.gradebook} (a check this run did not grade keeps the score it had there)")
        return "\n".join(lines)


def looks_like_submission(folder: Path) -> bool:
    """Is ``folder`` one student's assignment folder (it holds ``cs231n/``)?"""
    return (Path(folder) / "cs231n").is_dir()


def looks_like_batch(folder: Path, assignment_id: str) -> bool:
    """Is ``folder`` laid out like nbgrader's ``submitted/<student_id>/<assignment>/``?"""
    folder = Path(folder)
    return folder.is_dir() and not looks_like_submission(folder) and any(find_students(folder, assignment_id))


def find_students(submitted_dir: Path, assignment_id: str) -> Iterator[tuple[str, Path]]:
    """(student_id, submission folder) for every student who submitted ``assignment_id``, sorted."""
    for student in sorted(Path(submitted_dir).iterdir()):
        if student.is_dir() and not student.name.startswith(".") and (student / assignment_id).is_dir():
            yield student.name, student / assignment_id


def grade_batch(course: Course, assignment_id: str, submitted_dir, out_dir, *, workers: int | None = None,
                fast: bool = False, progress: bool = True, gradebook: str | None = None,
                insecure: bool = False, feedback: str = FEEDBACK, regrade: bool = False) -> BatchReport:
    """Grade every student of ``submitted_dir`` into ``out_dir``; resume what an earlier run left.

    ``gradebook`` (an nbgrader database URL, e.g. ``sqlite:///gradebook.db``) also gets each check's
    score (the checks this run graded only).
    ``feedback`` is the file name of each student's feedback (.md or .html); ``regrade`` grades
    every student again, changed or not.
    """
    start = time.monotonic()
    feedback_format(feedback)
    if not looks_like_batch(Path(submitted_dir), assignment_id):
        raise GradingError(f"{submitted_dir} is not laid out like nbgrader's submitted/ folder: no "
                           f"<student_id>/{assignment_id}/ folder in it. Pass the folder that holds "
                           f"one folder per student.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = BatchReport(assignment_id, out)
    todo = []
    for student, folder in find_students(submitted_dir, assignment_id):
        report.students += 1
        problem = id_problem(student) or _link_problem(Path(submitted_dir), folder)
        if problem:
            report.errors.append((ascii(student)[1:-1][:80], f"refused: {problem}"))
            continue
        results = student_folder(out, student) / RESULTS
        if (not regrade and is_complete(results, assignment_id, fast)
                and is_current(results, submission_hash(folder))):
            report.resumed += 1
        else:
            todo.append((student, folder))
    _grade_all(course, assignment_id, todo, out, workers or os.cpu_count() or 1, fast, progress, insecure,
               feedback)
    report.graded = len(todo)
    summary = write_summaries(course, assignment_id, out)
    report.files, report.mean_score, report.max_score = summary.files, summary.mean_score, summary.max_score
    report.errors.extend(summary.errors)
    if gradebook:
        from .gradebook import record_grades

        report.recorded = record_grades(gradebook, assignment_id, out, points=course.assignment(assignment_id).points)
        from .gradebook import redact

        report.gradebook = redact(gradebook)  # the URL may hold a password: never printed
    report.seconds = time.monotonic() - start
    return report


def _link_problem(submitted_dir: Path, folder: Path) -> str:
    """Why a student's folder is not graded where it is (a symlink, or outside submitted/)."""
    if folder.parent.is_symlink() or folder.is_symlink():
        return "the student's folder is a symbolic link; copy the submission instead"
    if submitted_dir.resolve() not in folder.resolve().parents:
        return "the student's folder is outside the submitted/ folder"
    return ""


def _grade_all(course: Course, assignment_id: str, todo: list[tuple[str, Path]], out: Path,
               workers: int, fast: bool, progress: bool, insecure: bool = False,
               feedback: str = FEEDBACK) -> None:
    from tqdm import tqdm

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = [pool.submit(grade_student, course, assignment_id, s, f, student_folder(out, s), fast, insecure,
                               feedback)
                   for s, f in todo]
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"grading {assignment_id}",
                           unit="student", disable=None if progress else True):  # None: a terminal only
            future.result()  # a student's own failure is already an error row; this re-raises the rest
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # students in flight finish and are kept


def grade_student(course: Course, assignment_id: str, student: str, submission: Path, folder: Path,
                  fast: bool, insecure: bool = False, feedback: str = FEEDBACK) -> None:
    """Grade one student into ``folder``: the feedback, then results.json (the completion mark)."""
    folder.mkdir(parents=True, exist_ok=True)
    batch = {"student_id": student, "fast": fast, "hash": submission_hash(submission)}
    try:
        report = grade_submission(course, assignment_id, submission, fast=fast, insecure=insecure)
    except GRADER_WIDE_ERRORS:
        raise
    except Exception as err:  # noqa: BLE001 - one student's crash must not stop the class
        message = f"{type(err).__name__}: {err}"
        results = {"score": 0, "execution_time": 0, "output": f"The autograder could not grade this "
                   f"submission: {message}", "tests": [],
                   "extra_data": {"assignment": assignment_id, "max_score": None,
                                  "batch": {**batch, "error": message, "checks": {}}}}
        write_atomic(folder / RESULTS, json.dumps(results, indent=2) + "\n")
        return
    tmp = folder / f".{feedback}.tmp{Path(feedback).suffix}"  # write_feedback picks the format from the suffix
    report.write_feedback(tmp)
    os.replace(tmp, folder / feedback)
    results = report.to_gradescope()
    results.setdefault("extra_data", {})["batch"] = {
        **batch, "error": "", "checks": {t.key: [t.score, t.max_score] for t in report.tests}}
    write_atomic(folder / RESULTS, json.dumps(results, indent=2) + "\n")
