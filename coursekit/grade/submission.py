"""Which files of a submission are graded: the code as the student ran it, read without leaving it.

The submission is read through :mod:`.sandbox.paths` only: a link whose target leaves the
submission's own folder is never followed (what it stands for counts as missing, and a note
says so); a link that stays inside names the student's own file and is followed.  From the
submission the grader takes

- the graded modules: those that hold student regions in ``source/`` (``layers.py``,
  ``layer_utils.py``, ``optim.py``, the nets) and ``[assignments.<id>] student_files``;
- the files the official submission scripts name (:data:`COLLECTED`, ``solver.py`` among them),
  when the assignment has them;
- every module of the submission's ``cs231n`` package that these import, directly or through
  each other, with the package ``__init__.py`` files (found by parsing: :mod:`.imports`);
- the saved model the grader scores, at its own relative path: the first present of the files
  it looks for (``cs231n/saved/best_fc_net.npy``, the official 2021+ format, then the kit's
  ``best_fc_net.npz`` at the top; :data:`coursekit.grade.saved_models.SAVED_FILES`), at most
  :data:`coursekit.grade.saved_models.MAX_FILE_BYTES`.

Every module of the assignment the submission lacks is the kit's release copy, rendered from
``source/`` (never the solution: a graded module the student did not hand in is the release
stub, which fails its checks with a clear message).  A non-graded module taken from the
submission also gets the kit's release copy in :data:`FALLBACK_DIR` beside the package
(``fast_layers.py``, which the kit does not ship, an empty stand-in): the child's harness
imports the student's copy and uses the kit's only if that fails, and reports it; the
feedback names each replacement in one line (:meth:`StagedSubmission.replacement_notes`).

The staged folder is exactly what a child may see: ``.py`` files, the fallback folder and
the saved models; no notebooks.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..config import Course
from ..errors import ConfigError
from ..tracks.modules import render_module
from ..tracks.regions import parse_regions, split_lines
from .imports import import_closure, module_name
from .sandbox.harness import FALLBACK_DIR, REPLACED_KEY
from .sandbox.paths import Refused, RefusedError, Tree

PACKAGE = "cs231n"
# The files the official collectSubmission.sh scripts name (CODE=, 2020-2026; their zip also
# holds every other .py file of the folder).  See autograder/README.md, "What is graded".
COLLECTED = ("cs231n/layers.py", "cs231n/optim.py", "cs231n/solver.py", "cs231n/classifiers/fc_net.py")
# Modules official trees import that the kit does not ship: an empty stand-in when they fail.
STAND_INS = {"cs231n/fast_layers.py": '"""The course\'s stand-in for fast_layers.py (compiled convolution '
                                      'layers): nothing of this course uses them."""\n'}
SAVED_FOLDER = "cs231n/saved"
SAVED_SUFFIXES = (".npy", ".npz")
MAX_MODULE_BYTES = 2 * 2**20  # a module larger than this is not taken (real ones are < 100 kB)
MAX_CODE_BYTES = 32 * 2**20  # all modules taken from one submission together
MAX_REPLACED_BYTES = 64_000  # of the replacements a child reports
SKIPPED = ("__pycache__", ".ipynb_checkpoints", "datasets")  # never read


@dataclass(frozen=True)
class StagedSubmission:
    """The folder every child imports, and where each of its files came from."""

    folder: Path
    from_submission: tuple[str, ...]  # paths taken from the student's folder (modules, saved models)
    from_kit: tuple[str, ...]  # modules the submission lacks: the kit's release copy
    missing: tuple[str, ...]  # graded modules not handed in: the release stub is graded
    fallbacks: dict[str, str] = field(default_factory=dict)  # module name -> path with a kit copy
    notes: tuple[str, ...] = ()  # one line each: links not followed, files not read

    def replacement_notes(self, outputs) -> list[str]:
        """One line per module the children replaced by the kit's copy, from the tasks' outputs
        (hostile data: only modules staged with a kit copy are named)."""
        why: dict[str, str] = {}
        for out in outputs:
            why.update(_reported(out.get(REPLACED_KEY), self.fallbacks))
        return [f"{self.fallbacks[name]}: {reason}; the course's "
                f"{'empty stand-in' if self.fallbacks[name] in STAND_INS else 'copy'} was used."
                for name, reason in sorted(why.items())]


def student_files(course: Course, assignment_id: str) -> tuple[str, ...]:
    """The graded modules: paths (relative to the assignment folder) whose code is the student's."""
    assignment = course.assignment(assignment_id)
    for relpath in assignment.student_files:
        path = PurePosixPath(relpath)
        if path.is_absolute() or ".." in path.parts or not relpath:
            raise ConfigError(f"{course.path}: 'assignments.{assignment_id}.student_files' lists "
                              f"{relpath!r}: give a path inside the assignment folder, like "
                              "'cs231n/layers.py'.")
    with_regions = [relpath for relpath in assignment.modules if _has_regions(course, assignment_id, relpath)]
    return tuple(dict.fromkeys([*with_regions, *assignment.student_files]))


