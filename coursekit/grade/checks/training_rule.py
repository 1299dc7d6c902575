"""How the grader's own training run is judged while it trains: the looks and the stop rule.

The child hands back the net's weights every ``look_every`` steps (and once more at the end);
the parent scores each set with the kit's own forward pass (:mod:`..models`, float32) on
``RULE_IMAGES`` held-out CIFAR-10 test images that no student and no grading child ever gets
(``X_heldout``, :mod:`coursekit.data.split`).  The rule:

- a look at or above ``stop_at`` (the bar + ``STOP_MARGIN``) ends the run at once: that
  accuracy is the score (full points);
- a run that never gets there trains to the end of its ``grade_train`` schedule (the budget
  left is for nets that learn slowly) and is judged once, on the weights its training returns,
  against the bar (and the near-miss bar).

Why a margin above the bar, and 5,000 images: a look is a noisy estimate (standard deviation
at most 0.5 / sqrt(5,000) = 0.0071), and a rule that stopped at the first look that clears the
bar would select on that noise (a net at 0.45 clears 0.46 on 1,000 images at one look in 26 % of
runs).  A net whose true accuracy is the bar reaches the bar + 0.03 at one look with probability
Phi(-0.03 / 0.0071) = 1.0e-5, so over the at most 24 looks of a course's run at most 1.2e-4
(union bound, whatever the looks' noise has in common); a net 0.01 below the bar, under 1e-7.
Such a net passes only at the end, judged once on 5,000 images (7 to 8 % of the time at 0.01
below the bar, against 25 % on the 1,000 images the grader scored before).  So a net below the
bar gains nothing from being looked at early, and a net the rule stops is above the bar in truth.
The README ("Threshold margins") has the measured figures.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .. import models

STOP_MARGIN = 0.03  # a run stops at the first look this far above the bar
RULE_IMAGES = 5_000  # held-out images each look scores: X_heldout[:RULE_IMAGES]
STATS_IMAGES = 2_000  # training images whose statistics replace a batchnorm net's running averages
HELDOUT = "held-out"  # the split's name in the report
INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10


@dataclass(frozen=True)
class TrainingScore:
    """What the parent measured of the grader's training run (small: it goes back to the client)."""

    accuracy: float | None = None  # the score the points depend on (None: unusable weights)
    stopped_at: int | None = None  # the step of the look that stopped the run; None: it trained to the end
    looks: tuple[tuple[int, float | None], ...] = ()  # (step, held-out accuracy) of every look
    error: str = ""  # why the final weights could not be scored


@dataclass(frozen=True)
class TrainingRule:
    """The stop rule of one grade's training run (plain data: it travels in the job to a worker)."""

    assignment_id: str
    bar: float
    look_every: int  # steps between two looks
    steps: int  # steps of the whole grade_train schedule
    hidden_dims: tuple[int, ...] = ()  # fc_net only
    normalization: str = "none"

    @property
    def stop_at(self) -> float:
        return round(self.bar + STOP_MARGIN, 3)

    def looks(self, data: Mapping[str, np.ndarray]) -> "Looks":
        """The looks of one run, scored on ``data`` (read on the first look)."""
        return Looks(self, data)


class Looks:
    """One run's looks, in the order they come: which accuracy each had, and whether to stop."""

    def __init__(self, rule: TrainingRule, data: Mapping[str, np.ndarray]):
        self.rule, self.data = rule, data
        self.seen: list[tuple[int, float | None]] = []
        self.stopped = False

    def on_look(self, task_id: str, outcome) -> bool:
        """Score the weights of one look (an Outcome of the child's); True: stop the run now."""
        step = (len(self.seen) + 1) * self.rule.look_every  # counted here, not taken from the child
        try:
            acc = self.accuracy(outcome.outputs)
        except models.ModelError:
            acc = None  # say, NaN weights mid-training: not a stop, and the end is judged again
        self.seen.append((step, acc))
        self.stopped = acc is not None and acc >= self.rule.stop_at
        return self.stopped

    def result(self, outcome) -> TrainingScore | None:
        """The run's score: the stopping look's, else that of the weights its training returned."""
        if outcome is None or not outcome.ok:
            return None
        looks = tuple(self.seen)
        if self.stopped:
            return TrainingScore(self.seen[-1][1], self.seen[-1][0], looks)
        try:
            return TrainingScore(self.accuracy(outcome.outputs), None, looks)
        except models.ModelError as err:
            return TrainingScore(None, None, looks, str(err))

    @functools.cached_property
    def _held(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, labels) the looks score, and the batchnorm statistics' images: float32 rows, views."""
        X = self.data["X_heldout"][:RULE_IMAGES]
        stats = self.data["X_train"][:STATS_IMAGES]
        return (np.asarray(X, np.float32).reshape(len(X), -1), self.data["y_heldout"][:RULE_IMAGES],
                np.asarray(stats, np.float32).reshape(len(stats), -1))

    def accuracy(self, outputs: Mapping[str, np.ndarray]) -> float:
        """The held-out accuracy of the weights in ``outputs``; ModelError if they make no usable net."""
        return score_weights(self.rule, outputs, *self._held)


def score_weights(rule: TrainingRule, outputs: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                  X_stats: np.ndarray) -> float:
    """Accuracy on (X, y) of the net whose ``param_*`` (and ``running_*``) arrays are in ``outputs``,
    with the kit's forward pass in float32; a batchnorm net's statistics recomputed from ``X_stats``."""
    arrays = {k[len("param_"):]: v for k, v in outputs.items() if k.startswith("param_")}
    arrays.update({k: v for k, v in outputs.items() if k.startswith("running_")})
    if rule.assignment_id == "two_layer_net":
        arrays["arch"] = np.array("two_layer_net")
        params = _float32(models.validate_two_layer(arrays, "the trained net", INPUT_DIM, NUM_CLASSES))
        return models.accuracy(models.two_layer_scores(params, X), y)
    arrays.update(arch=np.array("fc_net"), normalization=np.array(rule.normalization),
                  hidden_dims=np.array(rule.hidden_dims, dtype=np.int64))
    params, layers, norm = models.validate_fc(arrays, "the trained net", INPUT_DIM, NUM_CLASSES)
    params = _float32(params)
    if norm == "batchnorm":
        params = models.recalibrate_batchnorm(params, X_stats, layers)
    return models.accuracy(models.fc_scores(params, X, layers, norm), y)


def _float32(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: value.astype(np.float32) for key, value in params.items()}


def describe(score: TrainingScore, rule: TrainingRule, bar: float) -> str:
    """The case's detail for ``bar``: the score, and how the rule came to it."""
    acc = score.accuracy
    text = f"{HELDOUT} accuracy {acc:.3f}" + ("" if acc >= bar else f", below {bar}")
    if score.stopped_at is not None:
        return (text + f", at step {score.stopped_at:,} of {rule.steps:,}: training stopped there, at the "
                f"first look at or above {rule.stop_at} (the bar {rule.bar} + {STOP_MARGIN})")
    usable = [a for _, a in score.looks if a is not None]
    best = f" (best look {max(usable):.3f})" if usable else ""
    return (text + f", at the end of training: no look every {rule.look_every:,} steps reached "
            f"{rule.stop_at}{best}, so the weights training returned were scored")
