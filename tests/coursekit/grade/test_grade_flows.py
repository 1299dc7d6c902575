"""The two-layer assignment graded in either flow: course.toml's `flow` selects the grader's checks.

The modular (2021+) flow's tracks are built from source/ into a temporary folder; its solutions
earn full marks, its release nothing, and `coursekit check` catches its catalogued mistakes.
Mismatches between the flow and its tables are ConfigErrors naming the key.
"""
from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from coursekit.errors import ConfigError
from coursekit.grade import grade_submission
from coursekit.config import load_config
from coursekit.grade.pipeline import build_checks, grader_flow, validate_assignment
from coursekit.selfcheck.catalogue import load_catalogue
from coursekit.selfcheck.run import run_selfcheck
from coursekit.tracks import build_tracks

MODULAR_CHECKS = ["affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
                  "two_layer_init", "two_layer_scores", "two_layer_loss", "two_layer_gradients"]


@pytest.fixture(scope="module")
def modular(course):
    return course.with_flow("two_layer_net", "modular")


@pytest.fixture(scope="module")
def tracks(modular, tmp_path_factory):
    root = tmp_path_factory.mktemp("modular")
    build_tracks(modular, ["two_layer_net"], out_root=root)
    return root


def test_the_flow_selects_the_checks(course, modular):
    """Does each flow of the two-layer assignment get its own checks, and fc_net its one flow?"""
    assert grader_flow(course, "two_layer_net") == "neural_net"
    assert [c.name for c in build_checks(course, "two_layer_net")] == ["scores", "loss", "gradients",
                                                                       "toy_training", "predict"]
    assert grader_flow(modular, "two_layer_net") == "modular"
    assert [c.name for c in build_checks(modular, "two_layer_net")] == MODULAR_CHECKS
    assert grader_flow(course, "fc_net") == ""


def test_modular_solutions_score_full_marks_and_release_zero(modular, tracks):
    """Do the modular flow's solutions earn every point in fast mode, and its untouched release none?"""
    report = grade_submission(modular, "two_layer_net", tracks / "solutions" / "two_layer_net", fast=True)
    assert {t.key: t.output() for t in report.tests if not t.passed} == {}
    assert report.score == report.max_score == 16
    release = grade_submission(modular, "two_layer_net", tracks / "release" / "two_layer_net", fast=True)
    assert [t.key for t in release.tests if t.score > 0] == []
    assert {t.key for t in release.tests} == set(MODULAR_CHECKS)


def test_coursekit_check_catches_the_modular_mistakes(course):
    """Does `coursekit check` build the modular flow for its mistakes, find its solutions full and its
    release empty, and catch every modular mistake (the course itself being on the neural_net flow)?"""
    modular_ids = [m.id for m in load_catalogue(course.root / "autograder" / "mistakes.toml") if m.flow == "modular"]
    assert len(modular_ids) >= 5
    report = run_selfcheck(course, fast=True, only=modular_ids, escalate=False)
    assert report.problems == []
    assert [r.mistake.id for r in report.mistakes] == modular_ids
    assert [r.mistake.id for r in report.uncaught] == []


def _with(course, **changes):
    assignment = dataclasses.replace(course.assignment("two_layer_net"), **changes)
    return dataclasses.replace(course, assignments=MappingProxyType({**course.assignments,
                                                                    "two_layer_net": assignment}))


def test_an_unknown_flow_is_named(course, tmp_path):
    """Is a flow the grader does not know a ConfigError naming the key and the flows it knows?"""
    with pytest.raises(ConfigError, match=r"'assignments\.two_layer_net\.flow' is 'modulr'.*'neural_net', "
                                          r"'modular'.*Did you mean 'modular'"):
        grade_submission(_with(course, flow="modulr"), "two_layer_net", tmp_path, fast=True)


def test_a_flow_on_fc_net_is_refused(course, tmp_path):
    """Is a flow key on the one-flow fc_net assignment a ConfigError saying to remove it?"""
    fc = dataclasses.replace(course.assignment("fc_net"), flow="modular")
    broken = dataclasses.replace(course, assignments=MappingProxyType({**course.assignments, "fc_net": fc}))
    with pytest.raises(ConfigError, match=r"'assignments\.fc_net\.flow'.*one flow for fc_net: remove the key"):
        grade_submission(broken, "fc_net", tmp_path, fast=True)


def test_points_of_the_other_flow_are_named(course, modular, tmp_path):
    """Does `flow = "modular"` without the modular points table (the neural_net flow's points left)
    give a ConfigError naming the points key and the flow?"""
    text = (course.root / "course.toml").read_text().replace('flow = "neural_net"', 'flow = "modular"')
    start = text.index("[assignments.two_layer_net.flows.modular.points]")
    text = text[:start] + text[text.index("[assignments.two_layer_net.flows.modular.train]"):]
    (tmp_path / "course.toml").write_text(text)
    switched = load_config(tmp_path / "course.toml")
    names = [c.name for c in build_checks(modular, "two_layer_net")] + ["cifar_accuracy", "saved_model"]
    with pytest.raises(ConfigError, match=r"key 'assignments\.two_layer_net\.points\.scores' names no check "
                                          r"of the grader \(flow 'modular'\)"):
        validate_assignment(switched, "two_layer_net", names)


def test_grade_train_of_the_other_flow_is_named(modular, tmp_path):
    """Is a grade_train key of the other flow (the neural_net net's hidden_size) a ConfigError naming it?"""
    hyper = MappingProxyType({**modular.assignment("two_layer_net").grade_train, "hidden_size": 100})
    broken = _with(modular, grade_train=hyper)
    with pytest.raises(ConfigError, match=r"'assignments\.two_layer_net\.flows\.modular\.grade_train\.hidden_size' "
                                          r"\(flow 'modular'\)"):
        grade_submission(broken, "two_layer_net", tmp_path, fast=True)
