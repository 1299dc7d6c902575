"""What comes back from a grading child: its status lines, its outputs, its last words, its end.

Everything here is hostile until checked: a status line is one JSON object or nothing; a
task's outputs are one ``.npz`` at the place the child names, bounded and parsed before
anything is inflated (:mod:`.untrusted`), or left in the file and read in blocks for a lazy
task (the saved model); the stderr tail and the exit status become one line of feedback.
"""
from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cgroups import Cgroup
from .untrusted import StoredArray, UntrustedDataError, npz_layout, read_npz

MAX_OUTPUT_BYTES = 50_000_000  # per task .npz
MAX_STORED_BYTES = 120_000_000  # per task kept in the output file and read in blocks (the saved model)
STDERR_TAIL = 1500  # characters of a child's last words in a message
STDERR_KEEP = 65536  # bytes of a child's stderr kept in memory (a stack dump fits)
MAX_STDERR_BYTES = 64 * 2**20  # read from one child's stderr at most


@dataclass
class Outcome:
    """What became of one task: its outputs, or why there are none."""

    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    error: str = ""
    stored: dict[str, StoredArray] = field(default_factory=dict)  # a lazy task's, open until close()
    scored: Any = None  # what the parent measured of the outputs where it watched the run (never the child's word)


class StderrPipe:
    """A child's stderr: a pipe the parent drains as it goes, keeping only the last bytes in memory
    (nothing of it reaches the disk; past MAX_STDERR_BYTES the parent stops reading, and the
    child's further writes fail)."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.kept, self.total = bytearray(), 0

    def drain(self, seconds: float = 0.0) -> None:
        """Read what is there (and, for ``seconds``, what comes), keeping the last STDERR_KEEP bytes."""
        end = time.monotonic() + seconds
        while self.read_fd >= 0:
            try:
                chunk = os.read(self.read_fd, 65536)
            except BlockingIOError:
                if time.monotonic() >= end:
                    return
                select.select([self.read_fd], [], [], max(0.0, end - time.monotonic()))
                continue
            if not chunk or self.total > MAX_STDERR_BYTES:
                self.close()
                return
            self.total += len(chunk)
            self.kept += chunk
            del self.kept[:-STDERR_KEEP]

    def tail(self, size: int = STDERR_TAIL) -> str:
        return bytes(self.kept[-size:]).decode(errors="replace").strip()

    def close(self) -> None:
        for name in ("read_fd", "write_fd"):
            if getattr(self, name) >= 0:
                os.close(getattr(self, name))
                setattr(self, name, -1)


def innermost_student_frame(dump: str, code_dir: str) -> tuple[str, str, str] | None:
    """(file, line, function) of the deepest named function of the submission in a faulthandler dump
    (a comprehension or a lambda, ``<listcomp>``, names every one of its file: its function counts)."""
    stack = dump.rsplit("most recent call first", 1)[-1]
    for path, line, function in re.findall(r'File "([^"]+)", line (\d+) in (\S+)', stack):
        if path.startswith(str(code_dir) + "/") and not path.endswith("/harness.py") and not function.startswith("<"):
            return os.path.relpath(path, code_dir), line, function
    return None


def parse(line: bytes) -> dict:
    try:
        event = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def outcome(event: dict, out_fd: int, lazy: bool = False) -> Outcome:
    if not event.get("ok"):
        return Outcome(False, error=str(event.get("error", "the check failed"))[:STDERR_TAIL])
    try:
        if lazy:
            return Outcome(True, stored=stored_output(out_fd, event.get("offset"), event.get("length")))
        return Outcome(True, outputs=read_output(out_fd, event.get("offset"), event.get("length")))
    except (OSError, ValueError) as err:
        return Outcome(False, error=f"the results of this check could not be read back ({err})")


def _place(offset, length, cap: int) -> None:
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        raise UntrustedDataError("the child reported no valid place for its outputs")
    if length > cap:
        raise UntrustedDataError(f"the outputs take {length / 1e6:.0f} MB (at most {cap / 1e6:.0f} MB)")


def read_output(out_fd: int, offset, length) -> dict[str, np.ndarray]:
    """One task's arrays from the child's output file: bounded, parsed before inflating."""
    _place(offset, length, MAX_OUTPUT_BYTES)
    data = os.pread(out_fd, length, offset)
    return read_npz(data, max_total_bytes=MAX_OUTPUT_BYTES)


def stored_output(out_fd: int, offset, length) -> dict[str, StoredArray]:
    """Where one lazy task's arrays are in the child's output file: headers checked, nothing read."""
    _place(offset, length, MAX_STORED_BYTES)
    if offset + length > os.fstat(out_fd).st_size:
        raise UntrustedDataError("the child reported outputs past the end of its file")
    return npz_layout(out_fd, offset, length, max_total_bytes=MAX_STORED_BYTES)


def died(proc: subprocess.Popen, tail: str, cgroup: Cgroup) -> str:
    code = proc.returncode
    if code is not None and code > 128 and code - 128 in signal.Signals._value2member_map_:
        code = 128 - code  # bwrap (and the degraded mode's init) exit with 128 + N when the harness dies of N
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        how = f"the process was killed by {name}"
        if -code == signal.SIGXCPU:
            how += " (CPU time limit)"
    else:
        how = f"the process exited with code {code} (did the code call os._exit or exit()?)"
    if cgroup.out_of_memory() and "memory" not in how:
        how += " (memory limit of the whole process tree)"
    return how + (f"; its last words: {tail}" if tail else "")
