"""The Gradescope bundle (coursekit/classroom/gradescope.py), unpacked and run as Gradescope would."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.classroom.gradescope import build_bundle, pinned_requirements
from coursekit.grade import grade_submission
from coursekit.grade.report import GRADESCOPE_SCHEMA
from coursekit.selfcheck.catalogue import apply_mistake, load_catalogue

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
RUN_SECONDS = 300


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


@pytest.fixture(scope="module")
def bundle(course, tmp_path_factory):
    return build_bundle(course, ASSIGNMENT, tmp_path_factory.mktemp("bundle") / "autograder.zip")


def gradescope_root(bundle: Path, root: Path) -> Path:
    """Lay out ``root`` as Gradescope does: source/ unzipped, run_autograder copied up."""
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    return root


def env_for(root: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(AUTOGRADER_ROOT=str(root), PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}", **extra)
    return env


def test_bundle_holds_the_kit_and_no_solutions(bundle):
    """Does the zip hold setup.sh, run_autograder, the pinned requirements and the kit, and no student tracks?"""
    names = zipfile.ZipFile(bundle).namelist()
    for name in ("setup.sh", "run_autograder", "requirements.txt", "kit/course.toml", "kit/pyproject.toml",
                 "kit/coursekit/grade/pipeline.py", "kit/autograder/run_autograder.py"):
        assert name in names, name
    assert any(name.startswith("kit/source/cs231n/") for name in names)
    assert not any(name.startswith(("kit/solutions/", "kit/release/")) or "__pycache__" in name for name in names)
    requirements = zipfile.ZipFile(bundle).read("requirements.txt").decode().split()
    assert requirements and all("==" in line for line in requirements)


def test_unpinned_requirement_is_an_error(tmp_path):
    """Is a requirement without an == pin refused, naming the package?"""
    (tmp_path / "constraints.txt").write_text("numpy>=2\ntqdm==4.70.1  # pinned\n")
    with pytest.raises(Exception, match="'numpy' is not pinned"):
        pinned_requirements(tmp_path / "constraints.txt")


def test_setup_sh_runs_without_network(bundle, tmp_path):
    """Does setup.sh run to the end when its network steps are skipped?"""
    root = gradescope_root(bundle, tmp_path)
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], capture_output=True, text=True,
                          env=env_for(root, COURSEKIT_SKIP_NETWORK="1"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "set up" in done.stdout


@pytest.mark.parametrize("mistake_id", [None, "adam-no-bias-correction"])
def test_run_autograder_matches_coursekit_grade(course, bundle, tmp_path, mistake_id):
    """Does run_autograder write valid results.json with the same checks and scores as `coursekit grade`?"""
    jsonschema = pytest.importorskip("jsonschema")
    root = gradescope_root(bundle, tmp_path)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, root / "submission")
    if mistake_id:
        catalogue = {m.id: m for m in load_catalogue(ROOT / "autograder" / "mistakes.toml")}
        apply_mistake(catalogue[mistake_id], root / "submission")
    done = subprocess.run(["bash", str(root / "run_autograder")], capture_output=True, text=True,
                          env=env_for(root, COURSEKIT_FAST="1"), timeout=RUN_SECONDS)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_SCHEMA)

    expected = grade_submission(course, ASSIGNMENT, root / "submission", fast=True).to_gradescope()
    got = {t["name"]: (t["score"], t["max_score"], t["status"]) for t in results["tests"] if "manual" not in t["tags"]}
    want = {t["name"]: (t["score"], t["max_score"], t["status"]) for t in expected["tests"]}
    assert got == want
    assert results["score"] == expected["score"]
    assert "run_autograder: total" in done.stdout  # progress lines in the autograder log
    assert (results["score"] < 36) == bool(mistake_id)


@pytest.mark.dataset
def test_full_mode_matches_coursekit_grade(course, cifar10_dir, tmp_path):
    """With CIFAR-10, does run_autograder give the same checks and scores as `coursekit grade`, data checks too?"""
    jsonschema = pytest.importorskip("jsonschema")
    bundle = build_bundle(course, "two_layer_net", tmp_path / "autograder.zip")
    root = gradescope_root(bundle, tmp_path / "autograder")
    shutil.copytree(ROOT / "solutions" / "two_layer_net", root / "submission")
    done = subprocess.run(["bash", str(root / "run_autograder")], capture_output=True, text=True,
                          env=env_for(root, CIFAR10_DIR=str(cifar10_dir)), timeout=RUN_SECONDS)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    expected = grade_submission(course, "two_layer_net", root / "submission").to_gradescope()
    got = {t["name"]: (t["score"], t["max_score"], t["status"]) for t in results["tests"] if "manual" not in t["tags"]}
    want = {t["name"]: (t["score"], t["max_score"], t["status"]) for t in expected["tests"]}
    assert got == want
    assert any(name.startswith("cifar_accuracy") for name in got)


def run_autograder(root: Path) -> dict:
    done = subprocess.run(["bash", str(root / "run_autograder")], capture_output=True, text=True,
                          env=env_for(root, COURSEKIT_FAST="1"), timeout=RUN_SECONDS)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_the_skeleton_with_a_link_to_the_kit_scores_zero(bundle, tmp_path):
    """Through run_autograder, does the release skeleton with `cs231n/classifiers -> <kit>/source/...`
    (relative, ..) score the skeleton's 0, with the link named?"""
    root = gradescope_root(bundle, tmp_path)
    shutil.copytree(ROOT / "release" / ASSIGNMENT, root / "submission")
    classifiers = root / "submission" / "cs231n" / "classifiers"
    shutil.rmtree(classifiers)
    os.symlink(os.path.relpath(root / "source" / "kit" / "source" / "cs231n" / "classifiers", classifiers.parent),
               classifiers)
    assert (classifiers / "fc_net.py").is_file()  # the link works: it would hand over the solution
    results = run_autograder(root)
    assert results["score"] == 0
    assert "cs231n/classifiers is a link to a place outside your submission" in results["output"]


