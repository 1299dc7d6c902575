"""Grade a whole class: nbgrader's ``submitted/<student_id>/<assignment>/`` folders, on a Dask cluster.

The steps of :func:`grade_batch`, in order:

1. list the students who submitted the assignment (:func:`find_students`);
   (a student id that is not a safe folder name, or a symlinked folder, is refused with an error row);
2. skip those already graded: ``<out>/students/<student>/results.json`` exists, is complete
   (it is written last, atomically, so an interrupted batch resumes where it stopped) and
   holds the content hash the submission has now (:mod:`coursekit.classroom.regrade`);
   ``regrade=True`` regrades everyone;
3. grade the others on a Dask cluster (:mod:`coursekit.classroom.cluster`: embedded on this
   machine, or a named scheduler).  Each grade's three phases (:mod:`coursekit.grade.pipeline`)
   are split: this process *prepares* it (stages the submission, chooses and records the hidden
   seed, builds the checks and their references from ``source/``) and sends only the job (the
   staged bytes and the child tasks' inputs) to a worker, which *executes* it in its sandbox and
   returns the raw outcomes; this process then *judges* them and writes the student's results.
   A few grades per worker are sent ahead; a student whose grade fails gets an error row with
   score 0, and a grade whose worker died twice too;
4. stream every ``results.json`` back into ``grades.csv``, a pass-rate chart and a score
   histogram.  No report is kept in memory after it is written;
5. if asked, record each check's score in nbgrader's gradebook (:mod:`coursekit.classroom.gradebook`):
   only the checks this run graded, so a fast run never lowers the CIFAR-10 checks of a full one.

Only this process writes results: each student once, atomically.  Ctrl-C cancels the grades
not finished and keeps every one written; the next run resumes with the content hashes.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..config import Course
from ..data.split import LazySplit
from ..errors import ConfigError, DatasetError, GradingError, IsolationError, WorkerKitError
from ..grade import pipeline
from ..grade.checks import accuracy
from ..grade.feedback import feedback_format
from ..grade.report import GradeReport
from . import cluster as clusters
from .regrade import is_current, submission_hash
from .results import FEEDBACK, RESULTS, id_problem, is_complete, student_folder, write_atomic
from .summary import GRADES_CSV, HISTOGRAM_PNG, PASS_RATE_PNG, write_summaries

__all__ = ["GRADES_CSV", "HISTOGRAM_PNG", "PASS_RATE_PNG", "RESULTS", "BatchReport", "grade_batch",
           "is_complete", "looks_like_batch"]

# Errors that concern every grade, not one student's: they stop the batch.
GRADER_WIDE_ERRORS = (ConfigError, DatasetError, IsolationError, WorkerKitError)
WAIT_STEP = 0.2  # seconds between two looks at the finished grades (_each_finished)
NO_WORKER_SECONDS = 10.0  # without any worker this long (not a worker's restart): say so (_NoWorkerNotice)


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
    cluster: str = ""  # where the grades ran: the scheduler's address
    workers: int = 0  # workers connected when grading started
    written: list[str] = field(default_factory=list)  # students whose results this run wrote, in order

    def summary(self) -> str:
        where = f" on {self.workers} Dask worker{'s' * (self.workers != 1)} ({self.cluster})" if self.cluster else ""
        lines = [f"{self.assignment}: {self.students} students, {self.graded} graded now, "
                 f"{self.resumed} already graded; mean {self.mean_score:.2f} / {self.max_score:g} "
                 f"in {self.seconds:.1f} s{where}."]
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
                insecure: bool = False, feedback: str = FEEDBACK, regrade: bool = False,
                cluster: str | None = None, seed: int | None = None) -> BatchReport:
    """Grade every student of ``submitted_dir`` into ``out_dir``; resume what an earlier run left.

    ``cluster``: a Dask scheduler's address (``tcp://HOST:PORT``) or "local" (the embedded
    cluster of ``workers`` processes); None: ``[grading] cluster`` of course.toml, "local" by
    default.  ``seed`` makes the hidden cases reproducible: each student's seed is drawn from it
    and the student id (each results.json records its own either way).  ``gradebook`` (an
    nbgrader database URL, e.g. ``sqlite:///gradebook.db``) also gets each check's
    score (the checks this run graded only).  ``feedback``
    is the file name of each student's feedback (.md or .html); ``regrade`` grades every
    student again, changed or not.
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
    if todo:
        where = "--cluster" if cluster else f"[grading] cluster in {course.path}"
        with clusters.open_cluster(course, cluster, workers, where) as engine:
            report.cluster, report.workers = engine.address, engine.workers()
            _grade_all(engine, course, assignment_id, todo, out, report,
                       Options(fast, insecure, feedback, seed, progress))
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


@dataclass(frozen=True)
class Options:
    """How every student of one batch is graded."""

    fast: bool
    insecure: bool
    feedback: str
    seed: int | None
    progress: bool


@dataclass
class _InFlight:
    student: str
    submission: Path
    prepared: pipeline.PreparedGrade
    batch: dict  # extra_data.batch of the student's results.json
    seconds: float  # preparing it took
    future: object = None  # distributed.Future of the worker's phase, once sent


def _grade_all(engine: clusters.Engine, course: Course, assignment_id: str, todo: list[tuple[str, Path]],
               out: Path, report: BatchReport, options: Options) -> None:
    """Prepare, send, judge and write every student of ``todo``.

    One grade per worker thread is in flight, and one more is prepared ahead: a finished grade's
    slot gets the next job at once, before this process judges the finished one.  No grade
    waits in a worker's queue, where the death of that worker would count against it too.
    """
    from distributed import as_completed
    from tqdm import tqdm

    client, kit = engine.client, clusters.kit_identity()
    data = LazySplit(lambda: accuracy.load_cifar10(course))  # the client's copy, for judging; read once
    pending, ready, flying = iter(todo), [], {}
    finished = as_completed(loop=client.loop)
    bar = tqdm(total=len(todo), desc=f"grading {assignment_id} on {engine.workers()} workers", unit="student",
               file=sys.stderr, disable=not (options.progress and sys.stderr.isatty()))

    def prepare_next() -> _InFlight | None:
        """The next student's phase 1; a student whose preparation fails is an error row at once."""
        for student, submission in pending:
            batch = {"student_id": student, "fast": options.fast, "hash": submission_hash(submission)}
            start = time.monotonic()
            try:
                prepared = prepare_grade(course, assignment_id, submission, fast=options.fast,
                                         seed=student_seed(options.seed, student), insecure=options.insecure,
                                         data=data, blas_threads=engine.blas_threads)
            except GRADER_WIDE_ERRORS:
                raise
            except Exception as err:  # noqa: BLE001 - one student's failure must not stop the class
                _write_error(out, student, assignment_id, batch, f"{type(err).__name__}: {err}", report)
                bar.update(1)
                continue
            return _InFlight(student, submission, prepared, batch, time.monotonic() - start)
        return None

    def send_more() -> None:
        engine.check_new_workers()  # before a grade can go to a worker that joined
        while len(flying) < engine.slots() and (item := ready.pop() if ready else prepare_next()):
            item.future = client.submit(clusters.run_job, item.prepared.job, kit, pure=False,
                                        key=f"coursekit-grade-{item.student}-{os.urandom(6).hex()}")
            flying[item.future.key] = item
            finished.add(item.future)
        if not ready and (item := prepare_next()):
            ready.append(item)

    notice = _NoWorkerNotice(engine)
    try:
        send_more()
        for future in _each_finished(finished, notice):
            item = flying.pop(future.key)
            try:
                send_more()  # the freed slot works while this grade is judged
            except WorkerKitError:  # a worker that joined differs: the grade that finished is still written
                _finish(engine, course, future, item, out, report, options, data)
                raise
            _finish(engine, course, future, item, out, report, options, data)
            future.release()
            bar.set_description_str(f"grading {assignment_id} on {engine.workers()} workers")
            bar.update(1)
            send_more()
    except BaseException:  # Ctrl-C (bounded: interrupt.watched in open_cluster), a grader-wide error
        client.cancel([item.future for item in flying.values()])  # drop the rest
        raise
    finally:
        bar.close()


def _each_finished(finished, notice=None):
    """The grades of ``finished`` (a Dask ``as_completed``) as they finish.  Waits in short steps:
    Ctrl-C's signal can land in one of Dask's threads, and a blocked wait in this one would not see
    it until the next grade finished (one that hangs: minutes).  ``notice`` looks at the workers
    at each step."""
    while True:
        while not finished.has_ready():
            if finished.is_empty():
                return
            time.sleep(WAIT_STEP)
            if notice:
                notice()
        yield next(finished)


class _NoWorkerNotice:
    """Says once on stderr when grades wait on a cluster that has had no worker for NO_WORKER_SECONDS
    (all stopped, none started yet, or none that could join), and again once workers came back and
    left; otherwise a class would wait without a word."""

    def __init__(self, engine: clusters.Engine):
        self.engine = engine
        self.since: float | None = None
        self.said = False

    def __call__(self) -> None:
        if self.engine.workers():
            self.since, self.said = None, False
            return
        now = time.monotonic()
        self.since = self.since if self.since is not None else now
        if not self.said and now - self.since >= NO_WORKER_SECONDS:
            self.said = True
            print(f"coursekit: no Dask worker has been connected to the scheduler at {self.engine.address} "
                  f"for {NO_WORKER_SECONDS:.0f} s: the grades wait for one. Start workers "
                  "(README, 'Class mode on many machines'), or press Ctrl-C: the grades written so far are "
                  "kept, and the same command grades the others later.", file=sys.stderr, flush=True)


def _finish(engine, course, future, item: _InFlight, out: Path, report: BatchReport, options: Options,
            data) -> None:
    """Judge one finished grade and write it; a failed grade is an error row."""
    from distributed.scheduler import KilledWorker

    assignment_id = item.prepared.job.assignment_id
    try:
        execution = future.result()
    except GRADER_WIDE_ERRORS:
        raise
    except KilledWorker:
        deaths = (engine.allowed_failures + 1) if engine.allowed_failures is not None else "several"
        _write_error(out, item.student, assignment_id, item.batch,
                     f"KilledWorker: the Dask workers that ran this grade died {deaths} times (killed, out of "
                     f"memory, or their machine was lost), so it was not graded. Grade it alone to see why: "
                     f"coursekit grade {assignment_id} {item.submission}", report)
        return
    except clusters.LOST_CONNECTION as err:
        raise GradingError(f"Lost the Dask scheduler at {engine.address} ({type(err).__name__}: {err}) after "
                           f"{len(report.written)} grades. The grades finished so far are written; run the same "
                           "command again to grade the others.") from None
    except Exception as err:  # noqa: BLE001 - one student's failure must not stop the class
        _write_error(out, item.student, assignment_id, item.batch, f"{type(err).__name__}: {err}", report)
        return
    start = time.monotonic()
    try:
        graded = judge_grade(course, item.prepared, execution, data)
    except GRADER_WIDE_ERRORS:
        raise
    except Exception as err:  # noqa: BLE001 - one student's failure must not stop the class
        _write_error(out, item.student, assignment_id, item.batch, f"{type(err).__name__}: {err}", report)
        return
    graded.execution_time = item.seconds + execution.wall + (time.monotonic() - start)
    _write_grade(out, item.student, graded, item.batch, options.feedback, report)


def prepare_grade(*args, **kwargs) -> pipeline.PreparedGrade:
    """Phase 1 of one student's grade (a name of this module, so tests can make it fail)."""
    return pipeline.prepare_grade(*args, **kwargs)


def judge_grade(*args, **kwargs) -> GradeReport:
    """Phase 3 of one student's grade (a name of this module, so tests can make it fail)."""
    return pipeline.judge_grade(*args, **kwargs)


def student_seed(seed: int | None, student: str) -> int | None:
    """The hidden cases' seed of ``student`` when the batch has one (each student's differs)."""
    if seed is None:
        return None
    return int.from_bytes(hashlib.sha256(f"{seed}:{student}".encode()).digest()[:4], "big") % 2**31


def _write_grade(out: Path, student: str, graded: GradeReport, batch: dict, feedback: str,
                 report: BatchReport) -> None:
    """The feedback, then results.json (the completion mark), each written atomically."""
    folder = student_folder(out, student)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{feedback}.tmp{Path(feedback).suffix}"  # write_feedback picks the format from the suffix
    graded.write_feedback(tmp)
    os.replace(tmp, folder / feedback)
    results = graded.to_gradescope()
    results.setdefault("extra_data", {})["batch"] = {
        **batch, "error": "", "checks": {t.key: [t.score, t.max_score] for t in graded.tests}}
    write_atomic(folder / RESULTS, json.dumps(results, indent=2) + "\n")
    report.written.append(student)


def _write_error(out: Path, student: str, assignment_id: str, batch: dict, message: str,
                 report: BatchReport) -> None:
    """An error row: score 0 and the message, in the student's results.json."""
    folder = student_folder(out, student)
    folder.mkdir(parents=True, exist_ok=True)
    results = {"score": 0, "execution_time": 0, "output": f"The autograder could not grade this "
               f"submission: {message}", "tests": [],
               "extra_data": {"assignment": assignment_id, "max_score": None,
                              "batch": {**batch, "error": message, "checks": {}}}}
    write_atomic(folder / RESULTS, json.dumps(results, indent=2) + "\n")
    report.written.append(student)
