"""Reference training on the real CIFAR-10: the accuracy the solution must reach.

These train the annotated solution with the hyperparameters in course.toml, on the
49,000 / 1,000 / 1,000 split with the mean image subtracted, and record wall times in
out/train/<assignment>/metrics.json (the README quotes them).
"""
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.train import load_data, train_reference

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "train"


@pytest.fixture(scope="module")
def course_and_data(cifar10_dir):
    course = load_config(ROOT / "course.toml")
    return course, load_data(course)


@pytest.mark.slow
def test_two_layer_net_reaches_reference_accuracy(course_and_data):
    """Does the reference two-layer net reach 0.50 test accuracy on CIFAR-10?"""
    course, data = course_and_data
    result = train_reference(course, "two_layer_net", OUT / "two_layer_net", progress=False, data=data)
    target = course.assignment("two_layer_net").thresholds["reference_test_accuracy"]
    print(f"two_layer_net: test {result.test_accuracy:.3f} val {result.val_accuracy:.3f} "
          f"in {result.train_seconds:.1f} s")
    assert result.test_accuracy >= target
    assert (OUT / "two_layer_net" / "curves.png").stat().st_size > 10_000


@pytest.mark.slow
def test_fc_net_reaches_reference_accuracy(course_and_data):
    """Does the reference deep net reach 0.55 validation, and 0.50 within a few minutes?"""
    course, data = course_and_data
    result = train_reference(course, "fc_net", OUT / "fc_net", progress=False, data=data)
    thresholds = course.assignment("fc_net").thresholds
    print(f"fc_net: val {result.val_accuracy:.3f} test {result.test_accuracy:.3f} "
          f"in {result.train_seconds:.1f} s; 0.50 val after {result.seconds_to['val_accuracy']} s")
    assert result.val_accuracy >= thresholds["reference_val_accuracy"]
    assert result.seconds_to["val_accuracy"] is not None
    assert result.seconds_to["val_accuracy"] < 300  # "within a few minutes on 2 cores"
