"""``python -m coursekit``.

``python -m`` puts the working directory first on ``sys.path``.  When that directory is a
student's folder, a ``numpy/`` or ``tqdm/`` there would shadow the real one, so it is
dropped before anything else is imported.  (A ``coursekit/`` package in the working
directory would be found by ``python -m`` before this file runs: grade with the installed
``coursekit`` command, or ``python -P -m coursekit`` / ``python -I -m coursekit``.)
"""
import os
import sys

_cwd = os.path.realpath(os.getcwd())
sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.realpath(p) != _cwd]

from .cli import run  # noqa: E402 - after the path is cleaned

run()
