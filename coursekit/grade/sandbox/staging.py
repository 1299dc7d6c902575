"""Staging a child's run folder: the submission's Python files, its owner, its environment.

Everything here treats the submission as hostile: the walk never follows a symlink, copies
regular ``.py`` files only (a folder named ``x.py`` is skipped), and stops after
:data:`MAX_TREE_ENTRIES` entries or :data:`MAX_TREE_DEPTH` levels.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

MAX_TREE_ENTRIES = 10_000  # files and folders of a submission looked at when staging it
MAX_TREE_DEPTH = 20
ENV_KEEP = ("PATH", "LANG", "LC_ALL")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def copy_package(submission: Path, run_dir: Path) -> None:
    """The submission's Python files only (no notebooks, no saved models, no links).

    Walks at most MAX_TREE_ENTRIES entries and MAX_TREE_DEPTH levels, never follows a
    symlink, and copies regular files only (a folder named ``x.py`` is skipped).
    """
    seen = 0
    for dirpath, dirnames, filenames in os.walk(submission, followlinks=False):
        rel_dir = Path(dirpath).relative_to(submission)
        depth = len(rel_dir.parts)
        dirnames[:] = [] if depth >= MAX_TREE_DEPTH else sorted(d for d in dirnames if not d.startswith("."))
        seen += len(dirnames) + len(filenames)
        if seen > MAX_TREE_ENTRIES:
            break
        for name in filenames:
            path = Path(dirpath) / name
            if not name.endswith(".py") or name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            (run_dir / rel_dir).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, run_dir / rel_dir / name)


def chown_tree(folder: Path, gid: int) -> None:
    """A grade's folder readable by the grade's group only: root-owned, group ``gid``, folders 0750,
    files 0640.  The children of the grade (spare uids in that group) may read it, not change it
    or its modes; other students' children (other groups) cannot enter it.  Links are left as
    they are (never followed).  A grader that is not root cannot give files away: 0700 / 0600."""
    root = os.geteuid() == 0
    for dirpath, _, files in os.walk(folder):  # every real folder is a dirpath once; links are not walked
        for path in [dirpath, *(os.path.join(dirpath, name) for name in files)]:
            if os.path.islink(path):
                continue
            is_dir = os.path.isdir(path)
            if root:
                os.chown(path, 0, gid, follow_symlinks=False)
            os.chmod(path, (0o750 if is_dir else 0o640) if root else (0o700 if is_dir else 0o600))


def child_env(home: str, threads: int) -> dict[str, str]:
    env = {key: os.environ[key] for key in ENV_KEEP if key in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env["HOME"] = home
    env.update({key: str(threads) for key in THREAD_VARS})
    return env