def test_a_zip_made_with_symlinks_scores_only_what_the_student_wrote(bundle, tmp_path):
    """Does an upload zipped with `zip --symlinks` and unpacked as Gradescope unpacks it (links kept) score
    the student's own layers and optimizers and nothing for the linked-in net?"""
    root = gradescope_root(bundle, tmp_path / "autograder")
    work = tmp_path / "student" / ASSIGNMENT
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, work, ignore=shutil.ignore_patterns("*.ipynb"))
    shutil.rmtree(work / "cs231n" / "classifiers")
    os.symlink(root / "source" / "kit" / "source" / "cs231n" / "classifiers", work / "cs231n" / "classifiers")
    subprocess.run(["zip", "-q", "-r", "--symlinks", str(tmp_path / "upload.zip"), ASSIGNMENT], cwd=work.parent,
                   check=True)
    with zipfile.ZipFile(tmp_path / "upload.zip") as upload:  # the zip holds the link itself
        info = upload.getinfo(f"{ASSIGNMENT}/cs231n/classifiers")
        assert (info.external_attr >> 16) & 0o170000 == 0o120000
    (root / "submission").mkdir()
    subprocess.run(["unzip", "-q", str(tmp_path / "upload.zip"), "-d", str(root / "submission")], check=True)
    assert (root / "submission" / ASSIGNMENT / "cs231n" / "classifiers").is_symlink()
    results = run_autograder(root)
    lost = {t["tags"][0] for t in results["tests"]
            if t["status"] == "failed" and not {"skipped", "manual"} & set(t["tags"])}
    assert lost == {"fc_init", "fc_loss", "fc_gradients"}
    assert results["score"] == 26.0  # 36 in fast mode, less the net's 10 points
    assert "cs231n/classifiers is a link to a place outside your submission" in results["output"]


def test_an_unanswered_question_shows_as_not_answered(course, tmp_path):
    """Does an inline question whose cell still reads "YOUR ANSWER HERE" show as not answered (failed), and
    an answered one quote the answer?"""
    from coursekit.classroom.gradescope import gradescope_results
    from coursekit.grade.report import GradeReport

    folder = tmp_path / "upload"
    shutil.copytree(ROOT / "release" / ASSIGNMENT, folder, ignore=shutil.ignore_patterns("cs231n", "selfcheck"))
    notebook = json.loads((folder / "update_rules.ipynb").read_text())
    cell = next(c for c in notebook["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "inline_question_2_answer")
    cell["source"] = "Adam adapts the step of each weight."
    (folder / "update_rules.ipynb").write_text(json.dumps(notebook))
    results = gradescope_results(GradeReport(ASSIGNMENT, []), course.assignment(ASSIGNMENT), folder)
    questions = {t["tags"][0]: t for t in results["tests"] if "manual" in t["tags"]}
    first, second = questions["inline_question_1_answer"], questions["inline_question_2_answer"]
    assert first["status"] == "failed" and "NOT ANSWERED" in first["name"]
    assert first["output"].startswith("Not answered: its answer cell still reads \"YOUR ANSWER HERE\"")
    assert "Your answer" not in first["output"]
    assert second["status"] == "passed" and second["output"].endswith("Adam adapts the step of each weight.")
    missing = gradescope_results(GradeReport(ASSIGNMENT, []), course.assignment(ASSIGNMENT), tmp_path / "none")
    assert all(t["status"] == "failed" and "no answer cell" in t["output"]
               for t in missing["tests"] if "manual" in t["tags"])


@pytest.mark.dataset
def test_degraded_mode_grades_from_a_relative_dataset_path_without_touching_it(course, cifar10_dir, tmp_path):
    """Without bubblewrap, with AUTOGRADER_ROOT and CIFAR10_DIR relative to where it starts, does
    run_autograder grade in full mode, say in its log which isolation it used, and leave the dataset's
    permissions as they were (grading from a private copy it then removes)?"""
    bundle = build_bundle(course, "two_layer_net", tmp_path / "autograder.zip")
    root = gradescope_root(bundle, tmp_path / "ag")
    shutil.copytree(ROOT / "solutions" / "two_layer_net", root / "submission")
    data = tmp_path / "shared" / "cifar-10-batches-py"  # a shared copy: readable by everyone
    shutil.copytree(cifar10_dir, data, ignore=shutil.ignore_patterns("*.html", "readme*"))
    for path in (data.parent, data, *data.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = {path: path.stat().st_mode for path in (data, *data.iterdir())}
    env = env_for(root, CIFAR10_DIR="shared/cifar-10-batches-py", COURSEKIT_BWRAP="/nonexistent/bwrap")
    env["AUTOGRADER_ROOT"] = "ag"  # relative to where it starts, as is CIFAR10_DIR
    done = subprocess.run(["bash", "ag/run_autograder"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=RUN_SECONDS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run_autograder: isolation: DEGRADED mode" in done.stdout
    assert "run_autograder: isolation used: DEGRADED mode (--insecure)" in done.stdout
    copied = re.search(f"CIFAR-10 copied from {re.escape(str(data))} to (\\S+), which only root can read",
                       done.stdout)
    assert copied and not Path(copied.group(1)).exists()  # the private copy is gone
    assert {path: path.stat().st_mode for path in before} == before  # not one chmod on the given data
    results = json.loads((root / "results" / "results.json").read_text())
    accuracy = next(t for t in results["tests"] if t["tags"][0] == "cifar_accuracy")
    assert accuracy["score"] == accuracy["max_score"] == 5, accuracy["output"]
