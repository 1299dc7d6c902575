"""What the parent watches while a child runs: the tree's memory, processes and CPU time, and the disk.

The cgroup (where there is one) bounds the tree in the kernel; the watch bounds it in every
mode, the degraded one without cgroups included.  Every :data:`WATCH_POLL` seconds the parent
sums, over the child's processes (its cgroup's, and in the degraded mode every process of its
spare uid), their memory and their tasks (:func:`~.processes.usage`), and kills the tree that
holds more than ``memory_mb`` or reaches ``max_processes``.

Time is counted in CPU seconds of the child's whole tree (:class:`TreeCpu`: the cgroup's CPU
accounting, else the watch's sum over the tree's processes), so that a busy machine, which
stretches wall-clock time, cannot make a check or a training run late.  Every CPU limit has a
wall-clock guard (:func:`wall_guard`), many times longer: only a child that waits or sleeps,
and so uses no CPU, meets it.

:class:`DiskBudget` is one grade's disk, over all its children: the staged code, then what
each child writes on the host (its outputs, and in the degraded mode its working folder and
its files in the shared temporary folders; its stderr is a pipe, never a file), counted as it
is written.  A child's file size limit is what is left; a child that goes past it is killed;
once it is used up, the checks not run yet are not started.
"""
from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import processes

WATCH_POLL = 0.2  # seconds between two looks at a running child
# A CPU limit's wall-clock guard: WALL_GUARD_FACTOR times its CPU seconds, at least WALL_GUARD_FLOOR.
# Measured: a training run took 15 s of wall-clock time per CPU second on this 2-core machine at
# load 7 (issue 19); a child that computes gets its CPU seconds long before this.
WALL_GUARD_FACTOR = 10
WALL_GUARD_FLOOR = 60.0
MAX_COUNTED_ENTRIES = 10_000  # files of a folder the disk count looks at; more counts as over budget
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # writable by every uid: a degraded child's files there count
MB = 2**20


def tree_limits(pids, memory_mb: int, max_processes: int) -> str:
    """Why the processes ``pids`` must be stopped ('' when they are within the limits)."""
    use = processes.usage(pids)
    if use.tasks >= max_processes:
        return (f"the check's processes reached the limit of {max_processes} processes and threads "
                "(a fork bomb?) and were stopped")
    if use.memory > memory_mb * MB:
        return (f"the check's processes used more than {memory_mb} MB of memory together (over all "
                "its processes) and were stopped")
    return ""


def wall_guard(cpu_seconds: float) -> float:
    """The wall-clock seconds after which a limit of ``cpu_seconds`` CPU seconds gives up waiting."""
    return max(WALL_GUARD_FLOOR, WALL_GUARD_FACTOR * cpu_seconds)


class TreeCpu:
    """CPU seconds (user + system) a child's whole process tree has used since it started.

    From the cgroup's accounting when it has one (every process that ever was in it, to the
    nanosecond); else the sum, over every process the watch has seen in the tree, of the last
    CPU time it read of it (a process that lived between two looks goes uncounted: the wall-clock
    guard still bounds such a tree).
    """

    def __init__(self, cgroup=None):
        self.cgroup = cgroup
        self.seen: dict[tuple[int, int], float] = {}  # (pid, start time) -> its CPU seconds
        self.last = 0.0

    @property
    def exact(self) -> bool:
        return self.cgroup is not None and self.cgroup.cpu_seconds() is not None

    def seconds(self) -> float:
        """The tree's CPU seconds now (without a cgroup: as of the last :meth:`update`)."""
        counted = self.cgroup.cpu_seconds() if self.cgroup is not None else None
        if counted is not None:
            self.last = max(self.last, counted)
        return self.last

    def update(self, pids) -> None:
        """Read the CPU time of ``pids`` (the tree's processes now); only needed without cgroup accounting."""
        if self.cgroup is not None and self.cgroup.cpu_seconds() is not None:
            return
        for pid in pids:
            key, used = processes.cpu_seconds(pid)
            if key is not None:
                self.seen[key] = max(used, self.seen.get(key, 0.0))
        self.last = max(self.last, sum(self.seen.values()))


@dataclass
class Deadline:
    """A limit of ``cpu`` CPU seconds of the tree, from ``cpu0`` on, with a wall-clock guard of
    ``wall`` seconds (by default :func:`wall_guard` of ``cpu``)."""

    cpu: float
    cpu0: float = 0.0
    wall: float = 0.0
    wall0: float = field(default_factory=time.monotonic)

    def __post_init__(self):
        self.wall = self.wall or wall_guard(self.cpu)

    def over(self, cpu_now: float, now: float) -> str:
        """"cpu" or "wall" once that limit is past; '' before."""
        if cpu_now - self.cpu0 > self.cpu:
            return "cpu"
        return "wall" if now - self.wall0 > self.wall else ""

    def wall_left(self, now: float) -> float:
        return self.wall0 + self.wall - now


@dataclass
class RunBudget(Deadline):
    """The time of a batch of tasks over all the children it takes: ``cpu`` CPU seconds of their
    trees together (``spent``: those of the children that ended), and ``wall`` seconds, a guard."""

    spent: float = 0.0

    def over(self, child_cpu: float, now: float) -> str:
        """As :meth:`Deadline.over`, counting the running child's ``child_cpu`` after ``spent``."""
        return super().over(self.spent + child_cpu, now)


@dataclass
class DiskBudget:
    """One grade's disk: ``total`` bytes, what finished children used, what running ones use now."""

    total: int
    used: int = 0
    live: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def left(self) -> int:
        with self.lock:
            return self.total - self.used - sum(self.live.values())

    def update(self, child: int, used: int) -> bool:
        """Record what a running child uses now; False once the grade is over its budget."""
        with self.lock:
            self.live[child] = used
            return self.used + sum(self.live.values()) <= self.total

    def settle(self, child: int, used: int) -> None:
        """A child has ended: what it wrote stays counted, even once deleted."""
        with self.lock:
            self.live.pop(child, None)
            self.used += used

    def describe(self) -> str:
        return f"{self.total // MB} MB"


def fd_bytes(fd: int) -> int:
    info = os.fstat(fd)
    return max(info.st_size, info.st_blocks * 512)


def tree_bytes(path: Path) -> int:
    """Bytes a folder (or file) takes on disk, links not followed; huge past MAX_COUNTED_ENTRIES files."""
    total, seen = 0, 0
    stack = [str(path)]
    while stack:
        top = stack.pop()
        try:
            info = os.lstat(top)
        except OSError:
            continue
        total += max(info.st_size, info.st_blocks * 512) if not stat.S_ISLNK(info.st_mode) else 0
        if stat.S_ISDIR(info.st_mode):
            try:
                names = os.listdir(top)
            except OSError:
                continue
            seen += len(names)
            if seen > MAX_COUNTED_ENTRIES:
                return 2**62
            stack += [os.path.join(top, name) for name in names]
    return total


def uid_entries(uid: int, folders=SHARED_TMP) -> list[Path]:
    """What ``uid`` made at the top of the shared temporary folders."""
    found = []
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                found += [Path(e.path) for e in entries if e.stat(follow_symlinks=False).st_uid == uid]
        except OSError:
            continue
    return found


def remove_entries(paths: list[Path]) -> None:
    """Delete files and folders a dead child left (links themselves, never what they point to)."""
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
        except OSError:
            continue
