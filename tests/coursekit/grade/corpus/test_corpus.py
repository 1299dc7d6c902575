"""The corpus of realistic submissions (variants.py), graded end to end in fast mode.

One session-scoped grading of every variant (one at a time: each grade runs its own
jailed child); the tests then read the reports.  Correct code in any style gets full
marks; a keepdims shape costs only its shape case; each bug costs only its own check, with
its diagnosis; an older API or a failed import is explained once; every module the course's
copy replaced is named in one note.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from coursekit.grade import grade_submission
from coursekit.grade.checks.base import SHAPE_LABEL
from coursekit.grade.pipeline import DATA_CHECKS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
GRADE_WORKERS = 1  # one at a time: CPython 3.11 compiles (imports, ast.parse) unsafely across threads

_spec = importlib.util.spec_from_file_location("corpus_variants", HERE / "variants.py")
variants = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = variants
_spec.loader.exec_module(variants)
BY_KIND = {kind: [v for v in variants.VARIANTS if v.kind == kind]
           for kind in ("correct", "shape", "buggy", "explained", "full-mode-bug")}
ASSIGNMENTS = ("two_layer_net", "fc_net")


@pytest.fixture(scope="session")
def graded(course, tmp_path_factory):
    """name -> GradeReport of every variant, and 'starter-<assignment>' for the starter skeletons."""
    root = tmp_path_factory.mktemp("corpus")
    folders = {v.name: (v.assignment, variants.write_variant(v, ROOT / "solutions", root / v.name))
               for v in variants.VARIANTS}
    for assignment in ASSIGNMENTS:
        folders[f"starter-{assignment}"] = (assignment, variants.write_starter_skeleton(
            ROOT / "solutions", assignment, root / f"starter-{assignment}"))
    with ThreadPoolExecutor(GRADE_WORKERS) as pool:
        reports = pool.map(lambda item: (item[0], grade_submission(course, item[1][0], item[1][1], fast=True)),
                           folders.items())
        return dict(reports)


def lost(report):
    return {t.key: t for t in report.tests if not t.passed}


def test_the_corpus_is_large_and_varied():
    """Are there at least 25 submissions, with correct, buggy and explained ones for both assignments?"""
    assert len(variants.VARIANTS) >= 25
    for assignment in ASSIGNMENTS:
        kinds = {v.kind for v in variants.VARIANTS if v.assignment == assignment}
        assert kinds >= {"correct", "shape", "buggy", "explained"}


@pytest.mark.parametrize("variant", BY_KIND["correct"], ids=lambda v: v.name)
def test_correct_variant_gets_full_marks(graded, variant):
    """Does correct code written in another style (or year) get every point of every code check?"""
    report = graded[variant.name]
    assert {key: t.output() for key, t in lost(report).items()} == {}
    assert report.score == report.max_score


def replaced(report) -> set[str]:
    """The files a report's notes say the course's copy (or stand-in) replaced."""
    return {note.split(":", 1)[0] for note in report.notes if note.endswith(" was used.")}


@pytest.mark.parametrize("variant", variants.VARIANTS, ids=lambda v: v.name)
def test_each_replaced_module_is_named_once(graded, variant):
    """Is every module the course's copy replaced (and only those) named in one note of the report?"""
    report = graded[variant.name]
    assert replaced(report) == set(variant.replaced), report.notes
    assert len(report.notes) == len(variant.replaced)


@pytest.mark.parametrize("variant", BY_KIND["full-mode-bug"], ids=lambda v: v.name)
def test_a_bug_only_training_shows_costs_nothing_in_fast_mode_and_says_so(graded, variant):
    """Does a bug of the student's Solver (which no quick check runs) keep full marks in fast mode, with the
    CIFAR-10 checks that judge it named as skipped?"""
    report = graded[variant.name]
    assert report.score == report.max_score and set(variant.loses) <= set(report.skipped) == set(DATA_CHECKS)
    assert "Not graded in this run (fast mode): cifar_accuracy" in report.summary()


