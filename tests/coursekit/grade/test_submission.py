"""Staging a submission: the code as the student ran it, read without ever leaving the submission."""
from __future__ import annotations

import dataclasses
import json
import os
from types import MappingProxyType

import numpy as np
import pytest

from coursekit.errors import ConfigError
from coursekit.grade import grade_submission
from coursekit.grade.feedback import render
from coursekit.grade.sandbox.harness import FALLBACK_DIR, REPLACED_KEY
from coursekit.grade.submission import STAND_INS, stage_submission, student_files
from coursekit.tracks.modules import render_module

from .conftest import copy_solution, to_skeleton

GRADED_FC = {"cs231n/layers.py", "cs231n/layer_utils.py", "cs231n/optim.py", "cs231n/classifiers/fc_net.py"}
FC_NET_CHECKS = {"fc_init", "fc_loss", "fc_gradients"}


def with_student_files(course, assignment_id, files):
    assignment = dataclasses.replace(course.assignment(assignment_id), student_files=tuple(files))
    return dataclasses.replace(course, assignments=MappingProxyType({**course.assignments,
                                                                      assignment_id: assignment}))


def release(course, relpath, assignment="fc_net"):
    return render_module(course, course.assignment(assignment), relpath)[0]


def test_student_files_are_the_region_files(course):
    """Are exactly the modules with student regions (layer_utils.py's module-level one too) graded?"""
    assert set(student_files(course, "fc_net")) == GRADED_FC
    assert student_files(course, "two_layer_net") == ("cs231n/classifiers/neural_net.py",)


def test_the_modules_the_student_ran_are_taken(course, tmp_path):
    """Are the student's own solver.py, layer_utils.py, fast_layers.py and package files taken, and
    modules nothing imports (data_utils.py) left to the kit?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/solver.py").write_text("from cs231n import optim\nclass Solver(object):\n    pass\n")
    (submission / "cs231n/classifiers/__init__.py").write_text("from .k_nearest_neighbor import *\n")
    (submission / "cs231n/classifiers/k_nearest_neighbor.py").write_text("import torch\n")
    (submission / "cs231n/layer_utils.py").write_text("from .layers import *\nfrom .fast_layers import *\n")
    (submission / "cs231n/fast_layers.py").write_text("import torch\n")
    (submission / "cs231n/data_utils.py").write_text("# the student's own\n")
    (submission / "fc_net.ipynb").write_text("{}")
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    for relpath in ("cs231n/solver.py", "cs231n/classifiers/__init__.py", "cs231n/classifiers/k_nearest_neighbor.py",
                    "cs231n/layer_utils.py", "cs231n/fast_layers.py"):
        assert (staged.folder / relpath).read_bytes() == (submission / relpath).read_bytes(), relpath
        assert relpath in staged.from_submission
    assert (staged.folder / "cs231n/data_utils.py").read_bytes() == release(course, "cs231n/data_utils.py")
    assert "cs231n/data_utils.py" in staged.from_kit
    assert {path.suffix for path in staged.folder.rglob("*") if path.is_file()} == {".py"}  # code only


def test_non_graded_modules_get_the_kits_copy_as_a_fallback(course, tmp_path):
    """Does each non-graded module taken get the kit's release copy (fast_layers an empty stand-in), and
    no graded module one?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/layer_utils.py").write_text("from .layers import *\nfrom .fast_layers import *\n")
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    fallback = staged.folder / FALLBACK_DIR
    assert (fallback / "cs231n/solver.py").read_bytes() == release(course, "cs231n/solver.py")
    assert (fallback / "cs231n/fast_layers.py").read_text() == STAND_INS["cs231n/fast_layers.py"]
    assert not any((fallback / relpath).exists() for relpath in GRADED_FC)
    assert staged.fallbacks["cs231n.solver"] == "cs231n/solver.py"
    assert staged.fallbacks["cs231n.fast_layers"] == "cs231n/fast_layers.py"


