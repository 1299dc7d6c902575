"""Which grader owns something it left on the machine, and whether that grader still runs.

A grader is named by its pid and its start time (``/proc/<pid>/stat``, field 22), so that a
pid reused by another process never passes for the grader that died.  What a grader makes
outside its own process (cgroups, uid reservations, temporary folders) carries its tag,
``<pid>-<start time>``; the next grade, or ``coursekit grade --cleanup``, removes what
belongs to graders that are gone.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Owner:
    """A process, by pid and start time (None when only the pid is known)."""

    pid: int
    start: int | None

    @classmethod
    def me(cls) -> "Owner":
        return cls(os.getpid(), start_time(os.getpid()))

    @property
    def tag(self) -> str:
        return f"{self.pid}-{self.start}" if self.start is not None else str(self.pid)

    @classmethod
    def from_tag(cls, tag: str) -> "Owner | None":
        """The owner a tag names (``<pid>-<start>`` or ``<pid>``), or None when it names none."""
        pid, _, start = tag.partition("-")
        try:
            return cls(int(pid), int(start) if start else None)
        except ValueError:
            return None

    def alive(self) -> bool:
        started = start_time(self.pid)
        return started is not None and (self.start is None or started == self.start)


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # fields after the command name; 22 is the 20th
    except (IndexError, ValueError):
        return None
