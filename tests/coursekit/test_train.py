"""Training on the real CIFAR-10 through coursekit.train, with the grader's short configurations.

The reference trainings themselves (course.toml [train]: 4,000 iterations, and [1024, 512]
for 20 epochs) take minutes; they are measured by the benchmark
(``python -m bench --only reference``), and the README quotes its figures. Here the same
pipeline (the 49,000 / 1,000 / 1,000 split with the mean image subtracted, the annotated
solution, ``train_reference``) trains with ``[assignments.*.grade_train]``, which needs
seconds, and must clear the thresholds the grader holds students to. The grader's own
training, in its sandbox, is covered by tests/coursekit/grade/test_grade_full.py.
"""
import json
import os
from pathlib import Path

import pytest

from coursekit.cli import main
from coursekit.config import load_config
from coursekit.train import train_reference

ROOT = Path(__file__).resolve().parents[2]

# assignment -> (split whose accuracy the grader scores, its key in [assignments.*.thresholds])
GRADED_ACCURACY = {"two_layer_net": ("test", "test_accuracy"), "fc_net": ("val", "val_accuracy")}
REFERENCE_ITERS = "num_iters = 4000"  # the two-layer [train] line that the short course rewrites
SHORT_ITERS = 50  # iterations of the short `coursekit train` run: enough for a curve
MIN_PNG_BYTES = 10_000  # two plotted panels; an empty figure is smaller
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


@pytest.mark.dataset
@pytest.mark.parametrize("assignment", sorted(GRADED_ACCURACY))
def test_grade_train_config_clears_the_grader_threshold(course, cifar10_data, one_blas_thread, assignment):
    """Does the solution, trained on CIFAR-10 with grade_train, clear the bar of the grader's own run
    (``grade_train_<key>`` where the course sets one: see autograder/margin.py)?"""
    from coursekit.grade.checks.accuracy import grader_run_threshold

    split, key = GRADED_ACCURACY[assignment]
    settings = course.assignment(assignment)
    result = train_reference(course, assignment, None, progress=False, data=cifar10_data,
                             overrides=settings.grade_train)
    print(f"{assignment} (grade_train): val {result.val_accuracy:.3f}, test {result.test_accuracy:.3f}")
    assert getattr(result, f"{split}_accuracy") >= grader_run_threshold(settings.thresholds, key)


@pytest.fixture
def short_course_file(tmp_path, cifar10_dir, monkeypatch):
    """course.toml with a two-layer [train] of SHORT_ITERS iterations, beside a link to source/."""
    text = (ROOT / "course.toml").read_text()
    assert text.count(REFERENCE_ITERS) == 1, f"course.toml no longer has one '{REFERENCE_ITERS}'"
    root = tmp_path / "course"
    root.mkdir()
    (root / "course.toml").write_text(text.replace(REFERENCE_ITERS, f"num_iters = {SHORT_ITERS}"))
    os.symlink(ROOT / "source", root / "source")
    monkeypatch.setenv("CIFAR10_DIR", str(cifar10_dir))
    return root / "course.toml"


@pytest.mark.dataset
def test_coursekit_train_writes_curves_and_metrics(short_course_file, one_blas_thread, tmp_path, capsys):
    """Does `coursekit train` write curves.png and a metrics.json with the accuracies it prints?"""
    out = tmp_path / "out"
    code = main(["--config", str(short_course_file), "train", "two_layer_net", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    curves, metrics = out / "two_layer_net" / "curves.png", out / "two_layer_net" / "metrics.json"
    assert curves.read_bytes().startswith(PNG_MAGIC) and curves.stat().st_size > MIN_PNG_BYTES
    written = json.loads(metrics.read_text())
    assert written["assignment"] == "two_layer_net"
    assert written["hyperparameters"]["num_iters"] == SHORT_ITERS
    assert len(written["history"]["loss_history"]) == SHORT_ITERS
    assert f"val accuracy {written['val_accuracy']:.3f}" in printed
    assert f"test accuracy {written['test_accuracy']:.3f}" in printed


def test_training_bar_stays_out_of_a_redirected_log(capsys):
    """Asked for a progress bar while stderr is not a terminal (a redirected log), does training draw none?"""
    from coursekit.train import _Progress

    class Model:
        def loss(self, X, y=None):
            return (1.0, {}) if y is not None else X

    model = Model()
    bar = _Progress(model, total=3, enabled=True, desc="fc_net")
    for _ in range(3):
        model.loss(0, 1)
    bar.close(model)
    assert capsys.readouterr().err == ""


@pytest.mark.dataset
def test_modular_grade_train_clears_the_grader_threshold(course, cifar10_data, one_blas_thread):
    """Does the 2021+ TwoLayerNet (the modular flow), trained by its Solver with grade_train, clear 0.36?"""
    modular = course.with_flow("two_layer_net", "modular")
    settings = modular.assignment("two_layer_net")
    result = train_reference(modular, "two_layer_net", None, progress=False, data=cifar10_data,
                             overrides=settings.grade_train)
    print(f"two_layer_net/modular (grade_train): val {result.val_accuracy:.3f}, test {result.test_accuracy:.3f}")
    assert type(result.model).__module__ == "cs231n.classifiers.fc_net"
    assert result.test_accuracy >= settings.thresholds["test_accuracy"]
    assert len(result.history["val_acc_history"]) == settings.grade_train["num_epochs"] + 1


@pytest.mark.parametrize("kind", ["two_layer_net", "modular", "batchnorm", "layernorm"])
def test_kit_model_files_are_read_by_the_grader(tmp_path, kind):
    """Does write_kit_model (the sample model of `coursekit demo` and `check`) write what the grader's
    saved_model check reads without pickle, scoring as the net itself does?"""
    import numpy as np

    from cs231n.classifiers import fc_net, neural_net
    from coursekit.grade import models
    from coursekit.train import write_kit_model

    D, C = 12, 4
    np.random.seed(0)
    rng = np.random.default_rng(1)
    if kind == "two_layer_net":
        net = neural_net.TwoLayerNet(D, 6, C, std=0.1)
    elif kind == "modular":
        net = fc_net.TwoLayerNet(input_dim=D, hidden_dim=6, num_classes=C, weight_scale=0.1)
    else:
        net = fc_net.FullyConnectedNet([7, 5], input_dim=D, num_classes=C, normalization=kind, weight_scale=0.5,
                                       dtype=np.float64)
        net.loss(rng.standard_normal((20, D)), rng.integers(0, C, 20))  # running statistics
    net.params["b1"] = net.params["b1"] + 0.3
    path = tmp_path / "model.npz"
    write_kit_model(path, net)
    arrays = models.load_npz(path)
    X = rng.standard_normal((9, D))
    if hasattr(net, "num_layers"):
        params, layers, norm = models.validate_fc(arrays, path.name, D, C)
        scores = models.fc_scores(params, X, layers, norm)
    else:
        scores = models.two_layer_scores(models.validate_two_layer(arrays, path.name, D, C), X)
    np.testing.assert_allclose(scores, net.loss(X), rtol=1e-10)
