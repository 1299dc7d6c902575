"""``course.toml``: read once, validated, and frozen.

This is the only module that reads the configuration file.  Everything else receives a
:class:`Course` (or one of its parts).  Unknown keys and wrong types are
:class:`~coursekit.errors.ConfigError` s that name the key and the file.

Paths in the file are relative to the folder that holds it (the course root).  The
dataset folder can be overridden with the ``CIFAR10_DIR`` environment variable.
"""
from __future__ import annotations

import copy
import difflib
import os
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .errors import ConfigError

CONFIG_NAME = "course.toml"
ENV_DATA_DIR = "CIFAR10_DIR"
ENV_COURSE_ROOT = "COURSEKIT_ROOT"
STUB_STYLES = ("raise", "pass")
ISOLATION_MODES = ("bwrap", "degraded")
CLUSTER_SCHEMES = ("tcp://", "tls://")  # [grading] cluster: a Dask scheduler's address
LOCAL_CLUSTER = "local"  # the embedded local cluster (the default when no cluster is named)
GRADER_RUN_KEYS = ("look_every",)  # grade_train keys of the grader's stop rule, not of the training itself
QUESTIONS = "questions"  # [assignments.<id>.points.questions]: the notebooks' manually graded cells
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's
DEFAULT_VISIBILITY = "default"  # [assignments.<id>.visibility] key for the checks not named


@dataclass(frozen=True)
class Data:
    """Where CIFAR-10 lives and where its official tarball comes from."""

    cifar10_dir: Path
    url: str
    md5: str


@dataclass(frozen=True)
class Limits:
    """Resource limits for the grading children of one grade.

    Time is CPU time of a child's whole process tree; wall-clock time is only a guard for code
    that waits (coursekit/grade/sandbox/watch.py).
    """

    cpu_seconds: int  # CPU: the grader's training run, and all quick checks together; each process's RLIMIT_CPU
    wall_seconds: int  # wall-clock guard of the training run, and of all quick checks together
    memory_mb: int
    file_size_mb: int
    max_processes: int
    # Optional: the CPU seconds of one quick grading check (its wall-clock guard: watch.wall_guard).
    check_seconds: int = 20
    # Optional: "bwrap" (bubblewrap; refuse to grade without it) or "degraded" (no namespaces, spare uid:
    # what `coursekit grade --insecure` selects).
    isolation: str = "bwrap"
    # Optional: nbgrader's limit for one notebook cell (autograde, validate); written into
    # nbgrader_config.py.  Measured: see autograder/README.md ("Notebook timeouts").
    notebook_cell_seconds: int = 3600
    # Optional: the disk one grade may use on the host, over all its children together: the staged
    # submission, and what its checks write (stderr, outputs; in the degraded mode, files).
    disk_mb: int = 256


@dataclass(frozen=True)
class Assignment:
    """One assignment: what it ships, how it is graded, how the reference is trained."""

    id: str
    title: str
    modules: tuple[str, ...]
    notebooks: tuple[str, ...]
    thresholds: Mapping[str, float]
    points: Mapping[str, float]  # the grader's checks (coursekit/grade)
    train: Mapping[str, Any]
    grade_train: Mapping[str, Any]
    # Files the grader takes from a submission besides those with student regions (optional).
    student_files: tuple[str, ...] = ()
    # The notebooks' manually graded answer cells, by nbgrader grade_id ([points.questions]).
    question_points: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    # Gradescope visibility by check name, and "default" for the others ([visibility]).
    visibility: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Which version of the assignment students get ("" when the assignment has one): the grader
    # knows each flow's checks (coursekit/grade/pipeline.py); [flows.<flow>] tables adapt the keys.
    flow: str = ""
    # The names of the [assignments.<id>.flows.<flow>] tables (other flows this course can switch to).
    flow_tables: tuple[str, ...] = ()
    _raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False, compare=False)

    @property
    def max_score(self) -> float:
        """The grader's points (the checks); the manually graded questions come on top."""
        return float(sum(self.points.values()))

    def where(self, key: str) -> str:
        """The dotted name of ``key`` as course.toml holds it, for messages: from the active flow's
        table (``assignments.<id>.flows.<flow>.<key>``) or the assignment's own."""
        return _key_name(self.id, self.flow, self._raw.get(FLOWS, {}).get(self.flow, {}), key)

    def visibility_of(self, check: str) -> str:
        """Gradescope visibility of ``check``: its own entry, else the default, else visible."""
        return self.visibility.get(check, self.visibility.get(DEFAULT_VISIBILITY, "visible"))


