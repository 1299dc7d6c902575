"""The hidden inputs of the two-layer checks can reveal what they test (coursekit/grade/checks/two_layer.py)."""
import numpy as np

from coursekit.grade.checks import two_layer
from coursekit.grade.checks.base import building, rng_for


def _best_scores(inputs):
    hidden = np.maximum(inputs["X"] @ inputs["param_W1"] + inputs["param_b1"], 0)
    return (hidden @ inputs["param_W2"] + inputs["param_b2"]).max(axis=1)


def test_predict_inputs_have_best_scores_of_both_signs():
    """A net that clips its scores (a ReLU on them) predicts right wherever the best score is
    positive: it passed predict on half the grade seeds.  Over 1,000 hidden builds, do the
    predict inputs always hold rows of both signs, redrawn where the first draw had none?"""
    redrawn = 0
    for seed in range(1000):
        with building(seed, hidden=True):
            inputs = two_layer._predict_inputs()
            first = 3 * rng_for("predict-X").standard_normal((two_layer.PREDICT_N, two_layer.D))
        best = _best_scores(inputs)
        assert min(np.count_nonzero(best < 0), np.count_nonzero(best > 0)) >= two_layer.PREDICT_MIN_ROWS
        redrawn += not np.array_equal(inputs["X"], first)
    assert redrawn > 100  # about 3 draws in 4 are redrawn


def test_the_public_predict_inputs_are_the_first_draw():
    inputs = two_layer._predict_inputs()
    assert np.array_equal(inputs["X"], 3 * rng_for("predict-X").standard_normal((two_layer.PREDICT_N, two_layer.D)))
