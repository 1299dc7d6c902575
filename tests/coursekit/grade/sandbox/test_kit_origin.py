"""Configuration and code come from the kit, never from the submission or the working directory."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.errors import GradingError
from coursekit.grade import grade_submission

from .conftest import copy_solution

ROOT = Path(__file__).resolve().parents[4]
FAKE = "print('FAKE KIT RAN')\n"


def test_a_course_root_inside_the_submission_is_refused(quick_course, tmp_path):
    """Is a course.toml found inside (or equal to) the submission refused before any code runs?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    for root in (submission, submission / "nested"):
        course = dataclasses.replace(quick_course, root=root, path=root / "course.toml")
        with pytest.raises(GradingError, match="inside the submission"):
            grade_submission(course, "fc_net", submission, fast=True)


@pytest.fixture
def hostile_cwd(tmp_path):
    """A working folder with a fake `coursekit` package and a fake `numpy`."""
    for name in ("coursekit", "numpy"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(FAKE + "raise SystemExit(42)\n")
    (tmp_path / "coursekit" / "__main__.py").write_text(FAKE)
    return tmp_path


def run_in(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSEKIT_ROOT")}
    return subprocess.run([*argv, "--config", str(ROOT / "course.toml"), "build", "--help"], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=env)


def test_the_coursekit_command_ignores_packages_in_the_working_folder(hostile_cwd):
    """Does the installed `coursekit` command run the kit, not a coursekit/ or numpy/ in the working folder?"""
    done = run_in(hostile_cwd, str(Path(sys.executable).parent / "coursekit"))
    assert done.returncode == 0 and "FAKE" not in done.stdout + done.stderr


@pytest.mark.parametrize("flag", ["-P", "-I"])
def test_python_m_with_a_safe_path_runs_the_kit(hostile_cwd, flag):
    """Does `python -P -m coursekit` (or -I) run the kit, not a coursekit/ package in the working folder?"""
    done = run_in(hostile_cwd, sys.executable, flag, "-m", "coursekit")
    assert done.returncode == 0 and "FAKE" not in done.stdout + done.stderr


def test_python_m_never_imports_numpy_from_the_working_folder(tmp_path):
    """With `python -m coursekit`, is a numpy/ in the working folder ignored (the cwd leaves sys.path)?"""
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text(FAKE + "raise SystemExit(42)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "coursekit", "--config", str(ROOT / "course.toml"), "grade",
                           "fc_net", str(tmp_path / "nowhere"), "--fast"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=env)
    assert "FAKE" not in done.stdout + done.stderr
    assert "does not exist" in done.stderr  # it got as far as grading, with the real numpy
