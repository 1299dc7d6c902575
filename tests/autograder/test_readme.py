"""autograder/README.md names, for each attack, the test that shows the protection holds: every test it
names must exist, so that the table cannot drift from the suite."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "autograder" / "README.md"
SECTION = "### Attacks, protections and tests"
DEFAULT_FOLDER = "tests/coursekit/grade/sandbox"  # "Tests are in ... unless named otherwise."
CODE = re.compile(r"`([^`]+)`")
TEST_FILE = re.compile(r"^(?:[\w./-]+/)?test_\w+\.py$")
TEST_NAME = re.compile(r"^test_\w+$")


def attack_rows(text: str) -> list[tuple[str, str]]:
    """(attack, test cell) of every row of the attack tables: the section's table rows, headers left out."""
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ")]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and len(cells) == 3 and cells[2] not in ("test", "---"):
            rows.append((cells[0], cells[2]))
    return rows


def named_tests(cell: str) -> list[tuple[str, str | None]]:
    """(test file, test function or None for the whole file) of each name in backticks of a cell: a
    `file.py::test_x` names its file for the bare `test_y` names after it."""
    found, current = [], None
    for item in CODE.findall(cell):
        path, _, name = item.partition("::")
        if TEST_FILE.match(path):
            current = path if "/" in path else f"{DEFAULT_FOLDER}/{path}"
            found.append((current, name or None))
        elif TEST_NAME.match(item):
            found.append((current, item))
    return found


def defined_tests(path: Path) -> set[str]:
    """The test functions a test file defines (at its top level or in a class)."""
    tree = ast.parse(path.read_text(), str(path))
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


ROWS = attack_rows(README.read_text())


def test_the_attack_tables_are_read():
    """Are the attack tables found, with a test named on every row?"""
    assert len(ROWS) >= 30
    assert [attack for attack, cell in ROWS if not named_tests(cell)] == []


@pytest.mark.parametrize("attack, cell", ROWS, ids=[attack[:60] for attack, _ in ROWS])
def test_every_test_an_attack_row_names_exists(attack, cell):
    """Does every test a row of autograder/README.md's attack tables names exist, in the file it names?"""
    missing = []
    for relpath, name in named_tests(cell):
        path = ROOT / relpath if relpath else None
        if path is None or not path.is_file():
            missing.append(f"{relpath}: no such file")
        elif name is not None and name not in defined_tests(path):
            missing.append(f"{relpath}::{name}: no such test")
    assert missing == [], f"autograder/README.md, attack '{attack}': " + "; ".join(missing)


def test_a_missing_test_is_caught():
    """Would a renamed test or a wrong file be reported (the checker itself works)?"""
    cell = "`test_attacks.py::test_no_network`, `test_no_such_thing`, `tests/nowhere/test_x.py::test_y`"
    assert named_tests(cell) == [(f"{DEFAULT_FOLDER}/test_attacks.py", "test_no_network"),
                                 (f"{DEFAULT_FOLDER}/test_attacks.py", "test_no_such_thing"),
                                 ("tests/nowhere/test_x.py", "test_y")]
    assert "test_no_network" in defined_tests(ROOT / DEFAULT_FOLDER / "test_attacks.py")
    assert "test_no_such_thing" not in defined_tests(ROOT / DEFAULT_FOLDER / "test_attacks.py")


PAIR = re.compile(r"`((?:[\w.-]+/)*test_\w+\.py)::(test_\w+)")


def resolve(name: str) -> list[Path]:
    """The test files a README's ``name`` can mean: its path, or every file of that name under tests/."""
    return [ROOT / name] if "/" in name else sorted((ROOT / "tests").rglob(name))


@pytest.mark.parametrize("readme", ["README.md", "autograder/README.md"])
def test_every_test_a_readme_names_by_file_exists(readme):
    """Does every `file.py::test_name` of the README name one test file (a bare file name must be unique
    under tests/) that defines that test?"""
    wrong = []
    for relpath, name in PAIR.findall((ROOT / readme).read_text()):
        files = resolve(relpath)
        if len(files) != 1 or not files[0].is_file():
            wrong.append(f"{relpath}: {len(files)} such files (write its path from the repository root)")
        elif name not in defined_tests(files[0]):
            wrong.append(f"{relpath}::{name}: no such test")
    assert wrong == [], f"{readme}: " + "; ".join(wrong)


# --- the other counts the READMEs state, against the code -------------------------------------------

def points_tables(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """(assignment, flow or "") -> {check: points} of each table of "Checks and points"."""
    section = text[text.index("## Checks and points"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    tables, key = {}, None
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if not line.startswith("|") or set(line.strip()) <= set("|-: "):  # not a row, or the separator
            continue
        if cells[1] == "pts":
            flow = re.search(r'flow "(\w+)"', cells[0])
            key = (cells[0].split(",")[0].split()[0], flow.group(1) if flow else "")
            tables[key] = {}
            continue
        names, points = CODE.findall(cells[0]), [float(p) for p in cells[1].split(",")]
        assert len(names) == len(points), line
        tables[key].update(zip(names, points))
    return tables


def test_the_points_tables_are_course_tomls():
    """Do the "Checks and points" tables give every check of course.toml, in each flow, its points?"""
    from coursekit.config import load_config

    course = load_config(ROOT / "course.toml")
    tables = points_tables(README.read_text())
    assert set(tables) == {("two_layer_net", ""), ("two_layer_net", "modular"), ("fc_net", "")}
    for (assignment, flow), table in tables.items():
        graded = course.with_flow(assignment, flow) if flow else course
        points = {k: float(v) for k, v in graded.assignment(assignment).points.items()}
        assert table == points, (assignment, flow)


def _corpus(module: str):
    import importlib.util
    import sys

    folder = ROOT / "tests/coursekit/grade/corpus"
    for name, file in (("corpus_variants", "variants.py"), (f"corpus_{module}", f"{module}.py")):
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, folder / file)
            sys.modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[name])
    return sys.modules[f"corpus_{module}"]


def test_the_corpus_and_catalogue_counts_are_the_codes():
    """Do the corpus sizes of autograder/README.md, and the catalogue size both READMEs give for
    `coursekit check --fast`, count what the suite and autograder/mistakes.toml hold?"""
    from coursekit.selfcheck.catalogue import load_catalogue

    text = README.read_text()
    assert int(re.search(r"grades (\d+) realistic submissions", text).group(1)) == len(_corpus("variants").VARIANTS)
    assert int(re.search(r"`test_corpus_modular.py` grades (\d+) submissions", text).group(1)) == len(
        _corpus("modular_variants").MODULAR)
    mistakes = len(load_catalogue(ROOT / "autograder" / "mistakes.toml"))
    assert int(re.search(r"catches all (\d+) catalogued mistakes", text).group(1)) == mistakes
    row = next(line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith("| `coursekit check --fast` |"))
    assert re.search(r"\| (\d+) catalogued mistakes", row).group(1) == str(mistakes), row
