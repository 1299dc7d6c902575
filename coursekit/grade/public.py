"""The students' self-check: the grader's public cases as data, and the code that judges them.

:func:`selfcheck_tree` renders ``selfcheck/`` for ``release/<assignment>/``:

- ``__init__.py``: :mod:`coursekit.grade.student_check`, verbatim (runs and prints);
- ``checks/base.py``, ``sandbox/harness.py`` and ``sandbox/paths.py``: the grader's own files, verbatim, so a case is
  judged by the same code with the same messages; ``checks/combine.py``: the source of the
  grader's combining judges (``COMBINERS``);
- ``sandbox/parent.py``: only the ``Task`` and ``Outcome`` classes of the grader's;
- ``public_cases.json`` / ``.npz``: each public case's judge parameters (inputs and the
  solution's expected values), read from the closures that ``compare_case`` and
  ``gradient_case`` return.

No solution code is shipped, nor ``course.toml``.  Cases the grader judges with check-specific
code (``custom_case``: statistics, training) are counted, not shipped.  A case is hidden,
and never exported, when its judge has ``hidden = True`` or its label is listed in the
check's ``hidden`` attribute (see :func:`is_public`).
"""
from __future__ import annotations

import inspect
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..config import Course
from .checks import base, nets
from .sandbox import parent
from .pipeline import build_checks

PACKAGE = "selfcheck"
FACTORIES = ("compare_case", "gradient_case")  # judges whose parameters are plain data
COMBINERS = {"_all_of": nets}  # judges over (name, judge) pairs; shipped as checks/combine.py
TASK_PARAMS = ("task_id", "grad_task", "grid_task")  # parameters that name a child task
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so a build is byte for byte reproducible
HERE = Path(__file__).resolve().parent
PARENT_HEADER = ('"""The grader\'s Task and Outcome classes (from coursekit/grade/sandbox/parent.py)."""\n'
                 "from __future__ import annotations\n\nfrom dataclasses import dataclass, field\n\n"
                 "import numpy as np\n\n\n")
MAIN = "from . import main\n\nraise SystemExit(main())\n"
COMBINE_HEADER = ('"""The grader\'s judges that combine other judges (copied from coursekit/grade/checks/)."""\n'
                  "from __future__ import annotations\n\nfrom .base import CaseResult\n\n\n")


def is_public(check: base.Check, label: str, judge) -> bool:
    """Public unless the checks mark the case hidden (today every case uses the grader's fixed seeds)."""
    return not getattr(judge, "hidden", False) and label not in getattr(check, "hidden", ())


def judge_params(judge) -> tuple[str, dict] | None:
    """(factory name, its arguments) of a judge made by a data-only factory of base.py, or by a
    combiner (``COMBINERS``) of such judges; else None."""
    judge = getattr(judge, "__wrapped__", judge)  # Check.add_case marks public judges in a wrapper
    factory = getattr(judge, "__qualname__", "").split(".<locals>.")[0]
    module = base if factory in FACTORIES else COMBINERS.get(factory)
    if module is None or judge.__module__ != module.__name__ or not judge.__closure__:
        return None
    cells = dict(zip(judge.__code__.co_freevars, (cell.cell_contents for cell in judge.__closure__)))
    names = list(inspect.signature(getattr(module, factory)).parameters)
    if not set(names) <= cells.keys():
        return None
    params = {name: cells[name] for name in names}
    if factory in COMBINERS:
        parts = [(name, judge_params(part)) for name, part in params["judges"]]
        if any(found is None for _, found in parts):
            return None
        params["judges"] = parts
    return factory, params


def _encode_case(factory: str, params: dict, key: str, arrays: dict[str, np.ndarray]) -> tuple[dict, list[str]]:
    """(the case as JSON, the task ids it reads); arrays go to ``arrays`` under ``key``/..."""
    encoded, tasks = {}, [params[name] for name in TASK_PARAMS if name in params]
    for name, value in params.items():
        if name == "judges":
            encoded[name] = []
            for index, (part, (sub_factory, sub_params)) in enumerate(value):
                sub, sub_tasks = _encode_case(sub_factory, sub_params, f"{key}/{index}", arrays)
                encoded[name].append({"name": part, **sub})
                tasks += sub_tasks
        else:
            encoded[name] = _encode(value, f"{key}/{name}", arrays)
    return {"factory": factory, "params": encoded}, tasks


def _encode(value, key: str, arrays: dict[str, np.ndarray]):
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"array": key}
    if isinstance(value, tuple):
        return {"tuple": [int(v) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    return value


def export_public(checks: list[base.Check], assignment: str, task_seconds: float
                  ) -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest and arrays of every public, data-only case of ``checks``."""
    arrays: dict[str, np.ndarray] = {}
    entries = []
    for check in checks:
        tasks = {task.id: task for task in check.tasks}
        cases, used = [], []
        for index, (label, judge) in enumerate(check.cases):
            found = judge_params(judge) if is_public(check, label, judge) else None
            if found is None:
                continue
            case, task_ids = _encode_case(*found, f"case/{check.name}/{index}", arrays)
            cases.append(case)
            used += task_ids
        for task_id in dict.fromkeys(used):
            task = tasks[task_id]
            arrays.update({f"task/{task_id}/{key}": np.asarray(value) for key, value in task.inputs.items()})
        entries.append({"name": check.name, "title": check.title, "function": check.function,
                        "file": check.file, "hint": check.hint, "cases": cases,
                        "grader_only": len(check.cases) - len(cases),
                        "tasks": [{"id": task_id, "driver": tasks[task_id].driver, "spec": tasks[task_id].spec}
                                  for task_id in dict.fromkeys(used)]})
    manifest = {"assignment": assignment, "task_seconds": task_seconds,
                "checks": entries}
    return manifest, arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz (read by np.load) whose bytes depend on the arrays only, not on the time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.asarray(arrays[key]), allow_pickle=False)
    return buffer.getvalue()


def selfcheck_tree(course: Course, assignment: str) -> dict[str, bytes]:
    """The files of ``selfcheck/`` by path relative to the assignment folder."""
    manifest, arrays = export_public(build_checks(course, assignment), assignment,
                                     float(course.limits.check_seconds))
    shim = PARENT_HEADER + inspect.getsource(parent.Task) + "\n\n" + inspect.getsource(parent.Outcome)
    files = {
        "__init__.py": (HERE / "student_check.py").read_text(),
        "__main__.py": MAIN,
        "checks/__init__.py": "",
        "checks/base.py": (HERE / "checks" / "base.py").read_text(),
        "checks/combine.py": COMBINE_HEADER + "\n\n".join(inspect.getsource(getattr(module, name))
                                                          for name, module in COMBINERS.items()),
        "sandbox/__init__.py": "",
        "sandbox/harness.py": (HERE / "sandbox" / "harness.py").read_text(),
        "sandbox/paths.py": (HERE / "sandbox" / "paths.py").read_text(),
        "sandbox/parent.py": shim,
        "public_cases.json": json.dumps(manifest, indent=1, sort_keys=True) + "\n",
    }
    tree = {f"{PACKAGE}/{path}": text.encode("utf-8") for path, text in files.items()}
    tree[f"{PACKAGE}/public_cases.npz"] = npz_bytes(arrays)
    return tree
