"""Generated trees (file contents by path): read from disk, and how two of them differ."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

Tree = dict[str, bytes]  # file contents by POSIX path relative to a root folder

IGNORED_PARTS = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
IGNORED_SUFFIXES = (".pyc",)
# What running an assignment folder's notebooks and get_datasets.sh writes into it: never generated,
# never committed (.gitignore), never a difference from a fresh build, never part of a sample submission.
OUTPUTS = ("cs231n/saved", "cs231n/datasets/cifar-10-batches-py", "cs231n/datasets/cifar-10-python.tar.gz")
MAX_NAMES = 40  # differing file names listed
MAX_DIFF_LINES = 80  # unified diff lines shown after the names
CONTEXT_LINES = 2


def read_tree(root: Path, paths: Iterable[str]) -> Tree:
    """Every file under each of ``paths`` (folders or files, relative to ``root``), minus caches."""
    tree: Tree = {}
    for relpath in paths:
        path = root / relpath
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            rel = file.relative_to(root)
            if not (set(rel.parts) & set(IGNORED_PARTS) or file.suffix in IGNORED_SUFFIXES or is_output(rel.parts)):
                tree[rel.as_posix()] = file.read_bytes()
    return tree


def is_output(parts: tuple[str, ...]) -> bool:
    """Whether a path (its parts) is, or lies inside, one of the OUTPUTS of an assignment folder."""
    return any(tuple(parts[i:i + len(out)]) == out
               for out in (tuple(o.split("/")) for o in OUTPUTS) for i in range(len(parts) - len(out) + 1))


def ignore_outputs(folder: str, names: list[str]) -> set[str]:
    """``shutil.copytree``'s ``ignore``: the OUTPUTS among ``names`` of ``folder``."""
    return {name for name in names if is_output(Path(folder, name).parts)}


def diff_trees(committed: Tree, generated: Tree) -> list[str]:
    """Differing file names first, then a unified diff cut to a readable size; [] when equal."""
    changed = sorted(p for p in committed.keys() & generated.keys() if committed[p] != generated[p])
    missing = sorted(generated.keys() - committed.keys())
    extra = sorted(committed.keys() - generated.keys())
    if not (changed or missing or extra):
        return []
    names = ([f"  changed: {p}" for p in changed] + [f"  missing: {p}" for p in missing]
             + [f"  not generated: {p}" for p in extra])
    lines = [f"{len(names)} generated file(s) differ from a fresh build; "
             "run `coursekit build` to regenerate them:"]
    lines += _cut(names, MAX_NAMES, "file names")
    body: list[str] = []
    for path in changed + missing + extra:
        body += difflib.unified_diff(_text(committed.get(path)), _text(generated.get(path)),
                                     f"committed/{path}", f"generated/{path}",
                                     n=CONTEXT_LINES, lineterm="")
    return lines + _cut(body, MAX_DIFF_LINES, "diff lines")


def _text(data: bytes | None) -> list[str]:
    if data is None:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


def _cut(lines: list[str], limit: int, what: str) -> list[str]:
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [f"... {len(lines) - limit} more {what}"]
