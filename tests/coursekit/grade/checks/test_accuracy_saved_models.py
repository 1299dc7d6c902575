"""Saved models are read in a sandboxed child and scored with the kit's own forward pass.

These use a small fake split instead of CIFAR-10: the checks under test are the loading,
the validation of keys, shapes and dtypes, the threshold and the review flag.
"""
import numpy as np
import pytest

from coursekit.grade import models, saved_models
from coursekit.grade.checks.accuracy import saved_model_check, score_saved_model
from coursekit.grade.sandbox.parent import Sandbox
from coursekit.grade.submission import stage_submission

D, H, C = 3072, 12, 10


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3, 32, 32)).astype(np.float32)
    return {"X_test": X, "y_test": rng.integers(0, C, 40), "X_val": X, "y_val": rng.integers(0, C, 40),
            "X_train": rng.standard_normal((60, 3, 32, 32)).astype(np.float32)}


def two_layer_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"arch": np.array("two_layer_net"), "W1": rng.standard_normal((D, H)) * 1e-2,
            "b1": np.zeros(H), "W2": rng.standard_normal((H, C)), "b2": np.zeros(C)}


def fc_arrays(normalization="batchnorm"):
    rng = np.random.default_rng(1)
    dims = [D, 8, 6, C]
    arrays = {"arch": np.array("fc_net"), "normalization": np.array(normalization),
              "hidden_dims": np.array(dims[1:-1], dtype=np.int64)}
    for i in range(1, 4):
        arrays[f"W{i}"] = rng.standard_normal((dims[i - 1], dims[i])) * 1e-2
        arrays[f"b{i}"] = np.zeros(dims[i])
        if i < 3 and normalization != "none":
            arrays[f"gamma{i}"], arrays[f"beta{i}"] = np.ones(dims[i]), np.zeros(dims[i])
        if i < 3 and normalization == "batchnorm":
            arrays[f"running_mean{i}"], arrays[f"running_var{i}"] = np.zeros(dims[i]), np.ones(dims[i])
    return arrays


def grade(course, tmp_path, data, assignment, arrays=None, thresholds=None, raw=None):
    """Save ``arrays`` (or ``raw`` bytes) as the kit's .npz in a submission and score it as the
    pipeline does: staged, read in a sandboxed child, scored in the parent."""
    submission = tmp_path / "submission"
    submission.mkdir()
    name = {"two_layer_net": "best_two_layer_net.npz", "fc_net": "best_fc_net.npz"}[assignment]
    if arrays is not None:
        np.savez(submission / name, **arrays)
    if raw is not None:
        (submission / name).write_bytes(raw)
    split = "test_accuracy" if assignment == "two_layer_net" else "val_accuracy"
    thresholds = thresholds or {split: 0.0, "review_above": 1.0}
    box = Sandbox(submission=None, limits=course.limits)
    try:
        box.prepare()
        stage_submission(course, assignment, submission, box.code_dir,
                         saved_models=saved_models.SAVED_FILES[assignment], saved_bytes=saved_models.MAX_FILE_BYTES)
        loaded = box.run_tasks([saved_models.load_task(assignment, course.limits.check_seconds)])["saved_model.load"]
        return saved_model_check(assignment, score_saved_model(assignment, loaded, data), thresholds)[1]
    finally:
        box.close()


def test_a_valid_model_passes_every_case(quick_course, tmp_path, data):
    """Does a well-formed two-layer model load, validate and get scored?"""
    results = grade(quick_course, tmp_path, data, "two_layer_net", two_layer_arrays())
    assert all(r.passed for r in results), results
    assert "accuracy" in results[2].detail


@pytest.mark.parametrize("normalization", ["none", "batchnorm", "layernorm"])
def test_fc_models_of_every_normalization_are_scored(quick_course, tmp_path, data, normalization):
    """Is a saved FullyConnectedNet with each normalization scored by the kit's forward pass?"""
    assert all(r.passed for r in grade(quick_course, tmp_path, data, "fc_net", fc_arrays(normalization)))


