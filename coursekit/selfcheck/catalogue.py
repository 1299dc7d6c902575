"""The catalogue of real student mistakes (``autograder/mistakes.toml``), loaded and applied.

A :class:`Mistake` is a small, named patch to the solution: one snippet of one
START/END region of one module, replaced by the wrong code students really write.
``coursekit check`` applies each mistake to a copy of the solutions track, grades it, and
requires it to fail a check with its hint.  This module only reads the catalogue and
patches files:

- :func:`load_catalogue` reads and validates the file (errors name the mistake and key);
- :func:`patch_source` is the pure patch of one module's text; :func:`apply_mistake`
  applies it to a module of an assignment folder (a copy of ``solutions/<assignment>/``);
- :func:`check_catalogue` and :func:`regions_without_mistakes` check the catalogue against
  the annotated source, so that when the solution changes the catalogue fails loudly.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

from ..tracks.regions import Region, parse_regions, parse_source, split_lines
from ..config import Course, find_course_root
from ..errors import CoursekitError

CATALOGUE_PATH = Path("autograder") / "mistakes.toml"  # relative to the course root
_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class MistakeError(CoursekitError):
    """The mistakes catalogue is malformed, or a mistake no longer applies to the solution."""

    exit_code = 7


@dataclass(frozen=True)
class Mistake:
    """One catalogued student mistake: where it goes, the patch, and what it should look like."""

    id: str  # kebab-case, unique in the catalogue
    assignment: str  # e.g. "fc_net"
    module: str  # path inside the assignment folder, e.g. "cs231n/layers.py"
    function: str  # qualified name of the function holding the region, e.g. "TwoLayerNet.loss"
    find: str  # exact solution text, once in the module, inside a region of `function`
    replace: str  # the wrong code
    summary: str  # one line for the instructor table
    hint: str  # what the student is told
    signature: str  # the observable behaviour that should reveal it
    diagnosis: str = ""  # id of the diagnosis rule that should name it (coursekit/grade/diagnose/rules.py); optional
    flow: str = ""  # the assignment's flow it belongs to (course.toml `flow`); "" the grader's default flow


@dataclass(frozen=True)
class RegionRef:
    """A student region of the annotated source, as the catalogue's coverage sees it: one region
    of source/ is one region, whichever assignments (and flows) ship its module."""

    assignment: str = field(compare=False)  # the first assignment that ships the module
    module: str
    function: str
    lineno: int  # 1-based line of the START marker in source/<module>

    def __str__(self) -> str:
        return f"{self.assignment}: {self.module}, {self.function} (region at line {self.lineno})"


_KEYS = tuple(f.name for f in fields(Mistake))
_MAY_BE_EMPTY = {"replace"}  # a mistake may delete code
_OPTIONAL = {"diagnosis", "flow"}


# --- loading ----------------------------------------------------------------------------

def load_catalogue(path: Path | None = None) -> list[Mistake]:
    """The mistakes of ``path`` (default ``<course root>/autograder/mistakes.toml``), validated."""
    path = Path(path) if path is not None else find_course_root() / CATALOGUE_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MistakeError(f"{path} does not exist. Create it, or run from the course root.") from None
    except tomllib.TOMLDecodeError as err:
        raise MistakeError(f"{path} is not valid TOML: {err}. Fix the syntax at that line.") from None
    return parse_catalogue(raw, path)


def parse_catalogue(raw: dict, path: Path | str) -> list[Mistake]:
    """Validate the parsed TOML of a catalogue: known keys, strings, kebab-case unique ids."""
    unknown = [key for key in raw if key != "mistake"]
    if unknown:
        raise MistakeError(f"{path}: unknown top-level key '{unknown[0]}'. "
                           "The file holds only [[mistake]] entries.")
    entries = raw.get("mistake", [])
    if not isinstance(entries, list):
        raise MistakeError(f"{path}: 'mistake' must be an array of tables: write each entry "
                           "under its own [[mistake]] header.")
    mistakes: list[Mistake] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        mistake = _parse_entry(entry, number, path)
        if mistake.id in seen:
            raise MistakeError(f"{path}: mistake '{mistake.id}' (entry {number}) repeats the id "
                               f"of entry {seen[mistake.id]}. Give each mistake its own id.")
        seen[mistake.id] = number
        mistakes.append(mistake)
    return mistakes


def _parse_entry(entry: object, number: int, path: Path | str) -> Mistake:
    if not isinstance(entry, dict):
        raise MistakeError(f"{path}: entry {number} must be a table ([[mistake]]).")
    raw_id = entry.get("id")
    name = f"mistake '{raw_id}'" if isinstance(raw_id, str) and raw_id else f"mistake entry {number} (no id)"
    for key, value in entry.items():
        if key not in _KEYS:
            raise MistakeError(f"{path}: {name} has an unknown key '{key}'. "
                               f"Known keys: {', '.join(_KEYS)}.")
        if not isinstance(value, str):
            raise MistakeError(f"{path}: {name}, key '{key}' must be a string, "
                               f"got {type(value).__name__} {value!r}.")
        if not value.strip() and key not in _MAY_BE_EMPTY:
            raise MistakeError(f"{path}: {name}, key '{key}' is empty. Fill it in.")
    for key in _KEYS:
        if key not in entry and key not in _OPTIONAL:
            raise MistakeError(f"{path}: {name} is missing the key '{key}'. Add it.")
    if not _KEBAB.fullmatch(entry["id"]):
        raise MistakeError(f"{path}: {name}, key 'id' must be kebab-case "
                           "(lowercase letters, digits and single hyphens), e.g. 'adam-no-bias-correction'.")
    if entry["find"] == entry["replace"]:
        raise MistakeError(f"{path}: {name}, key 'replace' equals 'find': the patch changes nothing.")
    if "diagnosis" in entry:
        from ..grade.diagnose import RULE_IDS  # here: the catalogue's readers need not load the grader

        if entry["diagnosis"] not in RULE_IDS:
            raise MistakeError(f"{path}: {name}, key 'diagnosis' names no diagnosis rule: "
                               f"'{entry['diagnosis']}'. Known rules: {', '.join(sorted(RULE_IDS))}.")
    return Mistake(**entry)


# --- applying -----------------------------------------------------------------------------

def apply_mistake(mistake: Mistake, assignment_dir: Path) -> None:
    """Patch ``<assignment_dir>/<module>`` in place (a copy of the solutions track, never source/)."""
    target = Path(assignment_dir) / mistake.module
    try:
        text = target.read_bytes().decode("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise MistakeError(f"mistake '{mistake.id}': {target} does not exist. Is {assignment_dir} "
                           f"a copy of the '{mistake.assignment}' solutions track?") from None
    target.write_bytes(patch_source(mistake, text).encode("utf-8"))


def patch_source(mistake: Mistake, text: str) -> str:
    """``text`` (the module's source) with the mistake's snippet replaced; pure."""
    start = locate(mistake, text)
    return text[:start] + mistake.replace + text[start + len(mistake.find):]


def locate(mistake: Mistake, text: str) -> int:
    """Offset of the snippet in ``text``, or a MistakeError if it is not exactly once in the region."""
    return _locate_in_region(mistake, text)[0]


def _locate_in_region(mistake: Mistake, text: str) -> tuple[int, Region]:
    """(offset of the snippet, the region of ``mistake.function`` that holds it)."""
    where = f"mistake '{mistake.id}' ({mistake.module}, {mistake.function})"
    count = text.count(mistake.find)
    if count == 0:
        raise MistakeError(f"{where}: the 'find' snippet is not in the module: the solution has "
                           "changed. Update the snippet to the current solution code.")
    if count > 1:
        raise MistakeError(f"{where}: the 'find' snippet occurs {count} times in the module. "
                           "Make it longer so that it names one place.")
    start = text.index(mistake.find)
    first = text.count("\n", 0, start) + 1  # 1-based lines of the snippet's first and last character
    last = text.count("\n", 0, start + len(mistake.find) - 1) + 1
    regions = _regions(text, mistake.module, where)
    for region in regions:
        if region.lineno < first and last <= region.lineno + len(region.body):
            if region.scope != mistake.function:
                raise MistakeError(f"{where}: the snippet (line {first}) is in a region of "
                                   f"{region.scope}, not of {mistake.function}. Fix 'function'.")
            return start, region
    own = [r.lineno for r in regions if r.scope == mistake.function]
    has = (f"its regions start on lines {', '.join(map(str, own))}" if own
           else f"{mistake.function} has no region in this module")
    raise MistakeError(f"{where}: the snippet (lines {first}-{last}) is outside every START/END "
                       f"region of {mistake.function} ({has}). A mistake changes student code only.")


def _regions(text: str, module: str, where: str) -> tuple[Region, ...]:
    try:
        return parse_regions(split_lines(text), module).regions
    except CoursekitError as err:
        raise MistakeError(f"{where}: the module's regions cannot be read: {err}") from None


# --- checking against the source ----------------------------------------------------------

def mistake_course(course: Course, mistake: Mistake) -> Course:
    """``course`` with the mistake's assignment in the mistake's flow (``flow`` = "": the flow the
    grader gives an assignment whose course.toml names none)."""
    from ..grade.pipeline import CODE_CHECKS  # here: the catalogue's readers need not load the grader

    flows = CODE_CHECKS.get(mistake.assignment)
    if mistake.assignment not in course.assignments or not flows:
        return course
    return course.with_flow(mistake.assignment, mistake.flow or next(iter(flows)))


def flow_courses(course: Course) -> list[tuple[str, Course]]:
    """(assignment, course) for every assignment in every flow that course.toml describes: its
    active flow, its own keys and each [flows.<flow>] table."""
    found: list[tuple[str, Course]] = []
    for assignment in course.assignments.values():
        for flow in dict.fromkeys([assignment.flow, "", *assignment.flow_tables]):
            found.append((assignment.id, course.with_flow(assignment.id, flow)))
    return found


def source_regions(course: Course) -> list[RegionRef]:
    """Every student region of the Python modules of every assignment (in every flow) in ``source/``,
    each once, in order."""
    refs: dict[RegionRef, None] = {}
    for assignment_id, variant in flow_courses(course):
        for module in variant.assignment(assignment_id).modules:
            path = course.source_dir / module
            if module.endswith(".py") and path.is_file():
                text = path.read_bytes().decode("utf-8")
                refs.update((RegionRef(assignment_id, module, region.scope, region.lineno), None)
                            for region in _regions(text, module, f"source/{module}"))
    return list(refs)


def coverage(course: Course, mistakes: Sequence[Mistake]) -> dict[RegionRef, list[str]]:
    """Each source region and the ids of the mistakes that patch it (mistakes that do not apply are left out)."""
    table: dict[RegionRef, list[str]] = {ref: [] for ref in source_regions(course)}
    for mistake in mistakes:
        ref = _region_of(course, mistake)
        if ref in table:
            table[ref].append(mistake.id)
    return table


def regions_without_mistakes(course: Course, mistakes: Sequence[Mistake] | None = None) -> list[str]:
    """The regions of the source that no mistake targets (default: the course's catalogue)."""
    if mistakes is None:
        mistakes = load_catalogue(course.root / CATALOGUE_PATH)
    return [str(ref) for ref, ids in coverage(course, mistakes).items() if not ids]


def check_catalogue(course: Course, mistakes: Sequence[Mistake] | None = None) -> list[str]:
    """Every problem of the catalogue against ``source/``; an empty list means it is sound."""
    if mistakes is None:
        try:
            mistakes = load_catalogue(course.root / CATALOGUE_PATH)
        except MistakeError as err:
            return [str(err)]
    problems: list[str] = []
    for mistake in mistakes:
        problem = _problem_of(course, mistake)
        if problem:
            problems.append(problem)
    problems += [f"{region}: no mistake targets this region. Add one to {CATALOGUE_PATH}."
                 for region in regions_without_mistakes(course, mistakes)]
    return problems


def _problem_of(course: Course, mistake: Mistake) -> str | None:
    where = f"mistake '{mistake.id}'"
    if mistake.assignment not in course.assignments:
        return (f"{where}: unknown assignment '{mistake.assignment}'. "
                f"{course.path.name} defines: {', '.join(course.assignments)}.")
    try:
        assignment = mistake_course(course, mistake).assignment(mistake.assignment)
    except CoursekitError as err:
        return f"{where}: its flow {mistake.flow!r} cannot be read: {err}"
    if mistake.module not in assignment.modules:
        flow = f" in flow {assignment.flow!r}" if assignment.flow else ""
        return (f"{where}: '{mistake.module}' is not a module of '{mistake.assignment}'{flow} "
                f"({assignment.where('modules')} in {course.path.name}).")
    path = course.source_dir / mistake.module
    if not path.is_file():
        return f"{where}: source/{mistake.module} does not exist."
    original = path.read_bytes().decode("utf-8")
    try:
        patched = patch_source(mistake, original)
        parse_source(patched)
        kept = len(_regions(patched, mistake.module, where)) == len(_regions(original, mistake.module, where))
    except MistakeError as err:
        return str(err)
    except SyntaxError as err:
        return (f"{where}: the patched {mistake.module} is not valid Python (line {err.lineno}: "
                f"{err.msg}). Fix 'replace': a mistake must still import.")
    if not kept:
        return f"{where}: the patch changes the START/END markers. Patch only the code between them."
    return None


def _region_of(course: Course, mistake: Mistake) -> RegionRef | None:
    path = course.source_dir / mistake.module
    if not path.is_file():
        return None
    try:
        _, region = _locate_in_region(mistake, path.read_bytes().decode("utf-8"))
    except MistakeError:
        return None
    return RegionRef(mistake.assignment, mistake.module, region.scope, region.lineno)
