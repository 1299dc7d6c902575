"""Grade a whole class: nbgrader's ``submitted/<student_id>/<assignment>/`` folders, in parallel.

The steps of :func:`grade_batch`, in order:

1. list the students who submitted the assignment (:func:`find_students`);
2. skip those already graded: ``<out>/<student>/results.json`` exists and is complete
   (it is written last, atomically, so an interrupted batch resumes where it stopped);
3. grade the others in a thread pool (each grade runs the student's code in its own jailed
   child process); an exception for one student becomes an error row with score 0;
4. stream every ``results.json`` back into ``grades.csv``, a pass-rate chart and a score
   histogram.  No report is kept in memory after it is written;
5. if asked, record each total in nbgrader's gradebook (:mod:`coursekit.gradebook`).
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .config import Course
from .errors import ConfigError, DatasetError, GradingError
from .grade import grade_submission

RESULTS = "results.json"
FEEDBACK = "feedback.md"
GRADES_CSV = "grades.csv"
PASS_RATE_PNG = "pass_rate.png"
HISTOGRAM_PNG = "scores.png"
FIXED_COLUMNS = ("student_id", "assignment", "score", "max_score")
GRADER_WIDE_ERRORS = (ConfigError, DatasetError)  # nobody can be graded: stop the batch


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
    recorded: int = 0  # totals written into the nbgrader gradebook

    def summary(self) -> str:
        lines = [f"{self.assignment}: {self.students} students, {self.graded} graded now, "
                 f"{self.resumed} already graded; mean {self.mean_score:.2f} / {self.max_score:g} "
                 f"in {self.seconds:.1f} s."]
        lines += [f"ERROR {student}: {message}" for student, message in self.errors]
        lines += [f"wrote {path}" for path in self.files]
        if self.gradebook:
            lines.append(f"recorded {self.recorded} totals in the nbgrader gradebook {self.gradebook}")
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
        if student.is_dir() and not student.name.startswith(".") and (student / assignment_id).exists():
            yield student.name, student / assignment_id


def is_complete(results_path: Path, assignment_id: str, fast: bool) -> bool:
    """Was this student graded by an earlier run of the same batch (same assignment and mode)?"""
    try:
        extra = json.loads(Path(results_path).read_text())["extra_data"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    batch = extra.get("batch", {})
    return (extra.get("assignment") == assignment_id and batch.get("fast") == fast
            and not batch.get("error"))


def grade_batch(course: Course, assignment_id: str, submitted_dir, out_dir, *, workers: int | None = None,
                fast: bool = False, progress: bool = True, gradebook: str | None = None) -> BatchReport:
    """Grade every student of ``submitted_dir`` into ``out_dir``; resume what an earlier run left.

    ``gradebook`` (an nbgrader database URL, e.g. ``sqlite:///gradebook.db``) also gets the totals.
    """
    start = time.monotonic()
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
        if is_complete(out / student / RESULTS, assignment_id, fast):
            report.resumed += 1
        else:
            todo.append((student, folder))
    _grade_all(course, assignment_id, todo, out, workers or os.cpu_count() or 1, fast, progress)
    report.graded = len(todo)
    report.files = write_summaries(course, assignment_id, out, report)
    if gradebook:
        from .gradebook import record_grades

        report.recorded = record_grades(gradebook, assignment_id, out)
        report.gradebook = gradebook
    report.seconds = time.monotonic() - start
    return report


def _grade_all(course: Course, assignment_id: str, todo: list[tuple[str, Path]], out: Path,
               workers: int, fast: bool, progress: bool) -> None:
    from tqdm import tqdm

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = [pool.submit(grade_student, course, assignment_id, s, f, out / s, fast) for s, f in todo]
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"grading {assignment_id}",
                           unit="student", disable=not progress):
            future.result()  # a student's own failure is already an error row; this re-raises the rest
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # students in flight finish and are kept


def grade_student(course: Course, assignment_id: str, student: str, submission: Path, folder: Path,
                  fast: bool) -> None:
    """Grade one student into ``folder``: feedback.md, then results.json (the completion mark)."""
    folder.mkdir(parents=True, exist_ok=True)
    batch = {"student_id": student, "fast": fast}
    try:
        report = grade_submission(course, assignment_id, submission, fast=fast)
    except GRADER_WIDE_ERRORS:
        raise
    except Exception as err:  # noqa: BLE001 - one student's crash must not stop the class
        message = f"{type(err).__name__}: {err}"
        results = {"score": 0, "execution_time": 0, "output": f"The autograder could not grade this "
                   f"submission: {message}", "tests": [],
                   "extra_data": {"assignment": assignment_id, "max_score": None,
                                  "batch": {**batch, "error": message, "checks": {}}}}
        _write_atomic(folder / RESULTS, json.dumps(results, indent=2) + "\n")
        return
    tmp = folder / f".{FEEDBACK}.tmp.md"  # write_feedback picks the format from the suffix
    report.write_feedback(tmp)
    os.replace(tmp, folder / FEEDBACK)
    results = report.to_gradescope()
    results.setdefault("extra_data", {})["batch"] = {
        **batch, "error": "", "checks": {t.key: [t.score, t.max_score] for t in report.tests}}
    _write_atomic(folder / RESULTS, json.dumps(results, indent=2) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    """Write ``path`` so that a reader sees the old file or the whole new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are read by the staff's tools
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the class-wide files, streamed from the results ---------------------------------------

def iter_results(out_dir: Path, assignment_id: str) -> Iterator[dict]:
    """One row per graded student: student_id, score, max_score (None on error), checks, error."""
    for results_path in sorted(Path(out_dir).glob(f"*/{RESULTS}")):
        try:
            results = json.loads(results_path.read_text())
            extra = results["extra_data"]
            batch = extra["batch"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not written by a batch: leave it out
        if extra.get("assignment") != assignment_id:
            continue
        yield {"student_id": batch["student_id"], "score": results["score"],
               "max_score": extra.get("max_score"), "checks": batch["checks"], "error": batch["error"]}


def write_summaries(course: Course, assignment_id: str, out_dir: Path, report: BatchReport) -> list[Path]:
    """grades.csv and the two charts; fills the report's mean, max score and errors."""
    keys: dict[str, float] = {}  # check key -> its max score, in order of first appearance
    max_score = None
    for row in iter_results(out_dir, assignment_id):  # first pass: the columns
        for key, (_, top) in row["checks"].items():
            keys.setdefault(key, top)
        max_score = max_score if max_score is not None else row["max_score"]
    if max_score is None:
        max_score = course.assignment(assignment_id).max_score
    passes = dict.fromkeys(keys, 0)
    scores: list[float] = []
    csv_path = Path(out_dir) / GRADES_CSV
    with open(csv_path, "w", newline="") as f:  # second pass: the rows
        writer = csv.writer(f)
        writer.writerow([*FIXED_COLUMNS, *keys, "error"])
        for row in iter_results(out_dir, assignment_id):
            checks = row["checks"]
            writer.writerow([row["student_id"], assignment_id, row["score"], max_score,
                             *(checks[k][0] if k in checks else "" for k in keys), row["error"]])
            scores.append(row["score"])
            for key, (score, top) in checks.items():
                passes[key] += score >= top
            if row["error"]:
                report.errors.append((row["student_id"], row["error"]))
    report.max_score = max_score
    report.mean_score = sum(scores) / len(scores) if scores else 0.0
    rates = {key: passes[key] / len(scores) for key in keys} if scores else {}
    charts = [Path(out_dir) / PASS_RATE_PNG, Path(out_dir) / HISTOGRAM_PNG]
    draw_pass_rates(rates, assignment_id, charts[0])
    draw_histogram(scores, max_score, assignment_id, charts[1])
    return [csv_path, *charts]


def draw_pass_rates(rates: dict[str, float], assignment_id: str, path: Path) -> None:
    """A horizontal bar per check: the fraction of students with full marks on it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.3 * len(rates) + 1.5))
    ax = fig.add_subplot()
    ax.barh(list(rates), [100 * rate for rate in rates.values()], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("students with full marks (%)")
    ax.set_title(f"{assignment_id}: pass rate per check")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def draw_histogram(scores: list[float], max_score: float, assignment_id: str, path: Path) -> None:
    """The distribution of total scores over the class."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.hist(scores, bins=20, range=(0, max(max_score, 1)), color="tab:green", edgecolor="black")
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment_id}: {len(scores)} students")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
