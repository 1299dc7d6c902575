"""The solution code of another revision, importable beside the current one.

``python -m bench --baseline main`` trains the numpy nets of ``main``'s ``source/cs231n`` in
the same alternating rounds as the current code and PyTorch, so that a speed change is
measured against what it replaces under the same load, in one run.
"""
from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .common import ROOT

PACKAGE = "cs231n_baseline"  # the name the baseline's cs231n is imported under
_folders: list[tempfile.TemporaryDirectory] = []  # kept until the process ends


class BaselineError(Exception):
    """The baseline cannot be found or imported; the message says what to pass instead."""


def load(ref: str) -> str:
    """Import the ``cs231n`` package of ``ref`` as :data:`PACKAGE` and return that name.

    ``ref`` is a folder (a course root with ``source/cs231n``, or a ``cs231n`` package
    itself) or else a git revision of this checkout (``main``, ``HEAD~3``, a commit).
    """
    package = _folder(ref) if Path(ref).is_dir() else _from_git(ref)
    if PACKAGE in sys.modules:
        raise BaselineError("a baseline is already loaded in this process; run one baseline per run")
    spec = importlib.util.spec_from_file_location(PACKAGE, package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the baseline's own import error, named with the revision
        del sys.modules[PACKAGE]
        raise BaselineError(f"--baseline {ref}: its cs231n package does not import: {error}") from error
    return PACKAGE


def _folder(ref: str) -> Path:
    for candidate in (Path(ref) / "source" / "cs231n", Path(ref)):
        if (candidate / "__init__.py").is_file() and (candidate / "layers.py").is_file():
            return candidate.resolve()
    raise BaselineError(f"--baseline {ref}: the folder holds neither source/cs231n/ nor a cs231n package "
                        "(__init__.py and layers.py); pass a course root, a cs231n folder or a git revision")


def _from_git(ref: str) -> Path:
    """``source/cs231n`` as it is at ``ref``, unpacked into a temporary folder."""
    proc = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "source/cs231n"],
                          capture_output=True)
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["git failed"]
        raise BaselineError(f"--baseline {ref}: not a folder, and git cannot read source/cs231n at that "
                            f"revision ({why[0]}); pass a branch, a commit or a folder")
    folder = tempfile.TemporaryDirectory(prefix="bench-baseline-")
    _folders.append(folder)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        archive.extractall(folder.name, filter="data")
    return Path(folder.name) / "source" / "cs231n"
