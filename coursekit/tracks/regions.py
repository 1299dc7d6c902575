"""START/END OF YOUR CODE regions: parsed once, rendered as the student or the solution view.

This module works on lines only and touches no file.  :func:`parse_regions` splits a
source into plain text and student regions (one intermediate form); the two views are
two renderings of it: :meth:`ParsedSource.solution_lines` keeps every line and
:meth:`ParsedSource.student_lines` swaps each region's solution for a one-line stub.

A region looks like this (the TODO block above the START line stays in the release)::

    # TODO: Compute the scores.
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    scores = X @ W  # (N, C)
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

Stubs, at the marker's indentation: ``raise NotImplementedError("<function> in <path>: ...")``
for the "raise" style, ``pass`` for the "pass" style.  Inside a class's ``__init__`` the
stub is always ``pass``, so that the skeleton's classes can still be constructed, and so it
is for a region at the top level of a ``.py`` module (the official ``layer_utils.py`` region
for the student's own sandwich layers), so that the skeleton's module can still be imported.
"""
from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from typing import Sequence

from ..errors import BuildError

# CPython 3.11's ast.parse is not safe in several threads at once ("AST constructor recursion
# depth mismatch" under load); `coursekit check` patches modules in a thread pool.
_AST_LOCK = threading.Lock()

START_MARKER = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
END_MARKER = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
MODULE_LEVEL = "module level"

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_NEAR_MISS = re.compile(r"(START|END)OFYOURCODE")


def split_lines(text: str) -> list[str]:
    """``text`` cut into lines that keep their own ending (``\\n``, ``\\r\\n`` or ``\\r``)."""
    return _LINE.findall(text)


def has_markers(lines: Sequence[str]) -> bool:
    """Whether any line looks like a START or END marker, exact or not."""
    return any(_NEAR_MISS.search(_squash(line)) for line in lines)


@dataclass(frozen=True)
class Region:
    """One student region: the marker lines, the solution between them, and where it sits."""

    start_line: str
    body: tuple[str, ...]
    end_line: str
    lineno: int  # 1-based line of the START marker
    scope: str  # qualified name of the enclosing function, or MODULE_LEVEL
    in_init: bool  # directly inside a class's __init__

    @property
    def indent(self) -> str:
        return _indent_of(self.start_line)

    def stub_line(self, stub: str, path: str) -> str:
        """The line that replaces the solution in the student view."""
        eol = self.start_line[len(self.start_line.rstrip("\r\n")):]
        if stub == "pass" or self.in_init or (not self.indent and path.endswith(".py")):
            return f"{self.indent}pass{eol}"  # a raise at a module's top level would stop its import
        return f'{self.indent}raise NotImplementedError("{stub_message(self.scope, path)}"){eol}'


def stub_message(scope: str, path: str) -> str:
    """The NotImplementedError message of a "raise" stub: what to write, and where."""
    if scope == MODULE_LEVEL:  # a notebook cell's region (``path`` names the notebook and the cell)
        return f"{path}: write the code the TODO above asks for, between the START/END markers (in place of this line)"
    return f"{scope} in {path}: write your code between the START/END markers"


@dataclass(frozen=True)
class ParsedSource:
    """A source as plain lines and regions, in order; ``path`` is what stubs call it."""

    path: str
    parts: tuple[tuple[str, ...] | Region, ...]

    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(part for part in self.parts if isinstance(part, Region))

    def solution_lines(self) -> list[str]:
        """Every line of the source, markers and solutions included."""
        return self._render(lambda region: region.body)

    def student_lines(self, stub: str) -> list[str]:
        """The source with each region's solution replaced by one stub line."""
        return self._render(lambda region: (region.stub_line(stub, self.path),))

    def _render(self, body_of) -> list[str]:
        lines: list[str] = []
        for part in self.parts:
            if isinstance(part, Region):
                lines += [part.start_line, *body_of(part), part.end_line]
            else:
                lines += part
        return lines


def parse_regions(lines: Sequence[str], path: str, *, where: str | None = None,
                  ipython: bool = False) -> ParsedSource:
    """Split ``lines`` into plain text and regions, or raise a BuildError naming the line.

    ``path`` names the source in stub messages; ``where`` names it in errors (default:
    ``path``).  ``ipython=True`` tolerates ``%magic`` and ``!shell`` lines (notebook cells).
    """
    where = where or path
    spans = _find_spans(lines, where)
    scopes = _scopes(lines, where, ipython) if spans else {}
    parts: list[tuple[str, ...] | Region] = []
    previous_end = -1
    for start, end in spans:
        parts.append(tuple(lines[previous_end + 1:start]))
        scope, in_init = scopes.get(_anchor(lines, start, end), (MODULE_LEVEL, False))
        parts.append(Region(lines[start], tuple(lines[start + 1:end]), lines[end],
                            start + 1, scope, in_init))
        previous_end = end
    parts.append(tuple(lines[previous_end + 1:]))
    return ParsedSource(path, tuple(part for part in parts if part != ()))


