"""The public build's references, computed once: kept for the process, and on disk for the next one.

Every grade builds the checks twice (:mod:`.base`): the hidden build draws fresh inputs and
computes its references each time, but the public build draws the same inputs from
``GRADER_SEED`` in every grade, so its references (the solution's outputs) are the same too.
While :func:`public_references` is active, :func:`.base.reference` looks each one up here first.

A reference is found by a key that names everything it is computed from: the driver, its
spec and the input arrays (names, dtypes, shapes, bytes), the solution's source bytes (every
``.py`` of ``source/cs231n``), the kit's code that computes it (``sandbox/harness.py``,
``checks/base.py``) and numpy's version.  Change any of them and the key changes: a cache
never serves a reference of other code or other inputs.

On disk, one file per assignment, flow and solution (raw arrays and a JSON index, as the
child's inputs), in the grader's own state folder (:func:`..sandbox.registry.state_dir`:
mode 0700, the grader's user), written whole or not at all.  A file is written only by a
process whose solution modules were imported from the source bytes it names (imported after
the cache was opened, and unchanged since), so a process running older code never stores
its references under newer bytes.  A file that cannot be read is ignored (and rewritten).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .base import REFERENCE_CACHE

CACHE_FOLDER = "references"  # in the state folder
MAX_FILES = 16  # cache files kept in the folder (the oldest go first): one per assignment, flow and source
FORMAT = b"coursekit-references-1"
KIT_FILES = (Path(__file__).resolve().parents[1] / "sandbox" / "harness.py",  # the drivers that compute them
             Path(__file__).resolve().parent / "base.py")
_MEMORY: dict[str, dict[str, np.ndarray]] = {}  # key -> outputs (read-only arrays), for this process
_ON_DISK: dict[Path, set[str]] = {}  # cache file -> the keys it holds (read or written by this process)
_IMPORTED_FROM: dict[Path, str] = {}  # source folder -> digest of the bytes the solution was imported from


def source_digest(source_dir: Path) -> str:
    """SHA-256 of the solution package's Python files (paths and bytes), the kit's reference code and numpy."""
    digest = hashlib.sha256(FORMAT + np.__version__.encode())
    for path in KIT_FILES:
        digest.update(path.read_bytes())
    package = Path(source_dir) / "cs231n"
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix().encode()
        digest.update(b"\0" + relative + b"\0" + path.read_bytes())
    return digest.hexdigest()


def note_import(source_dir: Path) -> None:
    """Call before the solution package is first imported: records the bytes it is imported from.
    Once ``cs231n`` is imported (by anyone), later calls record nothing."""
    if "cs231n" not in sys.modules:
        _IMPORTED_FROM[Path(source_dir).resolve()] = source_digest(source_dir)


def call_key(salt: str, driver: str, spec: dict, inputs: dict) -> str:
    """The key of one reference: ``salt`` (the source digest), the driver, spec and input arrays."""
    digest = hashlib.sha256(salt.encode() + json.dumps([driver, spec], sort_keys=True, default=str).encode())
    for name in sorted(inputs):
        value = np.ascontiguousarray(inputs[name])
        digest.update(f"\0{name}\0{value.dtype.str}{value.shape}\0".encode() + value.tobytes())
    return digest.hexdigest()


class ReferenceCache:
    """The references of one build, looked up by :func:`call_key` (salted with the source digest)."""

    def __init__(self, salt: str, path: Path | None = None):
        self.salt, self.path = salt, path
        self.used: set[str] = set()  # keys this build looked up
        self.computed = 0  # references this build computed (not found)
        if path is not None and path not in _ON_DISK:
            found = read_file(path, salt)
            _ON_DISK[path] = set(found)
            _MEMORY.update(found)

    def get(self, driver: str, spec: dict, inputs: dict, compute) -> dict[str, np.ndarray]:
        """The outputs of ``compute()`` (the reference of ``driver``, ``spec``, ``inputs``), computed once."""
        key = call_key(self.salt, driver, spec, inputs)
        if key not in _MEMORY:
            outputs = compute()
            for value in outputs.values():
                value.setflags(write=False)  # shared by every later grade of this process
            _MEMORY[key] = outputs
            self.computed += 1
        self.used.add(key)
        return dict(_MEMORY[key])


def read_file(path: Path, salt: str) -> dict[str, dict[str, np.ndarray]]:
    """The references a cache file holds, or nothing when it is missing, unreadable or of other code."""
    try:
        with open(path, "rb") as f:
            head = json.loads(f.readline())
            if head.get("format") != FORMAT.decode() or head.get("salt") != salt:
                return {}
            blob = f.read()
        found = {}
        for key, arrays in head["index"].items():
            found[key] = {}
            for name, (dtype, shape, offset) in arrays.items():
                count = int(np.prod(shape, dtype=np.int64))
                value = np.frombuffer(blob, dtype=np.dtype(dtype), count=count, offset=offset).reshape(shape)
                found[key][name] = value  # read-only: a view of bytes
        return found
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_file(path: Path, salt: str, entries: dict[str, dict[str, np.ndarray]]) -> None:
    """Write ``entries`` to ``path`` whole (a temporary file renamed over it); failures are ignored."""
    index, chunks, offset = {}, [], 0
    for key, arrays in entries.items():
        index[key] = {}
        for name, value in arrays.items():
            data = np.ascontiguousarray(value).tobytes()
            index[key][name] = [value.dtype.str, list(value.shape), offset]
            chunks.append(data)
            offset += len(data)
    head = json.dumps({"format": FORMAT.decode(), "salt": salt, "index": index}).encode() + b"\n"
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
        kept = sorted(path.parent.glob("*.bin"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[MAX_FILES:]:
            old.unlink()
    except OSError:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)


@contextlib.contextmanager
def public_references(source_dir: Path, name: str, folder: Path | None):
    """While active, :func:`.base.reference` serves the public build's references from the cache.

    ``name``: the build's name (assignment and flow); ``folder``: where cache files are kept
    (None: this process only).  New references are written to the file at the end."""
    source_dir = Path(source_dir).resolve()
    salt = source_digest(source_dir)
    path = None if folder is None else Path(folder) / f"{name}-{salt[:32]}.bin"
    cache = ReferenceCache(salt, path)
    token = REFERENCE_CACHE.set(cache)
    try:
        yield cache
    finally:
        REFERENCE_CACHE.reset(token)
    new = path is not None and cache.used - _ON_DISK[path]
    if new and _IMPORTED_FROM.get(source_dir) == salt == source_digest(source_dir):
        write_file(path, salt, {key: _MEMORY[key] for key in sorted(cache.used)})
        _ON_DISK[path] = set(cache.used)
