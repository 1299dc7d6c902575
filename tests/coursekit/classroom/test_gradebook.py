"""The kit's scores in nbgrader's gradebook (coursekit/classroom/gradebook.py), with the real nbgrader."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coursekit.classroom.batch import grade_batch
from coursekit.config import load_config
from coursekit.classroom.gradebook import ENV_GRADEBOOK_URL, NOTEBOOK, gradebook_url, record_grades, redact
from coursekit.errors import EXIT_USAGE, UsageError
from coursekit.selfcheck.catalogue import apply_mistake, load_catalogue

api = pytest.importorskip("nbgrader.api")

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
FULL = 36.0  # fast mode: the two CIFAR-10 checks are not written (a new cell scores 0)
MAX = 45.0  # every check of the points table has its cell
EXPECTED = {"ada": FULL, "bo": FULL - 0.5, "cy": 0.0}  # solution, adam-no-bias-correction (next_w only), skeleton
SCORE_TOL = 1e-3


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Three students graded in fast mode; returns the batch's output folder."""
    root = tmp_path_factory.mktemp("class")
    submitted = root / "submitted"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / "ada" / ASSIGNMENT)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / "bo" / ASSIGNMENT)
    mistake = {m.id: m for m in load_catalogue(ROOT / "autograder" / "mistakes.toml")}["adam-no-bias-correction"]
    apply_mistake(mistake, submitted / "bo" / ASSIGNMENT)
    shutil.copytree(ROOT / "release" / ASSIGNMENT, submitted / "cy" / ASSIGNMENT)
    course = load_config(ROOT / "course.toml")
    grade_batch(course, ASSIGNMENT, submitted, root / "graded", workers=2, fast=True, progress=False)
    return root / "graded"


@pytest.fixture(scope="module")
def points():
    return load_config(ROOT / "course.toml").assignment(ASSIGNMENT).points


def totals(db_url: str) -> dict[str, tuple[float, float]]:
    """What formgrader shows: each student's (score, max_score) for the assignment."""
    with api.Gradebook(db_url) as gb:
        return {d["student"]: (d["score"], d["max_score"]) for d in gb.submission_dicts(ASSIGNMENT)}


def test_each_student_gets_one_total(graded, points, tmp_path):
    """Does formgrader's total for each student equal the kit's score, out of the points table's max?"""
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert record_grades(db, ASSIGNMENT, graded, points=points) == 3
    got = totals(db)
    assert sorted(got) == sorted(EXPECTED)
    for student, score in EXPECTED.items():
        assert got[student][0] == pytest.approx(score, abs=SCORE_TOL), student
        assert got[student][1] == MAX


def test_each_check_is_its_own_cell(graded, points, tmp_path):
    """Does each check get its own grade cell, scored as the kit scored it (bo loses adam's points only)?"""
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    record_grades(db, ASSIGNMENT, graded, points=points)
    with api.Gradebook(db) as gb:
        bo = {g.name: (g.score, g.max_score) for g in gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "bo").grades}
    assert sorted(bo) == sorted(points)
    assert bo["adam"][0] < bo["adam"][1] == points["adam"]
    assert bo["cifar_accuracy"][0] == 0.0  # fast mode: not written, so the new cell has no score
    assert all(bo[c][0] == points[c] for c in points if c not in ("adam", "cifar_accuracy", "saved_model"))


def test_a_manual_override_survives_recording(graded, points, tmp_path):
    """Is a score an instructor entered in formgrader kept when the class is recorded again?"""
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    record_grades(db, ASSIGNMENT, graded, points=points)
    with api.Gradebook(db) as gb:
        grade = gb.find_grade("adam", NOTEBOOK, ASSIGNMENT, "bo")
        grade.manual_score = 2.0
        gb.db.commit()
    record_grades(db, ASSIGNMENT, graded, points=points)
    assert totals(db)["bo"][0] == pytest.approx(FULL, abs=SCORE_TOL)


def test_a_fast_grade_never_lowers_a_check_it_did_not_run(graded, points, tmp_path):
    """After a full grade put the CIFAR-10 checks' points in the gradebook, does recording a fast grade
    (which did not run them) keep those points, and still update the checks it ran?"""
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    record_grades(db, ASSIGNMENT, graded, points=points)
    with api.Gradebook(db) as gb:  # what a full-mode autograde of ada and bo wrote
        for student in ("ada", "bo"):
            for check in ("cifar_accuracy", "saved_model"):
                gb.find_grade(check, NOTEBOOK, ASSIGNMENT, student).auto_score = points[check]
        gb.find_grade("adam", NOTEBOOK, ASSIGNMENT, "ada").auto_score = 0.0  # older, lower
        gb.db.commit()
    full = totals(db)
    assert full["ada"][0] == pytest.approx(MAX - points["adam"], abs=SCORE_TOL)
    record_grades(db, ASSIGNMENT, graded, points=points)  # the fast batch again
    after = totals(db)
    assert after["ada"][0] == pytest.approx(MAX, abs=SCORE_TOL)  # adam rewritten, CIFAR-10 kept
    assert after["bo"] == full["bo"] and after["bo"][0] == pytest.approx(MAX - 0.5, abs=SCORE_TOL)  # adam: next_w only


