"""Class mode on the embedded Dask cluster: grades per hour with 1 and 2 local workers, fast and
full, the scheduler's own cost per task, and what the client spends per grade (preparing and
judging it), the figures behind the README's estimate for a class on many machines.

Each class is copies of the solutions track (full mode: without a saved model, so its
``saved_model`` check fails at once; the time is the grader's training of the net).  The 1- and
2-worker batches alternate, so that they see the same load.  Run it alone on a quiet machine:
``python -m bench --only class``.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from .common import ROOT, Mode, Row, skipped

SECTION = "class"
ASSIGNMENT = "fc_net"
FAST_STUDENTS = 12
FULL_STUDENTS = 4
ROUNDS = 2  # batches of each worker count, alternating
OVERHEAD_TASKS = 200  # no-op tasks for the scheduler's cost per task
PATIENT_WALL_SECONDS = 1800  # the training budget must not be what the figures measure
WORKER_COUNTS = (1, 2)


def run(mode: Mode) -> list[Row]:
    names = [f"{kind}, {n} worker{'s' * (n > 1)}" for kind in ("fast", "full") for n in WORKER_COUNTS]
    if mode.tiny:
        return [skipped(SECTION, name, "grades/h", "tiny mode") for name in names]
    from coursekit.config import load_config
    from coursekit.data.dataset import cifar10_problem

    course = load_config(ROOT / "course.toml")
    course = dataclasses.replace(course, limits=dataclasses.replace(course.limits, wall_seconds=PATIENT_WALL_SECONDS))
    rows = _per_task_overhead() + _client_seconds(course)
    rows += _throughput(course, fast=True, students=FAST_STUDENTS if mode.name == "full" else 4)
    if cifar10_problem(course.data.cifar10_dir) is not None:
        return rows + [skipped(SECTION, name, "grades/h", "no CIFAR-10") for name in names if "full" in name]
    return rows + _throughput(course, fast=False, students=FULL_STUDENTS if mode.name == "full" else 2)


def _throughput(course, fast: bool, students: int) -> list[Row]:
    from coursekit.classroom.batch import grade_batch

    kind = "fast" if fast else "full"
    seconds: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        submitted = Path(tmp) / "submitted"
        for i in range(students):
            shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / f"s{i:03d}" / ASSIGNMENT)
        for round_ in range(ROUNDS):
            for workers in (WORKER_COUNTS if round_ % 2 == 0 else WORKER_COUNTS[::-1]):
                loads.append(os.getloadavg()[0])
                start = time.perf_counter()
                report = grade_batch(course, ASSIGNMENT, submitted, Path(tmp) / f"out-{round_}-{workers}",
                                     workers=workers, fast=fast, progress=False, seed=round_)
                seconds[workers].append(time.perf_counter() - start)
                if report.errors:
                    raise RuntimeError(f"class mode benchmark: errors {report.errors}")
    best = {n: min(values) for n, values in seconds.items()}
    rows = []
    for n in WORKER_COUNTS:
        rows.append(Row(SECTION, f"{kind}, {n} worker{'s' * (n > 1)}", round(3600 * students / best[n]), "grades/h",
                        detail=f"{students} students in {best[n]:.1f} s (batches: "
                               f"{', '.join(f'{s:.1f}' for s in seconds[n])} s; load {min(loads):.1f}-{max(loads):.1f})",
                        note="best batch, embedded local cluster, cluster start included",
                        data={"students": students, "seconds": seconds[n], "load": loads}))
    rows.append(Row(SECTION, f"{kind}: 2 workers / 1 worker", round(best[1] / best[2], 2), "x",
                    target=">= 1" if not fast else "", note="speed-up of the default (one worker per core)"))
    return rows


def _noop(x):
    return x


def _per_task_overhead() -> list[Row]:
    """The scheduler's cost per task, on 2 local workers: one task at a time (round trip) and many
    in flight (throughput)."""
    from distributed import Client, LocalCluster, wait

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.submit(_noop, 0, pure=False).result()  # warm up
        start = time.perf_counter()
        for i in range(OVERHEAD_TASKS // 4):
            client.submit(_noop, i, pure=False).result()
        round_trip = (time.perf_counter() - start) / (OVERHEAD_TASKS // 4)
        start = time.perf_counter()
        wait(client.map(_noop, range(OVERHEAD_TASKS), pure=False))
        per_task = (time.perf_counter() - start) / OVERHEAD_TASKS
    return [Row(SECTION, "scheduler round trip per task", round(1000 * round_trip, 2), "ms",
                detail=f"submit, run a no-op, get the result; {OVERHEAD_TASKS // 4} in a row",
                note="what a finished grade waits before its worker has the next one"),
            Row(SECTION, "scheduler cost per task, many in flight", round(1000 * per_task, 2), "ms",
                detail=f"{OVERHEAD_TASKS} no-op tasks on 2 workers")]


def _client_seconds(course) -> list[Row]:
    """What the client spends per grade: phase 1 (stage, seeds, checks, references) and phase 3
    (judging, the saved model, the report), medians over a few grades of the solution."""
    from coursekit.data.split import LazySplit
    from coursekit.grade.checks import accuracy
    from coursekit.grade.pipeline import execute_grade, judge_grade, prepare_grade

    rows = []
    submission = ROOT / "solutions" / ASSIGNMENT
    for fast in (True, False):
        if not fast and not (course.data.cifar10_dir / "data_batch_1").exists():
            continue
        data = LazySplit(lambda: accuracy.load_cifar10(course))
        prepare, judge = [], []
        for seed in range(3):
            start = time.perf_counter()
            prepared = prepare_grade(course, ASSIGNMENT, submission, fast=fast, seed=seed, data=data,
                                     blas_threads=1)
            prepare.append(time.perf_counter() - start)
            execution = execute_grade(prepared.job, data)
            start = time.perf_counter()
            judge_grade(course, prepared, execution, data)
            judge.append(time.perf_counter() - start)
        kind = "fast" if fast else "full"
        total = statistics.median(prepare) + statistics.median(judge)
        rows.append(Row(SECTION, f"client seconds per grade, {kind}", round(total, 3), "s",
                        detail=f"prepare {statistics.median(prepare):.3f} s + judge {statistics.median(judge):.3f} s "
                               "(median of 3; CIFAR-10 loaded once before)",
                        note="one client process serves every worker: its ceiling is 3600 / this grades/h",
                        data={"prepare": prepare, "judge": judge}))
    return rows
