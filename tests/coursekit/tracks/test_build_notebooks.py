"""The notebooks of the fixture course, through nbgrader's own passes."""
from __future__ import annotations

import dataclasses

import nbformat
import pytest
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearSolutions

from coursekit.tracks.kitnotebook import CoursePoints
from coursekit.tracks.notebooks import (GENERATE_ASSIGNMENT_PASSES, GUARD_MARK, ClearKitSolutions,
                                       GuardTestCells, guard_names, notebook_tracks)

from .conftest import FIXTURE_COURSE


@pytest.fixture(scope="module")
def basics(fixture_course):
    """(release, solution, source) notebooks of the fixture's basics assignment."""
    release, solution = notebook_tracks(fixture_course, fixture_course.assignment("basics"))
    source = nbformat.read(FIXTURE_COURSE / "source/basics/basics.ipynb", as_version=4)
    return (nbformat.reads(release["basics.ipynb"].decode(), as_version=4),
            solution["basics.ipynb"], source)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_passes_are_nbgraders_own_with_the_kit_clear_solutions():
    """Are the passes nbgrader's GenerateAssignment list, in order, with ClearKitSolutions (and CoursePoints
    first, GuardTestCells after ClearKitSolutions), every one of them enabled?"""
    nbgraders = GenerateAssignment.class_traits()["preprocessors"].default()
    assert GENERATE_ASSIGNMENT_PASSES[0] is CoursePoints
    clear = GENERATE_ASSIGNMENT_PASSES.index(ClearKitSolutions)
    assert GENERATE_ASSIGNMENT_PASSES[clear + 1] is GuardTestCells
    ours = [ClearSolutions if p is ClearKitSolutions else p for p in GENERATE_ASSIGNMENT_PASSES[1:]
            if p is not GuardTestCells]
    assert ours == nbgraders
    assert all(p().enabled for p in GENERATE_ASSIGNMENT_PASSES)  # nbconvert skips a disabled pass


def test_hidden_tests_never_reach_the_release(basics):
    """Are hidden tests removed from the release, and the visible assertions kept?"""
    release, _, _ = basics
    test_cell = cell(release, "test_relu")
    assert "HIDDEN" not in test_cell.source and "threshold" not in test_cell.source
    assert test_cell.source == "assert relu(np.array([-1.0]))[0] == 0.0"


def test_release_outputs_are_cleared(basics):
    """Does the release carry no outputs or execution counts, though the source is executed?"""
    release, _, source = basics
    assert any(c.get("outputs") for c in source.cells)
    code = [c for c in release.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_solution_code_cell_gets_a_stub(basics):
    """Does a code solution cell keep its TODO and markers, with the solution replaced?"""
    release, _, _ = basics
    source = cell(release, "square").source
    assert "# TODO: Return the square of x." in source and "return x * x" not in source
    assert ("raise NotImplementedError(\"square in basics.ipynb, cell 'square': "
            "write your code between the START/END markers\")") in source


def test_manually_graded_answer_is_cleared(basics):
    """Does a manually graded markdown answer become nbgrader's "YOUR ANSWER HERE"?"""
    release, _, _ = basics
    assert cell(release, "explain").source == "YOUR ANSWER HERE"


def test_locks_and_checksums_are_nbgraders(basics):
    """Are read-only and test cells locked, and graded cells given nbgrader checksums?"""
    release, _, _ = basics
    for grade_id in ("intro", "question", "test_square", "test_relu"):
        assert cell(release, grade_id).metadata["editable"] is False
    assert "editable" not in cell(release, "square").metadata
    graded = [c for c in release.cells if "nbgrader" in c.metadata]
    assert all("checksum" in c.metadata["nbgrader"] for c in graded)


def test_solution_notebook_is_the_source(basics):
    """Is the solution notebook the source, outputs, markers and hidden tests included?"""
    _, solution, source = basics
    assert nbformat.reads(solution.decode(), as_version=4) == source
    assert b"### BEGIN HIDDEN TESTS" in solution and b"threshold = 0.5\\n" in solution
    assert solution.endswith(b"}\n")


def test_pass_style_in_notebooks(fixture_course):
    """With stub = "pass", does a notebook region hold a bare pass?"""
    course = dataclasses.replace(fixture_course, stub="pass")
    release, _ = notebook_tracks(course, course.assignment("basics"))
    nb = nbformat.reads(release["basics.ipynb"].decode(), as_version=4)
    assert "\n    pass\n" in cell(nb, "square").source


def test_a_test_cell_names_the_values_the_cells_above_did_not_set():
    """Does a release test cell fail saying which values are unset and where the cells above stopped,
    instead of `NameError: name 'dx' is not defined`?"""
    check = "out = forward(x)\ndx = backward(out)  # raises NotImplementedError in the skeleton\n"
    test = "assert rel_error(dx, dx_num) < 1e-8 and out is not None\n"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1\ndx_num = 0\ndef rel_error(a, b):\n    return 0\n"),
        nbformat.v4.new_code_cell(check),
        nbformat.v4.new_code_cell(test, metadata={"nbgrader": {"grade": True, "solution": False,
                                                               "grade_id": "test", "points": 0}})])
    guarded, _ = GuardTestCells().preprocess(nb, {})
    source = guarded.cells[2].source
    assert source.startswith(GUARD_MARK) and source.endswith(test)
    assert guard_names(test, [check], {"x", "dx_num"}) == ["dx", "out"]
    namespace = {"x": 1, "dx_num": 0, "out": 2, "rel_error": lambda a, b: 0}
    try:
        raise NotImplementedError("backward in cs231n/layers.py: write your code between the START/END markers")
    except NotImplementedError as err:
        import sys
        sys.last_value = err  # what IPython records when a cell stops
    with pytest.raises(AssertionError, match=r"^dx: not set, .*stopped at NotImplementedError\('backward in "
                                             r"cs231n/layers.py"):
        exec(source, namespace)
    namespace["dx"] = 0
    exec(source, namespace)  # set: the cell's own checks run


def test_given_helpers_and_local_names_are_never_guarded():
    """Are functions, imports, and names local to a function or a comprehension left out of a guard?"""
    checks = ["import numpy as np\ndef explicit(reg):\n    model = reg\n    return model\n"
              "pairs = {k: v for k, v in [(1, 2)]}\nf = lambda q: q\n"]
    test = "assert np.all(explicit(0)) and pairs and model and k and f(1)\n"
    assert guard_names(test, checks, set()) == ["pairs", "f"]
