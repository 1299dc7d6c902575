"""Building the fixture course: golden trees, check mode, selection.

The fixture course is ``tests/fixtures/build_course``; its expected output is
``tests/fixtures/build_course_expected/{release,solutions,nbgrader_config.py}``, compared
exactly, file by file.  To regenerate the goldens on purpose (after changing the fixture
or the build), run::

    UPDATE_GOLDENS=1 pytest tests/coursekit/tracks/test_build_tracks.py

and review the change with ``git diff tests/fixtures/build_course_expected``.

How long a build takes is a benchmark figure, not a test: ``python -m bench --only kit``
times ``coursekit build`` of the real course (target <= 10 s).
"""
from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from coursekit.tracks import build_tracks, check_tracks
from coursekit.tracks.trees import diff_trees, read_tree
from coursekit.errors import ConfigError

from .conftest import EXPECTED

GOLDEN_PARTS = ("release", "solutions", "nbgrader_config.py")


def test_build_matches_the_golden_trees(fixture_course, tmp_path):
    """Does a build of the fixture give exactly the expected release, solutions and config?"""
    build_tracks(fixture_course, out_root=tmp_path)
    built = read_tree(tmp_path, GOLDEN_PARTS)
    if os.environ.get("UPDATE_GOLDENS") == "1":
        shutil.rmtree(EXPECTED, ignore_errors=True)
        for part in GOLDEN_PARTS:
            copy = shutil.copytree if (tmp_path / part).is_dir() else shutil.copy2
            EXPECTED.mkdir(parents=True, exist_ok=True)
            copy(tmp_path / part, EXPECTED / part)
    expected = read_tree(EXPECTED, GOLDEN_PARTS)
    assert sorted(built) == sorted(expected)
    for path in expected:
        assert built[path] == expected[path], "\n".join(diff_trees(expected, built))


def test_building_twice_gives_identical_bytes(fixture_course, tmp_path):
    """Is the output byte-identical from one build to the next?"""
    build_tracks(fixture_course, out_root=tmp_path / "one")
    build_tracks(fixture_course, out_root=tmp_path / "two")
    assert read_tree(tmp_path / "one", GOLDEN_PARTS) == read_tree(tmp_path / "two", GOLDEN_PARTS)


def test_report_lists_what_was_written(fixture_course, tmp_path):
    """Does the build report name the assignments and every file written?"""
    report = build_tracks(fixture_course, out_root=tmp_path)
    assert report.assignments == ("basics", "tuning")
    assert "release/basics/pkg/layers.py" in report.files
    assert all((tmp_path / f).is_file() for f in report.files)
    assert not list(tmp_path.glob(".coursekit-build-*"))


def test_only_named_assignments_are_built(fixture_course, tmp_path):
    """Does naming one assignment build only that one?"""
    build_tracks(fixture_course, ["tuning"], out_root=tmp_path)
    assert sorted(p.name for p in (tmp_path / "release").iterdir()) == ["tuning"]


def test_unknown_assignment_is_a_config_error(course_copy, snapshot):
    """Is an unknown assignment id the ConfigError of course.assignment, with nothing written?"""
    root, course = course_copy
    before = snapshot(root)
    with pytest.raises(ConfigError, match="Unknown assignment 'basic'.*Did you mean 'basics'"):
        build_tracks(course, ["basic"])
    assert snapshot(root) == before


def test_rebuild_replaces_stale_files(course_copy):
    """Does a rebuild remove files that are no longer generated from the assignment folders?"""
    root, course = course_copy
    build_tracks(course)
    (root / "release/basics/stale.py").write_text("old\n")
    build_tracks(course)
    assert not (root / "release/basics/stale.py").exists()


def test_pass_style_skeleton(fixture_course, tmp_path):
    """With stub = "pass", does every region of the skeleton hold a bare pass?"""
    build_tracks(dataclasses.replace(fixture_course, stub="pass"), out_root=tmp_path)
    layers = (tmp_path / "release/basics/pkg/layers.py").read_text()
    assert "NotImplementedError" not in layers
    assert layers.count("pass\n") == 4


def test_check_is_empty_after_a_build(course_copy):
    """Does check_tracks find nothing to report right after a build?"""
    root, course = course_copy
    build_tracks(course)
    assert check_tracks(course) == []


def test_check_names_the_files_then_shows_a_diff(course_copy):
    """After an edit of the source, does the check name the stale files first, then diff them?"""
    root, course = course_copy
    build_tracks(course)
    util = root / "source/pkg/util.py"
    util.write_text(util.read_text().replace("limited to", "clipped to"))
    (root / "nbgrader_config.py").unlink()
    lines = check_tracks(course)
    assert "run `coursekit build`" in lines[0]
    names = lines[1:6]
    assert names == ["  changed: release/basics/pkg/util.py",
                     "  changed: release/tuning/pkg/util.py",
                     "  changed: solutions/basics/pkg/util.py",
                     "  changed: solutions/tuning/pkg/util.py",
                     "  missing: nbgrader_config.py"]
    assert '+    """x clipped to [low, high]."""' in lines


def test_check_output_is_cut_to_a_readable_size(course_copy):
    """Is a large difference cut short, with a note of how much was left out?"""
    root, course = course_copy
    build_tracks(course)
    (root / "source/pkg/util.py").write_text("".join(f"x{i} = {i}\n" for i in range(500)))
    lines = check_tracks(course)
    assert len(lines) < 120
    assert lines[-1].startswith("... ") and lines[-1].endswith("more diff lines")


def test_check_on_unbuilt_course_lists_missing_files(fixture_course):
    """Does the check of a never-built course report the generated files as missing?"""
    lines = check_tracks(fixture_course, ["tuning"])
    assert "  missing: release/tuning/pkg/tuning.py" in lines
