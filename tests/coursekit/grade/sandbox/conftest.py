"""Hostile submissions for the sandbox tests, and a way to see what their code observed.

A *probe* is code injected into one student function: it looks at something (a file, the
network, /proc) and raises ``RuntimeError("SEEN<...>SEEN")``; the grader's message for that
check carries the observation back to the test.  Several probes share one grade (fast mode).
"""
from __future__ import annotations

import ast
import os
import re
import signal
import time
from pathlib import Path

from ..conftest import copy_solution, inject  # noqa: F401 - re-exported for the tests

SEEN = re.compile(r"SEEN(.*?)SEEN", re.S)
SURVIVOR = f"ck-surv{os.getpid() % 100000}"  # the process name (comm) hostile children give themselves: one per test run, so two runs on one machine never see each other's
GONE_SECONDS = 5.0  # how long a killed tree may take to disappear


def probe(body: str) -> str:
    """Code for a student function: run ``body`` (which sets ``seen``), then raise what it saw."""
    return body + "\nraise RuntimeError('SEEN' + repr(seen) + 'SEEN')"


def seen(test) -> object:
    """The observation a probe reported through a check's failure message."""
    found = SEEN.findall(test.output())  # the last one: the probe's own source line comes first
    assert found, test.output()
    return ast.literal_eval(found[-1])


def survivors(name: str = SURVIVOR) -> list[int]:
    """Pids of processes called ``name`` on the machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_until_gone(name: str = SURVIVOR, seconds: float = GONE_SECONDS) -> list[int]:
    end = time.monotonic() + seconds
    while survivors(name) and time.monotonic() < end:
        time.sleep(0.1)
    return survivors(name)


def kill_all(pids: list[int]) -> None:
    """Clean up after a failed test (never reached when the sandbox works)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# Re-forking processes that name themselves SURVIVOR and live on unless killed: four chains, each
# a process that hands over to a fresh child (a new pid) every 0.2 s, so about 4-8 at a time, well
# under the process limit (a tree that sat at the limit would be stopped as a fork bomb while
# another check runs, and that check would be blamed; test_limits.py covers fork bombs).
REFORK = f"""
import ctypes, os, time
libc = ctypes.CDLL(None)
for _ in range(4):
    if os.fork() == 0:
        os.setsid()
        libc.prctl(15, b"{SURVIVOR}", 0, 0, 0)
        while True:
            time.sleep(0.2)
            if os.fork() == 0:
                libc.prctl(15, b"{SURVIVOR}", 0, 0, 0)
                continue
            os._exit(0)
"""