def stage_submission(course: Course, assignment_id: str, submission: Path, dest: Path,
                     saved_models: tuple[str, ...] = (), saved_bytes: int = 0) -> StagedSubmission:
    """Write into ``dest`` what the child runs (see the module's docstring); ``dest`` is returned.

    ``saved_models``: the saved-model files the grader scores, in the order it looks for them;
    the first one present (at most ``saved_bytes``) is staged at its own path."""
    assignment = course.assignment(assignment_id)
    graded = student_files(course, assignment_id)
    with Tree(submission) as tree:
        reader = _Reader(tree, graded)
        roots = [*graded, *(path for path in COLLECTED if path in assignment.modules)]
        needed = import_closure(roots, lambda path: path in reader.files or path in STAND_INS, reader.module)
        taken = [path for path in needed if reader.module(path) is not None]
        saved = next(([path] for path in saved_models if path in reader.files
                      and reader.copy_saved_model(path, dest / path, saved_bytes)), [])
    for path in taken:
        _write(dest / path, reader.data[path])
    kit, missing, fallbacks = [], [], {}
    for path in (p for p in assignment.modules if p.endswith(".py")):  # the child sees code only
        release = render_module(course, assignment, path)[0]
        if path in taken:
            if path not in graded:  # the child falls back to the kit's copy if the student's fails
                _write(dest / FALLBACK_DIR / path, release)
                fallbacks[module_name(path)] = path
            continue
        _write(dest / path, release)
        (missing if path in graded else kit).append(path)
    for path in (p for p in needed if p in STAND_INS):
        _write(dest / FALLBACK_DIR / path, STAND_INS[path].encode())
        fallbacks[module_name(path)] = path
    notes = reader.notes(graded, missing)
    notes += [f"{path} is not in your submission; the course's skeleton of it was graded." for path in missing
              if not reader.covered(path)]
    return StagedSubmission(dest, tuple([*taken, *saved]), tuple(kit), tuple(missing), fallbacks, tuple(notes))


class _Reader:
    """The submission's files as the grader may take them: a walk that never leaves the
    submission (:class:`~.sandbox.paths.Tree`), then bounded reads of the files needed."""

    def __init__(self, tree: Tree, graded: tuple[str, ...]):
        self.tree = tree
        keep = {PACKAGE, *graded}
        self.files, self.refused = set(), []
        for entry in tree.walk(skip=lambda path: _skip(path, keep)):
            if entry.refused is not None:
                self.refused.append(entry.refused)
            else:
                self.files.add(entry.path)
        self.data: dict[str, bytes] = {}
        self._code_bytes = 0

    def module(self, path: str) -> bytes | None:
        """The bytes of a module of the submission, or None (absent, refused, too large)."""
        if path not in self.data:
            if path not in self.files:
                return None
            data = self._read(path, min(MAX_MODULE_BYTES, MAX_CODE_BYTES - self._code_bytes))
            if data is None:
                return None
            self._code_bytes += len(data)
            self.data[path] = data
        return self.data[path]

    def copy_saved_model(self, path: str, target: Path, limit: int) -> bool:
        """Copy a saved model (at most ``limit`` bytes) to ``target``, streamed (it may be large)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.tree.copy(path, target, limit)
            return True
        except RefusedError as err:
            self.refused.append(Refused(err.path, err.why))
        except ValueError:
            self.refused.append(Refused(path, f"larger than {limit / 2**20:g} MB"))
        except OSError:  # gone since the walk
            pass
        self.files.discard(path)
        return False

    def _read(self, path: str, limit: int) -> bytes | None:
        data = self.tree.take(path, max(limit, 0))
        if isinstance(data, bytes):
            return data
        if data is not None:  # refused; None: gone since the walk
            self.refused.append(data)
        self.files.discard(path)
        return None

    def covered(self, path: str) -> bool:
        """Does a refused entry already explain why ``path`` is missing?"""
        return any(path == r.path or path.startswith(r.path + "/") for r in self.refused)

    def notes(self, graded: tuple[str, ...], missing: list[str]) -> list[str]:
        """One line per refused entry, saying what was graded instead."""
        lines = []
        for refused in dict.fromkeys(self.refused):
            stubbed = [p for p in missing if p == refused.path or p.startswith(refused.path + "/")]
            if stubbed:
                consequence = "so the course's skeleton of " + ", ".join(stubbed) + " was graded in its place"
            elif _is_saved_model(refused.path):
                consequence = "so your saved model counts as missing"
            else:
                consequence = "so it counts as missing"
            lines.append(refused.note(consequence))
        return lines


def _skip(path: str, keep: set[str]) -> bool:
    """Leave out what the grader never reads: caches, hidden files, datasets, other top-level folders."""
    parts = path.split("/")
    if any(part in SKIPPED or part.startswith(".") for part in parts):
        return True
    if any(k == path or k.startswith(path + "/") or path.startswith(k + "/") for k in keep):
        return False
    return not (len(parts) == 1 and path.endswith(".npz"))


def _is_saved_model(path: str) -> bool:
    folder, _, name = path.rpartition("/")
    return (folder == "" and name.endswith(".npz")) or (folder == SAVED_FOLDER and name.endswith(SAVED_SUFFIXES))


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _reported(array, fallbacks: dict[str, str]) -> dict[str, str]:
    """The replacements in one task's outputs: {module name: why}, only for modules with a kit copy."""
    if array is None:
        return {}
    try:
        raw = np.asarray(array)
        if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_REPLACED_BYTES:
            return {}
        found = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {name: " ".join(str(why).split())[:240] for name, why in found.items()
            if isinstance(name, str) and name in fallbacks}


def _has_regions(course: Course, assignment_id: str, relpath: str) -> bool:
    """Does ``source/<relpath>`` hold a START/END region (the student's code)?"""
    if not relpath.endswith(".py"):
        return False
    return _holds_regions(render_module(course, course.assignment(assignment_id), relpath)[1], relpath)


@functools.lru_cache(maxsize=64)  # by the file's bytes: each grade asks about the same files
def _holds_regions(source: bytes, relpath: str) -> bool:
    return bool(parse_regions(split_lines(source.decode("utf-8")), relpath).regions)
