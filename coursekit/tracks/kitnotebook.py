"""One point table for every path: the kit's checks as nbgrader grade cells, the questions' points.

``[assignments.<id>.points]`` in course.toml is the only place points live:

- the grader's checks become the autograded cells of one generated notebook,
  ``coursekit_modules.ipynb`` (:func:`kit_notebook`), one cell per check, worth the check's
  points.  Its hidden part calls :func:`coursekit.classroom.kitcells.check_score`, so
  ``nbgrader autograde`` runs the kit's grader and formgrader shows (and lets an instructor
  override) each check's score.  Students see only a comment in each cell;
- the notebooks' manually graded answer cells take their points from
  ``[assignments.<id>.points.questions]`` (:func:`apply_course_points`);
- the notebooks' own test cells are worth 0 points (students still see them fail, and
  ``nbgrader validate`` reports them); one with points is an error: it would count a
  function twice.

An assignment without a points table (a plain nbgrader course) keeps its notebooks' points.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from ..config import Assignment, Course, load_config
from ..errors import BuildError

KIT_NOTEBOOK = "coursekit_modules.ipynb"
KIT_NOTEBOOK_ID = KIT_NOTEBOOK.removesuffix(".ipynb")
INTRO_ID = "kit_intro"
NBGRADER_SCHEMA = 3
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

_CELL = '''\
# Check `{check}` ({points}): graded by the course's grader from your cs231n/ package.
### BEGIN HIDDEN TESTS
from coursekit.classroom.kitcells import check_score
check_score("{assignment}", "{check}")
### END HIDDEN TESTS
'''

_INTRO = '''\
# How your code is graded

The course's grader checks the functions you wrote in `cs231n/`, with public and hidden
cases. Each cell below is one of its checks, worth the points shown; nbgrader runs them when
your work is graded, and your instructor can adjust each score. There is nothing to do here:
check your work with the check cells of the other notebooks.

| check | points |
|---|---|
'''


def has_kit_checks(assignment: Assignment) -> bool:
    """Does the kit grade this assignment's modules (it has a points table)?"""
    return bool(assignment.points)


def kit_notebook(assignment: Assignment):
    """``coursekit_modules.ipynb`` of ``assignment``: one autograded cell per check of the points table."""
    rows = "".join(f"| `{check}` | {_points(p)} |\n" for check, p in assignment.points.items())
    cells = [_cell(nbformat.v4.new_markdown_cell(_INTRO + rows), INTRO_ID)]
    for check, points in assignment.points.items():
        source = _CELL.format(check=check, points=_points(points), assignment=assignment.id)
        cells.append(_cell(nbformat.v4.new_code_cell(source), check, points=points))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC),
                                                         "language_info": {"name": "python"}})
    nb.nbformat_minor = 5
    return nb


def _cell(cell, grade_id: str, points: float | None = None):
    cell.id = grade_id.replace("_", "-")
    meta = {"grade": points is not None, "grade_id": grade_id, "locked": True,
            "schema_version": NBGRADER_SCHEMA, "solution": False, "task": False}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def apply_course_points(nb, assignment: Assignment, name: str) -> None:
    """Set the points of ``nb``'s manually graded cells from the table; refuse autograded points.

    ``name`` is the notebook's file name (for messages).  No-op for the kit's own notebook and
    for an assignment without a points table.
    """
    if name == KIT_NOTEBOOK or not has_kit_checks(assignment):
        return
    questions = assignment.question_points
    table = f"[assignments.{assignment.id}.points.questions]"
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        where = f"source/{assignment.id}/{name}, cell index {index} (grade_id '{meta.get('grade_id')}')"
        if not meta.get("solution"):
            if meta.get("points", 0) != 0:
                raise BuildError(f"{where}: is an autograded test cell with points, but this assignment's "
                                 f"points are the grader's checks ({KIT_NOTEBOOK}); counting both would "
                                 "grade the same functions twice. Give it 0 points.")
            continue
        if meta.get("grade_id") not in questions:
            raise BuildError(f"{where}: is a manually graded cell, but {table} in course.toml gives it "
                             f"no points. Add `{meta.get('grade_id')} = <points>` there.")
        meta["points"] = questions[meta["grade_id"]]


def check_questions_exist(assignment: Assignment, notebooks: dict) -> None:
    """Every key of ``[points.questions]`` names a manually graded cell of exactly one notebook."""
    found: dict[str, list[str]] = {}
    for name, nb in notebooks.items():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and meta.get("solution"):
                found.setdefault(meta.get("grade_id"), []).append(name)
    for key in assignment.question_points:
        where = f"course.toml: key 'assignments.{assignment.id}.points.questions.{key}'"
        if key not in found:
            raise BuildError(f"{where} names no manually graded cell of {', '.join(notebooks) or 'any notebook'}. "
                             "Fix the grade_id, or remove the key.")
        if len(found[key]) > 1:
            raise BuildError(f"{where} names a cell of {' and '.join(found[key])}: give the cells "
                             "different grade_ids.")


class CoursePoints(Preprocessor):
    """nbgrader pass: :func:`apply_course_points` from the course.toml at ``course_toml``.

    ``nbgrader generate_assignment`` reads ``source/`` itself: this pass gives its release and
    gradebook the same points as ``coursekit build``.  Without ``course_toml`` it does nothing.
    """

    course_toml = Unicode("", help="Path of course.toml ('' = do nothing).").tag(config=True)
    # nbconvert's preprocessors are off unless enabled (nbgrader's own are on): on, as nbgrader's.
    enabled = Bool(True, help="Whether nbgrader runs this pass.").tag(config=True)

    def preprocess(self, nb, resources):
        if not self.course_toml:
            return nb, resources
        course: Course = load_config(Path(self.course_toml))
        assignment_id = resources["nbgrader"]["assignment"]
        if assignment_id in course.assignments:
            name = f"{resources['nbgrader']['notebook']}.ipynb"
            check_released_notebook(course.assignment(assignment_id), name)
            apply_course_points(nb, course.assignment(assignment_id), name)
        return nb, resources


def check_released_notebook(assignment: Assignment, name: str) -> None:
    """nbgrader releases every notebook at the top of ``source/<id>/``: refuse one that course.toml
    does not list there (another flow's notebook would reach the students without a word)."""
    if name == KIT_NOTEBOOK or name in assignment.notebooks:
        return
    listed = ", ".join(assignment.notebooks)
    flow = f" (flow {assignment.flow!r})" if assignment.flow else ""
    raise BuildError(f"source/{assignment.id}/{name} is not a notebook of assignment '{assignment.id}'{flow}: "
                     f"{assignment.where('notebooks')} lists {listed}. nbgrader releases every notebook at the top "
                     f"of source/{assignment.id}/, so keep there only the ones listed: move the others into a "
                     "folder (as source/two_layer_net/modular/ holds the other flow's), and list the notebooks "
                     "of the flow you release at the top (README, \"Two flows\").")