@dataclass(frozen=True)
class Course:
    """The whole of ``course.toml``."""

    root: Path
    path: Path
    name: str
    stub: str
    data: Data
    limits: Limits
    assignments: Mapping[str, Assignment] = field(repr=False)
    # [grading] cluster: the Dask scheduler class mode sends grades to ("tcp://HOST:PORT"), or
    # "local" (the default): an embedded cluster of worker processes on this machine.
    cluster: str = LOCAL_CLUSTER

    @property
    def source_dir(self) -> Path:
        return self.root / "source"

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions"

    def with_flow(self, assignment_id: str, flow: str) -> "Course":
        """This course with ``assignment_id`` switched to ``flow`` (as if course.toml said so)."""
        assignment = self.assignment(assignment_id)
        if flow == assignment.flow:
            return self
        raw = {**copy.deepcopy(dict(assignment._raw)), FLOW: flow}
        switched = _parse_assignment(assignment_id, raw, self.path)
        return replace(self, assignments=MappingProxyType({**self.assignments, assignment_id: switched}))

    def assignment(self, assignment_id: str) -> Assignment:
        """The assignment called ``assignment_id``, or a ConfigError listing the known ids."""
        try:
            return self.assignments[assignment_id]
        except KeyError:
            known = ", ".join(self.assignments)
            raise ConfigError(
                f"Unknown assignment '{assignment_id}'. {self.path} defines: {known}."
                + _suggest(assignment_id, self.assignments)
            ) from None


# --- schema --------------------------------------------------------------------------
# Each table maps a key to (expected types, required).  Nested free-form tables
# (thresholds, points, train, grade_train) are checked for value types only.

_NUMBER = (int, float)
_SCALAR_OR_LIST = (int, float, str, bool, list)

_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "": {"course": ((dict,), True), "data": ((dict,), True),
         "grading": ((dict,), True), "assignments": ((dict,), True)},
    "course": {"name": ((str,), True), "stub": ((str,), False)},
    "data": {"cifar10_dir": ((str,), True), "url": ((str,), True), "md5": ((str,), True)},
    "grading": {**{f.name: ((str,) if f.name == "isolation" else (int,), f.default is MISSING)
                   for f in fields(Limits)}, "cluster": ((str,), False)},
    "assignment": {
        "title": ((str,), True),
        "modules": ((list,), True),
        "notebooks": ((list,), True),
        "thresholds": ((dict,), False),
        "points": ((dict,), False),
        "train": ((dict,), False),
        "grade_train": ((dict,), False),
        "student_files": ((list,), False),
        "visibility": ((dict,), False),
        "flow": ((str,), False),
        "flows": ((dict,), False),
    },
}
FLOW, FLOWS = "flow", "flows"
# Keys a [assignments.<id>.flows.<flow>] table may set: each replaces the assignment's own key.
_FLOW_KEYS = ("modules", "notebooks", "thresholds", "points", "train", "grade_train", "student_files",
              "visibility")
_SCHEMA["flow"] = {key: (types, False) for key, (types, _) in _SCHEMA["assignment"].items() if key in _FLOW_KEYS}
_FREE_TABLES = {"thresholds": _NUMBER, "points": _NUMBER,
                "train": _SCALAR_OR_LIST, "grade_train": _SCALAR_OR_LIST}


