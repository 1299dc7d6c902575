"""Gradescope uploads in every layout students produce (coursekit/classroom/upload.py), visibility
from course.toml, inline questions listed for manual grading, and progress lines."""
from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from coursekit.classroom import gradescope
from coursekit.classroom.gradescope import grade_upload
from coursekit.classroom.upload import UploadError, stage_upload
from coursekit.config import load_config

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
SOLUTION = ROOT / "solutions" / ASSIGNMENT
FULL = 36.0  # fast mode
EDITED = ("layers.py", "layer_utils.py", "optim.py", "solver.py", "fc_net.py")  # what students change


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


def _assignment_folder(upload: Path) -> None:
    shutil.copytree(SOLUTION, upload / ASSIGNMENT)


def _contents_at_top(upload: Path) -> None:
    shutil.copytree(SOLUTION, upload)


def _one_extra_level(upload: Path) -> None:
    shutil.copytree(SOLUTION, upload / "my-submission" / ASSIGNMENT)


def _package_alone(upload: Path) -> None:
    shutil.copytree(SOLUTION / "cs231n", upload / "cs231n")


def _package_contents(upload: Path) -> None:
    shutil.copytree(SOLUTION / "cs231n", upload)


def _loose_files(upload: Path) -> None:
    upload.mkdir(parents=True)
    for path in SOLUTION.rglob("*.py"):
        if path.name in EDITED:
            shutil.copy(path, upload / path.name)


LAYOUTS = [_assignment_folder, _contents_at_top, _one_extra_level, _package_alone, _package_contents,
           _loose_files]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda f: f.__name__.strip("_"))
def test_every_layout_finds_the_students_modules(course, tmp_path, layout):
    """Does each upload layout give a folder whose cs231n/ holds the student's own modules?"""
    upload = tmp_path / "submission"
    layout(upload)
    (upload / "__MACOSX").mkdir(parents=True, exist_ok=True)  # clutter from a Mac's zip
    staged = stage_upload(course, course.assignment(ASSIGNMENT), upload, tmp_path / "scratch")
    for relpath in ("cs231n/layers.py", "cs231n/optim.py", "cs231n/classifiers/fc_net.py"):
        assert (staged.folder / relpath).read_bytes() == (SOLUTION / relpath).read_bytes(), relpath
    assert (staged.folder / "cs231n" / "classifiers" / "__init__.py").is_file()


def test_loose_files_fill_the_rest_from_the_skeleton(course, tmp_path):
    """Are modules missing from a loose-file upload taken from the skeleton, and said so?"""
    _loose_files(tmp_path / "submission")
    staged = stage_upload(course, course.assignment(ASSIGNMENT), tmp_path / "submission", tmp_path / "scratch")
    assert "cs231n/data_utils.py" in staged.from_release and "cs231n/layers.py" in staged.from_upload
    assert (staged.folder / "cs231n/data_utils.py").read_bytes() == (ROOT / "release" / ASSIGNMENT /
                                                                     "cs231n/data_utils.py").read_bytes()
    assert "data_utils.py" in staged.describe()


def test_symlinked_files_are_not_taken(course, tmp_path):
    """Is a loose file that is a symlink (to the solution, say) left out, and the skeleton used instead?"""
    upload = tmp_path / "submission"
    _loose_files(upload)
    (upload / "optim.py").unlink()
    (upload / "optim.py").symlink_to(ROOT / "source" / "cs231n" / "optim.py")
    staged = stage_upload(course, course.assignment(ASSIGNMENT), upload, tmp_path / "scratch")
    assert "cs231n/optim.py" in staged.from_release
    assert (staged.folder / "cs231n/optim.py").read_bytes() == (ROOT / "release" / ASSIGNMENT /
                                                                "cs231n/optim.py").read_bytes()


def test_an_upload_without_the_package_is_one_clear_message(course, tmp_path):
    """Does an upload with no cs231n files get score 0 and one message saying what to upload?"""
    upload = tmp_path / "submission"
    upload.mkdir()
    (upload / "notes.txt").write_text("hello")
    with pytest.raises(UploadError, match="no cs231n/ folder"):
        stage_upload(course, course.assignment(ASSIGNMENT), upload, tmp_path / "scratch")
    lines: list[str] = []
    results = grade_upload(course, ASSIGNMENT, upload, tmp_path / "results", fast=True, log=lines.append)
    assert results["score"] == 0 and results["tests"] == []
    assert "Upload your assignment folder" in results["output"]
    assert (tmp_path / "results" / "results.json").is_file()


