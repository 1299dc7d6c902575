"""The students' self-check (release/<assignment>/selfcheck/): the grader's public cases, judged alike."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit.grade import grade_submission
from coursekit.grade.checks.base import Check, compare_case, custom_case
from coursekit.grade.public import export_public, judge_params, npz_bytes
from coursekit.grade.sandbox.parent import Task

from .conftest import ROOT

RELEASE = ROOT / "release"
SOLUTIONS = ROOT / "solutions"
RUN_SECONDS = 120  # only stops a hang


def student_folder(tmp_path: Path, assignment: str) -> Path:
    """The solution's package with the release's self-check beside it, as a student would have it."""
    folder = tmp_path / assignment
    shutil.copytree(SOLUTIONS / assignment / "cs231n", folder / "cs231n")
    shutil.copytree(RELEASE / assignment / "selfcheck", folder / "selfcheck")
    return folder


def break_code(folder: Path) -> None:
    """A partial fc_net: optim.py is the untouched skeleton, relu_backward and affine_forward are wrong."""
    shutil.copyfile(RELEASE / "fc_net" / "cs231n" / "optim.py", folder / "cs231n" / "optim.py")
    layers = folder / "cs231n" / "layers.py"
    text = layers.read_text()
    for right, wrong in (("dx = dout * (x > 0)", "dx = dout"),
                         ("x.reshape(x.shape[0], -1) @ w + b", "x.reshape(x.shape[0], -1) @ w")):
        assert right in text, right
        text = text.replace(right, wrong)
    layers.write_text(text)


def run_selfcheck(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selfcheck", *args], cwd=folder, capture_output=True,
                          text=True, timeout=RUN_SECONDS)


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    folder = student_folder(tmp_path_factory.mktemp("partial"), "fc_net")
    break_code(folder)
    return folder


def test_selfcheck_and_grader_agree_on_a_partial_submission(course, partial):
    """Do the self-check and the grader give the same verdict and message on every public case?"""
    report = grade_submission(course, "fc_net", partial, fast=True)
    grader = {(t.key, c.label): c for t in report.tests for c in t.cases if c.public}
    code = ("import json, sys; from selfcheck import check; r = check(); "
            "json.dump([[x.name, c.label, c.passed, c.detail] for x in r.results for c in x.cases], sys.stdout)")
    done = subprocess.run([sys.executable, "-c", code], cwd=partial, capture_output=True, text=True,
                          timeout=RUN_SECONDS)
    assert done.returncode == 0, done.stderr
    mine = json.loads(done.stdout)
    assert len(mine) >= 40
    for name, label, passed, detail in mine:
        theirs = grader[(name, label)]
        assert (passed, detail) == (theirs.passed, theirs.detail), (name, label)
    verdicts = {(name, passed) for name, _, passed, _ in mine}
    assert {("affine_forward", False), ("relu_backward", False), ("adam", False), ("fc_gradients", False),
            ("batchnorm_backward", True), ("softmax_loss", True)} <= verdicts
    assert any("NotImplementedError" in detail for *_, detail in mine)


def test_terminal_run_names_the_failing_function_and_exits_1(partial):
    """Does `python -m selfcheck relu_backward` print the failure, what to open, and exit 1?"""
    done = run_selfcheck(partial, "relu_backward")
    assert done.returncode == 1, done.stderr
    assert "FAILED  relu_backward" in done.stdout
    assert "Where to look: relu_backward in cs231n/layers.py" in done.stdout
    assert "affine_forward" not in done.stdout  # only the check asked for


def test_complete_solution_passes_and_exits_0(tmp_path):
    """Does the solution pass every public case of two_layer_net, with exit code 0?"""
    done = run_selfcheck(student_folder(tmp_path, "two_layer_net"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 of 4 checks pass" in done.stdout
    assert "judged by the grader only" in done.stdout  # toy_training is not shipped


def test_a_link_out_of_the_folder_is_not_read_and_is_named(tmp_path):
    """Does the self-check, as the grader does, leave a layers.py that links to the course's solution
    unread (so affine_forward fails), with a line naming the link?"""
    folder = student_folder(tmp_path, "fc_net")
    (folder / "cs231n" / "layers.py").unlink()
    os.symlink(ROOT / "source" / "cs231n" / "layers.py", folder / "cs231n" / "layers.py")
    done = run_selfcheck(folder, "affine_forward")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOTE cs231n/layers.py is a link to a place outside your submission; it was not read" in done.stdout
    assert "FAILED  affine_forward" in done.stdout


def test_unknown_check_name_is_a_usage_error(partial):
    """Does an unknown check name list the real ones and exit 2?"""
    done = run_selfcheck(partial, "afine_forward")
    assert done.returncode == 2
    assert "afine_forward" in done.stderr and "affine_backward" in done.stderr


@pytest.mark.parametrize("assignment", ["two_layer_net", "fc_net"])
def test_release_ships_no_solution_code_and_no_course_config(assignment):
    """Is no line of a solution region, and no course.toml, in the release's self-check?"""
    shipped = "\n".join(p.read_text() for p in (RELEASE / assignment / "selfcheck").rglob("*")
                        if p.is_file() and p.suffix in (".py", ".json"))
    assert not list((RELEASE / assignment).rglob("course.toml"))
    for solution in (SOLUTIONS / assignment / "cs231n").rglob("*.py"):
        released = set((RELEASE / assignment / solution.relative_to(SOLUTIONS / assignment)).read_text()
                       .splitlines())
        secret = {line.strip() for line in solution.read_text().splitlines()
                  if line not in released and len(line.strip()) > 12}
        assert not [line for line in secret if line in shipped], solution.name


