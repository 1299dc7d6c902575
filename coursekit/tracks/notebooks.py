"""The assignment's notebooks: nbgrader's own passes make the release, the source is the solution.

The release notebook goes through the passes of nbgrader's ``GenerateAssignment``, in its
order, with two changes: :class:`ClearKitSolutions` replaces ``ClearSolutions`` (it strips
the kit's START/END markers instead of ``### BEGIN SOLUTION``), and ``SaveCells`` is left
out (it writes to the gradebook, which ``nbgrader generate_assignment`` fills in).  The
passes run in-process through nbconvert's ``NotebookExporter``, as in nbgrader, so the
release carries exactly the nbgrader metadata that ``nbgrader generate_assignment`` writes.

The solution notebook is the source notebook, outputs included, rewritten by nbformat.
"""
from __future__ import annotations

import ast
from pathlib import PurePosixPath

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import Preprocessor
from nbgrader import utils
from nbgrader.nbgraderformat import ValidationError
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                    ClearOutput, ClearSolutions, ComputeChecksums,
                                    IncludeHeaderFooter, InstantiateTests, LockCells, SaveCells)
from traitlets import Bool, Enum
from traitlets.config import Config

from ..config import STUB_STYLES, Assignment, Course
from ..errors import BuildError
from .cellids import read_with_stable_ids
from .kitnotebook import (KIT_NOTEBOOK, CoursePoints, apply_course_points, check_questions_exist,
                          has_kit_checks, kit_notebook)
from .regions import check_parses, has_markers, parse_regions, parse_source, split_lines
from .trees import Tree

SOURCE_KEY = "coursekit_source"  # resources key: the notebook's path in source/<assignment>/ (for messages)
LEAK_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION")


class ClearKitSolutions(ClearSolutions):
    """nbgrader's ClearSolutions for the kit's markers: code cells keep their TODO and markers.

    Code cells: each START/END region of a solution cell becomes a stub, as in the
    modules; a code solution cell without markers is an error.  Markdown cells keep
    nbgrader's behaviour: a manually graded answer becomes "YOUR ANSWER HERE".
    """

    stub = Enum(STUB_STYLES, default_value="raise",
                help="What replaces a solution: 'raise' (NotImplementedError) or 'pass'.",
                ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, cell_index)
        lines = split_lines(cell.source)
        if not (utils.is_solution(cell) or has_markers(lines)):
            return cell, resources
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"index {cell_index}")
        notebook = f"{resources['nbgrader']['notebook']}.ipynb"
        source = resources.get(SOURCE_KEY, notebook)  # its path in source/<assignment>/, set by the build
        where = (f"source/{resources['nbgrader']['assignment']}/{source}, "
                 f"cell index {cell_index} (grade_id '{grade_id}')")
        _check_solution_cell(cell, lines, where, self.begin_solution_delimeter)
        parsed = parse_regions(lines, f"{notebook}, cell '{grade_id}'", where=where, ipython=True)
        student = parsed.student_lines(self.stub)
        check_parses(student, where, ipython=True)
        cell.source = "".join(student)
        return cell, resources


def _check_solution_cell(cell, lines: list[str], where: str, nbgrader_delimiter: str) -> None:
    if nbgrader_delimiter in cell.source:
        raise BuildError(f"{where}: uses nbgrader's '{nbgrader_delimiter}' delimiters. Code cells "
                         "of this course use the START/END OF YOUR CODE markers instead.")
    if not utils.is_solution(cell):
        raise BuildError(f"{where}: has START/END markers but is not an nbgrader solution cell. "
                         "Make it an 'Autograded answer' cell, or remove the markers.")
    if not has_markers(lines):
        raise BuildError(f"{where}: is a code solution cell without START/END markers, so the "
                         "whole cell would reach the students. Wrap the solution in the markers.")


GUARD_MARK = "# Run the cells above first"


