"""Stable cell ids (coursekit/tracks/cellids.py): builds of id-less notebooks are byte-identical."""
from __future__ import annotations

import json

import nbformat

from coursekit.config import load_config
from coursekit.tracks import build_tracks, check_tracks
from coursekit.tracks.cellids import fill_missing_ids, read_with_stable_ids
from coursekit.tracks.trees import read_tree


def _strip_ids(path) -> None:
    raw = json.loads(path.read_text())
    for cell in raw["cells"]:
        cell.pop("id", None)
    path.write_text(json.dumps(raw, indent=1))


def test_two_builds_of_id_less_cells_are_identical(course_copy):
    """Does building twice from a notebook whose cells have no id give identical bytes, and --check pass?"""
    root, _ = course_copy
    _strip_ids(root / "source/basics/basics.ipynb")
    course = load_config(root / "course.toml")
    build_tracks(course)
    first = read_tree(root, ["release", "solutions"])
    build_tracks(course)
    assert read_tree(root, ["release", "solutions"]) == first
    assert check_tracks(course) == []
    ids = [cell["id"] for cell in json.loads(first["release/basics/basics.ipynb"])["cells"]]
    assert len(set(ids)) == len(ids)


def test_ids_come_from_grade_ids_then_positions():
    """Does an id-less cell take its grade_id, a cell without one its position, and a clash a suffix?"""
    cells = [{"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "test relu!"}}},
             {"cell_type": "markdown", "metadata": {}},
             {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "test relu!"}}},
             {"cell_type": "code", "id": "kept", "metadata": {}}]
    fill_missing_ids(cells)
    assert [c["id"] for c in cells] == ["test-relu-", "cell-1", "test-relu--2", "kept"]


def test_existing_ids_are_kept():
    """Does a notebook whose cells have ids read back with exactly those ids?"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"), nbformat.v4.new_markdown_cell("x")])
    ids = [cell.id for cell in nb.cells]
    assert [cell.id for cell in read_with_stable_ids(nbformat.writes(nb)).cells] == ids