def test_recording_twice_changes_nothing(graded, tmp_path):
    """Does a second record update the same cell instead of adding points?"""
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    record_grades(db, ASSIGNMENT, graded)
    first = totals(db)
    record_grades(db, ASSIGNMENT, graded)
    assert totals(db) == first
    with api.Gradebook(db) as gb:
        assert sorted(c.name for c in gb.find_notebook(NOTEBOOK, ASSIGNMENT).grade_cells) == sorted(
            record_points(graded))


def record_points(graded) -> list[str]:
    from coursekit.classroom.gradebook import batch_points

    return list(batch_points(graded, ASSIGNMENT))


def test_existing_submissions_and_notebooks_are_kept(graded, points, tmp_path):
    """Does a submission nbgrader already knows (with its own notebook's points) get the kit's score added?"""
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with api.Gradebook(db) as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook("fc_net", ASSIGNMENT)
        gb.add_grade_cell("q1", "fc_net", ASSIGNMENT, max_score=4, cell_type="code")
        gb.add_student("ada")
        gb.add_submission(ASSIGNMENT, "ada")
        grade = gb.find_grade("q1", "fc_net", ASSIGNMENT, "ada")
        grade.auto_score = 3.0
        gb.db.commit()
    record_grades(db, ASSIGNMENT, graded, points=points)
    got = totals(db)
    assert got["ada"][0] == pytest.approx(3.0 + FULL, abs=SCORE_TOL)
    assert got["ada"][1] == 4 + MAX
    assert got["bo"][0] == pytest.approx(EXPECTED["bo"], abs=SCORE_TOL)


def test_cli_records_a_class_in_the_gradebook(graded, tmp_path, capsys):
    """Does `coursekit grade ... --gradebook URL` put the class's totals in the gradebook?"""
    from coursekit.cli import main

    submitted = tmp_path / "submitted"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / "ada" / ASSIGNMENT)
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert main(["--config", str(ROOT / "course.toml"), "grade", ASSIGNMENT, str(submitted), "--fast",
                 "--out", str(tmp_path / "graded"), "--workers", "1", "--gradebook", db]) == 0
    assert "recorded the check scores of 1 students" in capsys.readouterr().out
    assert totals(db) == {"ada": (FULL, MAX)}


@pytest.mark.parametrize("how", ["file", "environment"])
def test_cli_takes_the_gradebook_url_from_a_file_or_the_environment(tmp_path, capsys, monkeypatch, how):
    """With the URL in a file only its owner can read, or in $COURSEKIT_GRADEBOOK_URL (`--gradebook` with no
    value), does `coursekit grade` record the class, with no URL on its command line?"""
    from coursekit.cli import main

    submitted = tmp_path / "submitted"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / "ada" / ASSIGNMENT)
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    if how == "file":
        secret = tmp_path / "gradebook-url"
        secret.write_text(db + "\n")
        secret.chmod(0o600)
        option = ["--gradebook-file", str(secret)]
    else:
        monkeypatch.setenv(ENV_GRADEBOOK_URL, db)
        option = ["--gradebook"]
    assert main(["--config", str(ROOT / "course.toml"), "grade", ASSIGNMENT, str(submitted), "--fast",
                 "--out", str(tmp_path / "graded"), "--workers", "1", *option]) == 0
    assert "recorded the check scores of 1 students" in capsys.readouterr().out
    assert totals(db) == {"ada": (FULL, MAX)}


@pytest.mark.parametrize("url", ["postgresql://grader:pw-4711@db.example/gradebook",
                                 "mysql://grader@db.example/gradebook?password=pw-4711"])
def test_a_password_on_the_command_line_is_refused_before_grading(tmp_path, capsys, url):
    """Is a gradebook URL with a password on the command line refused (a usage error, nothing graded),
    with how to pass it instead, and without printing the password?"""
    from coursekit.cli import main

    submitted = tmp_path / "submitted"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / "ada" / ASSIGNMENT)
    assert main(["--config", str(ROOT / "course.toml"), "grade", ASSIGNMENT, str(submitted), "--fast",
                 "--out", str(tmp_path / "graded"), "--gradebook", url]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert ENV_GRADEBOOK_URL in err and "--gradebook-file" in err and "pw-4711" not in err
    assert not (tmp_path / "graded").exists()


def test_a_gradebook_file_others_may_read_is_refused(tmp_path):
    """Is a --gradebook-file that other users may read (or a link) refused, saying to chmod 600 it?"""
    secret = tmp_path / "gradebook-url"
    secret.write_text("postgresql://grader:pw@db.example/gradebook\n")
    secret.chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        gradebook_url(None, str(secret))
    secret.chmod(0o600)
    assert gradebook_url(None, str(secret)) == "postgresql://grader:pw@db.example/gradebook"
    (tmp_path / "link").symlink_to(secret)
    with pytest.raises(UsageError, match="cannot be read"):
        gradebook_url(None, str(tmp_path / "link"))


def test_a_printed_gradebook_url_hides_its_password():
    """Does the URL the batch summary prints hide the password (and a password in the query)?"""
    assert redact("postgresql://grader:pw-4711@db.example:5432/gb") == "postgresql://grader:***@db.example:5432/gb"
    assert "pw-4711" not in redact("mysql://grader@db.example/gb?password=pw-4711&x=1")
    assert redact("sqlite:///gradebook.db") == "sqlite:///gradebook.db"
