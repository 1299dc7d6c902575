"""Find the student's ``cs231n/`` package in whatever a Gradescope upload looks like.

Students upload their assignment folder, its contents loose at the top, the same zipped with
one extra folder level, the package alone, or only the files they edited.  :func:`stage_upload`
turns any of these into a folder laid out like ``release/<assignment>/``:

1. a folder holding ``cs231n/`` (the upload itself, or one or two levels down) is used as is;
2. otherwise the package's files are placed by name: each module of course.toml
   (``cs231n/layers.py``, ``cs231n/classifiers/fc_net.py``, ...) is taken from the upload,
   wherever it is (a ``classifiers/`` parent wins for files of that folder), and the modules
   the upload lacks come from the student skeleton; saved models (``*.npz``) go to the top;
3. an upload with none of the package's files is a :class:`UploadError` that says what to upload.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Assignment, Course
from ..errors import GradingError

PACKAGE = "cs231n"
MAX_DEPTH = 3  # folder levels searched below the upload
IGNORED = ("__MACOSX", "__pycache__", ".ipynb_checkpoints")


class UploadError(GradingError):
    """The upload holds nothing the grader can grade."""


@dataclass
class Staged:
    """Where the grader should look, and how the upload was read."""

    folder: Path
    layout: str  # "assignment folder", "package files placed by name"
    from_upload: list[str] = field(default_factory=list)  # module paths found in the upload
    from_release: list[str] = field(default_factory=list)  # module paths the upload lacked

    def describe(self) -> str:
        text = f"Upload read as: {self.layout} ({self.folder})."
        if self.from_release:
            text += (" Not in your upload, so the unchanged skeleton was used: "
                     + ", ".join(self.from_release) + ".")
        return text


def stage_upload(course: Course, assignment: Assignment, upload: Path, scratch: Path) -> Staged:
    """The folder to grade for ``upload``; files are copied into ``scratch`` only when needed."""
    upload = Path(upload)
    if not upload.is_dir():
        raise UploadError(f"The upload folder {upload} does not exist.")
    holder = _folder_with_package(upload)
    if holder is not None:
        return Staged(holder, "assignment folder" if holder == upload else
                      f"assignment folder {holder.relative_to(upload).as_posix()}/ inside the upload")
    files = [p for p in _walk(upload) if p.is_file() and not p.is_symlink()]  # a link could name the kit
    placed = {relpath: _match(relpath, files) for relpath in assignment.modules}
    found = {relpath: path for relpath, path in placed.items() if path is not None}
    if not any(relpath.endswith(".py") and not relpath.endswith("__init__.py") for relpath in found):
        names = ", ".join(sorted({Path(m).name for m in assignment.modules if not m.endswith("__init__.py")}))
        raise UploadError(
            f"Your upload has no {PACKAGE}/ folder and none of its files ({names}). Upload your "
            f"assignment folder (the one with the notebooks and {PACKAGE}/), as a zip or as files.")
    from ..tracks.modules import module_tracks

    staged = Path(scratch) / assignment.id
    release, _ = module_tracks(course, assignment)
    result = Staged(staged, "package files placed by name")
    for relpath in assignment.modules:
        target = staged / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if relpath in found:
            shutil.copyfile(found[relpath], target)
            result.from_upload.append(relpath)
        else:
            target.write_bytes(release[relpath])
            result.from_release.append(relpath)
    for model in (p for p in files if p.suffix == ".npz"):
        if not (staged / model.name).exists():
            shutil.copyfile(model, staged / model.name)
    for notebook in (p for p in files if p.suffix == ".ipynb"):
        if not (staged / notebook.name).exists():
            shutil.copyfile(notebook, staged / notebook.name)
    return result


def _walk(folder: Path, depth: int = 0):
    """Files and folders under ``folder``, shallowest first, skipping OS and editor clutter."""
    if depth > MAX_DEPTH:
        return
    children = sorted(p for p in folder.iterdir() if p.name not in IGNORED and not p.name.startswith("."))
    yield from children
    for child in children:
        if child.is_dir() and not child.is_symlink():
            yield from _walk(child, depth + 1)


def _folder_with_package(upload: Path) -> Path | None:
    """The shallowest folder (the upload or below) holding a ``cs231n/`` package folder."""
    if (upload / PACKAGE).is_dir() and not (upload / PACKAGE).is_symlink():
        return upload
    for path in _walk(upload):
        if path.is_dir() and path.name == PACKAGE and not path.is_symlink():
            return path.parent
    return None


def _match(relpath: str, files: list[Path]) -> Path | None:
    """The uploaded file for module ``relpath``: the one whose path ends like it, else by name.

    ``__init__.py`` files are matched only with their folder (``classifiers/__init__.py``).
    """
    parts = Path(relpath).parts[1:]  # without "cs231n/"
    for n in range(len(parts), 0, -1):
        if n == 1 and parts[-1] == "__init__.py" and len(parts) > 1:
            continue
        for path in files:
            if path.parts[-n:] == parts[-n:]:
                return path
    return None
