"""Is this the client's kit? What a Dask machine runs, compared before it grades anyone.

A grade depends on the kit's code and on the numpy that runs the student's code; both must be the
client's on every machine, or two machines could grade the same submission differently.
:func:`identity` says what a machine has.  It uses the standard library alone and is sent to the
machines *by value* (:func:`by_value`), so it also runs where ``coursekit`` cannot be imported: a
machine without the kit, or with the unrelated PyPI package of the same name.  A task of the kit
itself would not even reach such a worker: Dask's worker ends when it cannot unpickle one.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import platform
import sys
from pathlib import Path
from typing import Iterator

PACKAGE = "coursekit"
INSTALL_HINT = ("Install the course's own kit there, as README 'Installing the kit on the workers' shows "
                "(a wheel built from the course repository, with its constraints.txt): `pip install coursekit` "
                "installs an unrelated package of the same name.")


def identity() -> dict:
    """What this machine would grade with: the kit's code (a SHA-256 of its ``.py`` files, paths and
    bytes), where it is, and the versions of Python and numpy.  ``code`` is None without a kit."""
    try:
        found = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):  # a package that cannot even be looked up: no kit
        found = None
    folders = list(found.submodule_search_locations or ()) if found else []
    code = where = None
    if folders:
        folder = Path(folders[0])
        digest = hashlib.sha256()
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
        code, where = digest.hexdigest(), str(folder)
    try:
        numpy = importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        numpy = None
    return {"code": code, "where": where, "python": ".".join(platform.python_version_tuple()[:2]),
            "numpy": numpy}


def differences(client: dict, machine: dict, versions: tuple[str, ...] = ("python", "numpy")) -> list[str]:
    """How ``machine``'s identity differs from the client's, in words; empty when it may grade.
    ``versions``: those compared besides the code (a scheduler runs no student code: none)."""
    found = []
    if machine.get("code") is None:
        found.append("it has no coursekit package")
    elif machine["code"] != client["code"]:
        found.append(f"its kit ({machine['where']}) is other code than the client's (another package named "
                     f"coursekit, or another revision of the kit)")
    for name in versions:
        if machine.get(name) != client[name]:
            found.append(f"its {name} is {machine.get(name) or 'missing'}, the client's {client[name]}")
    return found


@contextlib.contextmanager
def by_value() -> Iterator[None]:
    """While open, Dask pickles this module's functions by value: a machine needs no coursekit to run them."""
    import cloudpickle

    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(module)
