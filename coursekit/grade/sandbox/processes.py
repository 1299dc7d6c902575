"""The processes of a grading child, as ``/proc`` shows them to the (root) grader.

A child's tree is found by its cgroup (:mod:`.cgroups`) or, in the degraded mode, by its
spare uid: every process whose *real* uid is the child's, wherever it was reparented (a
double fork with ``setsid`` leaves the grader's process tree, never its uid).  The real uid
is read from ``/proc/<pid>/status``: the owner of ``/proc/<pid>`` is root for a process that
made itself non-dumpable, so it cannot be trusted.

:func:`usage` measures what the grader's watch bounds: the tree's memory (anonymous and
shared-memory pages, proportional to each process's share of them, so the pages a fork
shares with its parent count once) and its tasks (processes and their threads, as a pids
cgroup counts them).  :func:`kill_uid` kills every process of a spare uid at once, with
``kill(-1, SIGKILL)`` sent *as that uid*: a process that keeps forking cannot outrun it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

KB = 1024
KILL_ROUNDS = 20
KILL_PAUSE = 0.02  # seconds between rounds
KILL_SECONDS = 10  # for the killer process itself
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # units of /proc/<pid>/stat's CPU times


@dataclass(frozen=True)
class Usage:
    """What a set of processes holds: memory in bytes, tasks (processes and threads)."""

    memory: int
    tasks: int


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def uid_pids(uid: int) -> list[int]:
    """Pids of the processes whose real uid is ``uid`` (a scan of /proc: a few milliseconds)."""
    return [pid for pid in _pids() if _real_uid(pid) == uid]


def _real_uid(pid: int) -> int | None:
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 8192)
    except OSError:
        return None
    finally:
        os.close(fd)
    start = data.find(b"\nUid:\t") + len(b"\nUid:\t")
    end = data.find(b"\t", start)
    return int(data[start:end]) if start >= len(b"\nUid:\t") and end > start else None


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, depth) of every process below ``pid`` that is still its descendant, nearest first."""
    children: dict[int, list[int]] = {}
    for other in _pids():
        ppid = _status(other).get("PPid", "").strip()
        if ppid.isdigit():
            children.setdefault(int(ppid), []).append(other)
    found, level, depth = [], [pid], 0
    while level:
        depth += 1
        level = sorted(child for parent in level for child in children.get(parent, []))
        found += [(child, depth) for child in level]
    return found


def find_harness(pid: int, argv: list[str]) -> int:
    """The pid of the harness below ``pid`` (bwrap's init, unshare's, or ``pid`` itself): the highest
    process of the tree whose command line is ``argv`` (the oldest of those: its forks share it)."""
    wanted = b"".join(arg.encode() + b"\0" for arg in argv)
    candidates = [(depth, _start(child), child) for child, depth in [(pid, 0), *descendants(pid)]
                  if _cmdline(child) == wanted]
    if not candidates:
        raise ProcessLookupError(f"no harness below process {pid}")
    return min(candidates)[2]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _start(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pid: int) -> tuple[tuple[int, int] | None, float]:
    """((pid, start time), user + system CPU seconds) of a process; (None, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (pid, int(fields[19])), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None, 0.0


def usage(pids) -> Usage:
    """Memory and tasks of ``pids`` together (processes that are gone count nothing)."""
    memory = tasks = 0
    for pid in pids:
        status = _status(pid)
        if not status:
            continue
        tasks += int(status.get("Threads", "1").split()[0] or 1)
        memory += _memory(pid, status)
    return Usage(memory, tasks)


def _memory(pid: int, status: dict[str, str]) -> int:
    """Anonymous and shared-memory bytes of one process, proportional to its share of each page."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        fields = dict(line.split(":", 1) for line in rollup.splitlines()[1:] if ":" in line)
        return sum(int(fields[key].split()[0]) for key in ("Pss_Anon", "Pss_Shmem", "SwapPss")
                   if key in fields) * KB
    except (OSError, ValueError, KeyError):  # no smaps_rollup (old kernel), or gone
        return sum(int(status.get(key, "0 kB").split()[0]) for key in ("RssAnon", "RssShmem", "VmSwap")) * KB


def kill_uid(uid: int, rounds: int = KILL_ROUNDS) -> None:
    """SIGKILL every process whose real uid is ``uid`` (a spare uid used by one child only), until none is left.

    The kill is sent by a process that runs as ``uid`` itself (``kill -9 -1``), so the kernel
    reaches every process of the uid in one pass; the rounds catch what was being born then.
    """
    for _ in range(rounds):
        if not uid_pids(uid):
            return
        try:
            subprocess.run(["/bin/sh", "-c", "kill -9 -1"], user=uid, group=uid, extra_groups=[],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=KILL_SECONDS, env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.SubprocessError):  # cannot become the uid: kill one by one
            for pid in uid_pids(uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(KILL_PAUSE)
