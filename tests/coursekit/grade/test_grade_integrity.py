"""Points only for the work: submissions that try to earn them without it.

Each test writes a small hostile submission from the solution and grades it as the
grader would: recorded answers replayed, a fake training history, a net that skips
dropout, an all-zero dropout, a Solver fed the scored split, a hang shared with training.
"""
import json

import numpy as np
import pytest

from coursekit.grade import grade_submission
from coursekit.grade.checks import accuracy
from coursekit.grade.checks.base import reference, rng_for
from coursekit.grade.pipeline import build_checks

from .conftest import copy_solution, inject

LAYERS = "cs231n/layers.py"
NET = "cs231n/classifiers/neural_net.py"


def by_key(report):
    return {t.key: t for t in report.tests}


def test_hidden_cases_change_with_the_seed_and_public_ones_do_not(course):
    """Are the hidden inputs drawn from the grade's seed, and the public ones fixed?"""
    first, second = (build_checks(course, "fc_net", hidden_seed=seed) for seed in (1, 2))
    affine = [c for c in first if c.name == "affine_forward"][0]
    other = [c for c in second if c.name == "affine_forward"][0]
    public = [t for t in affine.tasks if "hidden-" not in t.id]
    hidden = [t for t in affine.tasks if "hidden-" in t.id]
    assert public and hidden
    assert np.array_equal(public[0].inputs["x"], [t for t in other.tasks if "hidden-" not in t.id][0].inputs["x"])
    assert not np.array_equal(hidden[0].inputs["x"], [t for t in other.tasks if "hidden-" in t.id][0].inputs["x"])


def test_replayed_public_answers_earn_nothing(quick_course, tmp_path):
    """Does an affine_forward that returns the public case's recorded answer score 0, and is
    no reference value of a hidden case shown?"""
    rng = rng_for("affine")  # the public inputs, which the self-check and the feedback show
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((8, 5)), rng.standard_normal(5)
    spec = {"target": "cs231n.layers:affine_forward", "args": [{"a": "x"}, {"a": "w"}, {"a": "b"}],
            "returns": ["out", None]}
    recorded = reference("call", spec, {"x": x, "w": w, "b": b})["out"]
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "affine_forward",
           f"out = np.array({recorded.tolist()!r})\ncache = (x, w, b)")
    report = grade_submission(quick_course, "fc_net", submission, fast=True, seed=7,
                              results_path=tmp_path / "results.json")
    test = by_key(report)["affine_forward"]
    public = [c for c in test.cases if c.public]
    assert public and all(c.passed for c in public)  # the value and its shape
    assert test.score == 0
    hidden = [c for c in test.cases if not c.public]
    assert hidden and all(not c.passed and "expected [" not in c.detail for c in hidden)
    assert all("differ" in c.detail for c in hidden)
    assert json.loads((tmp_path / "results.json").read_text())["extra_data"]["hidden_seed"] == 7


def test_a_fake_loss_history_does_not_earn_toy_training(quick_course, tmp_path):
    """Does a train() that returns a made-up falling loss_history without training fail?"""
    submission = copy_solution(quick_course, "two_layer_net", tmp_path / "submission")
    inject(submission, NET, "train", "loss_history[-1] = 2.0 / (it + 1)  # and no SGD step", region=1)
    test = by_key(grade_submission(quick_course, "two_layer_net", submission, fast=True))["toy_training"]
    final = [c for c in test.cases if c.label == "final loss" and not c.public][0]
    assert not final.passed
    assert "recomputed by the grader" in final.detail


def test_a_net_without_dropout_loses_fc_loss_and_fc_gradients(quick_course, tmp_path):
    """Does a dropout that returns x unchanged in train mode lose the dropout cases of the net?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "dropout_forward", "mask = np.ones_like(x)\nout = x * mask\ncache = (dropout_param, mask)")
    tests = by_key(grade_submission(quick_course, "fc_net", submission, fast=True))
    for key, words in (("fc_loss", "the same for two different dropout seeds"),
                       ("fc_gradients", "those of the same net without dropout")):
        failed = [c for c in tests[key].cases if not c.passed]
        assert failed and all("dropout" in c.label and words in c.detail for c in failed), \
            (key, [(c.label, c.detail) for c in failed])
        assert tests[key].score < tests[key].max_score


def test_an_all_zero_dropout_does_not_earn_dropout_backward(quick_course, tmp_path):
    """Does a dropout that zeroes everything, with a backward pass consistent with it, fail?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "dropout_forward", "mask = np.zeros_like(x)\nout = x * mask\ncache = (dropout_param, mask)")
    test = by_key(grade_submission(quick_course, "fc_net", submission, fast=True))["dropout_backward"]
    assert test.score == 0
    assert any("no unit was kept" in c.detail for c in test.cases)


@pytest.mark.parametrize("assignment", ["two_layer_net", "fc_net"])
def test_the_scored_split_never_reaches_the_child(assignment):
    """Is no image or label of the held-out images the parent scores the training run on among the
    training task's inputs?"""
    rng = np.random.default_rng(0)
    sizes = (("train", 200), ("val", 30), ("test", 30), ("heldout", 30))
    data = {f"X_{s}": rng.standard_normal((n, 3, 32, 32)).astype(np.float32) for s, n in sizes}
    data.update({f"y_{s}": rng.integers(0, 10, n) for s, n in sizes})
    hyper = {"two_layer_net": {"hidden_size": 10, "std": 1e-4, "num_iters": 5},
             "fc_net": {"hidden_dims": [10], "num_epochs": 1}}[assignment]
    check = accuracy.training_check(assignment, hyper, {"test_accuracy": 0.1, "val_accuracy": 0.1}, data, 60.0)
    split = "heldout"
    scored = data[f"X_{split}"].reshape(len(data[f"X_{split}"]), -1)
    for task in check.tasks:
        task = accuracy.resolve_inputs(task, data)  # the arrays the child receives
        for name, value in task.inputs.items():
            rows = value.reshape(len(value), -1) if value.ndim > 1 else None
            if rows is not None and rows.shape[1] == scored.shape[1]:
                assert not any((rows == image).all(axis=1).any() for image in scored), (name, split)
        assert not any(v is data[f"y_{split}"] for v in task.inputs.values())


def test_a_hang_found_by_a_quick_check_stops_the_training_at_once(quick_course, tmp_path, monkeypatch):
    """Does training that calls a function found hanging elsewhere fail with that reason instead of
    waiting out its own deadline?"""
    rng = np.random.default_rng(0)
    tiny = {f"X_{s}": rng.standard_normal((n, 3, 32, 32)).astype(np.float32) for s, n in
            (("train", 300), ("val", 30), ("test", 30))}
    tiny.update({f"y_{s}": rng.integers(0, 10, n) for s, n in (("train", 300), ("val", 30), ("test", 30))})
    monkeypatch.setattr(accuracy, "check_cifar10_files", lambda course: None)
    monkeypatch.setattr(accuracy, "load_cifar10", lambda course: tiny)
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "affine_forward", "while True:\n    pass")
    tests = by_key(grade_submission(quick_course, "fc_net", submission))
    training = [c for c in tests["cifar_accuracy"].cases]
    assert training and not any(c.passed for c in training)
    assert all("did not finish in an earlier check" in c.detail for c in training), [c.detail for c in training]