def test_loose_files_grade_fully_with_visibility_and_questions(course, tmp_path):
    """Do loose files score full marks, with course.toml's visibility per check, the inline
    questions listed with the student's answers, and progress lines in the log?"""
    jsonschema = pytest.importorskip("jsonschema")
    from coursekit.grade.report import GRADESCOPE_SCHEMA

    upload = tmp_path / "submission"
    _loose_files(upload)
    shutil.copy(SOLUTION / "fc_net.ipynb", upload / "fc_net.ipynb")
    fc = course.assignment(ASSIGNMENT)
    visibility = MappingProxyType({"default": "after_due_date", "adam": "hidden"})
    course = replace(course, assignments=MappingProxyType({**course.assignments,
                                                           ASSIGNMENT: replace(fc, visibility=visibility)}))
    lines: list[str] = []
    results = grade_upload(course, ASSIGNMENT, upload, tmp_path / "results", fast=True, log=lines.append)
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    assert results["score"] == FULL
    graded = {t["tags"][0]: t for t in results["tests"] if "manual" not in t["tags"]}
    assert graded["adam"]["visibility"] == "hidden"
    assert {t["visibility"] for k, t in graded.items() if k != "adam"} == {"after_due_date"}
    manual = {t["tags"][0]: t for t in results["tests"] if "manual" in t["tags"]}
    assert sorted(manual) == sorted(fc.question_points)
    assert all(t["max_score"] == 0 for t in manual.values())
    assert "five-layer net" in manual["inline_question_1_answer"]["output"]  # the solution's answer
    assert "no answer cell for it was found" in manual["inline_question_2_answer"]["output"]  # not uploaded
    assert manual["inline_question_2_answer"]["status"] == "failed"
    assert any("placed by name" in line for line in lines)
    assert any(line.startswith("run_autograder: adam: 2 / 2") for line in lines)


def test_heartbeat_logs_while_grading():
    """Does the heartbeat log a progress line at its interval, and stop when the grade ends?"""
    lines: list[str] = []
    with gradescope._heartbeat(lines.append, "fc_net", every=0.02):
        time.sleep(0.15)
    count = len(lines)
    time.sleep(0.05)
    assert count >= 2 and len(lines) == count
    assert all("still grading fc_net" in line for line in lines)


def test_an_upload_whose_package_links_out_names_the_link(course, tmp_path):
    """Is an upload whose cs231n/ is a link to the course's source an upload without the package, whose
    message names the link (its files never read)?"""
    upload = tmp_path / "submission"
    upload.mkdir()
    (upload / "cs231n").symlink_to(ROOT / "source" / "cs231n")
    with pytest.raises(UploadError, match="cs231n is a link to a place outside your submission; it was not read"):
        stage_upload(course, course.assignment(ASSIGNMENT), upload, tmp_path / "scratch")


def test_a_link_inside_the_upload_is_followed(course, tmp_path):
    """Is a package folder that links elsewhere inside the upload read (the student's own files), and the
    staged copy made of regular files only?"""
    upload = tmp_path / "submission"
    shutil.copytree(SOLUTION / "cs231n", upload / "work" / "cs231n")
    (upload / "cs231n").symlink_to("work/cs231n")
    staged = stage_upload(course, course.assignment(ASSIGNMENT), upload, tmp_path / "scratch")
    assert (staged.folder / "cs231n/layers.py").read_bytes() == (SOLUTION / "cs231n/layers.py").read_bytes()
    assert staged.notes == [] and not any(p.is_symlink() for p in staged.folder.rglob("*"))


# --- saved models: where the official save writes them (cs231n/saved/<name>), whatever the upload's layout ----

OFFICIAL, KIT = (Path(p) for p in __import__("coursekit.grade.saved_models", fromlist=["SAVED_FILES"]).SAVED_FILES[
    ASSIGNMENT])  # cs231n/saved/best_fc_net.npy, best_fc_net.npz: where the grader looks


def _model_bytes(size: int = 4096, seed: int = 0) -> bytes:
    return bytes(__import__("numpy").random.default_rng(seed).integers(0, 256, size, dtype="uint8"))


