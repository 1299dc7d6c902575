"""The Gradescope bundle (coursekit/classroom/gradescope.py), unpacked and run as Gradescope would."""
from __future__ import annotations

import json
import os
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
    lost = {t["tags"][0] for t in results["tests"] if t["status"] == "failed"}
    assert lost == {"fc_init", "fc_loss", "fc_gradients"}
    assert results["score"] == 26.0  # 36 in fast mode, less the net's 10 points
    assert "cs231n/classifiers is a link to a place outside your submission" in results["output"]
