"""Which files of a submission are graded: the student's own, and the kit's for the rest.

A student's folder holds much more than what the grader should run: an official-style
``solver.py`` that imports ``future``, a ``classifiers/__init__.py`` that imports the other
classifiers of the CS231n assignment, a ``fast_layers.py`` that imports ``torch``.  The
grader takes from the submission only

- the modules of the assignment that hold student regions (found by parsing ``source/``), and
- the files listed in ``[assignments.<id>] student_files`` of ``course.toml``,

and every other module of the assignment from the kit's release track, rendered from
``source/`` by :mod:`coursekit.tracks` (never the solution: a region file the student did
not hand in is the release stub, which fails its checks with a clear message).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..config import Course
from ..errors import ConfigError
from ..tracks.modules import render_module


@dataclass(frozen=True)
class StagedSubmission:
    """The folder the child runs, and where each of its files came from."""

    folder: Path
    from_submission: tuple[str, ...]  # paths taken from the student's folder
    from_kit: tuple[str, ...]  # non-region modules, from the release track
    missing: tuple[str, ...]  # student files not handed in: the release stub is graded


def student_files(course: Course, assignment_id: str) -> tuple[str, ...]:
    """Paths (relative to the assignment folder) the grader takes from a submission."""
    assignment = course.assignment(assignment_id)
    for relpath in assignment.student_files:
        path = PurePosixPath(relpath)
        if path.is_absolute() or ".." in path.parts or not relpath:
            raise ConfigError(f"{course.path}: 'assignments.{assignment_id}.student_files' lists "
                              f"{relpath!r}: give a path inside the assignment folder, like "
                              "'cs231n/layers.py'.")
    with_regions = [relpath for relpath in assignment.modules if _has_regions(course, assignment_id, relpath)]
    return tuple(dict.fromkeys([*with_regions, *assignment.student_files]))


def stage_submission(course: Course, assignment_id: str, submission: Path, dest: Path) -> StagedSubmission:
    """Write into ``dest`` the student's files and the kit's release modules; ``dest`` is returned."""
    assignment = course.assignment(assignment_id)
    own = student_files(course, assignment_id)
    taken, kit, missing = [], [], []
    for relpath in dict.fromkeys([*assignment.modules, *own]):
        target = dest / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        source = submission / relpath
        if relpath in own and source.is_file() and not source.is_symlink():
            shutil.copyfile(source, target)
            taken.append(relpath)
            continue
        if relpath not in assignment.modules:
            continue  # a listed extra file the student did not hand in
        target.write_bytes(render_module(course, assignment, relpath)[0])
        (missing if relpath in own else kit).append(relpath)
    return StagedSubmission(dest, tuple(taken), tuple(kit), tuple(missing))


def _has_regions(course: Course, assignment_id: str, relpath: str) -> bool:
    release, solution = render_module(course, course.assignment(assignment_id), relpath)
    return release != solution
