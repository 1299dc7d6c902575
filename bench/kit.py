"""Kit operations, timed as a user runs them: ``coursekit build``, ``coursekit grade``, nbval,
and grades of hanging submissions (bench/hangs.py).

Everything runs on a copy of the course (course.toml and source/) in a temporary folder, so
the benchmark never writes release/ or solutions/ into the working tree.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import hangs
from .common import ROOT, Mode, Row, skipped

SECTION = "kit"
BUILD_TARGET = "<= 10 s"
GRADE_TARGET = "<= 60 s"
COMMAND_TIMEOUT = 1800  # seconds; a hung command fails its row instead of the whole run
GRADED = ("fc_net", "two_layer_net")  # the solutions track of each, graded as a full submission


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _timed(args: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    return time.perf_counter() - start, proc


def _failure(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return f"failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}"


def _row(name: str, seconds: float, proc, target: str, detail: str = "") -> Row:
    if proc.returncode != 0:
        return Row(SECTION, name, None, "s", target=target, note=_failure(proc))
    return Row(SECTION, name, seconds, "s", detail=detail, target=target, note="wall time, CLI")


def run(mode: Mode) -> list[Row]:
    names = ["coursekit build (all assignments)",
             *(f"coursekit grade {a} (full submission)" for a in GRADED),
             "nbval of all solution notebooks (fast mode)"]
    if mode.tiny:
        return [skipped(SECTION, name, "s", "tiny mode") for name in names] + hangs.run(mode)
    from coursekit.config import load_config
    from coursekit.data.dataset import cifar10_problem

    course = load_config(ROOT / "course.toml")
    with tempfile.TemporaryDirectory(prefix="bench-kit-") as tmp:
        root = Path(tmp)
        shutil.copy2(ROOT / "course.toml", root / "course.toml")
        shutil.copytree(ROOT / "source", root / "source",
                        ignore=shutil.ignore_patterns("__pycache__", "*.npz", ".ipynb_checkpoints"))
        env = {**os.environ, "CIFAR10_DIR": str(course.data.cifar10_dir), "PYTHONDONTWRITEBYTECODE": "1"}
        kit = [sys.executable, "-m", "coursekit", "--config", str(root / "course.toml")]
        rows = [_build(names[0], kit, root, env)]
        built = (root / "solutions").is_dir()
        data_problem = cifar10_problem(course.data.cifar10_dir)
        for assignment, name in zip(GRADED, names[1:-1]):
            if not _has("coursekit.grade"):
                rows.append(skipped(SECTION, name, "s", "coursekit.grade does not exist yet", GRADE_TARGET))
            elif not built:
                rows.append(skipped(SECTION, name, "s", "no solutions/ to grade (build failed)", GRADE_TARGET))
            elif data_problem:
                rows.append(skipped(SECTION, name, "s", data_problem, GRADE_TARGET))
            else:
                seconds, proc = _timed([*kit, "grade", assignment, str(root / "solutions" / assignment)],
                                       root, env)
                rows.append(_row(name, seconds, proc, GRADE_TARGET, _score(proc)))
        rows.append(_nbval(names[-1], course, root, env, built, data_problem))
    return rows + hangs.run(mode)


def _build(name: str, kit: list[str], root: Path, env: dict) -> Row:
    if not _has("coursekit.tracks"):
        return skipped(SECTION, name, "s", "coursekit.tracks does not exist yet", BUILD_TARGET)
    seconds, proc = _timed([*kit, "build"], root, env)
    return _row(name, seconds, proc, BUILD_TARGET)


def _score(proc: subprocess.CompletedProcess) -> str:
    """The total line of the grade table, when there is one."""
    for line in reversed(proc.stdout.splitlines()):
        if "total" in line.lower():
            return " ".join(line.replace("|", " ").split())[:80]
    return ""


def _nbval(name: str, course, root: Path, env: dict, built: bool, data_problem: str | None) -> Row:
    if not built:
        return skipped(SECTION, name, "s", "solutions/ does not exist (build first)")
    if not _has("nbval"):
        return skipped(SECTION, name, "s", "nbval is not installed")
    if data_problem:
        return skipped(SECTION, name, "s", data_problem)
    total, failed, count = 0.0, [], 0
    for assignment in course.assignments.values():
        folder = root / "solutions" / assignment.id
        for notebook in assignment.notebooks:
            if not (folder / notebook).is_file():
                continue
            seconds, proc = _timed([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                                    "-q", notebook], folder, {**env, "COURSEKIT_FAST": "1"})
            total += seconds
            count += 1
            if proc.returncode != 0:
                failed.append(f"{assignment.id}/{notebook}")
    if count == 0:
        return skipped(SECTION, name, "s", "no solution notebooks were built")
    note = f"FAILED: {', '.join(failed)}" if failed else "all passed"
    return Row(SECTION, name, total if not failed else None, "s", detail=f"{count} notebooks, one after another",
               note=note, data={"seconds": total, "failed": failed})