class GuardTestCells(Preprocessor):
    """Release pass: a test cell first says which values of the cells above are not set yet.

    A test cell checks the values its check cells set (``dx`` of ``affine_backward_check``).
    When one of those stopped early, at a function not written yet, the test cell would fail
    with ``NameError: name 'dx' is not defined``; with the guard it fails saying which
    values are missing and the error the cells above stopped at (a ``NotImplementedError``
    naming the function to write next).  Names: those the test cell reads that the code cells
    since the previous test cell bind first (:func:`guard_names`).
    """

    enabled = Bool(True, help="nbconvert runs a pass only when it is enabled").tag(config=True)

    def preprocess(self, nb, resources):
        bound_before: set[str] = set()
        since_test: list = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if utils.is_grade(cell) and not utils.is_solution(cell):
                names = guard_names(cell.source, [c.source for c in since_test], bound_before)
                if names:
                    cell.source = guard_source(names) + cell.source
                bound_before |= set().union(*(_names(c.source)[0] for c in since_test))
                since_test = []
            else:
                since_test.append(cell)
        return nb, resources


def guard_names(test: str, checks: list[str], bound_before: set[str]) -> list[str]:
    """The names ``test`` reads (in order) that the cells ``checks`` bind and no cell before them did."""
    bound = set().union(*(_names(source)[0] for source in checks)) - bound_before
    _, read = _names(test)
    return [name for name in read if name in bound]


def guard_source(names: list[str]) -> str:
    """The lines a guarded test cell starts with."""
    listed = ", ".join(f'"{name}"' for name in names) + ("," if len(names) == 1 else "")
    return (f"{GUARD_MARK}: this one checks the values they set.\n"
            f"_unset = [_name for _name in ({listed}) if _name not in globals()]\n"
            "_last = getattr(__import__(\"sys\"), \"last_value\", None)  # the last error a cell stopped at\n"
            "assert not _unset, (f\"{', '.join(_unset)}: not set, because the cells above did not run to the end\"\n"
            "                    + (f\"; they stopped at {_last!r}: write what it names first\" if _last else\n"
            "                       \": run them first\"))\n")


