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


def chown_tree(folder: Path, uid: int) -> None:
    """Degraded mode: the run folder readable by the spare uid; its parent only passable."""
    for dirpath, _, files in os.walk(folder):
        os.chown(dirpath, 0, 0)
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chown(os.path.join(dirpath, name), 0, 0)
            os.chmod(os.path.join(dirpath, name), 0o644)
    os.chown(folder, uid, uid)  # its working folder; the staged files stay root's
    os.chmod(folder.parent, 0o711)  # the child may pass through the root, not list it


def child_env(home: str, threads: int) -> dict[str, str]:
    env = {key: os.environ[key] for key in ENV_KEEP if key in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env["HOME"] = home
    env.update({key: str(threads) for key in THREAD_VARS})
    return env