def find_course_root(start: Path | None = None) -> Path:
    """The folder holding ``course.toml``: $COURSEKIT_ROOT, else the nearest parent of ``start``."""
    env = os.environ.get(ENV_COURSE_ROOT)
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise ConfigError(
        f"No {CONFIG_NAME} found in {here} or any parent folder. Run coursekit from inside "
        f"the course repository, or set {ENV_COURSE_ROOT} to the folder that holds {CONFIG_NAME}. "
        f"(Students: check your work with `python -m selfcheck` in your assignment folder.)"
    )


def load_config(path: Path | str | None = None) -> Course:
    """Read and validate ``course.toml`` (found from the working directory when ``path`` is None)."""
    path = Path(path) if path is not None else find_course_root() / CONFIG_NAME
    path = path.resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist. Create it, or run from the course root.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}. Fix the syntax at that line.") from None
    return _parse(raw, path)


def _parse(raw: dict, path: Path) -> Course:
    _check_table(raw, _SCHEMA[""], "", path)
    for table in ("course", "data", "grading"):
        _check_table(raw[table], _SCHEMA[table], table, path)
    course, data, grading = raw["course"], raw["data"], raw["grading"]
    stub = course.get("stub", "raise")
    if stub not in STUB_STYLES:
        raise ConfigError(f"{path}: key 'course.stub' must be one of {STUB_STYLES}, got {stub!r}.")
    if grading.get("isolation", "bwrap") not in ISOLATION_MODES:
        raise ConfigError(f"{path}: key 'grading.isolation' must be one of {ISOLATION_MODES}, "
                          f"got {grading['isolation']!r}.")
    grading = dict(grading)
    cluster = grading.pop("cluster", LOCAL_CLUSTER)
    problem = cluster_problem(cluster)
    if problem:
        raise ConfigError(f"{path}: key 'grading.cluster' {problem}")
    root = path.parent
    data_dir = os.environ.get(ENV_DATA_DIR) or data["cifar10_dir"]
    return Course(
        root=root,
        path=path,
        name=course["name"],
        stub=stub,
        data=Data(cifar10_dir=(root / data_dir).resolve(), url=data["url"], md5=data["md5"]),
        limits=Limits(**grading),
        assignments=MappingProxyType({
            key: _parse_assignment(key, value, path) for key, value in raw["assignments"].items()
        }),
        cluster=cluster,
    )


def cluster_problem(address: str) -> str:
    """Why ``address`` names no Dask scheduler ('' when it does, or when it is "local")."""
    if address == LOCAL_CLUSTER:
        return ""
    scheme = next((s for s in CLUSTER_SCHEMES if address.startswith(s)), None)
    host, _, port = address[len(scheme):].rpartition(":") if scheme else ("", "", "")
    if scheme is None or not host or not port.isdigit() or any(c.isspace() for c in address):
        return (f"must be a Dask scheduler's address, tcp://HOST:PORT (the address `dask scheduler` "
                f"prints, e.g. tcp://10.0.0.5:8786), or \"{LOCAL_CLUSTER}\"; got {address!r}.")
    return ""


def _parse_assignment(key: str, raw: Any, path: Path) -> Assignment:
    """The assignment as its ``flow`` sees it: the keys of [flows.<flow>] replace its own.

    Every flow table is read, the active one or not, so that switching flows never meets an
    error that was there all along.  Which flows exist is the grader's business
    (coursekit/grade/pipeline.py): a flow without a table of its own uses the assignment's keys.
    """
    where = f"assignments.{key}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: key '{where}' must be a table ([{where}]).")
    _check_table(raw, _SCHEMA["assignment"], where, path, required=False)
    for name, table in raw.get(FLOWS, {}).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: key '{where}.{FLOWS}.{name}' must be a table "
                              f"([{where}.{FLOWS}.{name}]).")
        _check_table(table, _SCHEMA["flow"], f"{where}.{FLOWS}.{name}", path, required=False)
        _flow_assignment(key, raw, name, path)
    return _flow_assignment(key, raw, raw.get(FLOW, ""), path)


