"""The assignment's Python modules, as the student skeleton and as the full solution.

Each module listed in ``course.toml`` is read from ``source/`` and parsed once
(:func:`~coursekit.tracks.regions.parse_regions`); both views are rendered from that
parse.  Files that are not Python, or have no region, are copied byte for byte.
"""
from __future__ import annotations

import functools

from ..config import Assignment, Course
from ..errors import BuildError
from .regions import check_parses, parse_regions, split_lines
from .trees import Tree


def module_tracks(course: Course, assignment: Assignment) -> tuple[Tree, Tree]:
    """(release, solution) contents of the assignment's modules, by path in its folder."""
    release: Tree = {}
    solution: Tree = {}
    for relpath in assignment.modules:
        release[relpath], solution[relpath] = render_module(course, assignment, relpath)
    return release, solution


def render_module(course: Course, assignment: Assignment, relpath: str) -> tuple[bytes, bytes]:
    """(student skeleton, solution) of ``source/<relpath>``."""
    raw = _read_listed(course, assignment, relpath)
    if not relpath.endswith(".py"):
        return raw, raw
    return render_python(raw, relpath, course.stub, where=f"source/{relpath}")


@functools.lru_cache(maxsize=64)  # a pure function of its arguments: a grade renders each module once
def render_python(raw: bytes, relpath: str, stub: str, *, where: str) -> tuple[bytes, bytes]:
    """(student skeleton, solution) of one Python file's bytes; ``relpath`` names it in stubs."""
    try:
        lines = split_lines(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise BuildError(f"{where} is not UTF-8 ({err.reason} at byte {err.start}). "
                         "Save it as UTF-8.") from None
    parsed = parse_regions(lines, relpath, where=where)
    student = parsed.student_lines(stub)
    if parsed.regions:
        check_parses(student, where)
    return "".join(student).encode("utf-8"), "".join(parsed.solution_lines()).encode("utf-8")


def _read_listed(course: Course, assignment: Assignment, relpath: str) -> bytes:
    path = course.source_dir / relpath
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise BuildError(
            f"{course.path}: assignments.{assignment.id}.modules lists '{relpath}', but "
            f"source/{relpath} does not exist. Create it, or remove it from the list."
        ) from None

