"""Which students of a class need (re)grading: a content hash of each submission decides.

Every results.json of a class grade stores ``extra_data.batch.hash``, the SHA-256 of the
submission's files when it was graded (:func:`submission_hash`).  The next run regrades a
student whose files changed (a resubmission), and skips one whose hash is the same;
``--regrade`` regrades everyone.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

SKIPPED_PARTS = ("__pycache__", ".ipynb_checkpoints", "datasets")  # never graded; datasets are large
CHUNK = 1 << 20


def submission_hash(folder: Path) -> str:
    """SHA-256 over the relative path and bytes of every file under ``folder`` (sorted; caches,
    hidden files and ``datasets/`` folders left out)."""
    digest = hashlib.sha256()
    folder = Path(folder)
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (not path.is_file() or path.is_symlink() or set(relative.parts) & set(SKIPPED_PARTS)
                or any(part.startswith(".") for part in relative.parts)):
            continue
        digest.update(relative.as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def stored_hash(results_path: Path) -> str | None:
    """The hash a previous grade stored in ``results_path``, or None."""
    try:
        return json.loads(Path(results_path).read_text())["extra_data"]["batch"].get("hash")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def is_current(results_path: Path, digest: str) -> bool:
    """Was the submission graded as it is now (same content hash)?"""
    return stored_hash(results_path) == digest
