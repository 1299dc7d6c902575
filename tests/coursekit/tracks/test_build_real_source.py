"""Properties of the build over the course's real ``source/cs231n`` (not the fixture).

They are parametrised over every module of ``source/cs231n`` that has START/END markers,
and skip, saying so, while there is none.  The import test assembles the whole skeleton
package in a temporary folder and checks it in a fresh interpreter: every module imports,
every "raise" stub is a statement of the function its message names (found with ast: the
compiler drops the code after a function's first unconditional raise), and running the
stub in the module's namespace raises NotImplementedError with that message.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coursekit.tracks.modules import render_python
from coursekit.tracks.regions import (START_MARKER, Region, parse_regions, split_lines,
                                     stub_message)
from coursekit.tracks.generate import render_tracks
from coursekit.config import load_config

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "source"
PACKAGE = SOURCE / "cs231n"
MARKED = sorted(p.relative_to(SOURCE).as_posix() for p in PACKAGE.rglob("*.py")
                if START_MARKER in p.read_text(encoding="utf-8"))
TRIVIAL = {"", "pass", "else:", "return", "continue", "break", ")", "]", "}"}
IMPORT_TIMEOUT = 120  # seconds
REAL_COURSE = load_config(ROOT / "course.toml")

pytestmark = pytest.mark.skipif(
    not MARKED, reason="source/cs231n has no module with START/END markers yet")


@pytest.fixture(scope="module")
def stub_style() -> str:
    return REAL_COURSE.stub


def render(relpath: str, stub: str) -> tuple[bytes, bytes, bytes]:
    """(source, release, solution) bytes of one real module."""
    raw = (SOURCE / relpath).read_bytes()
    release, solution = render_python(raw, relpath, stub, where=f"source/{relpath}")
    return raw, release, solution


def parts(data: bytes, relpath: str):
    return parse_regions(split_lines(data.decode("utf-8")), relpath).parts


def expected_stub(region: Region, relpath: str, stub: str) -> str:
    """The stub line, written out independently of Region.stub_line."""
    if stub == "pass" or region.in_init or (region.start_line.startswith("#") and relpath.endswith(".py")):
        return "pass"
    return f'raise NotImplementedError("{stub_message(region.scope, relpath)}")'


@pytest.mark.parametrize("relpath", MARKED)
def test_solution_is_the_source(relpath, stub_style):
    """Is the solution module the source module, byte for byte?"""
    raw, _, solution = render(relpath, stub_style)
    assert solution == raw


@pytest.mark.parametrize("relpath", MARKED)
def test_code_outside_markers_is_unchanged(relpath, stub_style):
    """Is every line outside the markers identical, and each region just its stub?"""
    raw, release, _ = render(relpath, stub_style)
    source_parts, release_parts = parts(raw, relpath), parts(release, relpath)
    assert len(source_parts) == len(release_parts)
    for before, after in zip(source_parts, release_parts):
        if isinstance(before, Region):
            assert (after.start_line, after.end_line) == (before.start_line, before.end_line)
            assert [line.strip() for line in after.body] == [
                expected_stub(before, relpath, stub_style)], f"line {before.lineno}"
        else:
            assert after == before


@pytest.mark.parametrize("relpath", MARKED)
def test_solution_lines_do_not_reach_the_release(relpath, stub_style):
    """Is every non-trivial solution line absent from the release (unless also outside markers)?"""
    raw, release, _ = render(relpath, stub_style)
    source_parts = parts(raw, relpath)
    outside = {line.strip() for part in source_parts if not isinstance(part, Region)
               for line in part}
    released = {line.strip() for line in split_lines(release.decode("utf-8"))}
    for region in (part for part in source_parts if isinstance(part, Region)):
        for line in region.body:
            text = line.strip()
            if text not in TRIVIAL and text not in outside:
                assert text not in released, f"{relpath}: solution line leaked: {text}"


@pytest.mark.parametrize("relpath", MARKED)
def test_rendering_twice_is_identical(relpath, stub_style):
    """Does rendering a module twice give byte-identical output?"""
    assert render(relpath, stub_style) == render(relpath, stub_style)


CHECK_SCRIPT = textwrap.dedent("""
    import ast, importlib, json, sys
    folder, spec = sys.argv[1], json.loads(sys.argv[2])
    sys.path.insert(0, folder)
    problems = []

    def raises_by_line(tree):
        # {line of a `raise` statement: qualified name of the def or class holding it}
        found = {}
        def visit(node, prefix, name):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    inner = prefix + child.name
                    local = "." if isinstance(child, ast.ClassDef) else ".<locals>."
                    visit(child, inner + local, inner)
                else:
                    if isinstance(child, ast.Raise):
                        found[child.lineno] = name
                    visit(child, prefix, name)
        visit(tree, "", "module level")
        return found

    for item in spec:
        try:
            module = importlib.import_module(item["module"])
        except NotImplementedError as err:
            if str(err) != item["import_message"]:
                problems.append(f"{item['module']}: import raised {err!r}")
            continue
        except Exception as err:
            problems.append(f"{item['module']}: import failed: {err!r}")
            continue
        if item["import_message"]:
            problems.append(f"{item['module']}: imported despite a module-level stub")
            continue
        with open(module.__file__, encoding="utf-8") as handle:
            raises = raises_by_line(ast.parse(handle.read()))
        for stub in item["stubs"]:
            if raises.get(stub["line"]) != stub["scope"]:
                problems.append(f"{item['module']}:{stub['line']}: not a raise in {stub['scope']}")
            try:
                exec(stub["code"], vars(module))
                problems.append(f"{item['module']}:{stub['line']}: stub did not raise")
            except NotImplementedError as err:
                if str(err) != stub["message"]:
                    problems.append(f"{item['module']}:{stub['line']}: message {err}")
    print(json.dumps(problems))
