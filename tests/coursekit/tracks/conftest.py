"""Fixtures for the build tests: the fixture course, fresh copies of it, and tree snapshots."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coursekit.config import load_config

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIXTURE_COURSE = FIXTURES / "build_course"
EXPECTED = FIXTURES / "build_course_expected"


@pytest.fixture(scope="session")
def fixture_course():
    """The fixture course, read in place (never write into it)."""
    return load_config(FIXTURE_COURSE / "course.toml")


@pytest.fixture
def course_copy(tmp_path):
    """A fresh copy of the fixture course; returns (root, Course)."""
    root = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root, load_config(root / "course.toml")


@pytest.fixture
def snapshot():
    """A function giving every file and folder under a root, with the files' bytes."""

    def take(root: Path) -> dict[str, bytes | None]:
        return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
                for p in sorted(root.rglob("*"))}

    return take
