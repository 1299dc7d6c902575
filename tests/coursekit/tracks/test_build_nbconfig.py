"""The generated nbgrader_config.py gives nbgrader the course's cell timeout and point table."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from nbgrader.preprocessors import Execute
from traitlets.config.loader import PyFileConfigLoader

from coursekit.config import load_config
from coursekit.tracks.nbconfig import FILE_NAME, render_nbgrader_config

ROOT = Path(__file__).resolve().parents[3]
NBGRADER_DEFAULT_TIMEOUT = 30  # seconds: what nbgrader uses when nobody sets it


def test_cell_timeout_comes_from_course_toml(tmp_path):
    """Does nbgrader's Execute, configured by the generated file, get [grading] notebook_cell_seconds?"""
    shutil.copy(ROOT / "course.toml", tmp_path / "course.toml")
    toml = tmp_path / "course.toml"
    toml.write_text(re.sub(r"notebook_cell_seconds = \d+", "notebook_cell_seconds = 77", toml.read_text()))
    (tmp_path / FILE_NAME).write_text(render_nbgrader_config(load_config(toml)))
    config = PyFileConfigLoader(FILE_NAME, path=str(tmp_path)).load_config()
    assert Execute().timeout == NBGRADER_DEFAULT_TIMEOUT
    assert Execute(config=config).timeout == 77
    assert config.CoursePoints.course_toml == str(tmp_path / "course.toml")


def test_committed_config_sets_the_measured_timeout():
    """Does the committed nbgrader_config.py carry course.toml's timeout, above nbgrader's 30 s?"""
    course = load_config(ROOT / "course.toml")
    config = PyFileConfigLoader(FILE_NAME, path=str(ROOT)).load_config()
    assert Execute(config=config).timeout == course.limits.notebook_cell_seconds > NBGRADER_DEFAULT_TIMEOUT