@pytest.mark.parametrize("normalization", ["none", "batchnorm", "layernorm"])
def test_kit_forward_pass_matches_the_solution(course, data, normalization):
    """Does the kit's own fc forward pass agree with the solution's FullyConnectedNet in test mode?"""
    from coursekit.solution import solution_module

    arrays = fc_arrays(normalization)
    if normalization == "batchnorm":
        arrays["running_mean1"], arrays["running_var1"] = np.full(8, 0.1), np.full(8, 2.0)
    model = solution_module(course, "classifiers.fc_net").FullyConnectedNet(
        [8, 6], normalization=None if normalization == "none" else normalization, dtype=np.float64)
    model.params = {k: v for k, v in arrays.items() if k[0] in "Wbg"}
    if normalization == "batchnorm":
        for i, bn_param in enumerate(model.bn_params, start=1):
            bn_param.update(running_mean=arrays[f"running_mean{i}"], running_var=arrays[f"running_var{i}"])
    params, layers, norm = models.validate_fc(arrays, "best_fc_net.npz", D, C)
    X = data["X_val"].astype(np.float64)
    np.testing.assert_allclose(models.fc_scores(params, X, layers, norm), model.loss(X), rtol=1e-10)


@pytest.mark.parametrize("fault, words", [
    ("missing", "no saved model"),
    ("pickled", "plain numbers"),
    ("not a zip", "not a valid .npz"),
    ("wrong shape", "shape"),
    ("missing key", "'b2' is missing"),
    ("extra key", "unexpected keys"),
    ("nan", "NaN"),
    ("integer weights", "dtype"),
    ("wrong arch", "expected 'two_layer_net'"),
])
def test_a_broken_model_file_fails_with_a_reason(quick_course, tmp_path, data, fault, words):
    """Is a missing, pickled, malformed or non-finite model refused with a message saying why?"""
    arrays = two_layer_arrays()
    raw = None
    if fault == "missing":
        arrays = None
    elif fault == "pickled":
        arrays["W1"] = np.array([{"evil": 1}], dtype=object)
    elif fault == "not a zip":
        arrays, raw = None, b"print('hello')"
    elif fault == "wrong shape":
        arrays["W2"] = arrays["W2"][:, :5]
    elif fault == "missing key":
        del arrays["b2"]
    elif fault == "extra key":
        arrays["X_test"] = np.zeros(3)
    elif fault == "nan":
        arrays["b1"] = np.full(H, np.nan)
    elif fault == "integer weights":
        arrays["W1"] = arrays["W1"].astype(np.int64)
    elif fault == "wrong arch":
        arrays["arch"] = np.array("fc_net")
    results = grade(quick_course, tmp_path, data, "two_layer_net", arrays, raw=raw)
    assert not results[2].passed
    assert any(words in r.detail for r in results), [r.detail for r in results]


def test_implausibly_high_accuracy_is_flagged_for_review(quick_course, tmp_path, data):
    """Is a saved model above review_above flagged for review, without losing points?"""
    results = grade(quick_course, tmp_path, data, "two_layer_net", two_layer_arrays(),
                    thresholds={"test_accuracy": 0.0, "review_above": -1.0})
    assert results[2].passed
    assert "implausibly high" in results[2].review


def test_a_model_below_the_threshold_fails(quick_course, tmp_path, data):
    """Does a model below the accuracy threshold lose that case and say by how much?"""
    results = grade(quick_course, tmp_path, data, "two_layer_net", two_layer_arrays(),
                    thresholds={"test_accuracy": 0.99, "review_above": 1.0})
    assert results[0].passed and results[1].passed and not results[2].passed
    assert "below 0.99" in results[2].detail


def test_squeezable_shapes_are_scored(quick_course, tmp_path, data):
    """Is a model whose biases have shape (1, H) (keepdims=True) scored like the same model with (H,)?"""
    flat, keep = two_layer_arrays(), two_layer_arrays()
    keep.update(b1=keep["b1"].reshape(1, -1) + 0.1, b2=keep["b2"].reshape(1, -1))
    flat.update(b1=flat["b1"] + 0.1)
    scores = {}
    for name, arrays in (("flat", flat), ("keep", keep)):
        params = models.validate_two_layer(arrays, name, D, C)
        scores[name] = models.two_layer_scores(params, data["X_test"].reshape(40, -1).astype(np.float64))
    np.testing.assert_array_equal(scores["flat"], scores["keep"])
    with pytest.raises(models.ModelError, match="shape"):
        models.validate_two_layer({**flat, "b1": np.zeros((2, H))}, "wrong", D, C)
