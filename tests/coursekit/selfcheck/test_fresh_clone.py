"""`coursekit check` (full mode, as the README lists it) passes on a fresh clone, which ships no trained model."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MISTAKE = "tln-forward-no-relu"  # one two_layer_net mistake: only that assignment is checked
RUN_SECONDS = 900  # a hang guard only


def fresh_clone(target: Path) -> Path:
    """The files git tracks, and nothing else (no out/, no saved models, no caches)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.mark.dataset
def test_check_passes_on_a_fresh_clone(cifar10_dir, tmp_path):
    """Does `coursekit check --only ID` in a fresh clone pass, training the sample model it needs and saying so?"""
    clone = fresh_clone(tmp_path / "clone")
    assert not list(clone.rglob("best_*.npz"))  # no trained model is committed (public_cases.npz is data)
    done = subprocess.run([sys.executable, "-m", "coursekit", "check", "--only", MISTAKE], cwd=clone,
                          capture_output=True, text=True, timeout=RUN_SECONDS,
                          env={**os.environ, "CIFAR10_DIR": str(cifar10_dir)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PROBLEM" not in done.stdout
    assert "NOTE: solutions/two_layer_net ships no trained model: trained the sample best_two_layer_net.npz" \
        in done.stdout
    assert "1 of 1 mistakes caught" in done.stdout
