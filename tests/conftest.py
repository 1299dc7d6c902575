"""Shared fixtures: the course root, the solution package on sys.path, the dataset, one BLAS thread."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source"
# (get, set) thread-count functions of the OpenBLAS builds numpy ships or links, newest first.
OPENBLAS_THREAD_FUNCTIONS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                             ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                             ("openblas_get_num_threads", "openblas_set_num_threads"))

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


@pytest.fixture(scope="session")
def cifar10_data(cifar10_dir) -> dict:
    """The course's 49,000 / 1,000 / 1,000 split of CIFAR-10 (float32, mean image subtracted), loaded once.

    Shared by every test of the session: never modify its arrays in place.
    """
    from coursekit.config import load_config
    from coursekit.train import load_data

    return load_data(load_config(ROOT / "course.toml"))


@pytest.fixture
def one_blas_thread():
    """numpy's OpenBLAS on one thread during the test, then as before (nothing where it is not found).

    On a shared 2-core machine, two BLAS threads that spin for a core other jobs hold make a
    training many times slower than one thread (fc_net's grade_train at load average 8: 393 s
    with two, 48 s with one), with the same result.
    """
    import ctypes

    import numpy  # noqa: F401  (loads OpenBLAS)

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in OPENBLAS_THREAD_FUNCTIONS:
            if hasattr(lib, get) and hasattr(lib, set_):
                before = getattr(lib, get)()
                getattr(lib, set_)(1)
                try:
                    yield
                finally:
                    getattr(lib, set_)(before)
                return
    yield
