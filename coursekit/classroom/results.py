"""The per-student ``results.json`` of a class grade: written atomically, read back one at a time."""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

RESULTS = "results.json"
FEEDBACK = "feedback.md"
STUDENTS = "students"  # out/students/<student_id>/{results.json,feedback.md}
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
RESERVED_SUFFIXES = (".csv", ".png", ".json", ".md", ".html", ".db", ".toml", ".zip")


def id_problem(student_id: str) -> str:
    """Why ``student_id`` cannot name a student's results folder ('' when it can)."""
    if not STUDENT_ID.fullmatch(student_id) or ".." in student_id:
        return ("the student id must be 1-64 letters, digits and _ . @ + -, starting with a letter or "
                "digit (no slashes, no control characters, no '..')")
    if student_id.lower().endswith(RESERVED_SUFFIXES):
        return "the student id looks like a file name of the grading output (grades.csv, ...)"
    return ""


def student_folder(out_dir: Path, student_id: str) -> Path:
    """Where one student's results go: ``out/students/<id>/`` (the id must be valid)."""
    if id_problem(student_id):
        raise ValueError(f"invalid student id {student_id!r}")
    return Path(out_dir) / STUDENTS / student_id


def is_complete(results_path: Path, assignment_id: str, fast: bool) -> bool:
    """Was this student graded by an earlier run of the same batch (same assignment and mode)?"""
    try:
        extra = json.loads(Path(results_path).read_text())["extra_data"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    batch = extra.get("batch", {})
    return (extra.get("assignment") == assignment_id and batch.get("fast") == fast
            and not batch.get("error"))


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` so that a reader sees the old file or the whole new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are read by the staff's tools
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def iter_results(out_dir: Path, assignment_id: str) -> Iterator[dict]:
    """One row per graded student: student_id, score, max_score (None on error), checks, error."""
    for results_path in sorted(Path(out_dir).glob(f"{STUDENTS}/*/{RESULTS}")):
        try:
            results = json.loads(results_path.read_text())
            extra = results["extra_data"]
            batch = extra["batch"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not written by a batch: leave it out
        if extra.get("assignment") != assignment_id:
            continue
        yield {"student_id": batch["student_id"], "score": results["score"],
               "max_score": extra.get("max_score"), "checks": batch["checks"], "error": batch["error"]}
