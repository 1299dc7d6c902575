"""Which students of a class need (re)grading: a content hash of each submission decides.

Every results.json of a class grade stores ``extra_data.batch.hash``, the SHA-256 of the
submission's files when it was graded (:func:`submission_hash`).  The next run regrades a
student whose files changed (a resubmission), and skips one whose hash is the same;
``--regrade`` regrades everyone.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..grade.sandbox.paths import Tree

SKIPPED_PARTS = ("__pycache__", ".ipynb_checkpoints", "datasets")  # never graded; datasets are large
CHUNK = 1 << 20


def submission_hash(folder: Path) -> str:
    """SHA-256 over the relative path and bytes of every file under ``folder`` (sorted; caches,
    hidden files and ``datasets/`` folders left out).

    The folder is read as the grader reads it (:mod:`coursekit.grade.sandbox.paths`): links
    that stay inside are followed, a link that leaves is never read through (its path and why
    it was refused are hashed instead).
    """
    digest = hashlib.sha256()
    with Tree(folder) as tree:
        entries = sorted(tree.walk(skip=_skipped), key=lambda entry: entry.path.split("/"))  # as before: by parts
        for entry in entries:
            digest.update(entry.path.encode("utf-8", "surrogateescape") + b"\0")
            if entry.refused is not None:
                digest.update(b"refused\0" + entry.refused.why.encode() + b"\0")
                continue
            try:
                fd = tree.open_file(entry.path)
            except OSError:
                digest.update(b"unreadable\0")
                continue
            with os.fdopen(fd, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


def _skipped(path: str) -> bool:
    return any(part in SKIPPED_PARTS or part.startswith(".") for part in path.split("/"))


def stored_hash(results_path: Path) -> str | None:
    """The hash a previous grade stored in ``results_path``, or None."""
    try:
        return json.loads(Path(results_path).read_text())["extra_data"]["batch"].get("hash")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def is_current(results_path: Path, digest: str) -> bool:
    """Was the submission graded as it is now (same content hash)?"""
    return stored_hash(results_path) == digest
