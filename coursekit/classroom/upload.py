"""Find the student's ``cs231n/`` package in whatever a Gradescope upload looks like.

Students upload their assignment folder, its contents loose at the top, the same zipped with
one extra folder level, the package alone, or only the files they edited.  Gradescope unpacks
an uploaded zip into the upload folder itself (``/autograder/submission``), links included when
the zip was made with ``zip --symlinks``; the kit never unpacks anything.  :func:`stage_upload`
reads the upload only through :mod:`coursekit.grade.sandbox.paths` (a link whose target
leaves the upload is never followed, and is named in a note; one that stays inside is) and
copies what the grader needs into a scratch folder laid out like ``release/<assignment>/``:

1. under a folder holding a ``cs231n/`` package (the upload itself, or one or two levels down):
   its ``.py`` files, and at its top the notebooks (for the inline answers);
2. otherwise the package's files placed by name: each module of course.toml
   (``cs231n/layers.py``, ``cs231n/classifiers/fc_net.py``, ...) is taken from the upload,
   wherever it is (a ``classifiers/`` parent wins for files of that folder), and the modules
   the upload lacks come from the student skeleton; notebooks go to the top;
3. either way, each saved model the grader scores (``saved_models.SAVED_FILES``: the official
   ``cs231n/saved/best_<net>.npy``, the kit's ``best_<net>.npz``) goes where the grader looks for
   it: from that place in the assignment folder, else from wherever the upload has it (the file
   alone, or in a ``saved/`` folder alone), capped as the grader caps it;
4. an upload with none of the package's files is a :class:`UploadError` that says what to upload.

Nothing downstream reads the upload itself: the grade, the inline answers and the feedback
all come from the scratch copy, which holds regular files only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..config import Assignment, Course
from ..errors import GradingError
from ..grade.sandbox.paths import Refused, Tree
from ..grade.saved_models import MAX_FILE_BYTES, SAVED_FILES

PACKAGE = "cs231n"
MAX_DEPTH = 3  # folder levels searched below the upload
IGNORED = ("__MACOSX", "__pycache__", ".ipynb_checkpoints", "datasets")
TOP_SUFFIXES = (".ipynb",)  # taken from the top of the assignment folder: the notebooks (inline answers)


class UploadError(GradingError):
    """The upload holds nothing the grader can grade."""


@dataclass
class Staged:
    """Where the grader should look, and how the upload was read."""

    folder: Path
    layout: str  # "assignment folder", "package files placed by name"
    from_upload: list[str] = field(default_factory=list)  # module paths found in the upload
    from_release: list[str] = field(default_factory=list)  # module paths the upload lacked
    notes: list[str] = field(default_factory=list)  # links not followed, files not read: for the report
    moved: list[str] = field(default_factory=list)  # saved models placed where the grader looks: "from as to"

    def describe(self) -> str:
        text = f"Upload read as: {self.layout}."
        if self.from_release:
            text += (" Not in your upload, so the unchanged skeleton was used: "
                     + ", ".join(self.from_release) + ".")
        if self.moved:
            text += " Saved model placed where the grader reads it: " + ", ".join(self.moved) + "."
        return text


def stage_upload(course: Course, assignment: Assignment, upload: Path, scratch: Path) -> Staged:
    """A copy of what the grader needs from ``upload``, in ``scratch/<assignment>/``."""
    upload = Path(upload)
    if not upload.is_dir():
        raise UploadError(f"The upload folder {upload} does not exist.")
    staged = Path(scratch) / assignment.id
    limit = course.limits.file_size_mb * 2**20
    with Tree(upload) as tree:
        entries = list(tree.walk(skip=_ignored, max_depth=MAX_DEPTH + 4))
        files = sorted((e.path for e in entries if e.refused is None), key=lambda p: (p.count("/"), p))
        refused = [e.refused for e in entries if e.refused is not None]
        holder = _folder_with_package(files)
        if holder is not None:
            layout = "assignment folder" + (f" {holder}/ inside the upload" if holder else "")
            result = Staged(staged, layout)
            for path in files:
                relative = _under(path, holder)
                if relative is not None and _wanted(relative):
                    _copy(tree, path, staged / relative, limit, refused)
        else:
            result = _place_by_name(course, assignment, tree, files, staged, limit, refused)
        for target in SAVED_FILES.get(assignment.id, ()):
            _place_saved_model(tree, files, holder or "", target, result, refused)
    staged.mkdir(parents=True, exist_ok=True)
    result.notes = [r.note("so it counts as missing") for r in dict.fromkeys(refused)]
    return result


def _place_by_name(course, assignment, tree, files, staged: Path, limit: int, refused) -> Staged:
    """Loose files: each module of the assignment by name, the rest from the student skeleton."""
    placed = {relpath: _match(relpath, files) for relpath in assignment.modules}
    found = {relpath: path for relpath, path in placed.items() if path is not None}
    if not any(relpath.endswith(".py") and not relpath.endswith("__init__.py") for relpath in found):
        names = ", ".join(sorted({Path(m).name for m in assignment.modules if not m.endswith("__init__.py")}))
        raise UploadError(
            f"Your upload has no {PACKAGE}/ folder and none of its files ({names}). Upload your "
            f"assignment folder (the one with the notebooks and {PACKAGE}/), as a zip or as files."
            + "".join(" " + r.note("so it counts as missing") for r in dict.fromkeys(refused)))
    from ..tracks.modules import module_tracks

    release, _ = module_tracks(course, assignment)
    result = Staged(staged, "package files placed by name")
    for relpath in assignment.modules:
        if relpath in found and _copy(tree, found[relpath], staged / relpath, limit, refused):
            result.from_upload.append(relpath)
        else:
            (staged / relpath).parent.mkdir(parents=True, exist_ok=True)
            (staged / relpath).write_bytes(release[relpath])
            result.from_release.append(relpath)
    for path in files:
        name = PurePosixPath(path).name
        if name.endswith(TOP_SUFFIXES) and not (staged / name).exists():
            _copy(tree, path, staged / name, limit, refused)
    return result


def _place_saved_model(tree: Tree, files: list[str], holder: str, target: str, staged: Staged,
                       refused: list[Refused]) -> None:
    """Copy the saved model ``target`` (a path of ``SAVED_FILES``) to that path of the scratch folder:
    from there in the assignment folder ``holder``, else from the shallowest upload path that ends
    like it (``cs231n/saved/best_fc_net.npy`` in another folder, ``saved/best_fc_net.npy``, the name alone)."""
    exact = f"{holder}/{target}" if holder else target
    parts = target.split("/")
    candidates = [exact] + [path for n in range(len(parts), 0, -1) for path in files
                            if path.split("/")[-n:] == parts[-n:]]
    source = next((path for path in candidates if path in files), None)
    if source is None or not _copy(tree, source, staged.folder / target, MAX_FILE_BYTES, refused):
        return
    if source != exact:
        staged.moved.append(f"{source} as {target}")


def _copy(tree: Tree, path: str, target: Path, limit: int, refused: list[Refused]) -> bool:
    """Copy one file of the upload (read without leaving it); False when it was not read."""
    data = tree.take(path, limit)
    if not isinstance(data, bytes):
        refused += [data] if data is not None else []
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return True


def _ignored(path: str) -> bool:
    """OS and editor clutter, hidden files, datasets: never read."""
    return any(part in IGNORED or part.startswith(".") for part in path.split("/"))


def _folder_with_package(files: list[str]) -> str | None:
    """The shallowest folder ("" for the upload itself) holding a ``cs231n/`` package folder (one
    with Python files: a ``cs231n/saved/`` folder beside loose modules is no package)."""
    holders = []
    for path in files:
        if not path.endswith(".py"):
            continue
        parts = path.split("/")
        for index, part in enumerate(parts[:-1]):
            if part == PACKAGE and index <= MAX_DEPTH:
                holders.append("/".join(parts[:index]))
                break
    return min(holders, key=lambda h: (h.count("/") + bool(h), h)) if holders else None


def _under(path: str, holder: str) -> str | None:
    """``path`` relative to ``holder``, or None when it is not below it."""
    if not holder:
        return path
    return path[len(holder) + 1:] if path.startswith(holder + "/") else None


def _wanted(relative: str) -> bool:
    """What the grader reads from an assignment folder besides the saved models: Python files,
    and at its top the notebooks."""
    return relative.endswith(".py") or ("/" not in relative and relative.endswith(TOP_SUFFIXES))


def _match(relpath: str, files: list[str]) -> str | None:
    """The uploaded file for module ``relpath``: the one whose path ends like it, else by name.

    ``__init__.py`` files are matched only with their folder (``classifiers/__init__.py``).
    """
    parts = PurePosixPath(relpath).parts[1:]  # without "cs231n/"
    for n in range(len(parts), 0, -1):
        if n == 1 and parts[-1] == "__init__.py" and len(parts) > 1:
            continue
        for path in files:
            if tuple(path.split("/"))[-n:] == parts[-n:]:
                return path
    return None
