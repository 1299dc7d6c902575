"""coursekit check: the grader must catch every catalogued mistake, and the check can fail."""
from pathlib import Path

import pytest

from coursekit.cli import main
from coursekit.config import load_config
from coursekit.selfcheck import run_selfcheck

ROOT = Path(__file__).resolve().parents[2]

# Rewrites the forward pass into an equivalent form: no check can tell it from the solution.
HARMLESS = '''
[[mistake]]
id = "relu-arguments-swapped"
assignment = "two_layer_net"
module = "cs231n/classifiers/neural_net.py"
function = "TwoLayerNet.loss"
find = "hidden = np.maximum(X @ W1 + b1, 0)  # (N, H)"
replace = "hidden = np.maximum(0, X @ W1 + b1)  # (N, H)"
summary = "an equivalent rewrite, which no grader can catch"
hint = "nothing is wrong"
signature = "none: identical outputs"
'''


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


def test_uncaught_mistake_fails_the_check(course, tmp_path, capsys):
    """Does a catalogued mistake that no check catches make `coursekit check` fail, naming it?"""
    catalogue = tmp_path / "mistakes.toml"
    catalogue.write_text(HARMLESS)
    report = run_selfcheck(course, fast=True, catalogue=catalogue, data_available=False)
    assert [r.mistake.id for r in report.uncaught] == ["relu-arguments-swapped"]
    assert not report.ok
    code = main(["--config", str(ROOT / "course.toml"), "check", "--fast", "--catalogue", str(catalogue)])
    out = capsys.readouterr().out
    assert code == 1
    assert "UNCAUGHT: relu-arguments-swapped" in out


@pytest.mark.slow
def test_every_catalogued_mistake_is_caught(course, cifar10_dir):
    """Do the solutions score full marks, the release 0, and does every mistake fail a check?"""
    report = run_selfcheck(course, fast=True)
    print(report.table())
    assert report.problems == []
    assert len(report.mistakes) >= 25
    assert [r.mistake.id for r in report.uncaught] == []
