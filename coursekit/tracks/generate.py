"""Build (or check) the release and solution tracks of the course.

Everything is rendered in memory first (:func:`render_tracks`, which also validates), then
written to a staging folder and swapped in, folder by folder.  An error in the source
therefore changes nothing on disk.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..config import Course
from ..errors import BuildError
from .modules import module_tracks
from .kitnotebook import KIT_NOTEBOOK, has_kit_checks
from .nbconfig import FILE_NAME as NBGRADER_CONFIG, render_nbgrader_config
from .notebooks import notebook_tracks, release_exporter
from .support import release_support
from .trees import Tree, diff_trees, read_tree

RELEASE = "release"
SOLUTIONS = "solutions"


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_tracks` wrote."""

    out_root: Path
    assignments: tuple[str, ...]
    files: tuple[str, ...]  # POSIX paths relative to out_root
    seconds: float

    def summary(self) -> str:
        return (f"Built {', '.join(self.assignments)}: {len(self.files)} files under "
                f"{self.out_root}/release and {self.out_root}/solutions in {self.seconds:.1f} s.")


def build_tracks(course: Course, assignment_ids: Sequence[str] | None = None, *,
                 out_root: Path | None = None) -> BuildReport:
    """Write ``release/<id>/``, ``solutions/<id>/``, ``nbgrader_config.py`` and the generated
    ``source/<id>/coursekit_modules.ipynb`` under ``out_root``.

    All assignments of course.toml, or only ``assignment_ids``.  Nothing is written unless
    every file could be generated.
    """
    started = time.perf_counter()
    ids = select_assignments(course, assignment_ids)
    tree = render_tracks(course, ids)
    root = Path(out_root) if out_root is not None else course.root
    _install(root, tree, [*_assignment_folders(ids), *_kit_notebooks(course, ids), NBGRADER_CONFIG])
    return BuildReport(root, ids, tuple(sorted(tree)), time.perf_counter() - started)


def check_tracks(course: Course, assignment_ids: Sequence[str] | None = None) -> list[str]:
    """A short diff between a fresh build and the committed trees; [] when they are equal."""
    ids = select_assignments(course, assignment_ids)
    committed = read_tree(course.root, [*_assignment_folders(ids), *_kit_notebooks(course, ids),
                                        NBGRADER_CONFIG])
    return diff_trees(committed, render_tracks(course, ids))


def select_assignments(course: Course, assignment_ids: Sequence[str] | None) -> tuple[str, ...]:
    """The ids to build: all of course.toml, or the given ones (unknown ids are ConfigErrors)."""
    if assignment_ids is None:
        return tuple(course.assignments)
    if isinstance(assignment_ids, str):
        assignment_ids = [assignment_ids]
    return tuple(course.assignment(i).id for i in dict.fromkeys(assignment_ids))


def render_tracks(course: Course, ids: Sequence[str]) -> Tree:
    """Every generated file, by POSIX path relative to the output root."""
    tree: Tree = {NBGRADER_CONFIG: render_nbgrader_config(course).encode("utf-8")}
    exporter = release_exporter(course.stub)
    for assignment_id in ids:
        assignment = course.assignment(assignment_id)
        _, solution = module_tracks(course, assignment)
        release = release_support(course, assignment_id)
        release_nbs, solution_nbs = notebook_tracks(course, assignment, exporter)
        for track, files in ((RELEASE, release | release_nbs),
                             (SOLUTIONS, solution | solution_nbs)):
            tree.update({f"{track}/{assignment_id}/{path}": data
                         for path, data in files.items()})
        if has_kit_checks(assignment):  # nbgrader's generate_assignment reads it from source/
            tree[f"source/{assignment_id}/{KIT_NOTEBOOK}"] = solution_nbs[KIT_NOTEBOOK]
    return tree


def _kit_notebooks(course: Course, ids: Sequence[str]) -> list[str]:
    """The generated ``source/<id>/coursekit_modules.ipynb`` files of the assignments."""
    return [f"source/{i}/{KIT_NOTEBOOK}" for i in ids if has_kit_checks(course.assignment(i))]


def _assignment_folders(ids: Sequence[str]) -> list[str]:
    return [f"{track}/{assignment_id}" for track in (RELEASE, SOLUTIONS) for assignment_id in ids]


def _install(root: Path, tree: Tree, targets: list[str]) -> None:
    """Stage ``tree`` next to ``root``'s targets, then swap each target in; undo on failure."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".coursekit-build-") as tmp:
        staged, backup = Path(tmp, "new"), Path(tmp, "old")
        for target in targets:
            if target not in tree:  # a folder
                (staged / target).mkdir(parents=True, exist_ok=True)
        for relpath, data in tree.items():
            (staged / relpath).parent.mkdir(parents=True, exist_ok=True)
            (staged / relpath).write_bytes(data)
        swapped: list[str] = []
        try:
            for target in targets:
                (backup / target).parent.mkdir(parents=True, exist_ok=True)
                (root / target).parent.mkdir(parents=True, exist_ok=True)
                if (root / target).exists():
                    os.replace(root / target, backup / target)
                swapped.append(target)
                os.replace(staged / target, root / target)
        except OSError as err:
            _undo(root, backup, swapped)
            raise BuildError(f"Could not write {root / target}: {err}. Nothing was changed; "
                             "check the folder's permissions and run the build again.") from None


def _undo(root: Path, backup: Path, swapped: list[str]) -> None:
    for target in reversed(swapped):
        current = root / target
        if current.is_dir():
            shutil.rmtree(current)
        elif current.exists():
            current.unlink()
        if (backup / target).exists():
            os.replace(backup / target, current)
