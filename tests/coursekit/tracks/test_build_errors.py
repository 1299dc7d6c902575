"""Mistakes in the annotated source: located messages, and nothing written.

Each test builds a copy of the fixture course once (so that release/ and solutions/
exist), breaks one thing, builds again, and checks that the BuildError names the file and
the line (or the notebook and the cell) and that the course folder did not change at all.
"""
from __future__ import annotations

import json

import pytest

from coursekit.tracks import END_MARKER, START_MARKER, build_tracks
from coursekit.errors import BuildError

LAYERS = "source/pkg/layers.py"
NOTEBOOK = "source/basics/basics.ipynb"


def marker_lines(lines: list[str], marker: str) -> list[int]:
    """0-based indices of the lines holding ``marker``."""
    return [i for i, line in enumerate(lines) if line.strip() == marker]


def delete_first_start(lines):
    del lines[marker_lines(lines, START_MARKER)[0]]
    return marker_lines(lines, END_MARKER)[0]


def delete_last_end(lines):
    del lines[marker_lines(lines, END_MARKER)[-1]]
    return marker_lines(lines, START_MARKER)[-1]


def nest_a_start(lines):
    at = marker_lines(lines, START_MARKER)[0] + 2
    lines.insert(at, f"    {START_MARKER}\n")
    return at


def dedent_first_end(lines):
    at = marker_lines(lines, END_MARKER)[0]
    lines[at] = lines[at].lstrip()
    return at


def misspell_first_start(lines):
    at = marker_lines(lines, START_MARKER)[0]
    lines[at] = lines[at].replace("DELETE/MODIFY", "DELETE")
    return at


def dedent_a_solution_line(lines):
    at = marker_lines(lines, START_MARKER)[1] + 1  # in leaky_relu's if block
    lines[at] = lines[at][4:]
    return at


def break_the_syntax(lines):
    at = marker_lines(lines, START_MARKER)[0] + 1
    lines[at] = lines[at].replace(")", "")
    return at


@pytest.fixture
def built_copy(course_copy, snapshot):
    """A copy of the fixture course, built; returns (root, course, take_snapshot)."""
    root, course = course_copy
    build_tracks(course)
    return root, course, snapshot


def assert_nothing_written(root, take, before):
    assert take(root) == before, "the failed build changed the course folder"


@pytest.mark.parametrize("edit, words", [
    (delete_first_start, "END marker without a START marker"),
    (delete_last_end, "START marker without an END marker"),
    (nest_a_start, "Regions cannot nest"),
    (dedent_first_end, "indented differently from the START marker"),
    (misspell_first_start, "looks like a marker but is not exactly one"),
    (dedent_a_solution_line, "indented less than its markers"),
    (break_the_syntax, "the source is not valid Python"),
], ids=lambda value: getattr(value, "__name__", "")[:30])
def test_module_mistake_names_file_and_line(built_copy, edit, words):
    """Is each marker mistake in a module reported with its file and line, with nothing written?"""
    root, course, take = built_copy
    path = root / LAYERS
    lines = path.read_text().splitlines(keepends=True)
    line = edit(lines) + 1
    path.write_text("".join(lines))
    before = take(root)
    with pytest.raises(BuildError) as err:
        build_tracks(course)
    assert f"{LAYERS}, line {line}: " in str(err.value)
    assert words in str(err.value)
    assert_nothing_written(root, take, before)


def edit_cell(root, index, source=None, nbgrader=None):
    path = root / NOTEBOOK
    nb = json.loads(path.read_text())
    cell = nb["cells"][index]
    if source is not None:
        cell["source"] = source
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = nbgrader
    path.write_text(json.dumps(nb, indent=1))


def test_solution_cell_without_markers(built_copy):
    """Is a code solution cell without markers an error naming the notebook and the cell?"""
    root, course, take = built_copy
    edit_cell(root, 2, source="def square(x):\n    return x * x\n")
    before = take(root)
    with pytest.raises(BuildError, match=rf"{NOTEBOOK}, cell index 2 \(grade_id 'square'\): "
                                         "is a code solution cell without START/END markers"):
        build_tracks(course)
    assert_nothing_written(root, take, before)


def test_markers_in_a_cell_that_is_not_a_solution(built_copy):
    """Are markers in a plain code cell an error naming the cell?"""
    root, course, take = built_copy
    edit_cell(root, 1, source=f"{START_MARKER}\nimport numpy as np\n{END_MARKER}\n")
    before = take(root)
    with pytest.raises(BuildError, match=rf"{NOTEBOOK}, cell index 1 .*not an nbgrader solution"):
        build_tracks(course)
    assert_nothing_written(root, take, before)


def test_marker_mistake_in_a_cell_names_cell_and_line(built_copy):
    """Is a marker mistake inside a solution cell reported with the cell and its line?"""
    root, course, take = built_copy
    edit_cell(root, 4, source=f"# TODO: Set threshold.\n{START_MARKER}\nthreshold = 0.5\n")
    before = take(root)
    with pytest.raises(BuildError, match=rf"{NOTEBOOK}, cell index 4 \(grade_id 'threshold'\), "
                                         "line 2: a START marker without an END"):
        build_tracks(course)
    assert_nothing_written(root, take, before)


def test_hidden_tests_outside_a_test_cell(built_copy):
    """Are hidden tests in a cell that nbgrader does not grade refused, rather than released?"""
    root, course, take = built_copy
    edit_cell(root, 1, source="### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS\n")
    before = take(root)
    with pytest.raises(BuildError, match=NOTEBOOK):
        build_tracks(course)
    assert_nothing_written(root, take, before)


def test_nbgrader_delimiters_in_a_code_cell(built_copy):
    """Is a code cell using nbgrader's ### BEGIN SOLUTION told to use the kit's markers?"""
    root, course, take = built_copy
    edit_cell(root, 2, source="def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n"
                              "    ### END SOLUTION\n")
    before = take(root)
    with pytest.raises(BuildError, match=r"cell index 2 .*START/END OF YOUR CODE markers"):
        build_tracks(course)
    assert_nothing_written(root, take, before)


@pytest.mark.parametrize("missing, words", [
    ("source/pkg/model.py", "assignments.basics.modules lists 'pkg/model.py', but "
                            "source/pkg/model.py does not exist"),
    (NOTEBOOK, "assignments.basics.notebooks lists 'basics.ipynb', but "
               "source/basics/basics.ipynb does not exist"),
])
def test_listed_file_that_does_not_exist(built_copy, missing, words):
    """Is a module or notebook listed in course.toml but absent reported with course.toml?"""
    root, course, take = built_copy
    (root / missing).unlink()
    before = take(root)
    with pytest.raises(BuildError) as err:
        build_tracks(course)
    assert str(err.value).startswith(f"{root / 'course.toml'}: ")
    assert words in str(err.value)
    assert_nothing_written(root, take, before)
