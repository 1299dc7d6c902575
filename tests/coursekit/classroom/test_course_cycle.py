"""A three-student course (complete, partial, broken) through the real nbgrader 0.9 and the kit.

One point table (course.toml) must give every student the same score, check by check, in
formgrader's gradebook (filled by ``nbgrader autograde``, which runs the kit in
``coursekit_modules.ipynb``), in ``nbgrader export``, in the kit's ``grades.csv`` and in
Gradescope's ``results.json``.  Fast mode (``COURSEKIT_FAST=1``, no CIFAR-10) keeps it cheap:
nbgrader autogrades only the kit's notebook (the others need the dataset and a human).
"""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.classroom.batch import GRADES_CSV, grade_batch
from coursekit.config import load_config
from coursekit.selfcheck.catalogue import apply_mistake, load_catalogue
from coursekit.tracks.kitnotebook import KIT_NOTEBOOK_ID

api = pytest.importorskip("nbgrader.api")

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
STUDENTS = ("complete", "partial", "broken")
MISTAKE = "adam-no-bias-correction"  # the partial student's: adam loses half its points
SKIPPED = ("cifar_accuracy", "saved_model")  # not run in fast mode: 0 in nbgrader, absent in the kit
NBGRADER_TIMEOUT = 300  # seconds per nbgrader command (a hang guard only)
SCORE_TOL = 1e-3


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in the course folder in fast mode; fail with its output if it fails."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "COURSEKIT_FAST": "1"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, text=True,
                          capture_output=True, timeout=NBGRADER_TIMEOUT, env=env)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done


def gradescope(submission: Path, results: Path) -> dict:
    """Gradescope's path: autograder/run_autograder.py on one submission, in fast mode."""
    spec = importlib.util.spec_from_file_location("run_autograder", ROOT / "autograder" / "run_autograder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.environ["COURSEKIT_FAST"] = "1"
    try:
        assert module.main([ASSIGNMENT, str(submission), str(results)]) == 0
    finally:
        del os.environ["COURSEKIT_FAST"]
    return json.loads((results / "results.json").read_text())


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory):
    """The course released by nbgrader, three submissions autograded by nbgrader, by the kit
    (class mode, into the gradebook too) and by Gradescope's runner; returns the course root."""
    root = tmp_path_factory.mktemp("cycle") / "course"
    root.mkdir()
    for name in ("course.toml", "nbgrader_config.py"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "source", root / "source", ignore=shutil.ignore_patterns("__pycache__"))
    nbgrader(root, "generate_assignment", ASSIGNMENT)
    for student in STUDENTS:  # the release, with the solution's (or a wrong) package
        folder = root / "submitted" / student / ASSIGNMENT
        shutil.copytree(root / "release" / ASSIGNMENT, folder)
        shutil.rmtree(folder / "cs231n")
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT / "cs231n", folder / "cs231n")
    catalogue = {m.id: m for m in load_catalogue(ROOT / "autograder" / "mistakes.toml")}
    apply_mistake(catalogue[MISTAKE], root / "submitted" / "partial" / ASSIGNMENT)
    with open(root / "submitted" / "broken" / ASSIGNMENT / "cs231n" / "layers.py", "a") as f:
        f.write("\ndef broken(:\n")  # a syntax error: every layer check fails
    nbgrader(root, "autograde", ASSIGNMENT, "--notebook", KIT_NOTEBOOK_ID)
    course = load_config(ROOT / "course.toml")  # the same table and source; one cs231n per test process
    grade_batch(course, ASSIGNMENT, root / "submitted", root / "graded", workers=2, fast=True,
                progress=False, gradebook=f"sqlite:///{root / 'gradebook.db'}")
    for student in STUDENTS:
        gradescope(root / "submitted" / student / ASSIGNMENT, root / "gradescope" / student)
    return root


def kit_cells(root: Path) -> dict[str, dict[str, float]]:
    """formgrader's view: each student's score in each cell of coursekit_modules."""
    with api.Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {s: {g.name: g.score for g in gb.find_submission_notebook(KIT_NOTEBOOK_ID, ASSIGNMENT, s).grades}
                for s in STUDENTS}


def formgrader_totals(root: Path) -> dict[str, tuple[float, float]]:
    with api.Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {d["student"]: (d["score"], d["max_score"]) for d in gb.submission_dicts(ASSIGNMENT)}


