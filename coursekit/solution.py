"""Importing the annotated solution package (``source/cs231n``) into the kit's process.

Only the kit's own process imports it.  Student code runs elsewhere and never sees it.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from .config import Course
from .errors import CoursekitError


def solution_module(course: Course, name: str) -> ModuleType:
    """Import ``cs231n.<name>`` (e.g. ``"classifiers.fc_net"``) from the course's ``source/``."""
    source = str(course.source_dir)
    if source not in sys.path:
        sys.path.insert(0, source)
    package = importlib.import_module("cs231n")
    found = Path(package.__file__).resolve().parent
    if found != (course.source_dir / "cs231n").resolve():
        raise CoursekitError(
            f"The package 'cs231n' was imported from {found}, not from {course.source_dir}. "
            "Run coursekit from a clean environment (no other cs231n on sys.path)."
        )
    return importlib.import_module(f"cs231n.{name}")
