"""Staging a child's run folder: the submission's Python files, its owner, its environment.

Everything here treats the submission as hostile: it is read through :mod:`.paths` only (no
component is opened through a link, and a link that leaves the submission is never
followed), regular ``.py`` files only (a folder named ``x.py`` is skipped), and the walk stops
after :data:`~.paths.MAX_TREE_ENTRIES` entries or :data:`~.paths.MAX_TREE_DEPTH` levels.
"""
from __future__ import annotations

import os
from pathlib import Path

from .paths import Refused, copy_python_files

ENV_KEEP = ("PATH", "LANG", "LC_ALL")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def copy_package(submission: Path, run_dir: Path, skip=lambda path: False) -> list[Refused]:
    """Copy the submission's Python files (no notebooks, no saved models) into ``run_dir``.

    Links inside the submission are followed, links that leave it are not: those, and the
    files too large to copy, are returned.  Hidden files and folders, and what ``skip(path)``
    names, are left out.
    """
    return copy_python_files(submission, run_dir, skip)


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