def nbgrader_export(root: Path) -> dict[str, tuple[float, float]]:
    nbgrader(root, "export", "--to", "nbgrader_grades.csv")
    with open(root / "nbgrader_grades.csv") as f:
        return {row["student_id"]: (float(row["raw_score"]), float(row["max_score"]))
                for row in csv.DictReader(f) if row["assignment"] == ASSIGNMENT}


def test_every_path_gives_each_check_the_same_score(course_dir):
    """Do formgrader, nbgrader export, grades.csv and results.json agree for each student, check by check?"""
    points = load_config(ROOT / "course.toml").assignment(ASSIGNMENT)
    cells = kit_cells(course_dir)
    with open(course_dir / "graded" / GRADES_CSV) as f:
        kit_rows = {row["student_id"]: row for row in csv.DictReader(f)}
    exported = nbgrader_export(course_dir)
    totals = formgrader_totals(course_dir)
    table_max = points.max_score + sum(points.question_points.values())
    for student in STUDENTS:
        results = json.loads((course_dir / "gradescope" / student / "results.json").read_text())
        gs = {test["tags"][0]: test["score"] for test in results["tests"] if test["max_score"] > 0}
        assert sorted(cells[student]) == sorted(points.points), student
        for check in points.points:
            if check in SKIPPED:
                assert cells[student][check] == 0.0 and check not in gs, (student, check)
                continue
            assert cells[student][check] == pytest.approx(gs[check], abs=SCORE_TOL), (student, check)
            assert float(kit_rows[student][check]) == pytest.approx(gs[check], abs=SCORE_TOL), (student, check)
        kit_total = float(kit_rows[student]["score"])
        assert results["score"] == pytest.approx(kit_total, abs=SCORE_TOL)
        assert totals[student] == (pytest.approx(kit_total, abs=SCORE_TOL), table_max), student
        assert exported[student] == (pytest.approx(kit_total, abs=SCORE_TOL), table_max), student
    assert cells["complete"]["adam"] == points.points["adam"]
    assert 0 < cells["partial"]["adam"] < points.points["adam"]
    assert cells["broken"]["affine_forward"] == 0.0 and cells["broken"]["adam"] == points.points["adam"]


def test_manual_grades_reach_the_export_and_feedback(course_dir):
    """Do an inline question's manual grade and an instructor's override of a kit check reach export and feedback?"""
    before = formgrader_totals(course_dir)
    with api.Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        question = gb.find_grade("inline_question_1_answer", "fc_net", ASSIGNMENT, "complete")
        question.manual_score = 2.0
        override = gb.find_grade("adam", KIT_NOTEBOOK_ID, ASSIGNMENT, "partial")
        override.manual_score = 2.0  # the instructor accepts the missing bias correction
        gb.db.commit()
    after = nbgrader_export(course_dir)
    assert after["complete"][0] == pytest.approx(before["complete"][0] + 2.0, abs=SCORE_TOL)
    assert after["partial"][0] == pytest.approx(before["complete"][0], abs=SCORE_TOL)
    nbgrader(course_dir, "generate_feedback", ASSIGNMENT, "--student", "broken", "--notebook", KIT_NOTEBOOK_ID)
    feedback = (course_dir / "feedback" / "broken" / ASSIGNMENT / f"{KIT_NOTEBOOK_ID}.html").read_text()
    assert "SyntaxError" in feedback and "cases passed" in feedback


def test_regenerating_and_reautograding_keep_the_grades(course_dir):
    """After grades exist, do `generate_assignment --force` and `autograde --force` work and keep the kit's
    scores and the instructor's override?"""
    before = kit_cells(course_dir)
    nbgrader(course_dir, "generate_assignment", ASSIGNMENT, "--force")
    assert (course_dir / "release" / ASSIGNMENT / "cs231n" / "layers.py").is_file()
    assert (course_dir / "release" / ASSIGNMENT / f"{KIT_NOTEBOOK_ID}.ipynb").is_file()
    nbgrader(course_dir, "autograde", ASSIGNMENT, "--student", "partial", "--force", "--notebook", KIT_NOTEBOOK_ID)
    after = kit_cells(course_dir)
    assert after["partial"] == before["partial"]
    assert after["partial"]["adam"] == 2.0  # the instructor's override (previous test) is kept
    assert sum(after["partial"].values()) > 0