def _flow_assignment(key: str, raw: dict, flow: str, path: Path) -> Assignment:
    """The assignment with ``flow``'s table (if any) over its own keys."""
    table = raw.get(FLOWS, {}).get(flow, {})
    merged = {**{k: v for k, v in raw.items() if k != FLOWS}, **table}

    def where(name: str) -> str:
        return _key_name(key, flow, table, name)

    for name, (_, required) in _SCHEMA["assignment"].items():
        if required and name not in merged:
            raise ConfigError(f"{path}: missing required key '{where(name)}'. Add it to the file.")
    for name in ("modules", "notebooks", "student_files"):
        for item in merged.get(name, []):
            if not isinstance(item, str):
                raise ConfigError(f"{path}: every entry of '{where(name)}' must be a string, got {item!r}.")
    points = dict(merged.get("points", {}))
    questions = points.pop(QUESTIONS, {})
    if not isinstance(questions, dict):
        raise ConfigError(f"{path}: key '{where('points')}.{QUESTIONS}' must be a table "
                          f"([{where('points')}.{QUESTIONS}]) of grade_id = points.")
    _check_numbers(questions, f"{where('points')}.{QUESTIONS}", path)
    visibility = merged.get("visibility", {})
    for sub, value in visibility.items():
        if sub != DEFAULT_VISIBILITY and sub not in points:
            raise ConfigError(f"{path}: key '{where('visibility')}.{sub}' names no check of "
                              f"'{where('points')}'; use a check's name or '{DEFAULT_VISIBILITY}'."
                              + _suggest(sub, [*points, DEFAULT_VISIBILITY]))
        if value not in VISIBILITIES:
            raise ConfigError(f"{path}: key '{where('visibility')}.{sub}' must be one of "
                              f"{', '.join(VISIBILITIES)}, got {value!r}.")
    free = {}
    for name, types in _FREE_TABLES.items():
        values = points if name == "points" else merged.get(name, {})
        for sub, value in values.items():
            if isinstance(value, bool) and types is _NUMBER or not isinstance(value, types):
                raise ConfigError(
                    f"{path}: key '{where(name)}.{sub}' must be {_describe(types)}, "
                    f"got {type(value).__name__} {value!r}."
                )
        free[name] = MappingProxyType(dict(values))
    return Assignment(id=key, title=merged["title"], modules=tuple(merged["modules"]),
                      notebooks=tuple(merged["notebooks"]), student_files=tuple(merged.get("student_files", [])),
                      question_points=MappingProxyType(dict(questions)),
                      visibility=MappingProxyType(dict(visibility)), flow=flow,
                      flow_tables=tuple(raw.get(FLOWS, {})), _raw=MappingProxyType(copy.deepcopy(raw)), **free)


def _key_name(assignment_id: str, flow: str, flow_table: Mapping[str, Any], key: str) -> str:
    """``key`` of an assignment as course.toml holds it: in the flow's table, or the assignment's own."""
    return f"assignments.{assignment_id}" + (f".{FLOWS}.{flow}" if key in flow_table else "") + f".{key}"


def _check_numbers(table: dict, where: str, path: Path) -> None:
    for sub, value in table.items():
        if isinstance(value, bool) or not isinstance(value, _NUMBER) or value < 0:
            raise ConfigError(f"{path}: key '{where}.{sub}' must be a number >= 0, "
                              f"got {type(value).__name__} {value!r}.")


def _check_table(table: dict, schema: dict, where: str, path: Path, required: bool = True) -> None:
    prefix = f"{where}." if where else ""
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(f"{path}: unknown key '{prefix}{key}'." + _suggest(key, schema))
        types, _ = schema[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ConfigError(
                f"{path}: key '{prefix}{key}' must be {_describe(types)}, "
                f"got {type(value).__name__} {value!r}."
            )
    for key, (_, needed) in schema.items():
        if required and needed and key not in table:
            raise ConfigError(f"{path}: missing required key '{prefix}{key}'. Add it to the file.")


def _describe(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names[t] for t in types)


def _suggest(key: str, choices) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
