"""The per-student ``results.json`` of a class grade: written atomically, read back one at a time."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

RESULTS = "results.json"
FEEDBACK = "feedback.md"


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
    for results_path in sorted(Path(out_dir).glob(f"*/{RESULTS}")):
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