@pytest.mark.parametrize("variant", BY_KIND["shape"], ids=lambda v: v.name)
def test_keepdims_costs_only_its_shape_case(graded, variant):
    """Do right values with an extra axis of length 1 lose only the shape case of their own check?"""
    failed = lost(graded[variant.name])
    assert set(failed) == set(variant.loses)
    for test in failed.values():
        assert {c.label for c in test.cases if not c.passed} == {SHAPE_LABEL}  # public and hidden
        assert variant.rule in [d.id for d in test.diagnoses]


@pytest.mark.parametrize("variant", BY_KIND["buggy"], ids=lambda v: v.name)
def test_bug_costs_only_its_check_with_a_diagnosis(graded, variant):
    """Does each bug lose points only in the check that matches it, with the right diagnosis?"""
    failed = lost(graded[variant.name])
    assert set(failed) == set(variant.loses), {k: t.output() for k, t in failed.items()}
    test = failed[variant.loses[0]]
    assert variant.rule in [d.id for d in test.diagnoses], test.output()


@pytest.mark.parametrize("variant", BY_KIND["explained"], ids=lambda v: v.name)
def test_same_error_everywhere_is_explained_once(graded, variant):
    """Is an older API or a failed import explained in full once, and in one line in every other case?"""
    report = graded[variant.name]
    failed = lost(report)
    assert set(failed) == set(variant.loses)
    explanations = [d.message for t in report.tests for d in t.diagnoses if d.id == "explained-once"]
    assert len(explanations) == 1
    for test in failed.values():
        for case in test.cases:
            assert not case.passed and "\n" not in case.detail and "shown once" in case.detail or \
                case.label == SHAPE_LABEL, case.detail


def test_older_constructor_is_named_with_the_new_api(graded):
    """Does the explanation of a 2017-2020 FullyConnectedNet say what this course's constructor takes?"""
    for name in ("fc-2019-constructor-dropout", "fc-2017-constructor-use-batchnorm"):
        message = next(d.message for t in graded[name].tests for d in t.diagnoses if d.id == "explained-once")
        assert "dropout_keep_ratio=" in message and "normalization=" in message


def test_failed_import_names_the_import_file_and_line(graded):
    """Does a failed import say which import, in which file and line, and what to do?"""
    message = next(d.message for t in graded["tl-imports-torch"].tests for d in t.diagnoses
                   if d.id == "explained-once")
    assert "cs231n/classifiers/neural_net.py, line 3" in message and "import torch" in message
    assert "Remove or fix this import" in message


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_official_starter_skeleton_grades_to_zero(graded, assignment):
    """Does the official starter shape (pass bodies, functions returning None) get 0 with a message per function?"""
    report = graded[f"starter-{assignment}"]
    assert report.score == 0
    for test in report.tests:
        details = {case.detail for case in test.cases if case.label != SHAPE_LABEL}
        assert details and all(details), test.output()
        assert "Traceback" not in test.output()


