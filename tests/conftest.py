"""Shared fixtures: the course root, the solution package on sys.path, and the dataset."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source"

# The annotated solution is imported as the student-facing package ``cs231n``.
if str(SOURCE) not in sys.path:
    sys.path.insert(0, str(SOURCE))


@pytest.fixture(scope="session")
def course_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def cifar10_dir() -> Path:
    """The CIFAR-10 folder from CIFAR10_DIR, then course.toml.

    Skips when it is absent, unless COURSEKIT_REQUIRE_DATA=1 (CI sets it), in which
    case a missing dataset is a failure rather than a silent skip.
    """
    from coursekit.config import load_config

    path = load_config(ROOT / "course.toml").data.cifar10_dir
    if not (path / "data_batch_1").exists():
        if os.environ.get("COURSEKIT_REQUIRE_DATA") == "1":
            pytest.fail(f"CIFAR-10 not found at {path}; set CIFAR10_DIR")
        pytest.skip(f"CIFAR-10 not found at {path}; set CIFAR10_DIR to run this test")
    return path
