"""The stop rule of the grader's training run: when it stops, what it scores, and why it cannot be fooled
by the noise of its own looks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.grade import models
from coursekit.grade.checks import accuracy, training_rule
from coursekit.grade.checks.training_rule import STOP_MARGIN, Looks, TrainingRule, score_weights
from coursekit.grade.sandbox.replies import Outcome

RULE = TrainingRule("fc_net", bar=0.46, look_every=120, steps=1200, hidden_dims=(10, 10), normalization="batchnorm")
NOISE_RUNS = 20_000  # simulated runs of a net whose looks are binomial draws


def scripted(accuracies):
    """Looks whose scores are ``accuracies`` in turn (a ModelError where an item is an exception)."""
    looks = Looks(RULE, data={})
    feed = iter(accuracies)

    def accuracy(outputs):
        value = next(feed)
        if isinstance(value, Exception):
            raise value
        return value

    looks.accuracy = accuracy
    return looks


def test_the_run_stops_at_the_first_look_at_the_bar_plus_the_margin():
    """Does the rule go on below the bar + 0.03 (a look at the bar itself included) and stop at the first look
    at or above it, scoring the run with that look?"""
    looks = scripted([0.40, 0.46, 0.489, 0.49, 0.52])
    assert RULE.stop_at == 0.49
    assert [looks.on_look("t", Outcome(True)) for _ in range(4)] == [False, False, False, True]
    score = looks.result(Outcome(True))
    assert (score.accuracy, score.stopped_at) == (0.49, 4 * RULE.look_every)
    assert [step for step, _ in score.looks] == [120, 240, 360, 480]


def test_a_run_that_never_gets_there_is_judged_once_on_what_training_returns():
    """Is a run whose looks all stay below the bar + 0.03 scored on its final weights, once, whatever its
    best look was?"""
    looks = scripted([0.40, 0.47, 0.48, 0.45])
    assert not any(looks.on_look("t", Outcome(True)) for _ in range(3))
    score = looks.result(Outcome(True))
    assert (score.accuracy, score.stopped_at) == (0.45, None)
    detail = training_rule.describe(score, RULE, RULE.bar)
    assert "0.450, below 0.46, at the end of training" in detail and "best look 0.480" in detail


def test_unusable_weights_at_a_look_do_not_stop_or_fail_the_run():
    """Do NaN weights at one look count as no score (no stop), with the end judged on its own?"""
    looks = scripted([models.ModelError("NaN"), 0.50])
    assert looks.on_look("t", Outcome(True)) is False and looks.on_look("t", Outcome(True)) is True
    assert looks.result(Outcome(True)).looks == ((120, None), (240, 0.50))
    ended = scripted([models.ModelError("'W1' contains NaN")])
    score = ended.result(Outcome(True))
    assert score.accuracy is None and "NaN" in score.error


def test_a_failed_run_has_no_score():
    """Is a training task that failed (crashed, out of time) left to its own error, with no score?"""
    assert scripted([]).result(Outcome(False, error="the check used more than 300 s of CPU time")) is None


def test_looks_score_with_the_kits_forward_pass_on_held_out_images():
    """Does a look score the weights with the kit's own forward pass (batchnorm statistics recomputed from
    training images) on the first RULE_IMAGES held-out images, never on the others?"""
    rng = np.random.default_rng(0)
    n = training_rule.RULE_IMAGES
    data = {"X_heldout": rng.standard_normal((n + 50, 3, 32, 32)).astype(np.float32),
            "y_heldout": rng.integers(0, 10, n + 50), "X_train": rng.standard_normal((300, 3, 32, 32)).astype(np.float32)}
    dims = [3072, 10, 10, 10]
    outputs = {}
    for i in range(1, 4):
        outputs[f"param_W{i}"] = rng.standard_normal((dims[i - 1], dims[i])) * 0.05
        outputs[f"param_b{i}"] = rng.standard_normal(dims[i])
        if i < 3:
            outputs[f"param_gamma{i}"], outputs[f"param_beta{i}"] = np.ones(dims[i]), np.zeros(dims[i])
            outputs[f"running_mean{i}"], outputs[f"running_var{i}"] = np.zeros(dims[i]), np.ones(dims[i])
    params = {k[len("param_"):] if k.startswith("param_") else k: v for k, v in outputs.items()}
    X = data["X_heldout"][:n].reshape(n, -1).astype(np.float64)
    stats = data["X_train"].reshape(300, -1).astype(np.float64)
    expected = models.accuracy(models.fc_scores(models.recalibrate_batchnorm(params, stats, 3), X, 3, "batchnorm"),
                               data["y_heldout"][:n])
    assert Looks(RULE, data).accuracy(outputs) == pytest.approx(expected, abs=2 / n)  # float32: a tie or two
    assert score_weights(RULE, outputs, X.astype(np.float32), data["y_heldout"][:n],
                         stats.astype(np.float32)) == Looks(RULE, data).accuracy(outputs)


def _normal_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize("target", ["two_layer_net", "two_layer_net/modular", "fc_net"])
def test_a_net_below_the_bar_gains_nothing_from_the_looks(course, target):
    """For each course run (its bar, its number of looks), is the chance that a net whose true accuracy is the
    bar itself stops early at most 1e-3 (union bound over the looks), and does a simulation of a net 0.01 below
    the bar never stop early, where a rule that stopped at the bar on 1,000 images would stop it often?"""
    assignment_id, _, flow = target.partition("/")
    switched = course.with_flow(assignment_id, flow) if flow else course
    assignment = switched.assignment(assignment_id)
    rule = accuracy.training_rule(assignment_id, assignment.grade_train, assignment.thresholds, 49_000,
                                  flow or ("neural_net" if assignment_id == "two_layer_net" else ""))
    looks = rule.steps // rule.look_every
    sigma = math.sqrt(rule.bar * (1 - rule.bar) / training_rule.RULE_IMAGES)
    assert looks * _normal_tail(STOP_MARGIN / sigma) < 1e-3
    rng = np.random.default_rng(0)
    below = rule.bar - 0.01
    ours = rng.binomial(training_rule.RULE_IMAGES, below, (NOISE_RUNS, looks)) / training_rule.RULE_IMAGES
    naive = rng.binomial(1_000, below, (NOISE_RUNS, looks)) / 1_000
    assert not (ours >= rule.stop_at).any(axis=1).any()
    assert (naive >= rule.bar).any(axis=1).mean() > 0.3