def check_parses(lines: Sequence[str], where: str, *, ipython: bool = False) -> None:
    """Raise a BuildError naming the line if ``lines`` are not valid Python."""
    _parse_python(lines, where, ipython, "the student skeleton")


# --- markers --------------------------------------------------------------------------

def _find_spans(lines: Sequence[str], where: str) -> list[tuple[int, int]]:
    """(START index, END index) of each region, checked for pairing and indentation."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for index, line in enumerate(lines):
        text = line.strip()
        if text == START_MARKER:
            if start is not None:
                raise _error(where, index, f"a START marker inside the region opened on line "
                             f"{start + 1}. Regions cannot nest: add the END marker of that "
                             "region first.")
            start = index
        elif text == END_MARKER:
            if start is None:
                raise _error(where, index, "an END marker without a START marker above it. "
                             f"Add the line\n    {START_MARKER}\nwhere the student's code begins.")
            _check_region(lines, start, index, where)
            spans.append((start, index))
            start = None
        elif _NEAR_MISS.search(_squash(line)):
            raise _error(where, index, "this line looks like a marker but is not exactly one. "
                         f"Write it as\n    {START_MARKER}\nor\n    {END_MARKER}\n"
                         "(indented like the code around it).")
    if start is not None:
        raise _error(where, start, "a START marker without an END marker. Add the line\n"
                     f"    {END_MARKER}\nwhere the student's code ends.")
    return spans


def _check_region(lines: Sequence[str], start: int, end: int, where: str) -> None:
    indent = _indent_of(lines[start])
    if _indent_of(lines[end]) != indent:
        raise _error(where, end, f"the END marker is indented differently from the START "
                     f"marker on line {start + 1}. Indent both markers like the code they wrap.")
    for index in range(start + 1, end):
        line = lines[index]
        if line.strip() and not (line.startswith(indent) and len(_indent_of(line)) >= len(indent)):
            raise _error(where, index, f"this line of the region opened on line {start + 1} is "
                         "indented less than its markers, so the region would cut a block in two. "
                         "Move the markers so that the region sits inside one block.")


def _squash(line: str) -> str:
    return re.sub(r"[^A-Z]", "", line.upper())


def _indent_of(line: str) -> str:
    return line[:len(line) - len(line.lstrip(" \t"))]


def _error(where: str, index: int, what: str) -> BuildError:
    return BuildError(f"{where}, line {index + 1}: {what}")


# --- enclosing functions --------------------------------------------------------------

def _scopes(lines: Sequence[str], where: str, ipython: bool) -> dict[int, tuple[str, bool]]:
    """For every line inside a def or class: (qualified name, whether it is a class's __init__)."""
    tree = _parse_python(lines, where, ipython, "the source")
    scopes: dict[int, tuple[str, bool]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                in_init = child.name == "__init__" and isinstance(node, ast.ClassDef)
                for lineno in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    scopes[lineno] = (name, in_init)  # nested definitions overwrite this next
                is_class = isinstance(child, ast.ClassDef)
                visit(child, name + ("." if is_class else ".<locals>."))
            else:
                visit(child, prefix)

    visit(tree, "")
    return scopes


def _anchor(lines: Sequence[str], start: int, end: int) -> int:
    """The 1-based line that places a region: its first line of code, else the code before it."""
    def is_code(index: int) -> bool:
        text = lines[index].strip()
        return bool(text) and not text.startswith("#")

    inside = [i for i in range(start + 1, end) if is_code(i)]
    before = [i for i in range(start) if is_code(i)]
    return (inside[:1] or before[-1:] or [start])[0] + 1


def parse_source(text: str) -> ast.Module:
    """``ast.parse``, one thread at a time (see _AST_LOCK); raises SyntaxError."""
    with _AST_LOCK:
        return ast.parse(text)


def _parse_python(lines: Sequence[str], where: str, ipython: bool, what: str) -> ast.Module:
    text = "".join(lines)
    if ipython:  # %magic and !shell lines become calls, on the same lines, as in a kernel
        from IPython.core.inputtransformer2 import TransformerManager

        text = TransformerManager().transform_cell(text)
    try:
        return parse_source(text)
    except SyntaxError as err:
        raise BuildError(
            f"{where}, line {err.lineno}: {what} is not valid Python ({err.msg}). "
            "Fix the code (or the markers) around that line."
        ) from None
