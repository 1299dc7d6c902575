"""Batch grading of a class (coursekit/classroom/batch.py), end to end in fast mode (no CIFAR-10)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import coursekit.classroom.batch as batch
from coursekit.classroom.batch import GRADES_CSV, HISTOGRAM_PNG, PASS_RATE_PNG, RESULTS, grade_batch
from coursekit.classroom.results import STUDENTS
from coursekit.cli import main
from coursekit.config import load_config
from coursekit.selfcheck.catalogue import apply_mistake, load_catalogue

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
FULL = 36.0  # fc_net's points without the two CIFAR-10 checks (fast mode)
SCORE_TOL = 1e-3
WORKERS = 2
OPTIM_CHECKS = ("sgd_momentum", "rmsprop", "adam")

# mistake id -> {check: points lost}, in fast mode (see autograder/mistakes.toml)
MISTAKES = {
    "momentum-sign-reversed": {"sgd_momentum": 1.0},
    "adam-no-bias-correction": {"adam": 0.5},  # next_w wrong (1.5 of 2 kept); m, v and t right
    "rmsprop-eps-inside-sqrt": {"rmsprop": 0.5},
    "relu-forward-np-max": {"relu_forward": 1.0, "fc_loss": 4.0, "fc_gradients": 4.0},  # relu_backward is right
    "dropout-at-test-time": {"dropout_forward": 1.0, "fc_loss": 2 / 3},
    "affine-backward-db-mean": {"affine_backward": 2 / 3, "fc_gradients": 4.0},
}
CRASHING = "s19-crash"  # its grade raises: it must become an error row


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """nbgrader's submitted/ folder for 20 students, and each one's expected score per check."""
    root = tmp_path_factory.mktemp("class") / "submitted"
    expected: dict[str, dict | float] = {}  # student -> {check: points lost}, or a total score

    def folder(student: str) -> Path:
        return root / student / ASSIGNMENT

    for i in range(9):
        student = f"s{i:02d}-correct"
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT, folder(student))
        expected[student] = {}
    catalogue = {m.id: m for m in load_catalogue(ROOT / "autograder" / "mistakes.toml")}
    for i, (mistake_id, lost) in enumerate(MISTAKES.items(), start=9):
        student = f"s{i:02d}-{mistake_id}"
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT, folder(student))
        apply_mistake(catalogue[mistake_id], folder(student))
        expected[student] = lost
    student = "s15-syntax-error"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, folder(student))
    with open(folder(student) / "cs231n" / "optim.py", "a") as f:
        f.write("\ndef broken(:\n")
    expected[student] = {key: 1.0 for key in ("sgd_momentum", "rmsprop")} | {"adam": 2.0}
    folder("s16-empty").mkdir(parents=True)
    expected["s16-empty"] = 0.0
    for student in ("s17-skeleton", "s18-skeleton", CRASHING):
        shutil.copytree(ROOT / "release" / ASSIGNMENT, folder(student))
        expected[student] = 0.0
    (root / "z-other-assignment" / "two_layer_net").mkdir(parents=True)  # not a submission of fc_net
    assert len(expected) == 20
    return root, expected


def crash_one(prepare):
    """The client's phase 1 (prepare_grade), except that it raises for the CRASHING student."""
    def wrapped(course, assignment_id, submission, **kwargs):
        if CRASHING in str(submission):
            raise RuntimeError("the grader fell over")
        return prepare(course, assignment_id, submission, **kwargs)
    return wrapped


@pytest.fixture(scope="module")
def graded(course, klass, tmp_path_factory):
    """The class graded once, on the embedded cluster of 2 workers."""
    submitted, _ = klass
    out = tmp_path_factory.mktemp("graded")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "prepare_grade", crash_one(batch.prepare_grade))
        report = grade_batch(course, ASSIGNMENT, submitted, out, workers=WORKERS, fast=True, progress=False)
    return report, out