def test_replacements_reported_by_a_child_are_named_and_checked(course, tmp_path):
    """Is each replacement a child reports one line naming the file, and is a forged or malformed report ignored?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")

    def report(value):
        return {REPLACED_KEY: np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)}

    notes = staged.replacement_notes([report({"cs231n.solver": "your copy imports torch, which the grader does "
                                                                "not have", "cs231n.layers": "forged"}),
                                      {REPLACED_KEY: np.zeros(10**6, np.uint8)}, {REPLACED_KEY: np.ones(3)}, {}])
    assert notes == ["cs231n/solver.py: your copy imports torch, which the grader does not have; "
                     "the course's copy was used."]


def test_a_missing_region_file_is_the_release_stub_never_the_solution(course, tmp_path):
    """Is a region file the student did not hand in graded as the skeleton, not as the solution, and said so?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/optim.py").unlink()
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    _, solution = render_module(course, course.assignment("fc_net"), "cs231n/optim.py")
    assert (staged.folder / "cs231n/optim.py").read_bytes() == release(course, "cs231n/optim.py") != solution
    assert staged.missing == ("cs231n/optim.py",)
    assert staged.notes == ("cs231n/optim.py is not in your submission; the course's skeleton of it was graded.",)


def test_listed_student_files_are_taken_too(course, tmp_path):
    """Does course.toml's student_files add a file (here helpers.py, imported by nobody) to what is taken?"""
    course = with_student_files(course, "fc_net", ["cs231n/solver.py", "cs231n/helpers.py"])
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/solver.py").write_text("# the student's solver\n")
    (submission / "cs231n/helpers.py").write_text("X = 1\n")
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    assert (staged.folder / "cs231n/solver.py").read_text() == "# the student's solver\n"
    assert (staged.folder / "cs231n/helpers.py").read_text() == "X = 1\n"
    assert not (staged.folder / FALLBACK_DIR / "cs231n/solver.py").exists()  # listed: graded, never replaced


@pytest.mark.parametrize("bad", ["../outside.py", "/etc/passwd"])
def test_student_files_outside_the_folder_are_refused(course, bad):
    """Is a student_files entry outside the assignment folder a ConfigError naming the key?"""
    with pytest.raises(ConfigError, match="student_files"):
        student_files(with_student_files(course, "fc_net", [bad]), "fc_net")


def test_saved_models_are_staged_at_their_paths_capped_and_never_through_links(course, tmp_path):
    """Is the first saved model the grader looks for staged as a regular file at its own path (the
    official cs231n/saved/*.npy before the kit's .npz), and one that links out of the submission or
    is over the cap left out, with a note?"""
    looked_for = ("cs231n/saved/best_fc_net.npy", "best_fc_net.npz")
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "cs231n/saved").mkdir()
    np.save(submission / "cs231n/saved/best_fc_net.npy", np.ones(2))
    np.savez(submission / "best_fc_net.npz", W1=np.ones(3))
    staged = stage_submission(course, "fc_net", submission, tmp_path / "both", saved_models=looked_for,
                              saved_bytes=2**20)
    official = staged.folder / looked_for[0]
    assert official.read_bytes() == (submission / looked_for[0]).read_bytes() and not official.is_symlink()
    assert not (staged.folder / looked_for[1]).exists()  # the grader reads the first one present only

    (submission / looked_for[0]).unlink()
    np.save(tmp_path / "reference.npy", np.zeros(2))
    os.symlink(tmp_path / "reference.npy", submission / looked_for[0])
    staged = stage_submission(course, "fc_net", submission, tmp_path / "linked", saved_models=looked_for,
                              saved_bytes=2**20)
    assert not (staged.folder / looked_for[0]).exists()
    assert (staged.folder / looked_for[1]).read_bytes() == (submission / looked_for[1]).read_bytes()
    assert (f"{looked_for[0]} is a link to a place outside your submission; it was not read, "
            "so your saved model counts as missing.") in staged.notes

    (submission / looked_for[0]).unlink()
    np.save(submission / looked_for[0], np.zeros(2**18))  # 2 MB
    staged = stage_submission(course, "fc_net", submission, tmp_path / "huge", saved_models=looked_for[:1],
                              saved_bytes=2**20)
    assert not (staged.folder / looked_for[0]).exists()
    assert any(note.startswith(f"{looked_for[0]} is larger than 1 MB") for note in staged.notes)


