"""Which modules of a submission's ``cs231n`` package its graded modules import.

Found by parsing (``ast``), never by running student code: every ``import`` and ``from ...
import`` statement anywhere in a module (inside functions and ``try`` blocks too), relative or
absolute, ``import cs231n.x as y`` and ``from x import *`` included, and the packages above
each module (Python runs ``cs231n/__init__.py`` and ``cs231n/classifiers/__init__.py`` before
``cs231n/classifiers/fc_net.py``).  Imports of other packages (numpy, torch) are not followed.
"""
from __future__ import annotations

import ast
from typing import Callable

from ..tracks.regions import parse_source

PACKAGE = "cs231n"


def module_name(relpath: str) -> str:
    """``cs231n/classifiers/fc_net.py`` -> ``cs231n.classifiers.fc_net``; a package's
    ``__init__.py`` is the package."""
    parts = relpath[:-len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_closure(roots: list[str], exists: Callable[[str], bool],
                   source: Callable[[str], bytes | None]) -> list[str]:
    """The module files (relative paths) that importing ``roots`` runs, ``roots`` included.

    ``exists(relpath)``: is this module file in the submission (or supplied by the kit);
    ``source(relpath)``: its bytes to parse, or None (missing, unreadable: no imports followed).
    Names of the package that no file answers (a missing ``fast_layers``) are left out.
    """
    found: list[str] = []
    todo = list(roots)
    while todo:
        relpath = todo.pop(0)
        if relpath in found:
            continue
        found.append(relpath)
        names = _parents(module_name(relpath)) + _imported(relpath, source(relpath))
        for name in names:
            path = _file_of(name, exists)
            if path is not None and path not in found:
                todo.append(path)
    return found


def _file_of(name: str, exists: Callable[[str], bool]) -> str | None:
    """The file that answers module ``name`` of the package, or None."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = name.replace(".", "/")
    for candidate in (base + ".py", base + "/__init__.py"):
        if exists(candidate):
            return candidate
    return None


def _parents(name: str) -> list[str]:
    """The packages Python imports before module ``name``: ``a.b.c`` -> ``a``, ``a.b``."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


def _imported(relpath: str, text: bytes | None) -> list[str]:
    """Every module name an import statement of this file may load (with its parent packages)."""
    if text is None:
        return []
    try:
        tree = parse_source(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # it cannot run, so it imports nothing; the child says why it fails
    package = module_name(relpath) if relpath.endswith("/__init__.py") else module_name(relpath).rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names += _parents(alias.name) + [alias.name]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if base is None:
                continue
            names += _parents(base) + [base]
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]  # submodules
    return names


def _absolute(module: str | None, level: int, package: str) -> str | None:
    """The absolute name of ``from <level dots><module> import ...`` in ``package``, or None."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 >= len(parts):
        return None  # beyond the top-level package
    base = parts[:len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))
