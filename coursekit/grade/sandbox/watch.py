"""What the parent watches while a child runs: the tree's memory and processes, and the disk.

The cgroup (where there is one) bounds the tree in the kernel; the watch bounds it in every
mode, the degraded one without cgroups included.  Every :data:`WATCH_POLL` seconds the parent
sums, over the child's processes (its cgroup's, and in the degraded mode every process of its
spare uid), their memory and their tasks (:func:`~.processes.usage`), and kills the tree that
holds more than ``memory_mb`` or reaches ``max_processes``.

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
from dataclasses import dataclass, field
from pathlib import Path

from . import processes

WATCH_POLL = 0.2  # seconds between two looks at a running child
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
