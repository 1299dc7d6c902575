"""What ``release/<id>/`` holds besides the notebooks: the stubbed modules and ``selfcheck/``.

Both ``coursekit build`` (generate.py) and nbgrader's ``generate_assignment`` (through the
generated ``nbgrader_config.py``, nbconfig.py) write it, byte for byte the same.
"""
from __future__ import annotations

from ..config import Course
from .modules import module_tracks
from .trees import Tree


def release_support(course: Course, assignment_id: str) -> Tree:
    """The release's modules (student regions stubbed) and the students' self-check, by path."""
    release, _ = module_tracks(course, course.assignment(assignment_id))
    return release | _selfcheck(course, assignment_id)


def _selfcheck(course: Course, assignment_id: str) -> Tree:
    """The students' self-check (the grader's public cases) for an assignment the grader knows."""
    from ..grade.pipeline import CODE_CHECKS
    from ..grade.public import selfcheck_tree

    return selfcheck_tree(course, assignment_id) if assignment_id in CODE_CHECKS else {}
