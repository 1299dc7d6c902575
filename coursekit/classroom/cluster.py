"""Where class mode runs its grades: a Dask cluster, embedded on this machine or named.

- With no cluster named, :func:`open_cluster` starts an embedded ``LocalCluster`` of worker
  *processes* (one thread each: a grade is a process tree of its own, and CPython's ``ast``
  is not thread-safe across imports), as many as :func:`default_workers` says.
- ``--cluster tcp://HOST:PORT`` (or ``[grading] cluster`` in ``course.toml``) connects to an
  existing scheduler; one that cannot be reached is a GradingError (exit code 6) before any
  grading.  Workers are started the standard Dask way (``dask worker``, ``dask-jobqueue``,
  ``dask-kubernetes``) on machines with the kit installed and CIFAR-10 at ``CIFAR10_DIR``.

:func:`run_job` is the one task a worker runs: phase 2 of a grade
(:func:`coursekit.grade.pipeline.execute_grade`) in the worker's own scratch folder, with
CIFAR-10 read from the worker's own copy (loaded once per worker process).  A worker never
receives the course (``source/``, the references), other students' files or the gradebook.

Faults are Dask's: a task whose worker dies is rerun on another worker, and a task that was
running on ``ALLOWED_FAILURES + 1`` workers that died fails with ``KilledWorker``
(``distributed.scheduler.allowed-failures``, 3 by Dask's default, is set to 1 here).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from ..config import ENV_DATA_DIR, LOCAL_CLUSTER, Course, load_config
from .. import interrupt
from ..errors import ConfigError, CoursekitError, DatasetError, GradingError, UsageError, WorkerKitError
from ..grade.job import Execution, GradeJob
from . import workerkit

KIT = Path(__file__).resolve().parents[1]
ALLOWED_FAILURES = 1  # a grade is rerun once after its worker died; the second death is an error row
# BLAS threads of a grade's training child in class mode, however many workers share a machine: one
# worker with two threads was 4.2x slower than two workers of one thread on 2 busy cores (bench
# "class", README), and the same count everywhere keeps the arithmetic of every machine the same.
CLASS_BLAS_THREADS = 1
CORES_PER_WORKER = 2  # default_workers
MAX_ERROR = 2000  # characters of an unexpected error sent back from a worker
CONNECT_SECONDS = 20  # to reach a named scheduler


def dask_config() -> dict:
    """What class mode sets explicitly in Dask's configuration (the rest is Dask's default)."""
    return {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,  # Dask's default: 3
            "distributed.comm.timeouts.connect": f"{CONNECT_SECONDS}s",  # Dask's default: 30 s
            "distributed.worker.daemon": False}  # a grade starts processes of its own (the sandbox)
LOST_CONNECTION = (CancelledError, OSError)  # a future the scheduler dropped; a closed connection
QUIET_LOGGERS = ("distributed", "tornado")  # worker losses and restarts become error rows, not log noise


@dataclass
class Engine:
    """An open cluster: the client, the scheduler's address, and what to tell the jobs."""

    client: object  # distributed.Client
    address: str
    local: bool
    blas_threads: int  # BLAS threads of a training child
    allowed_failures: int | None  # the scheduler's, when it could be read
    checked: set[str] = field(default_factory=set)  # workers whose kit was compared with the client's

    def check_new_workers(self) -> None:
        """Compare the kit of the workers that joined a named cluster since the last look, before a
        grade can go to them (:func:`check_machines`).  The embedded cluster's workers are started
        from this very environment."""
        if self.local:
            return
        new = set(self.client.scheduler_info().get("workers", {})) - self.checked
        if new:
            self.checked |= check_machines(self.client, self.address, sorted(new))

    def workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def slots(self) -> int:
        """Grades that can run at once: the workers' threads (at least 1, so grades wait for a worker)."""
        return max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info().get("workers", {}).values()))