def _toy_check() -> Check:
    check = Check("toy", "Toy", "toy", "cs231n/toy.py", "think")
    check.tasks.append(Task("toy.t", "call", {"target": "cs231n.toy:f"}, {"x": np.arange(3.0)}, 5.0))
    check.add_case("a", compare_case("a", "toy.t", "out", np.ones(3)))
    check.add_case("b", compare_case("b", "toy.t", "out", np.zeros(3)))
    check.add_case("c", custom_case("c", "toy.t", lambda outputs: None))
    return check


def test_hidden_and_custom_cases_are_not_exported():
    """Are a case the check marks hidden and a check-specific judge left out, and counted?"""
    check = _toy_check()
    check.hidden = ("b",)
    manifest, arrays = export_public([check], "toy", 5.0)
    entry = manifest["checks"][0]
    assert [case["params"]["label"] for case in entry["cases"]] == ["a"]
    assert entry["grader_only"] == 2
    assert not any(np.array_equal(value, np.zeros(3)) for value in arrays.values())
    assert np.array_equal(arrays["task/toy.t/x"], np.arange(3.0))


def test_judge_parameters_are_read_back_exactly():
    """Does a compare_case judge give back the arguments it was made with?"""
    factory, params = judge_params(compare_case("a", "toy.t", "out", np.ones(3), 1e-3))
    assert factory == "compare_case" and params["rtol"] == 1e-3 and params["task_id"] == "toy.t"
    assert judge_params(custom_case("c", "toy.t", lambda outputs: None)) is None


def test_npz_bytes_are_reproducible_and_loadable(tmp_path):
    """Are the public arrays' bytes the same on every build, and readable with np.load (0-d kept)?"""
    arrays = {"b": np.float64(2.5) * np.ones(()), "a": np.arange(6).reshape(2, 3)}
    assert npz_bytes(arrays) == npz_bytes(dict(reversed(arrays.items())))
    (tmp_path / "x.npz").write_bytes(npz_bytes(arrays))
    with np.load(tmp_path / "x.npz", allow_pickle=False) as data:
        assert data["b"].shape == () and data["a"].tolist() == [[0, 1, 2], [3, 4, 5]]


def _solution_lines() -> set[str]:
    lines = set()
    for solution in SOLUTIONS.rglob("cs231n/**/*.py"):
        release = RELEASE / solution.relative_to(SOLUTIONS)
        released = set(release.read_text().splitlines()) if release.exists() else set()
        lines |= {line.strip() for line in solution.read_text().splitlines()
                  if line not in released and len(line.strip()) > 12}
    return lines


def test_hints_and_diagnoses_point_at_the_idea_not_the_code(course):
    """Does no hint of a check, and no diagnosis message, contain a line of the solution?"""
    from coursekit.grade.diagnose.rules import RULES
    from coursekit.grade.pipeline import build_checks

    secret = _solution_lines()
    assert "out = np.maximum(x, 0)" in secret  # the kind of line this test looks for
    texts = [check.hint for a in ("two_layer_net", "fc_net") for check in build_checks(course, a)]
    texts += [rule.message for rule in RULES]
    leaks = [(line, text) for text in texts for line in secret if line in text]
    assert not leaks


@pytest.mark.parametrize("assignment", ["two_layer_net", "fc_net"])
def test_missing_data_message_names_a_step_of_the_release(assignment):
    """Does the release's missing-data message name a script that is in the release folder?"""
    text = (RELEASE / assignment / "cs231n" / "data_utils.py").read_text()
    script = "cs231n/datasets/get_datasets.sh"
    assert f"bash {script}" in text and "coursekit" not in text
    assert (RELEASE / assignment / script).is_file()
    done = subprocess.run(["bash", "-n", str(RELEASE / assignment / script)], capture_output=True)
    assert done.returncode == 0, done.stderr


def test_check_from_a_notebook_cell(partial):
    """Does `check("relu_backward")` in a Jupyter cell, run in the assignment folder, show the failure?"""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('from selfcheck import check\ncheck("relu_backward")')]
    NotebookClient(nb, timeout=RUN_SECONDS, kernel_name="python3",
                   resources={"metadata": {"path": str(partial)}}).execute()
    shown = nb.cells[0].outputs[0]["data"]["text/plain"]
    assert "FAILED  relu_backward" in shown and "Where to look: relu_backward in cs231n/layers.py" in shown