def course_link(course, target: str, absolute: bool, at):
    """A link at ``at`` to ``source/<target>`` of the course, absolute or relative (``..``)."""
    goal = course.source_dir / target
    os.symlink(goal if absolute else os.path.relpath(goal, at.parent), at)


LINKS = [  # (where the link is, what in source/ it names, absolute?, the graded files it hides)
    ("cs231n", "cs231n", True, GRADED_FC),
    ("cs231n", "cs231n", False, GRADED_FC),
    ("cs231n/classifiers", "cs231n/classifiers", True, {"cs231n/classifiers/fc_net.py"}),
    ("cs231n/classifiers", "cs231n/classifiers", False, {"cs231n/classifiers/fc_net.py"}),
    ("cs231n/layers.py", "cs231n/layers.py", True, {"cs231n/layers.py"}),
    ("cs231n/optim.py", "cs231n/optim.py", False, {"cs231n/optim.py"}),
]


@pytest.mark.parametrize("at, target, absolute, hidden", LINKS,
                         ids=[f"{at}-{'absolute' if a else 'relative'}" for at, _, a, _ in LINKS])
def test_a_link_to_the_course_is_never_followed(course, tmp_path, at, target, absolute, hidden):
    """Is a link (file or folder, absolute or relative with ..) to the course's solution left unread, the
    skeleton staged for what it hides, and one note saying so?"""
    submission = to_skeleton(copy_solution(course, "fc_net", tmp_path / "sub"))
    path = submission / at
    if path.is_dir():
        for child in sorted(path.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        path.rmdir()
    else:
        path.unlink()
    course_link(course, target, absolute, path)
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    for relpath in hidden:
        assert (staged.folder / relpath).read_bytes() == release(course, relpath), relpath
    assert set(staged.missing) == hidden
    (note,) = staged.notes
    assert note.startswith(f"{at} is a link to a place outside your submission; it was not read, so the "
                           "course's skeleton of ") and all(relpath in note for relpath in hidden)


def test_a_link_inside_the_submission_is_followed(course, tmp_path):
    """Is a module that links to the student's own file elsewhere in the submission graded as that file?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    (submission / "work").mkdir()
    (submission / "cs231n/layers.py").rename(submission / "work/layers.py")
    os.symlink("../work/layers.py", submission / "cs231n/layers.py")
    staged = stage_submission(course, "fc_net", submission, tmp_path / "staged")
    assert (staged.folder / "cs231n/layers.py").read_bytes() == (submission / "work/layers.py").read_bytes()
    assert not staged.notes and not (staged.folder / "cs231n/layers.py").is_symlink()


def test_a_linked_package_grades_to_zero_and_says_why(course, tmp_path):
    """Does `cs231n -> <course>/source/cs231n` in a release skeleton score 0, with the link in every feedback format?"""
    submission = to_skeleton(copy_solution(course, "fc_net", tmp_path / "sub"))
    for child in sorted((submission / "cs231n").rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    (submission / "cs231n").rmdir()
    course_link(course, "cs231n", True, submission / "cs231n")
    report = grade_submission(course, "fc_net", submission, fast=True)
    assert report.score == 0
    assert any(note.startswith("cs231n is a link to a place outside your submission") for note in report.notes)
    assert "cs231n is a link to a place outside your submission" in report.summary()
    for fmt in ("markdown", "html"):
        assert "cs231n is a link to a place outside your submission" in render(report, fmt)


def test_a_linked_classifiers_folder_costs_only_the_net_checks(course, tmp_path):
    """With the student's own layers and optimizers and `cs231n/classifiers -> <course>/source/...`, are only
    the net's checks lost (the student wrote everything but the net)?"""
    submission = copy_solution(course, "fc_net", tmp_path / "sub")
    for child in sorted((submission / "cs231n/classifiers").rglob("*"), reverse=True):
        child.unlink()
    (submission / "cs231n/classifiers").rmdir()
    course_link(course, "cs231n/classifiers", False, submission / "cs231n/classifiers")
    report = grade_submission(course, "fc_net", submission, fast=True)
    assert {t.key for t in report.tests if not t.passed} == FC_NET_CHECKS
    assert report.score == report.max_score - sum(t.max_score for t in report.tests if t.key in FC_NET_CHECKS)
