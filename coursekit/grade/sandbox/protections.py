"""The protections of a grading child, in words, from what the parent set up (never from the child).

:func:`describe` gives the report's ``protections``: ``active`` lists what was in force, and
``failed`` what was not (the degraded mode's missing namespaces, a missing cgroup), so that a
report never claims more than the grade had.
"""
from __future__ import annotations

import os

from ...config import Limits
from . import isolation, watch


def describe(limits: Limits, mode: str, *, uid: int, gid: int, tmpfs: int, disk: str, namespaces: bool,
             cgroup: list[str], no_cgroup: list[str], cpu_counted_by_cgroup: bool = False) -> dict[str, list[str]]:
    """``active`` and ``failed`` protections of one child (``mode``: bwrap or degraded)."""
    degraded = mode == "degraded"
    active = [*(_degraded(uid, gid) if degraded else isolation.describe_bwrap(uid, tmpfs)),
              *_limits(limits, degraded, disk), _time(limits, cpu_counted_by_cgroup)]
    failed = [f"no cgroup: {gap}; the tree is bounded by the watch and RLIMIT_NPROC only" for gap in no_cgroup]
    if degraded and namespaces:
        active.append("util-linux unshare: network namespace: yes (no network); PID namespace: yes (its own "
                      "/proc; a root init as PID 1 ends the namespace with the grader); mount namespace: yes")
    elif degraded:
        failed += ["network namespace: no (util-linux unshare could not make one: student code may reach the "
                   "network)", "PID namespace: no (student code sees the machine's processes and their command "
                   "lines; none of the grader's holds a secret)"]
    if degraded:
        failed.append("no private /tmp: /tmp, /var/tmp, /dev/shm and /run/lock are shared (the child's files "
                      "there count against the disk budget and are deleted after it)")
        if not isolation.python_reachable():
            failed.append("the spare uid cannot reach the Python installation: student code can import only the "
                          "modules loaded before the switch (numpy and common ones)")
    return {"active": active + cgroup, "failed": failed}


def _degraded(uid: int, gid: int) -> list[str]:
    return [f"DEGRADED mode (--insecure): no bubblewrap; spare uid {uid} reserved for this child alone (no other "
            f"child on this machine has it), no groups but the grade's ({gid}), no_new_privs; course files checked "
            "unreadable by other users; the grade's files readable by its group only (an unpredictable folder, "
            "mode 0750)"]


def _time(limits: Limits, by_cgroup: bool) -> str:
    """Which time limits are CPU time and which are wall-clock time."""
    counted = ("the cgroup's CPU accounting" if by_cgroup else
               f"the grader's watch, every {watch.WATCH_POLL} s, over the tree's processes")
    return (f"time in CPU seconds of the child's whole process tree (counted by {counted}), so that a busy "
            f"machine cannot make code late: at most {limits.check_seconds} s for one check, "
            f"{limits.cpu_seconds} s for the grader's training run and for all checks together; wall-clock "
            f"time only as a guard for code that waits or sleeps: {watch.WALL_GUARD_FACTOR} x a limit's CPU "
            f"seconds (at least {watch.WALL_GUARD_FLOOR:.0f} s), and {limits.wall_seconds} s for all checks together")


def _limits(limits: Limits, degraded: bool, disk: str) -> list[str]:
    if degraded:
        nproc = "enforced: the spare uid's own processes"
    elif os.geteuid() == 0:
        nproc = "not enforced: the child's real uid is root outside its namespace; the pids cgroup bounds it"
    else:
        nproc = "counted in its user namespace"
    return [f"per process: CPU {limits.cpu_seconds} s, address space {limits.memory_mb} MB, file size "
            f"{limits.file_size_mb} MB (less once the disk budget runs low), no core dumps, RLIMIT_NPROC "
            f"{limits.max_processes} ({nproc})",
            f"the grader's watch, every {watch.WATCH_POLL} s: at most {limits.memory_mb} MB of memory over all the "
            f"child's processes and fewer than {limits.max_processes} processes and threads, else the whole tree "
            "is killed",
            f"disk budget {disk} for the whole grade (the staged code once, every child's outputs"
            + (", its working folder and its files in /tmp" if degraded else "") + "), counted as they are "
            "written; deleted once read; stderr a pipe, its last 64 KB kept in memory"]