def read_csv(out: Path) -> list[dict]:
    with open(out / GRADES_CSV, newline="") as f:
        return list(csv.DictReader(f))


def test_every_student_gets_the_expected_score(graded, klass):
    """Does each of the 20 students get the score their submission deserves, check by check?"""
    report, out = graded
    _, expected = klass
    rows = {row["student_id"]: row for row in read_csv(out)}
    assert sorted(rows) == sorted(expected)
    assert report.students == report.graded == 20 and report.resumed == 0
    assert sorted(report.written) == sorted(expected)  # each student written once, by the client
    assert report.workers == WORKERS and report.cluster.startswith("tcp://127.0.0.1:")
    for student, want in expected.items():
        row = rows[student]
        assert float(row["max_score"]) == FULL, student
        if isinstance(want, float):
            assert float(row["score"]) == pytest.approx(want, abs=SCORE_TOL), student
            continue
        points = load_config(ROOT / "course.toml").assignment(ASSIGNMENT).points
        kept = {key: round(points[key] - lost, 2) for key, lost in want.items()}  # each check rounded once
        total = FULL - sum(points[key] - score for key, score in kept.items())
        assert float(row["score"]) == pytest.approx(total, abs=SCORE_TOL), student
        for key in OPTIM_CHECKS + ("affine_forward", "fc_loss", "fc_gradients", "relu_forward"):
            assert float(row[key]) == pytest.approx(kept.get(key, points[key]), abs=SCORE_TOL), (student, key)


def test_a_crash_is_an_error_row_and_the_batch_goes_on(graded):
    """Does an exception for one student give a 0 with the message, and leave the others graded?"""
    report, out = graded
    rows = {row["student_id"]: row for row in read_csv(out)}
    assert rows[CRASHING]["score"] == "0" and "the grader fell over" in rows[CRASHING]["error"]
    assert [student for student, _ in report.errors] == [CRASHING]
    assert all(not row["error"] for student, row in rows.items() if student != CRASHING)
    assert not (out / STUDENTS / CRASHING / "feedback.md").exists()
    assert (out / STUDENTS / "s00-correct" / "feedback.md").read_text().startswith("# Feedback: fc_net")


def test_grades_csv_has_one_column_per_check(graded, course):
    """Are the columns student_id, assignment, score, max_score, then every fast-mode check?"""
    _, out = graded
    with open(out / GRADES_CSV, newline="") as f:
        header = next(csv.reader(f))
    checks = [k for k in course.assignment(ASSIGNMENT).points if k not in ("cifar_accuracy", "saved_model")]
    assert header == ["student_id", "assignment", "score", "max_score", *checks, "error"]


def test_charts_are_pngs(graded):
    """Are the pass-rate chart and the score histogram written as PNG files?"""
    _, out = graded
    for name in (PASS_RATE_PNG, HISTOGRAM_PNG):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_json_is_gradescope_format(graded):
    """Is each student's results.json valid Gradescope output?"""
    jsonschema = pytest.importorskip("jsonschema")
    from coursekit.grade.report import GRADESCOPE_SCHEMA

    _, out = graded
    for path in out.glob(f"*/{RESULTS}"):
        jsonschema.validate(json.loads(path.read_text()), GRADESCOPE_SCHEMA)