""")


def stub_spec(relpath: str, stub: str) -> dict:
    """What the checking script expects of one release module."""
    raw, release, _ = render(relpath, stub)
    stubs, import_message, lineno = [], "", 0
    for before, after in zip(parts(raw, relpath), parts(release, relpath)):
        if not isinstance(before, Region):
            lineno += len(before)
            continue
        code = after.body[0].strip()
        if code.startswith("raise"):
            message = stub_message(before.scope, relpath)
            if before.scope == "module level":
                import_message = import_message or message
            else:
                stubs.append({"line": lineno + 2, "scope": before.scope, "code": code,
                              "message": message})
        lineno += 3
    module = relpath.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return {"module": module, "stubs": stubs, "import_message": import_message}


def test_release_imports_and_stubs_raise(tmp_path, stub_style):
    """Does the skeleton package import, with every stub raising NotImplementedError as named?"""
    for path in PACKAGE.rglob("*.py"):
        relpath = path.relative_to(SOURCE).as_posix()
        target = tmp_path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(render(relpath, stub_style)[1])
    spec = [stub_spec(relpath, stub_style) for relpath in MARKED]
    done = subprocess.run([sys.executable, "-c", CHECK_SCRIPT, str(tmp_path), json.dumps(spec)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=IMPORT_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert sum(len(item["stubs"]) for item in spec) > 0 or stub_style == "pass"


@pytest.mark.parametrize("assignment_id", list(REAL_COURSE.assignments))
def test_real_assignment_builds_the_same_twice(assignment_id):
    """Once all its listed files exist, does a real assignment build, identically twice?"""
    assignment = REAL_COURSE.assignment(assignment_id)
    missing = [f"source/{m}" for m in assignment.modules if not (SOURCE / m).is_file()]
    missing += [f"source/{assignment_id}/{n}" for n in assignment.notebooks
                if not (SOURCE / assignment_id / n).is_file()]
    if missing:
        pytest.skip(f"course.toml lists files not written yet: {', '.join(missing)}")
    first = render_tracks(REAL_COURSE, [assignment_id])
    assert first == render_tracks(REAL_COURSE, [assignment_id])
    assert f"release/{assignment_id}/{assignment.notebooks[0]}" in first