# (how the upload is laid out, where the model is in it) -> the grader must find it at OFFICIAL
SAVED_LAYOUTS = {
    "loose files, the model alone beside them": (_loose_files, "best_fc_net.npy"),
    "loose files, the saved/ folder alone": (_loose_files, "saved/best_fc_net.npy"),
    "loose files, cs231n/saved/ with no module in cs231n/": (_loose_files, "cs231n/saved/best_fc_net.npy"),
    "the package alone, the model beside it": (_package_alone, "best_fc_net.npy"),
    "the package's contents, with saved/": (_package_contents, "saved/best_fc_net.npy"),
    "the assignment folder, the model beside it": (_assignment_folder, "best_fc_net.npy"),
    "the assignment folder, the model where save() writes it": (_assignment_folder, f"{ASSIGNMENT}/{OFFICIAL}"),
}


@pytest.mark.parametrize("where", SAVED_LAYOUTS)
def test_a_saved_model_is_placed_where_the_grader_looks(course, tmp_path, where):
    """Does the official save's file reach cs231n/saved/best_fc_net.npy of the staged folder in every layout
    (the file alone, the saved/ folder alone, or in place), with the student's modules still taken?"""
    layout, model = SAVED_LAYOUTS[where]
    upload = tmp_path / "submission"
    layout(upload)
    (upload / model).parent.mkdir(parents=True, exist_ok=True)
    (upload / model).write_bytes(_model_bytes())
    staged = stage_upload(course, course.assignment(ASSIGNMENT), upload, tmp_path / "scratch")
    assert (staged.folder / OFFICIAL).read_bytes() == _model_bytes()
    assert (staged.folder / "cs231n/layers.py").read_bytes() == (SOLUTION / "cs231n/layers.py").read_bytes()
    assert "cs231n/layers.py" not in staged.from_release
    moved = not model.endswith(str(OFFICIAL))
    assert (f"{model} as {OFFICIAL}" in staged.describe()) == moved, staged.describe()


def test_the_assignment_folders_own_model_wins_and_the_kits_format_goes_to_the_top(course, tmp_path):
    """Does the model in the assignment folder's cs231n/saved/ win over a loose copy elsewhere, and a loose
    best_fc_net.npz (the kit's format) reach the top of the staged folder?"""
    upload = tmp_path / "submission"
    _one_extra_level(upload)
    folder = upload / "my-submission" / ASSIGNMENT
    (folder / OFFICIAL).parent.mkdir(parents=True)
    (folder / OFFICIAL).write_bytes(_model_bytes(seed=1))
    (upload / "best_fc_net.npy").write_bytes(_model_bytes(seed=2))
    (upload / "old").mkdir()
    (upload / "old" / KIT).write_bytes(_model_bytes(seed=3))
    staged = stage_upload(course, course.assignment(ASSIGNMENT), upload, tmp_path / "scratch")
    assert (staged.folder / OFFICIAL).read_bytes() == _model_bytes(seed=1)
    assert (staged.folder / KIT).read_bytes() == _model_bytes(seed=3)
    assert staged.describe().endswith(f"placed where the grader reads it: old/{KIT} as {KIT}.")


def test_a_saved_model_is_capped_as_the_grader_caps_it_not_as_a_module(course, tmp_path):
    """Is a saved model larger than the per-file limit of modules (file_size_mb) but within the grader's
    own cap still taken, and a linked one never read?"""
    small = replace(course, limits=replace(course.limits, file_size_mb=1))
    upload = tmp_path / "submission"
    _loose_files(upload)
    (upload / "best_fc_net.npy").write_bytes(_model_bytes(3 * 2**20))
    staged = stage_upload(small, small.assignment(ASSIGNMENT), upload, tmp_path / "scratch")
    assert (staged.folder / OFFICIAL).stat().st_size == 3 * 2**20 and staged.notes == []
    (upload / "best_fc_net.npy").unlink()
    (upload / "best_fc_net.npy").symlink_to(ROOT / "course.toml")
    staged = stage_upload(small, small.assignment(ASSIGNMENT), upload, tmp_path / "scratch2")
    assert not (staged.folder / OFFICIAL).exists()
    assert any("best_fc_net.npy is a link" in note for note in staged.notes), staged.notes