def _names(source: str) -> tuple[set[str], list[str]]:
    """(values a cell assigns at its top level, names it reads from outside, in order); magics allowed."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = parse_source(TransformerManager().transform_cell(source))
    except SyntaxError:
        return set(), []
    top = _TopLevel()
    top.visit(tree)
    local = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)}
    local |= {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
    loads = [node for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)]
    read = dict.fromkeys(node.id for node in sorted(loads, key=lambda n: (n.lineno, n.col_offset)))
    return top.bound, [name for name in read if name not in local | top.bound]


class _TopLevel(ast.NodeVisitor):
    """The values a cell assigns in the notebook's namespace: not in functions or comprehensions,
    and not the functions, classes and modules it defines or imports (given code, not results)."""

    def __init__(self):
        self.bound: set[str] = set()

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.bound.add(node.id)

    def _local(self, node):  # a body's, a lambda's or a comprehension's names are its own
        pass

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _local

    visit_Lambda = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _local


# nbgrader's GenerateAssignment.preprocessors, with the kit's CoursePoints (the points of
# course.toml) first, ClearKitSolutions in place of ClearSolutions and GuardTestCells after it.
GENERATE_ASSIGNMENT_PASSES = [
    CoursePoints,
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    ClearKitSolutions,
    GuardTestCells,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    SaveCells,
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,
    CheckCellMetadata,
]
# What `coursekit build` runs: the same, without the gradebook.
RELEASE_PASSES = [p for p in GENERATE_ASSIGNMENT_PASSES if p is not SaveCells]


def release_exporter(stub: str) -> NotebookExporter:
    """An nbconvert exporter that runs RELEASE_PASSES, configured as nbgrader would be."""
    config = Config({"Exporter": {"default_preprocessors": []},
                     "ClearKitSolutions": {"stub": stub}})
    exporter = NotebookExporter(config=config)
    for preprocessor in RELEASE_PASSES:
        exporter.register_preprocessor(preprocessor)
    return exporter


def notebook_tracks(course: Course, assignment: Assignment,
                    exporter: NotebookExporter | None = None) -> tuple[Tree, Tree]:
    """(release, solution) contents of the assignment's notebooks, by name.

    The points come from course.toml (:mod:`~coursekit.tracks.kitnotebook`); an assignment
    the kit grades also gets the generated ``coursekit_modules.ipynb``.
    """
    exporter = exporter or release_exporter(course.stub)
    notebooks, sources = {}, {}
    for relpath in assignment.notebooks:
        name = PurePosixPath(relpath).name  # a flow's notebooks may sit in a folder of source/<id>/
        if name == KIT_NOTEBOOK:
            raise BuildError(f"{course.path}: {assignment.where('notebooks')} lists {KIT_NOTEBOOK}, "
                             "which `coursekit build` generates from the points table. Remove it from the list.")
        if name in notebooks:
            raise BuildError(f"{course.path}: {assignment.where('notebooks')} lists two notebooks called "
                             f"{name} ({sources[name]} and {relpath}); each track holds one. Remove one.")
        notebooks[name], sources[name] = read_source_notebook(course, assignment, relpath), relpath
        apply_course_points(notebooks[name], assignment, relpath)
    if has_kit_checks(assignment):
        check_questions_exist(assignment, notebooks)
        notebooks[KIT_NOTEBOOK] = kit_notebook(assignment)
    release: Tree = {}
    solution: Tree = {}
    for name, nb in notebooks.items():
        solution[name] = notebook_bytes(nb)
        release[name] = release_notebook(nb, assignment.id, name, exporter, sources.get(name, name))
    return release, solution


def read_source_notebook(course: Course, assignment: Assignment, name: str):
    """``source/<assignment>/<name>`` as an nbformat v4 notebook."""
    path = course.source_dir / assignment.id / name
    where = f"source/{assignment.id}/{name}"
    if not path.is_file():
        raise BuildError(f"{course.path}: {assignment.where('notebooks')} lists '{name}', "
                         f"but {where} does not exist. Create it, or remove it from the list.")
    try:
        return read_with_stable_ids(path.read_text(encoding="utf-8"))
    except Exception as err:  # nbformat raises several unrelated types for a bad file
        raise BuildError(f"{where} is not a readable notebook ({err}). Open and save it "
                         "in Jupyter, or restore it from git.") from None


def release_notebook(nb, assignment_id: str, name: str, exporter: NotebookExporter,
                     source: str | None = None) -> bytes:
    """The student version of ``nb``, as nbgrader's generate_assignment would write it; ``source``
    is its path in ``source/<assignment>/`` when that is not ``name``."""
    where = f"source/{assignment_id}/{source or name}"
    notebook_id = name.removesuffix(".ipynb")
    resources = {"unique_key": notebook_id, "output_files_dir": f"{notebook_id}_files", SOURCE_KEY: source or name,
                 "nbgrader": {"student": ".", "assignment": assignment_id,
                              "notebook": notebook_id, "db_url": ""}}
    try:
        output, _ = exporter.from_notebook_node(nb, resources=resources)
    except (RuntimeError, ValidationError, ValueError) as err:
        reason = str(err).rstrip(".")
        raise BuildError(f"{where}: nbgrader could not make the student version: {reason}. "
                         "Check the cells' nbgrader metadata ('Create Assignment' toolbar)."
                         ) from None
    for marker in LEAK_MARKERS:
        if marker in output:
            raise BuildError(f"{where}: '{marker}' would reach the students. Put hidden "
                             "tests in test cells, between ### BEGIN HIDDEN TESTS and "
                             "### END HIDDEN TESTS.")
    return output.encode("utf-8")


def notebook_bytes(nb) -> bytes:
    """``nb`` as nbformat writes it (stable formatting, one trailing newline)."""
    text = nbformat.writes(nb)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")
