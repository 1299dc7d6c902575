"""Limits on a grading child's whole process tree, and its end: one cgroup per child.

cgroup v2 (one unified hierarchy with ``memory.max``, ``pids.max``, ``cgroup.kill``) is
used where ``/sys/fs/cgroup`` is one; else cgroup v1's ``memory`` and ``pids``
controllers (and ``freezer``, to stop a re-forking tree before killing it, and ``cpuacct``, to
count the tree's CPU time: :meth:`Cgroup.cpu_seconds`).  Every
controller that cannot be used (read-only cgroupfs in a container, not root) is left out
and :attr:`Cgroup.applied` says what is in force; :meth:`Cgroup.missing` says which of the
limits a grade needs (memory and processes of the whole tree) are not.  :meth:`Cgroup.kill`
kills every process in it until none is left; :meth:`Cgroup.remove` deletes the folders.

A cgroup is named after its grader (``coursekit-<pid>-<start time>-<random>``): :func:`sweep`
freezes, kills and removes the cgroups of graders that are gone, empty or not.
"""
from __future__ import annotations

import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import IsolationError
from . import isolation
from .owners import Owner

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "freezer", "cpuacct")
NO_CGROUP_FIX = (
    "Enable them: run the grader as root with /sys/fs/cgroup writable (in a container, a writable, private "
    "cgroup namespace: docker run --cgroupns=private with the cgroup mount read-write), or in a delegated "
    "cgroup v2 subtree (systemd-run --scope -p Delegate=yes ...) with {env} set to it. Or accept the "
    "risk on purpose with --insecure (isolation = \"degraded\" under [grading], as root): student code "
    "then runs under a spare uid of its own with RLIMIT_NPROC, the grader's watch kills a tree that holds "
    "more than memory_mb or reaches max_processes, and the report lists what was missing.")
KILL_ROUNDS = 50  # passes over cgroup.procs before giving up on a process that keeps forking
KILL_PAUSE = 0.02  # seconds between passes
MB = 2**20
# Written so that the memory limit is not made up with swap (a thrashing child slows the machine);
# best effort: kernels without swap accounting have no such file.
NO_SWAP_KEYS = ("memory.swap.max", "memory.memsw.limit_in_bytes")


