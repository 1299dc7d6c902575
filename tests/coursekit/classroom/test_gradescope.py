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
