"""Submissions for the grader's tests: the solution, the skeleton, and either with a fault.

A "solution-like" submission is the modules of course.toml copied from source/; a
"skeleton-like" one has every START/END region replaced by the release's stub (a raise
naming the function and file, or ``pass`` in ``__init__``).  ``inject`` swaps the code of
one region for a fault.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from coursekit.config import load_config

ROOT = Path(__file__).resolve().parents[3]
START = "*****START OF YOUR CODE"
END = "*****END OF YOUR CODE"


@pytest.fixture(scope="session")
def course():
    return load_config(ROOT / "course.toml")


PATIENT_WALL_SECONDS = 7200  # the wall-clock guard of a full grade on 2 cores shared with other work


@pytest.fixture(scope="session")
def patient_course(course):
    """The course with a wall-clock guard that no busy machine reaches: the full-mode tests judge
    accuracy, not speed (the budgets in CPU time apply as in a real grade)."""
    limits = dataclasses.replace(course.limits, wall_seconds=max(course.limits.wall_seconds, PATIENT_WALL_SECONDS))
    return dataclasses.replace(course, limits=limits)


@pytest.fixture(scope="session")
def quick_course(course):
    """The course with short limits, so that a hanging or greedy fault costs seconds: 4 s of CPU
    time per check (a wall-clock guard of 60 s, for code that sleeps)."""
    limits = dataclasses.replace(course.limits, check_seconds=4, memory_mb=1024, wall_seconds=600)
    return dataclasses.replace(course, limits=limits)


def copy_solution(course, assignment_id: str, dest: Path) -> Path:
    """The modules course.toml lists for the assignment, copied from source/."""
    for rel in course.assignment(assignment_id).modules:
        source = course.source_dir / rel
        if source.exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest / rel)
    return dest


def _regions(lines):
    """(start, end) line indices of each marker pair, and the def that encloses it."""
    spans, start = [], None
    for index, line in enumerate(lines):
        if START in line:
            start = index
        elif END in line and start is not None:
            spans.append((start, index, _enclosing(lines, start)))
            start = None
    return spans


def _enclosing(lines, index):
    indent = len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        match = re.match(r"(\s*)def (\w+)\(", line)
        if match and len(match.group(1)) < indent:
            return match.group(2)
    return "<module>"


def _qualified(lines, index, function):
    """``Class.function`` for a region inside a method (two classes of one file may share a method name)."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        match = re.match(r"(\s*)class (\w+)\b", line)
        if match and len(match.group(1)) < indent:
            return f"{match.group(2)}.{function}"
    return function


def to_skeleton(folder: Path) -> Path:
    """Replace every region of every module with the release's stub."""
    for path in folder.rglob("*.py"):
        lines = path.read_text().splitlines(keepends=True)
        rel = path.relative_to(folder).as_posix()
        for start, end, func in reversed(_regions(lines)):
            indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
            stub = "pass" if func in ("__init__", "<module>") else (  # as the release: a module must import
                f'raise NotImplementedError("{func} in {rel}: write your code between the START/END markers")')
            lines[start + 1:end] = [f"{indent}{stub}\n"]
        path.write_text("".join(lines))
    return folder


def inject(folder: Path, rel: str, function: str, code: str, region: int = 0) -> None:
    """Replace region number ``region`` of ``function`` in ``rel`` with ``code``."""
    path = folder / rel
    lines = path.read_text().splitlines(keepends=True)
    spans = [(s, e) for s, e, f in _regions(lines) if function in (f, _qualified(lines, s, f))]
    start, end = spans[region]
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    body = [f"{indent}{line}\n" for line in code.strip("\n").splitlines()]
    lines[start + 1:end] = body
    path.write_text("".join(lines))


@pytest.fixture
def solution_submission(course, tmp_path):
    def make(assignment_id: str) -> Path:
        return copy_solution(course, assignment_id, tmp_path / "submission")
    return make


@pytest.fixture
def skeleton_submission(course, tmp_path):
    def make(assignment_id: str) -> Path:
        return to_skeleton(copy_solution(course, assignment_id, tmp_path / "submission"))
    return make
