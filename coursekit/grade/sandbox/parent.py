"""The parent side of a grading child: start it jailed, feed it, watch it, kill it.

:func:`run_tasks` writes the inputs of a batch of tasks to one ``.npz``, starts
``jail.py`` (which locks the process down and execs ``harness.py``), and follows the
harness's JSON lines on a pipe.  Each task has its own wall-clock deadline; a task that
overruns it, or during which the process dies, fails with a message saying so, and the
tasks after it are run again in a fresh child.  Before a hung child is killed it is asked
(SIGUSR1, faulthandler) where it is stuck; that function of the submission is then stopped
at its first call in every later child, so one endless loop costs one deadline, not one
per check.  Outputs come back as ``.npz`` files read with ``allow_pickle=False``; nothing
the child prints is parsed, except that stack dump, for a file name and a function name.
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

HERE = Path(__file__).resolve().parent
SANDBOX_UID_RANGE = (200_000, 900_000)  # fresh uids owned by nobody on this machine
MAX_STATUS_BYTES = 1_000_000  # a child that floods its status pipe is killed
MAX_OUTPUT_BYTES = 50_000_000  # per task .npz
STDERR_TAIL = 1500
STACK_WAIT = 0.5  # seconds for a hung child to dump its stack (faulthandler, on SIGUSR1)
HUNG_POLL = 0.25  # seconds between looks at whether another child found a function that hangs
RESTART = "restart: another child found a function that hangs"  # _follow's reason to rerun a task
ENV_KEEP = ("PATH", "LANG", "LC_ALL")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
    """Where and how children run for one grade: a temp root, limits, hidden folders."""

    submission: Path
    limits: Limits
    hidden: tuple[str, ...]
    keep: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()  # jail steps not to try (tests use it to mimic a weaker machine)
    hung: set[tuple[str, str]] = field(default_factory=set)  # (file, function) that hung once
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="coursekit-grade-")))
    protections: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each finished task
    _runs: itertools.count = field(default_factory=lambda: itertools.count(1))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def run_tasks(self, tasks: list[Task], threads: int = 1) -> dict[str, Outcome]:
        """Run every task, in as few children as crashes allow (``threads`` for BLAS).

        All of them together get ``limits.wall_seconds``: a submission whose every check
        hangs (say, at import time) cannot hold the grader for one deadline per check.
        """
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
        run_dir = self.root / f"run{number}"
        out_dir = run_dir / "out"
        out_dir.mkdir(parents=True)
        _copy_package(self.submission, run_dir)
        shutil.copy(HERE / "harness.py", run_dir / "harness.py")
        np.savez(run_dir / "inputs.npz", **{f"{t.id}/{k}": v for t in tasks for k, v in t.inputs.items()})
        read_fd, write_fd = os.pipe()
        poisoned = sorted(self.hung.copy())
        spec = {"status_fd": write_fd, "submission": str(run_dir), "inputs": "inputs.npz",
                "poisoned": poisoned,
                "outputs": "out", "tasks": [{"id": t.id, "driver": t.driver, **t.spec} for t in tasks]}
        (run_dir / "spec.json").write_text(json.dumps(spec))
        uid = random.randrange(*SANDBOX_UID_RANGE)
        _chown_tree(run_dir, uid)
        config = self.root / f"jail{number}.json"
        config.write_text(json.dumps({
            "run_dir": str(run_dir), "hidden": list(self.hidden),
            "keep": [str(run_dir), *self.keep], "uid": uid, "skip": list(self.skip),
            "limits": {k: getattr(self.limits, k) for k in
                       ("cpu_seconds", "memory_mb", "file_size_mb", "max_processes")},
            "status_fd": write_fd, "argv": ["harness.py", "spec.json"], "env": _child_env(run_dir, threads),
        }))
        stderr_path = self.root / f"stderr{number}.txt"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(HERE / "jail.py"), str(config)], cwd=run_dir,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                pass_fds=(write_fd,), start_new_session=True, env=_child_env(run_dir, 1))
        os.close(write_fd)
        try:
            started, finished, why = self._follow(proc, read_fd, {t.id: t for t in tasks}, outcomes,
                                                  out_dir, budget_end, len(poisoned))
        finally:
            os.close(read_fd)
            _kill(proc, uid)
        if why == RESTART:
            return True
        if started is not None and not finished:
            outcomes[started] = Outcome(False, error=why or _died(proc, stderr_path))
        elif started is None and not outcomes.keys() & {t.id for t in tasks}:
            # The child died before the first task started: nothing of the submission ran.
            for task in tasks:
                outcomes[task.id] = Outcome(False, error="the grading process could not start: "
                                            + _died(proc, stderr_path))
        return False

    def _where_stuck(self, proc: subprocess.Popen, run_dir: Path) -> str:
        """Ask the hung child for its stack; remember the student's function that hung."""
        stderr_path = self.root / f"stderr{run_dir.name[len('run'):]}.txt"
        try:
            os.kill(proc.pid, signal.SIGUSR1)
            time.sleep(STACK_WAIT)
            frame = _innermost_student_frame(stderr_path.read_text(errors="replace"), run_dir)
        except OSError:
            return ""
        if frame is None:
            return ""
        path, line, function = frame
        self.hung.add((path, function))
        return f" while running {function} ({path}, line {line})"

    def _follow(self, proc, read_fd, tasks, outcomes, out_dir, budget_end, poisoned=0):
        """Read status lines until the end; returns (last started task, finished?, reason).

        A child started before another one found a function that hangs (``self.hung`` grew
        past ``poisoned``) is stopped with reason RESTART, so that the task it is running is
        rerun at once with that function poisoned, instead of waiting out its own deadline.
        """
        buffer, total, started, finished = b"", 0, None, True
        deadline = time.monotonic() + 30  # to start Python and import numpy
        while True:
            timeout = min(deadline, budget_end) - time.monotonic()
            if timeout <= 0 and time.monotonic() >= budget_end:
                return started, False, (f"the grader's {self.limits.wall_seconds} s for all checks ran "
                                        "out during this check")
            if timeout <= 0:
                what = f"more than {tasks[started].seconds:.0f} s" if started else "too long to start"
                return started, False, f"the check took {what} of wall-clock time and was stopped" + (
                    self._where_stuck(proc, out_dir.parent) if started else "")
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
                if kind == "jail":
                    self.protections = {"active": list(event.get("active", [])),
                                        "failed": list(event.get("failed", []))}
                elif kind == "start" and name in tasks and name not in outcomes:
                    started, finished, began = name, False, time.monotonic()
                    deadline = began + tasks[name].seconds
                elif kind == "done" and name == started and not finished:
                    finished = True
                    outcomes[name] = _outcome(event, out_dir / f"{name}.npz")
                    self.seconds[name] = round(time.monotonic() - began, 3)
                    deadline = time.monotonic() + 30
                elif kind == "end":
                    return started, finished, ""


