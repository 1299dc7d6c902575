"""What crosses between the phases of a grade: the job a worker runs, and what comes back.

A grade has three phases (:mod:`.pipeline`): *prepare* and *judge* run where the course is
(``source/``, the references, the results folder); *execute* runs the student's code in the
sandbox, in the same process for a single grade or on a Dask worker in class mode
(:mod:`coursekit.classroom.cluster`).  So a :class:`GradeJob` carries only what the sandboxed
child receives anyway: the staged submission's bytes (content-hashed), the child tasks'
inputs (no reference value, no solution code, no course file), the CIFAR-10 slices of the
training task by name (the worker loads them from its own copy), the training run's stop rule
(its bar and how often it looks at the weights), and the limits.  An :class:`Execution` carries
back the raw outcomes (arrays, errors, timings, protections) and what the worker measured with
its dataset: the training run's score (``Outcome.scored``) and the saved model's.  Both are
plain picklable data, never closures.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path, PurePosixPath

from ..config import Limits
from ..errors import GradingError
from .checks.training_rule import TrainingRule
from .sandbox.parent import Outcome, Task


@dataclass(frozen=True)
class GradeJob:
    """One grade's work for the sandbox: the staged files, the child tasks, the limits."""

    assignment_id: str
    files: tuple[tuple[str, bytes], ...]  # the staged submission: (relative POSIX path, bytes), sorted
    digest: str  # SHA-256 of ``files`` (staged_digest)
    quick: tuple[Task, ...]  # the code checks' tasks, one child for all of them (a crash resumes)
    training: tuple[Task, ...]  # inputs are accuracy.DataSlice names, resolved where the job runs
    limits: Limits
    isolation: str  # "bwrap" or "degraded"
    secrets: tuple[Path, ...] = ()  # course files that the degraded mode must find unreadable by others
    blas_threads: int = 1  # BLAS threads of the training child: one, so that its CPU seconds (its budget) do not grow with load
    training_rule: TrainingRule | None = None  # how the execute phase judges the training run as it goes

    @property
    def size(self) -> int:
        """Bytes of staged files and task inputs (what is sent over the wire, roughly)."""
        inputs = sum(getattr(v, "nbytes", 0) for t in (*self.quick, *self.training) for v in t.inputs.values())
        return sum(len(data) for _, data in self.files) + inputs


@dataclass
class Execution:
    """What running a job gave: every task's outcome, the wall time of each, the protections."""

    digest: str  # the job's, echoed: the outcomes belong to these files
    outcomes: dict[str, Outcome]
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each finished task
    protections: dict[str, list[str]] = field(default_factory=dict)
    wall: float = 0.0  # seconds the whole execution took
    saved: Any = None  # checks.accuracy.SavedModelScore: the saved model, scored where it was read
    stages: dict[str, float] = field(default_factory=dict)  # seconds by stage (the report's profile)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each finished task (its tree's)


def staged_digest(files: tuple[tuple[str, bytes], ...]) -> str:
    """SHA-256 over each staged file's path and bytes, in order."""
    digest = hashlib.sha256()
    for relpath, data in files:
        digest.update(relpath.encode("utf-8") + b"\0" + len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def pack_folder(folder: Path) -> tuple[tuple[str, bytes], ...]:
    """Every regular file under ``folder`` (links are not followed), as (path, bytes), sorted."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                files.append((path.relative_to(folder).as_posix(), path.read_bytes()))
    return tuple(sorted(files))


def unpack_into(job: GradeJob, folder: Path) -> None:
    """Write the job's files into ``folder`` (the grade's private folder, :attr:`Sandbox.code_dir`).

    Refuses files whose digest does not match the job's, or paths that would leave the folder.
    """
    if staged_digest(job.files) != job.digest:
        raise GradingError("The staged submission that reached this worker does not match its content hash: "
                           "it was changed on the way. Grade it again.")
    for relpath, _ in job.files:  # every path checked before anything is written
        path = PurePosixPath(relpath)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise GradingError(f"The staged submission holds the path {relpath!r}, which leaves its folder.")
    for relpath, data in job.files:
        target = Path(folder).joinpath(*PurePosixPath(relpath).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
