"""Class mode against hostile folder names: student ids are checked, symlinks refused, results kept apart."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from coursekit.classroom.batch import GRADES_CSV, RESULTS, grade_batch
from coursekit.classroom.results import STUDENTS, id_problem
from coursekit.config import load_config

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"


@pytest.mark.parametrize("student_id", ["grades.csv", "..", "a/b", "esc\x1b[31m", "new\nline", "", ".hidden",
                                        "x" * 65, "pass_rate.png"])
def test_unsafe_student_ids_are_refused(student_id):
    """Is an id that is a reserved file name, a path, too long or has control characters refused?"""
    assert id_problem(student_id)


@pytest.mark.parametrize("student_id", ["s00-correct", "alice", "jo.smith", "u123@uni", "A_B+c"])
def test_ordinary_student_ids_are_accepted(student_id):
    """Are ordinary ids (letters, digits, dots, @, +, -, _) accepted?"""
    assert id_problem(student_id) == ""


def test_a_hostile_class_is_graded_without_crashing(tmp_path):
    """With ids like grades.csv and a symlinked folder, are those refused as error rows and the rest graded?"""
    course = load_config(ROOT / "course.toml")
    submitted = tmp_path / "submitted"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / "alice" / ASSIGNMENT)
    shutil.copytree(ROOT / "release" / ASSIGNMENT, submitted / "grades.csv" / ASSIGNMENT)
    (tmp_path / "elsewhere" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "mallory").symlink_to(tmp_path / "elsewhere")
    (submitted / "trudy").mkdir()
    (submitted / "trudy" / ASSIGNMENT).symlink_to(submitted / "alice" / ASSIGNMENT)
    out = tmp_path / "graded"
    report = grade_batch(course, ASSIGNMENT, submitted, out, workers=1, fast=True, progress=False)
    refused = dict(report.errors)
    assert set(refused) == {"grades.csv", "mallory", "trudy"}
    assert all(message.startswith("refused") for message in refused.values())
    assert (out / STUDENTS / "alice" / RESULTS).is_file()
    assert not (out / STUDENTS / "trudy").exists() and not (out / STUDENTS / "mallory").exists()
    with open(out / GRADES_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["student_id"] for row in rows] == ["alice"] and float(rows[0]["score"]) == 36.0