def test_an_interrupted_batch_resumes_without_regrading(course, klass, tmp_path, monkeypatch):
    """After Ctrl-C part way, does the next run grade only the students not yet finished?"""
    submitted = tmp_path / "submitted"  # 8 of the class: enough to stop part way
    students = sorted(klass[1])[::-1][:8]
    for student in students:
        shutil.copytree(klass[0] / student, submitted / student)
    out = tmp_path / "out"
    calls: list[str] = []
    judge, prepare = batch.judge_grade, batch.prepare_grade

    def interrupting(course, prepared, execution, data):  # Ctrl-C while the 6th grade is judged
        calls.append(prepared.submission.parent.name)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return judge(course, prepared, execution, data)

    monkeypatch.setattr(batch, "judge_grade", interrupting)
    with pytest.raises(KeyboardInterrupt):
        grade_batch(course, ASSIGNMENT, submitted, out, workers=WORKERS, fast=True, progress=False)
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"{STUDENTS}/*/{RESULTS}")}
    assert len(done) == 5  # the five judged before Ctrl-C, each written whole
    (out / STUDENTS / sorted(done)[0] / RESULTS).write_text('{"score": 3')  # a torn file is not "done"
    del done[sorted(done)[0]]

    calls.clear()
    monkeypatch.setattr(batch, "judge_grade", judge)
    counting = lambda *a, **k: calls.append(Path(a[2]).parent.name) or prepare(*a, **k)  # noqa: E731
    monkeypatch.setattr(batch, "prepare_grade", counting)
    report = grade_batch(course, ASSIGNMENT, submitted, out, workers=WORKERS, fast=True, progress=False)
    assert sorted(calls) == sorted(set(students) - set(done))
    assert (report.graded, report.resumed, report.students) == (8 - len(done), len(done), 8)
    for student, mtime in done.items():
        assert (out / STUDENTS / student / RESULTS).stat().st_mtime_ns == mtime, student
    assert len(read_csv(out)) == 8


def test_cli_grades_a_class_and_still_grades_one_submission(klass, tmp_path, capsys):
    """Does `coursekit grade` grade a submitted/ folder as a class and a cs231n/ folder alone?"""
    submitted, _ = klass
    small = tmp_path / "submitted"
    for student in ("s00-correct", "s17-skeleton"):
        shutil.copytree(submitted / student, small / student)
    out = tmp_path / "graded"
    config = ["--config", str(ROOT / "course.toml")]
    assert main([*config, "grade", ASSIGNMENT, str(small), "--fast", "--out", str(out), "--workers", "1"]) == 0
    assert "2 students, 2 graded now" in capsys.readouterr().out
    assert [row["score"] for row in read_csv(out)] == ["36.0", "0.0"]
    assert main([*config, "grade", ASSIGNMENT, str(small / "s00-correct" / ASSIGNMENT), "--fast"]) == 0
    assert "36 / 36 points" in capsys.readouterr().out


def test_errors_and_other_modes_are_graded_again(graded):
    """On resume, is a student whose grade crashed, or who was graded in the other mode, graded again?"""
    _, out = graded
    assert batch.is_complete(out / STUDENTS / "s00-correct" / RESULTS, ASSIGNMENT, fast=True)
    assert not batch.is_complete(out / STUDENTS / "s00-correct" / RESULTS, ASSIGNMENT, fast=False)
    assert not batch.is_complete(out / STUDENTS / "s00-correct" / RESULTS, "two_layer_net", fast=True)
    assert not batch.is_complete(out / STUDENTS / CRASHING / RESULTS, ASSIGNMENT, fast=True)


def test_a_folder_without_students_is_a_clean_error(course, tmp_path):
    """Is a folder with no <student>/<assignment>/ inside refused with a message naming the layout?"""
    (tmp_path / "alice" / "two_layer_net").mkdir(parents=True)
    with pytest.raises(batch.GradingError, match="<student_id>/fc_net/"):
        grade_batch(course, ASSIGNMENT, tmp_path, tmp_path / "out", fast=True, progress=False)


def test_the_class_progress_bar_stays_out_of_a_redirected_log(course, klass, graded, tmp_path, capsys):
    """With progress on but stderr not a terminal (a log file), does a class grade print no bar?"""
    submitted, _ = klass
    out = tmp_path / "graded"
    shutil.copytree(graded[1], out)  # resumed: only the student whose grade crashed runs again
    report = grade_batch(course, ASSIGNMENT, submitted, out, workers=1, fast=True, progress=True)
    assert report.resumed == 19 and report.graded == 1
    assert capsys.readouterr().err == ""
