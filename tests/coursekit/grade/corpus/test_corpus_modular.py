"""2021+ TwoLayerNet submissions (modular_variants.py), graded in the two-layer assignment's modular flow.

The course is switched to ``flow = "modular"`` in memory and its tracks built in a temporary
folder; every variant is a patched copy of that solutions track, graded in fast mode (one
session-scoped grading, then the tests read the reports).  Correct code in any style gets
full marks; each bug loses only the checks it breaks; a failed import is explained once.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from coursekit.grade import grade_submission
from coursekit.grade.checks.base import SHAPE_LABEL
from coursekit.tracks import build_tracks

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]

_spec = importlib.util.spec_from_file_location("corpus_modular_variants", HERE / "modular_variants.py")
corpus = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = corpus
_spec.loader.exec_module(corpus)
BY_KIND = {kind: [v for v in corpus.MODULAR if v.kind == kind] for kind in ("correct", "buggy", "explained")}


@pytest.fixture(scope="session")
def modular_course(course):
    return course.with_flow("two_layer_net", "modular")


@pytest.fixture(scope="session")
def modular_solutions(modular_course, tmp_path_factory) -> Path:
    """solutions/ of the modular flow, built from source/ in a temporary folder."""
    root = tmp_path_factory.mktemp("modular-tracks")
    build_tracks(modular_course, ["two_layer_net"], out_root=root)
    return root / "solutions"


@pytest.fixture(scope="session")
def graded(modular_course, modular_solutions, tmp_path_factory):
    """name -> GradeReport of every variant (fast mode), and of the official starter shape."""
    root = tmp_path_factory.mktemp("corpus-modular")
    folders = {v.name: corpus.write_variant(v, modular_solutions, root / v.name) for v in corpus.MODULAR}
    folders["starter"] = corpus.write_starter_skeleton(modular_solutions, "two_layer_net", root / "starter")
    return {name: grade_submission(modular_course, "two_layer_net", folder, fast=True)
            for name, folder in folders.items()}


def lost(report):
    return {t.key: t for t in report.tests if not t.passed}


def test_the_modular_corpus_is_varied():
    """Are there correct, buggy and explained 2021+ TwoLayerNet submissions, five correct at least?"""
    assert len(BY_KIND["correct"]) >= 5 and BY_KIND["buggy"] and BY_KIND["explained"]
    assert all(v.assignment == "two_layer_net" for v in corpus.MODULAR)


@pytest.mark.parametrize("variant", BY_KIND["correct"], ids=lambda v: v.name)
def test_correct_two_layer_net_gets_full_marks(graded, variant):
    """Does a correct 2021+ TwoLayerNet, written in another style or year, get every point in fast mode?"""
    report = graded[variant.name]
    assert {key: t.output() for key, t in lost(report).items()} == {}
    assert report.score == report.max_score > 0


@pytest.mark.parametrize("variant", BY_KIND["buggy"], ids=lambda v: v.name)
def test_bug_costs_only_the_checks_it_breaks(graded, variant):
    """Does each bug lose points only in the checks it breaks (its net check, or its layer and the net
    built from it), the first with its diagnosis?"""
    failed = lost(graded[variant.name])
    assert set(failed) == set(variant.loses), {k: t.output() for k, t in failed.items()}
    if variant.rule:
        test = failed[variant.loses[0]]
        assert variant.rule in [d.id for d in test.diagnoses], test.output()


def test_a_numeric_gradient_scores_zero_and_says_why(graded):
    """Does a TwoLayerNet.loss whose gradients are the notebook's numeric gradient check score 0 on
    two_layer_gradients, every scored case saying why, while its scores and loss keep their points?"""
    report = graded["tlm-numeric-gradient"]
    gradients = next(t for t in report.tests if t.key == "two_layer_gradients")
    assert gradients.score == 0
    scored = [case for case in gradients.cases if not case.public]
    assert scored and all(not case.passed and "numeric" in case.detail for case in scored), gradients.output()
    assert "a numeric gradient is what the checker uses" in gradients.output()


@pytest.mark.parametrize("variant", BY_KIND["explained"], ids=lambda v: v.name)
def test_failed_import_is_explained_once(graded, variant):
    """Does an fc_net.py that imports torch lose the net's checks only, explained in full once?"""
    report = graded[variant.name]
    failed = lost(report)
    assert set(failed) == set(variant.loses)
    explanations = [d.message for t in report.tests for d in t.diagnoses if d.id == "explained-once"]
    assert len(explanations) == 1 and "import torch" in explanations[0]
    for test in failed.values():
        for case in test.cases:
            assert not case.passed and ("shown once" in case.detail or case.label == SHAPE_LABEL), case.detail


def test_official_starter_shape_grades_to_zero(graded):
    """Does the official starter's shape (pass bodies, names set to None) get 0, a message per case?"""
    report = graded["starter"]
    assert report.score == 0
    for test in report.tests:
        assert all(case.detail for case in test.cases if case.label != SHAPE_LABEL), test.output()
        assert "Traceback" not in test.output()


@pytest.mark.slow
@pytest.mark.dataset
def test_a_2022_style_net_clears_the_cifar_checks(modular_course, modular_solutions, patient_course, cifar10_dir,
                                                  tmp_path):
    """Does a correct 2022-style TwoLayerNet, trained by the grader with the Solver, clear the 36% test
    bar, and its saved model the saved_model check, in a full grade?"""
    import dataclasses

    from coursekit.grade.checks.accuracy import load_cifar10
    from coursekit.train import save_sample_model

    variant = next(v for v in corpus.MODULAR if v.name == "tlm-2022-official-style")
    submission = corpus.write_variant(variant, modular_solutions, tmp_path / variant.name)
    save_sample_model(modular_course, "two_layer_net", submission, load_cifar10(modular_course))
    course = dataclasses.replace(modular_course, limits=patient_course.limits)
    report = grade_submission(course, "two_layer_net", submission)
    assert {k: t.output() for k, t in lost(report).items()} == {}
    accuracy = next(t for t in report.tests if t.key == "cifar_accuracy")
    print(accuracy.output())
    assert report.score == report.max_score