@dataclass
class Cgroup:
    """The cgroup folders of one child, and which limits were written."""

    folders: list[Path] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    version: int = 0

    @classmethod
    def create(cls, memory_mb: int, max_processes: int, root: Path = CGROUP_ROOT) -> "Cgroup":
        """A fresh cgroup with the memory and process limits; controllers that fail are recorded."""
        group = cls()
        name = f"coursekit-{Owner.me().tag}-{secrets.token_hex(4)}"
        if (root / "cgroup.controllers").is_file():
            group.version = 2
            group._make(root / name, {"memory.max": memory_mb * MB, "memory.swap.max": 0,
                                      "pids.max": max_processes})
        else:
            group.version = 1
            group._make(root / "memory" / name, {"memory.limit_in_bytes": memory_mb * MB,
                                                 "memory.memsw.limit_in_bytes": memory_mb * MB})
            group._make(root / "pids" / name, {"pids.max": max_processes})
            group._make(root / "freezer" / name, {})
            group._make(root / "cpuacct" / name, {})
        return group

    def missing(self) -> list[str]:
        """What a grade needs and this cgroup lacks: a memory and a process limit on the whole tree."""
        keys = {key.split(" = ")[0] for key in self.applied}
        needs = {"memory limit of the whole process tree": ("memory.max", "memory.limit_in_bytes"),
                 "process limit of the whole process tree": ("pids.max",)}
        return [what for what, names in needs.items() if not keys & set(names)]

    def _make(self, folder: Path, limits: dict[str, int]) -> None:
        try:
            folder.mkdir()
        except OSError as err:
            self.failed.append(f"cgroup {folder.parent.name or folder}: {err.strerror}")
            return
        self.folders.append(folder)
        for key, value in limits.items():
            try:
                (folder / key).write_text(str(value))
                if key not in NO_SWAP_KEYS:
                    self.applied.append(f"{key} = {value}")
            except OSError as err:
                if key not in NO_SWAP_KEYS:
                    self.failed.append(f"{folder / key}: {err.strerror}")

    @property
    def procs_files(self) -> list[str]:
        """The cgroup.procs files a starting child writes its pid to."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def describe(self) -> list[str]:
        if not self.applied:
            return []
        return [f"cgroup v{self.version} for the whole process tree: " + ", ".join(self.applied)]

    def out_of_memory(self) -> bool:
        """Did the kernel stop the tree for using more than its memory limit?"""
        for folder in self.folders:
            for name, word in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    for line in (folder / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == word and int(value) > 0:
                            return True
                except (OSError, ValueError):
                    continue
        return False

    def cpu_seconds(self) -> float | None:
        """CPU seconds (user + system) every process that was ever in the cgroup used; None without
        CPU accounting (cgroup v2's cpu.stat, v1's cpuacct.usage)."""
        for folder in self.folders:
            try:
                if self.version == 2:
                    for line in (folder / "cpu.stat").read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "usage_usec":
                            return int(value) / 1e6
                elif folder.parent.name == "cpuacct":  # made as root / "cpuacct" / name
                    return int((folder / "cpuacct.usage").read_text()) / 1e9
            except (OSError, ValueError):
                continue
        return None

    def pids(self) -> set[int]:
        found = set()
        for path in self.procs_files:
            try:
                found |= {int(line) for line in Path(path).read_text().split()}
            except (OSError, ValueError):
                continue
        return found

    def kill(self) -> None:
        """SIGKILL every process of the cgroup until none is left (frozen first, so none forks)."""
        if self.version == 2 and self.folders and (self.folders[0] / "cgroup.kill").exists():
            try:
                (self.folders[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        freezer = next((f for f in self.folders if f.parent.name == "freezer"), None)
        for _ in range(KILL_ROUNDS):
            if freezer is not None:
                _write_quietly(freezer / "freezer.state", "FROZEN")
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if freezer is not None:
                _write_quietly(freezer / "freezer.state", "THAWED")  # killed tasks die when thawed
            time.sleep(KILL_PAUSE)

    def remove(self) -> None:
        """Kill what is left, then delete the cgroup folders."""
        self.kill()
        for folder in self.folders:
            for _ in range(KILL_ROUNDS):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(KILL_PAUSE)
        self.folders = []


def _write_quietly(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError:
        pass


def sweep(root: Path = CGROUP_ROOT) -> int:
    """Freeze, kill and remove the kit's cgroups whose grader is gone (SIGKILLed, say), with
    whatever still runs in them; returns how many were removed."""
    parents = [root] if (root / "cgroup.controllers").is_file() else [root / c for c in V1_CONTROLLERS]
    stale: dict[str, list[Path]] = {}
    for parent in parents:
        try:
            entries = list(parent.glob("coursekit-*"))
        except OSError:
            continue
        for folder in entries:
            owner = Owner.from_tag(folder.name[len("coursekit-"):].rsplit("-", 1)[0])
            if owner is not None and not owner.alive() and folder.is_dir():
                stale.setdefault(folder.name, []).append(folder)
    for folders in stale.values():
        group = Cgroup(folders=folders, version=2 if parents == [root] else 1)
        group.remove()
    return len(stale)


def probe(memory_mb: int, max_processes: int) -> tuple[list[str], list[str]]:
    """(what a grade needs and the cgroups here lack, why) from a cgroup made and removed at once.
    A hierarchy that worked once is not probed again by this process (each child's own cgroup is
    still checked before it starts: a hierarchy that stops working still refuses)."""
    root = isolation.cgroup_root()
    if root in _WORKED:
        return [], []
    group = Cgroup.create(memory_mb, max_processes, root=root)
    gaps, failed = group.missing(), group.failed
    group.remove()
    if not gaps:
        _WORKED.add(root)
    return gaps, failed


_WORKED: set[Path] = set()  # cgroup hierarchies where probe() found every limit a grade needs


def require_default_isolation() -> None:
    """An IsolationError unless the default mode can grade here: bubblewrap runs and cgroups limit the
    tree (Gradescope's run_autograder chooses the degraded mode on purpose when this fails)."""
    isolation.require_bwrap()
    gaps, failed = probe(64, 8)
    if gaps:
        raise IsolationError(no_cgroup_message(gaps, failed))


def no_cgroup_message(gaps: list[str], failed: list[str]) -> str:
    """The one paragraph of the refusal to grade without cgroup limits."""
    detail = "; ".join(failed) or "no cgroup hierarchy found"
    return (f"The grader refuses to run student code without cgroup limits on its whole process tree: no "
            f"{' and no '.join(gaps)} at {isolation.cgroup_root()} ({detail}). "
            + NO_CGROUP_FIX.format(env=isolation.ENV_CGROUP_ROOT))