def _innermost_student_frame(dump: str, run_dir: Path) -> tuple[str, str, str] | None:
    """(file, line, function) of the deepest submission frame in a faulthandler dump."""
    stack = dump.rsplit("most recent call first", 1)[-1]
    for path, line, function in re.findall(r'File "([^"]+)", line (\d+) in (\S+)', stack):
        if path.startswith(str(run_dir) + "/") and not path.endswith("/harness.py"):
            return os.path.relpath(path, run_dir), line, function
    return None


def _parse(line: bytes) -> dict:
    try:
        event = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _outcome(event: dict, path: Path) -> Outcome:
    if not event.get("ok"):
        return Outcome(False, error=str(event.get("error", "the check failed"))[:STDERR_TAIL])
    try:
        return Outcome(True, outputs=load_outputs(path))
    except (OSError, ValueError) as err:
        return Outcome(False, error=f"the results of this check could not be read back ({err})")


def load_outputs(path: Path) -> dict[str, np.ndarray]:
    """Plain numeric arrays from a child's .npz: no pickles, no symlinks, bounded size."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size > MAX_OUTPUT_BYTES:
            raise ValueError("the output file is too large")
        with np.load(f, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise ValueError(f"output {key!r} has dtype {value.dtype}, not numbers")
    return arrays


def _copy_package(submission: Path, run_dir: Path) -> None:
    """The submission's Python files only (no notebooks, no saved models)."""
    for path in submission.rglob("*.py"):
        rel = path.relative_to(submission)
        if path.is_symlink() or any(part.startswith(".") for part in rel.parts):
            continue
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, run_dir / rel)


def _chown_tree(folder: Path, uid: int) -> None:
    if os.geteuid() != 0:
        return
    for dirpath, _, files in os.walk(folder):
        os.chown(dirpath, uid, uid)
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chown(os.path.join(dirpath, name), uid, uid)
    parent = folder.parent
    os.chmod(parent, 0o711)  # the child may pass through the root, not list it


def _child_env(run_dir: Path, threads: int) -> dict[str, str]:
    env = {key: os.environ[key] for key in ENV_KEEP if key in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env["HOME"] = str(run_dir)
    env.update({key: str(threads) for key in THREAD_VARS})
    return env


def _kill(proc: subprocess.Popen, uid: int) -> None:
    """Kill the child's process group and every process left with its uid."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    if os.geteuid() == 0:
        kill_uid(uid)


def kill_uid(uid: int) -> None:
    """SIGKILL every process running as ``uid`` (a fresh uid used by one child only)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _died(proc: subprocess.Popen, stderr_path: Path) -> str:
    code = proc.returncode
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        how = f"the process was killed by {name}"
        if -code == signal.SIGXCPU:
            how += " (CPU time limit)"
    else:
        how = f"the process exited with code {code} (did the code call os._exit or exit()?)"
    tail = stderr_path.read_text(errors="replace")[-STDERR_TAIL:].strip() if stderr_path.exists() else ""
    return how + (f"; its last words: {tail}" if tail else "")
