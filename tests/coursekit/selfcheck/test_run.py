"""coursekit check: the grader must catch every catalogued mistake, and the check can fail."""
from pathlib import Path

import pytest

from coursekit.cli import main
from coursekit.config import load_config
from coursekit.selfcheck.run import run_selfcheck

ROOT = Path(__file__).resolve().parents[3]

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

# A caught mistake whose catalogued diagnosis is not the one the grader finds.
MISDIAGNOSED = '''
[[mistake]]
id = "softmax-loss-summed"
assignment = "fc_net"
module = "cs231n/layers.py"
function = "softmax_loss"
find = "loss = -log_probs[np.arange(N), y].mean()"
replace = "loss = -log_probs[np.arange(N), y].sum()"
summary = "Softmax loss summed over the batch instead of averaged."
hint = "your softmax loss is N times too large: average it over the N examples"
signature = "loss == N * reference"
diagnosis = "no-max-shift"
'''


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


def test_uncaught_mistake_fails_the_check(course, tmp_path, capsys):
    """Does a catalogued mistake that no check catches make `coursekit check` fail, naming it?"""
    catalogue = tmp_path / "mistakes.toml"
    catalogue.write_text(HARMLESS)
    report = run_selfcheck(course, fast=True, catalogue=catalogue, escalate=False)
    assert [r.mistake.id for r in report.uncaught] == ["relu-arguments-swapped"]
    assert not report.ok
    code = main(["--config", str(ROOT / "course.toml"), "check", "--code-only", "--catalogue", str(catalogue)])
    out = capsys.readouterr().out
    assert code == 1
    assert "UNCAUGHT: relu-arguments-swapped" in out


def test_missing_diagnosis_fails_the_check(course, tmp_path):
    """Does a caught mistake whose expected diagnosis is not found make the check fail, saying MISSING?"""
    catalogue = tmp_path / "mistakes.toml"
    catalogue.write_text(MISDIAGNOSED)
    report = run_selfcheck(course, fast=True, catalogue=catalogue, escalate=False)
    assert report.uncaught == []
    assert [r.mistake.id for r in report.undiagnosed] == ["softmax-loss-summed"]
    assert not report.ok
    assert "MISSING" in report.table()
    assert "UNDIAGNOSED: softmax-loss-summed: expected 'no-max-shift', found loss-summed" in report.table()


@pytest.mark.slow
def test_every_catalogued_mistake_is_caught(course, cifar10_dir):
    """Do the solutions score full marks, the release 0, and is every mistake caught and diagnosed?"""
    report = run_selfcheck(course, fast=True)
    print(report.table())
    assert report.problems == []
    assert len(report.mistakes) >= 25
    assert [r.mistake.id for r in report.uncaught] == []
    assert [r.mistake.id for r in report.undiagnosed] == []
    assert len(report.with_diagnosis) >= 25
    assert report.ok