def default_workers() -> int:
    """Workers of the embedded cluster: one per two cores, since a full grade runs two children at
    once (the quick checks beside the training).  Measured on 2 cores (bench "class", README "How
    fast"): 1 worker graded 171 full grades/h, 2 workers 130 (1 BLAS thread each, load 5-7)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // CORES_PER_WORKER)


WORKER_SECRETS = ("COURSEKIT_GRADEBOOK_URL",)  # never in a worker's environment (classroom/gradebook.py)


@contextlib.contextmanager
def open_cluster(course: Course, cluster: str | None = None, workers: int | None = None,
                 where: str = "--cluster") -> Iterator[Engine]:
    """Start the embedded cluster (``cluster`` None or "local") or connect to a scheduler."""
    import dask
    from distributed import Client, LocalCluster

    address = cluster or course.cluster
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    with interrupt.watched(), dask.config.set(dask_config()):  # Ctrl-C ends it, whatever Dask's threads do
        if address == LOCAL_CLUSTER:
            count = workers or default_workers()
            env = {ENV_DATA_DIR: str(course.data.cifar10_dir)}  # this course's dataset, wherever it is
            with _without(WORKER_SECRETS), LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                                        dashboard_address=":0", silence_logs=logging.ERROR,
                                                        env=env, preload=[__name__]) as local, \
                    Client(local) as client:
                yield Engine(client, local.scheduler_address, True, CLASS_BLAS_THREADS, ALLOWED_FAILURES)
            return
        if workers is not None:
            raise UsageError(f"--workers sets the size of the embedded cluster on this machine; with the "
                              f"cluster {address} ({where}), start as many `dask worker` processes as you want "
                              "on the machines instead, or pass --cluster local.")
        client = _connect(address, where)
        try:
            engine = Engine(client, address, False, CLASS_BLAS_THREADS, _allowed_failures(client))
            engine.checked = check_machines(client, address)  # before anyone is graded
            yield engine
        finally:
            client.close()


@contextlib.contextmanager
def _without(names: tuple[str, ...]) -> Iterator[None]:
    """The environment without ``names`` while the embedded cluster lives: its worker processes
    (started, and restarted after a crash, from this process's environment) never hold them."""
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _connect(address: str, where: str):
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise GradingError(
            f"Cannot reach the Dask scheduler at {address} (named by {where}) within {CONNECT_SECONDS} s: "
            f"{type(err).__name__}: {err}. Nothing was graded. Check that `dask scheduler` is running on "
            "that host and listens on that port (it prints 'Scheduler at: tcp://...' when it starts), that "
            "this machine can reach it (firewall, VPN, the scheduler's --host), and that the address is "
            "spelled as it printed it; or grade on this machine alone with --cluster local.") from None


def check_machines(client, address: str, joined: list[str] | None = None) -> set[str]:
    """Refuse a cluster whose machines do not run the client's kit (:mod:`.workerkit`), naming each
    such machine and what differs.  ``joined`` None: before anyone is graded, the scheduler and
    every worker; else the workers that joined since (:meth:`Engine.check_new_workers`).
    :func:`run_job` checks again on the worker itself.  Returns the addresses of the workers checked."""
    mine = kit_identity()
    problems = []
    with workerkit.by_value():
        if joined is None:
            try:
                scheduler = client.run_on_scheduler(workerkit.identity)
            except Exception:  # noqa: BLE001 - a scheduler may refuse code sent to it: then it is unknown
                scheduler = None
            if scheduler and (differ := workerkit.differences(mine, scheduler, ())):  # it unpickles the jobs
                problems.append(f"the scheduler at {address}: " + "; ".join(differ))
        found = client.run(workerkit.identity, workers=joined, on_error="return")
    for worker, identity in sorted(found.items()):
        if isinstance(identity, Exception):
            problems.append(f"the worker {worker}: it could not say ({type(identity).__name__}: {identity})")
        elif differ := workerkit.differences(mine, identity):
            problems.append(f"the worker {worker}: " + "; ".join(differ))
    if problems:
        what = ("Nothing was graded" if joined is None else "Grading stopped at a worker that joined (the "
                "grades written so far are kept; the same command grades the others)")
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise WorkerKitError(f"{what}: these machines of the Dask cluster would not grade as this one does "
                             f"(coursekit at {KIT}, Python {mine['python']}, numpy {mine['numpy']}):\n{listed}\n"
                             f"{workerkit.INSTALL_HINT} Then restart their `dask scheduler` and `dask worker` "
                             "processes.")
    return set(found)


def _allowed_failures(client) -> int | None:
    """The scheduler's ``allowed-failures`` (its own configuration), or None when it cannot be read."""
    try:
        return int(client.run_on_scheduler(_scheduler_allowed_failures))
    except Exception:  # noqa: BLE001 - a scheduler may refuse to run code sent to it: then unknown
        return None


def _scheduler_allowed_failures(dask_scheduler=None) -> int:
    return dask_scheduler.allowed_failures


# --- the worker's side ------------------------------------------------------------------

def dask_setup(worker) -> None:
    """Preloaded into the embedded cluster's worker processes: Ctrl-C at the terminal reaches them
    too, but it is the client's to handle (it cancels the grades and closes the cluster); a worker
    would print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_job(job: GradeJob, kit: dict) -> Execution:
    """Phase 2 of one grade, on a Dask worker: the sandbox, the limits and the fail-closed probe
    of a single grade.  ``kit``: the client's :func:`kit_identity` (the same code and numpy)."""
    from ..grade.pipeline import execute_grade

    worker = _this_worker()
    where = f"the Dask worker {worker.address}" if worker else "this machine"
    try:
        if differ := workerkit.differences(kit, kit_identity()):
            raise WorkerKitError(f"The kit on {where} is not the client's, so its grades could differ: "
                                 f"{'; '.join(differ)}. {workerkit.INSTALL_HINT} Then restart that worker.")
        data = worker_split() if job.training else None
        secrets = (*job.secrets, KIT, *((worker_cifar10_dir(),) if job.training else ()))
        job = replace(job, secrets=secrets)
        return execute_grade(job, data)
    except CoursekitError as err:  # the grader cannot run there: say where
        raise type(err)(f"On {where}: {err}") from None
    except Exception as err:  # noqa: BLE001 - a bug of the kit: sent back as text, which always pickles
        raise RuntimeError(f"On {where}: {type(err).__name__}: {str(err)[:MAX_ERROR]}") from None


def _this_worker():
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:  # not in a worker (the function called directly)
        return None


@functools.cache
def kit_identity() -> dict:
    """This process's :func:`.workerkit.identity`, computed once: equal on client and worker, or refused."""
    return workerkit.identity()


def worker_cifar10_dir() -> Path:
    """This machine's CIFAR-10 folder: ``$CIFAR10_DIR``, else the one course.toml names here."""
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR]).resolve()
    try:
        return load_config().data.cifar10_dir
    except ConfigError:
        raise DatasetError(f"No CIFAR-10 folder is named on this machine: start `dask worker` with "
                           f"{ENV_DATA_DIR}=/path/to/cifar-10-batches-py in its environment (or in the course "
                           "folder, whose course.toml names it), or grade with --fast.") from None


@functools.lru_cache(maxsize=1)
def _split_of(folder: Path):
    from ..data.split import load_split

    return load_split(folder, heldout=True)  # the held-out images score the grader's training run


def worker_split():
    """The course's CIFAR-10 split from this machine's copy, read once per worker process."""
    from ..data.split import LazySplit

    folder = worker_cifar10_dir()
    return LazySplit(lambda: _split_of(folder))