def _keepdims_biases(path: Path) -> None:
    """Rewrite a saved model as a keepdims-trained net saves it: every b{i} of shape (1, M)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays.update({k: v.reshape(1, -1) for k, v in arrays.items() if re.fullmatch(r"b\d+", k)})
    np.savez(path, **arrays)


@pytest.mark.slow
@pytest.mark.dataset
@pytest.mark.parametrize("name", ["tl-keepdims-biases", "tl-float32-training", "fc-keepdims-db"])
def test_shape_and_float_variants_clear_the_cifar_checks(course, patient_course, cifar10_dir, tmp_path, name):
    """Do a keepdims net and a float32 net, trained by the grader and saved by the student, pass
    cifar_accuracy and saved_model (the kit's forward pass takes (1, M) biases)?"""
    from coursekit.grade.checks.accuracy import load_cifar10

    variant = next(v for v in variants.VARIANTS if v.name == name)
    submission = variants.write_variant(variant, ROOT / "solutions", tmp_path / name)
    spec = importlib.util.spec_from_file_location("bench_grade", ROOT / "autograder" / "bench_grade.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.save_reference_model(course, variant.assignment, submission, load_cifar10(course))
    if variant.kind == "shape":
        _keepdims_biases(next(submission.glob("best_*.npz")))
    report = grade_submission(patient_course, variant.assignment, submission)
    failed = lost(report)
    assert "cifar_accuracy" not in failed and "saved_model" not in failed, \
        {k: t.output() for k, t in failed.items()}
    assert set(failed) == set(variant.loses)


@pytest.mark.slow
@pytest.mark.dataset
def test_the_students_own_solver_trains_the_grader_run(patient_course, cifar10_dir, tmp_path):
    """In full mode, does a Solver of the student's own, written unlike the course's (2017 style), clear
    cifar_accuracy, and one that draws labels apart from images lose it?  (Neither saves a model, so
    both lose saved_model: the two grades differ by the Solver's check only.)"""
    lost_by = {}
    for name in ("fc-2017-py2-official-files", "fc-solver-labels-drawn-apart"):
        variant = next(v for v in variants.VARIANTS if v.name == name)
        report = grade_submission(patient_course, "fc_net",
                                  variants.write_variant(variant, ROOT / "solutions", tmp_path / name))
        lost_by[name] = {k: t.output() for k, t in lost(report).items()}
        assert replaced(report) == set(variant.replaced)
    assert set(lost_by["fc-2017-py2-official-files"]) == {"saved_model"}, lost_by
    assert set(lost_by["fc-solver-labels-drawn-apart"]) == {"saved_model", "cifar_accuracy"}, lost_by


@pytest.mark.parametrize("name", ["tl-keepdims-biases", "fc-keepdims-db"])
def test_keepdims_nets_train_and_are_scored(quick_course, tmp_path, name):
    """Does a net whose biases become (1, M) in training (the student's Solver or train) get scored
    by the kit's forward pass, on a tiny fake split (the full-mode test above needs CIFAR-10)?"""
    from coursekit.grade.checks.accuracy import resolve_inputs, training_check
    from coursekit.grade.sandbox.parent import Sandbox

    variant = next(v for v in variants.VARIANTS if v.name == name)
    submission = variants.write_variant(variant, ROOT / "solutions", tmp_path / name)
    rng = np.random.default_rng(0)
    data = {f"X_{split}": rng.standard_normal((n, 3, 32, 32)).astype(np.float32) for split, n in TINY_SPLIT.items()}
    data.update({f"y_{split}": rng.integers(0, 10, n) for split, n in TINY_SPLIT.items()})
    check = training_check(variant.assignment, TINY_HYPER[variant.assignment],
                           {"test_accuracy": 0.0, "val_accuracy": 0.0}, data, 60.0)
    box = Sandbox(submission=submission, limits=quick_course.limits)
    try:
        outcomes = box.run_tasks([resolve_inputs(task, data) for task in check.tasks])
    finally:
        box.close()
    params = outcomes[check.tasks[0].id].outputs
    assert any(v.shape[:1] == (1,) and v.ndim == 2 for k, v in params.items() if k.startswith("param_b"))
    results = [judge(outcomes) for _, judge in check.cases]
    assert all(r.passed for r in results), results


TINY_SPLIT = {"train": 100, "val": 30, "test": 30, "heldout": 30}
TINY_HYPER = {
    "two_layer_net": {"hidden_size": 10, "std": 1e-4, "learning_rate": 1e-3, "num_iters": 5, "batch_size": 20},
    "fc_net": {"hidden_dims": [10, 10], "normalization": "batchnorm", "weight_scale": 5e-2,
               "update_rule": "adam", "learning_rate": 1e-3, "batch_size": 20, "num_epochs": 1},
}
