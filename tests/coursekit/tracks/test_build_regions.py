"""The line-level region parser: one parse, a student view and a solution view."""
from __future__ import annotations

import ast
import textwrap

import pytest

from coursekit.tracks.regions import (END_MARKER, START_MARKER, check_parses, parse_regions,
                                     split_lines)
from coursekit.errors import BuildError

PATH = "pkg/mod.py"


def lines_of(source: str) -> list[str]:
    """``source`` dedented, with START/END standing for the markers, as lines."""
    text = textwrap.dedent(source).replace("START", START_MARKER).replace("END", END_MARKER)
    return split_lines(text)


def student(source: str, stub: str = "raise") -> str:
    return "".join(parse_regions(lines_of(source), PATH).student_lines(stub))


def message(scope: str) -> str:
    return f"{scope} in {PATH}: write your code between the START/END markers"


def test_function_region_becomes_a_raise_stub():
    """Does a region in a function become a NotImplementedError naming the function and file?"""
    out = student("""\
        def f(x):
            # TODO: double x.
            START
            y = 2 * x
            END
            return y
        """)
    assert out == textwrap.dedent(f"""\
        def f(x):
            # TODO: double x.
            {START_MARKER}
            raise NotImplementedError("{message('f')}")
            {END_MARKER}
            return y
        """)


def test_pass_style_stub():
    """Does the "pass" style put a bare pass at the marker's indentation?"""
    out = student("""\
        def f(x):
            START
            return x
            END
        """, stub="pass")
    assert out.splitlines()[2] == "    pass"


def test_method_nested_function_and_module_level_names():
    """Are methods, nested functions and module-level regions named as Python would name them?"""
    parsed = parse_regions(lines_of("""\
        START
        RATE = 1
        END
        class Net:
            def loss(self):
                def helper():
                    START
                    return 1
                    END
                return helper()
        """), PATH)
    assert [r.scope for r in parsed.regions] == ["module level", "Net.loss.<locals>.helper"]


def test_init_region_always_gets_pass():
    """Does a region directly in a class's __init__ get `pass`, even in the "raise" style?"""
    out = student("""\
        class Net:
            def __init__(self):
                self.params = {}
                START
                self.params['W'] = 0
                END
        """)
    assert out.splitlines()[4].strip() == "pass"
    namespace: dict = {}
    exec(out, namespace)
    assert namespace["Net"]().params == {}


def test_module_level_region_of_a_module_gets_pass():
    """Does a region at the top level of a .py module (layer_utils.py's, for the student's own helpers)
    get `pass` even in the "raise" style, so the module still imports, while a notebook cell keeps the raise?"""
    source = """\
        def given(x):
            return x
        START
        def mine(x):
            return given(x)
        END
        """
    out = student(source)
    assert out.splitlines()[3].strip() == "pass"
    namespace: dict = {}
    exec(out, namespace)
    assert namespace["given"](1) == 1 and "mine" not in namespace
    cell = "".join(parse_regions(lines_of(source), "nb.ipynb cell 'x'").student_lines("raise"))
    assert cell.splitlines()[3].strip().startswith("raise NotImplementedError")


def test_nested_blocks_keep_their_indentation():
    """Do regions in if/else, for and with blocks keep their indentation and parse?"""
    out = student("""\
        def f(xs, path):
            if xs:
                START
                a = 1
                END
            else:
                START
                a = 2
                END
            for x in xs:
                START
                a += x
                END
            with open(path) as handle:
                START
                handle.read()
                END
            return a
        """)
    ast.parse(out)
    stubs = [line for line in out.splitlines() if "NotImplementedError" in line]
    assert [len(s) - len(s.lstrip()) for s in stubs] == [8, 8, 8, 8]


def test_solution_view_is_the_source():
    """Is the solution view the source, byte for byte?"""
    lines = lines_of("""\
        def f(x):
            START
            return x
            END
        """)
    assert parse_regions(lines, PATH).solution_lines() == lines


def test_line_endings_are_kept():
    """Are CRLF line endings kept outside the region and used for the stub?"""
    text = f"def f():\r\n    {START_MARKER}\r\n    return 1\r\n    {END_MARKER}\r\nx = 1"
    out = "".join(parse_regions(split_lines(text), PATH).student_lines("raise"))
    assert out.count("\r\n") == 4 and "\n" not in out.replace("\r\n", "")
    assert out.endswith("x = 1")


def test_empty_region_is_placed_by_its_start_line():
    """Does an empty region at the end of a function still belong to that function?"""
    parsed = parse_regions(lines_of("""\
        def f():
            x = 1
            START
            END
        """), PATH)
    assert parsed.regions[0].scope == "f"
    check_parses(parsed.student_lines("raise"), PATH)


def test_notebook_magics_are_tolerated():
    """Can a notebook cell with %magic and !shell lines be parsed (ipython=True)?"""
    lines = lines_of("""\
        %matplotlib inline
        !ls
        START
        x = 1
        END
        """)
    parsed = parse_regions(lines, "nb.ipynb cell 'x'", ipython=True)
    assert parsed.regions[0].scope == "module level"


def test_modulo_continuation_is_not_a_magic():
    """Is a continuation line starting with the % operator read as Python, not as a magic?"""
    lines = lines_of("""\
        def f(a):
            START
            print('a %d'
                  % a)
            END
        """)
    parsed = parse_regions(lines, "nb.ipynb cell 'x'", ipython=True)
    assert parsed.regions[0].scope == "f"


@pytest.mark.parametrize("source, line, words", [
    ("x = 1\nEND\n", 2, "END marker without a START"),
    ("x = 1\nSTART\ny = 2\n", 2, "START marker without an END"),
    ("START\nSTART\nx = 1\nEND\n", 2, "cannot nest"),
    ("if True:\n    START\n    x = 1\nEND\n", 4, "indented differently"),
    ("x = 1\n# ***** START OF YOUR CODE *****\n", 2, "looks like a marker"),
    ("# *****END OF YOUR CODE (DO NOT DELETE THIS LINE)*****\n", 1, "looks like a marker"),
    ("def f():\n    START\n    x = 1\ny = 2\n    END\n", 4, "indented less than its markers"),
])
def test_marker_errors_name_the_line(source, line, words):
    """Is each kind of marker mistake reported with its file, its line and what to do?"""
    with pytest.raises(BuildError) as err:
        parse_regions(lines_of(source), PATH, where="source/pkg/mod.py")
    assert f"source/pkg/mod.py, line {line}:" in str(err.value)
    assert words in str(err.value)


def test_syntax_error_in_source_names_the_line():
    """Is a region in a file that is not valid Python reported with the line of the error?"""
    with pytest.raises(BuildError, match=r"source/pkg/mod.py, line 2: the source is not valid"):
        parse_regions(lines_of("START\nx = (\nEND\n"), PATH, where="source/pkg/mod.py")
