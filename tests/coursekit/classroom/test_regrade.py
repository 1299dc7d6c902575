"""Class mode regrades what changed (coursekit/classroom/regrade.py), and --regrade forces all."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from coursekit.classroom.batch import GRADES_CSV
from coursekit.classroom.regrade import submission_hash
from coursekit.cli import main
from coursekit.selfcheck.catalogue import apply_mistake, load_catalogue

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
FULL = 36.0  # fast mode
MISTAKE = "momentum-sign-reversed"  # costs sgd_momentum's 1 point


def test_hash_follows_content_not_caches(tmp_path):
    """Does the hash change with a file's bytes or name, and ignore __pycache__ and hidden files?"""
    (tmp_path / "cs231n").mkdir()
    (tmp_path / "cs231n" / "layers.py").write_text("x = 1\n")
    first = submission_hash(tmp_path)
    (tmp_path / "cs231n" / "__pycache__").mkdir()
    (tmp_path / "cs231n" / "__pycache__" / "layers.pyc").write_bytes(b"\0")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    assert submission_hash(tmp_path) == first
    (tmp_path / "cs231n" / "layers.py").write_text("x = 2\n")
    assert submission_hash(tmp_path) != first
    (tmp_path / "cs231n" / "layers.py").rename(tmp_path / "cs231n" / "other.py")
    assert submission_hash(tmp_path) not in (first, submission_hash(tmp_path / "cs231n"))


def grade(submitted: Path, out: Path, capsys, *extra: str) -> tuple[str, dict[str, float]]:
    config = ["--config", str(ROOT / "course.toml")]
    assert main([*config, "grade", ASSIGNMENT, str(submitted), "--fast", "--out", str(out),
                 "--workers", "2", *extra]) == 0
    with open(out / GRADES_CSV) as f:
        return capsys.readouterr().out, {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}


def test_a_resubmission_is_regraded_and_regrade_forces_all(tmp_path, capsys):
    """Is only the student whose files changed graded again, and does --regrade grade everyone?"""
    submitted, out = tmp_path / "submitted", tmp_path / "graded"
    for student in ("ann", "ben"):
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT / "cs231n", submitted / student / ASSIGNMENT / "cs231n")
    printed, scores = grade(submitted, out, capsys)
    assert "2 graded now, 0 already graded" in printed and scores == {"ann": FULL, "ben": FULL}

    mistake = {m.id: m for m in load_catalogue(ROOT / "autograder" / "mistakes.toml")}[MISTAKE]
    apply_mistake(mistake, submitted / "ben" / ASSIGNMENT)  # ben resubmits, with a bug
    printed, scores = grade(submitted, out, capsys)
    assert "1 graded now, 1 already graded" in printed
    assert scores["ann"] == FULL and scores["ben"] == pytest.approx(FULL - 1.0)

    printed, _ = grade(submitted, out, capsys)
    assert "0 graded now, 2 already graded" in printed
    printed, scores = grade(submitted, out, capsys, "--regrade")
    assert "2 graded now, 0 already graded" in printed and scores["ben"] == pytest.approx(FULL - 1.0)


def test_the_hash_never_reads_through_a_link_that_leaves(tmp_path):
    """Is a link out of the submission hashed by its path alone (its target's bytes never read), and a
    link inside hashed as the file it names?"""
    (tmp_path / "sub" / "cs231n").mkdir(parents=True)
    (tmp_path / "outside.py").write_text("secret = 1\n")
    (tmp_path / "sub" / "cs231n" / "mine.py").write_text("x = 1\n")
    os.symlink(tmp_path / "outside.py", tmp_path / "sub" / "cs231n" / "layers.py")
    os.symlink("mine.py", tmp_path / "sub" / "cs231n" / "alias.py")
    first = submission_hash(tmp_path / "sub")
    (tmp_path / "outside.py").write_text("secret = 2\n")
    assert submission_hash(tmp_path / "sub") == first
    (tmp_path / "sub" / "cs231n" / "mine.py").write_text("x = 2\n")  # seen twice: mine.py and alias.py
    assert submission_hash(tmp_path / "sub") != first


def test_links_to_the_course_earn_nothing_in_class_mode(tmp_path, capsys):
    """In a class grade, does `cs231n -> <course>/source/cs231n` score the skeleton's 0 (not 36), and
    `cs231n/classifiers -> ...` lose the net's checks only, each student's feedback naming the link?"""
    submitted, out = tmp_path / "submitted", tmp_path / "graded"
    linked = submitted / "ann" / ASSIGNMENT
    shutil.copytree(ROOT / "release" / ASSIGNMENT, linked)  # the skeleton, its package a link to the course
    shutil.rmtree(linked / "cs231n")
    os.symlink(ROOT / "source" / "cs231n", linked / "cs231n")
    partly = submitted / "ben" / ASSIGNMENT
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT / "cs231n", partly / "cs231n")
    shutil.rmtree(partly / "cs231n" / "classifiers")
    os.symlink(os.path.relpath(ROOT / "source" / "cs231n" / "classifiers", partly / "cs231n"),
               partly / "cs231n" / "classifiers")
    _, scores = grade(submitted, out, capsys)
    assert scores == {"ann": 0.0, "ben": FULL - 10.0}  # fc_init 2 + fc_loss 4 + fc_gradients 4
    for student, link in (("ann", "cs231n"), ("ben", "cs231n/classifiers")):
        feedback = (out / "students" / student / "feedback.md").read_text()
        assert f"{link} is a link to a place outside your submission; it was not read" in feedback
