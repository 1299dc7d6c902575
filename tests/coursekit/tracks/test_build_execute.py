"""Executing the source notebooks against the solution (each test starts one kernel)."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from coursekit.tracks import build_tracks, execute_notebooks
from coursekit.errors import BuildError

NOTEBOOK = "source/basics/basics.ipynb"
CELL_TIMEOUT = 60  # seconds


def rewrite(root, change):
    """Apply ``change(nb)`` to the fixture copy's source notebook."""
    nb = nbformat.read(root / NOTEBOOK, as_version=4)
    change(nb)
    nbformat.write(nb, root / NOTEBOOK)


def outputs_text(nb) -> str:
    return "".join(out.get("text", "") for c in nb.cells for out in c.get("outputs", []))


def test_execute_stores_outputs_in_the_source(course_copy):
    """Are the notebooks run in the solution folder, with env, and stored executed?"""
    root, course = course_copy

    def clear_and_add_env_cell(nb):
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs, c.execution_count = [], None
        nb.cells.append(new_code_cell("import os\nprint('mark', os.environ['KIT_MARK'])"))

    rewrite(root, clear_and_add_env_cell)
    written = execute_notebooks(course, env={"KIT_MARK": "42"}, timeout=CELL_TIMEOUT)
    assert written == [root / NOTEBOOK]
    executed = nbformat.read(root / NOTEBOOK, as_version=4)
    assert "threshold = 0.5\n" in outputs_text(executed)
    assert "mark 42\n" in outputs_text(executed)
    assert not any("execution" in c.metadata for c in executed.cells)  # no timing noise
    build_tracks(course)
    assert "mark 42" in (root / "solutions/basics/basics.ipynb").read_text()


def test_failing_cell_is_named_and_nothing_written(course_copy, snapshot):
    """Is a cell that raises reported with its notebook and index, leaving the source as it was?"""
    root, course = course_copy

    def break_the_import_cell(nb):
        nb.cells[1].source += "\n1 / 0"

    rewrite(root, break_the_import_cell)
    before = snapshot(root)
    with pytest.raises(BuildError, match=rf"{NOTEBOOK}, cell index 1: raised "
                                         "ZeroDivisionError: division by zero"):
        execute_notebooks(course, timeout=CELL_TIMEOUT)
    assert snapshot(root) == before
