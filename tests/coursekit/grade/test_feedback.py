"""Feedback a student reads: one message per cause, valid HTML, Markdown that renders, hostile text inert."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import mistune
import pytest

from coursekit.errors import UsageError
from coursekit.grade.checks.base import CaseResult
from coursekit.grade.feedback import clean, feedback_format, render
from coursekit.grade.report import GradeReport, TestResult as Result

SYNTAX = ('File "cs231n/layers.py", line 102\n    dx = dout * (x > 0))\n                       ^\n'
          "SyntaxError: unmatched ')'")
FORGED_SCORE = "oops\r<h1>Score: 45 / 45</h1>\u2028# Score: 45 / 45\u2029<h1>Score: 45 / 45</h1>"
SCRIPT = "<script>alert(1)</script> [click](javascript:alert(1)) <a href=\"javascript:x()\">y</a>"
FENCE_BREAK = "```\n<script>alert(2)</script>\n```"
FAKE_PASS = "bad value\nPASS everything: all good\rPASS more\u2028FAIL nothing"
ANSI = "\x1b[2J\x1b[1;32mPASS\x1b[0m \x1b]0;title\x07 done\x00\x07"


def _test(key, details, points=2.0, passed=0):
    cases = [CaseResult(f"case {i}", False, d) for i, d in enumerate(details)]
    cases += [CaseResult(f"ok {i}", True) for i in range(passed)]
    return Result(key, f"Title of {key}", key, "cs231n/layers.py", "think about shapes", points, cases)


def _report(*tests):
    return GradeReport("fc_net", list(tests), protections={"active": ["network"], "failed": []})


def _gradient(detail):
    return f"the forward pass (affine_forward) failed: {detail}"


@pytest.fixture
def syntax_report():
    """Fifteen checks stopped by one SyntaxError, directly or through a gradient's forward pass."""
    tests = [_test(f"check{i}", [SYNTAX, _gradient(SYNTAX), SYNTAX]) for i in range(15)]
    return _report(*tests, _test("adam", [], passed=2))


class Structure(HTMLParser):
    """Tags as opened, with their parent; every end tag closes the innermost open tag."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.opened, self.errors, self.pre = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.opened.append((tag, self.stack[-1] if self.stack else None, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "pre":
            self.pre.append("")

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "pre":
            self.pre[-1] += data


def parse(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert not parser.errors and not parser.stack, (parser.errors, parser.stack)
    return parser


def test_one_syntax_error_is_one_message_with_the_checks_on_one_line(syntax_report):
    """Is a SyntaxError that stops 15 checks (45 cases) shown once, with the 15 checks on one line?"""
    markdown = render(syntax_report, "markdown")
    assert markdown.count("SyntaxError: unmatched") == 1
    line = next(line for line in markdown.splitlines() if line.startswith("**Checks it stops (15):**"))
    assert all(f"`check{i}`" in line for i in range(15))
    assert "Title of check3" not in markdown  # no section per check
    assert len(markdown.splitlines()) < 40


def test_an_error_in_one_check_only_keeps_its_section():
    """Is an error that stops one check shown in that check's section, once for its identical cases?"""
    error = "cs231n/optim.py, line 3, in adam: raise ValueError('no')\nValueError: no"
    markdown = render(_report(_test("adam", [error, error]), _test("rmsprop", ["expected 1, got 2"])), "markdown")
    assert "One error stops" not in markdown
    assert markdown.count("ValueError: no") == 1 and "(and case 1)" in markdown
    assert "Open `adam` in `cs231n/layers.py`" in markdown and "Open `rmsprop`" in markdown


def test_html_is_self_contained_styled_and_nested_properly(syntax_report):
    """Is the page one file with inline CSS, <li> only inside <ul>, and the caret's column kept?"""
    report = _report(_test("affine_forward", ["expected 1, got 2", SYNTAX]), _test("x", [SYNTAX]),
                     _test("adam", [], passed=1))
    page = render(report, "html")
    tree = parse(page)
    assert page.startswith("<!doctype html>") and "<style>" in page
    assert not [attrs for tag, _, attrs in tree.opened if attrs.get("src") or attrs.get("href")]
    assert {parent for tag, parent, _ in tree.opened if tag == "li"} == {"ul"}
    assert SYNTAX in tree.pre  # the caret stays under the same column
    assert [tag for tag, *_ in tree.opened].count("h1") == 1


@pytest.mark.parametrize("hostile", [FORGED_SCORE, SCRIPT, FENCE_BREAK, ANSI])
def test_student_text_cannot_become_structure_in_html(hostile):
    """Can text from the submission add a heading, a script or a link to feedback.html?"""
    page = render(_report(_test("adam", [hostile, _gradient(hostile)]), _test("sgd", [], passed=1)), "html")
    tree = parse(page)
    tags = [tag for tag, *_ in tree.opened]
    assert tags.count("h1") == 1 and "script" not in tags and "a" not in tags
    assert "Score: 2 / 4" in page and "\u2028" not in page and "\r" not in page and "\x1b" not in page


@pytest.mark.parametrize("hostile", [FORGED_SCORE, SCRIPT, FENCE_BREAK, ANSI])
def test_student_text_is_fenced_in_markdown(hostile):
    """Rendered as Markdown, does the submission's text stay inside a code block (no h1, script, link)?"""
    markdown = render(_report(_test("adam", [hostile]), _test("x", [_gradient(hostile)])), "markdown")
    page = mistune.html(markdown)
    assert page.count("<h1>") == 1 and "<script" not in page and "javascript:" not in page.split("<code")[0]
    assert 'href="javascript' not in page
    assert "\u2028" not in markdown and "\r" not in markdown and "\x1b" not in markdown
    assert "<pre><code" in page


def test_markdown_renders_lists_and_code(syntax_report):
    """Does the Markdown render to real lists and code blocks (not literal asterisks)?"""
    report = _report(_test("affine_forward", ["expected [1, 2] (shape (2,)), got [1, 3]"]), _test("adam", [], passed=1))
    page = mistune.html(render(report, "markdown"))
    assert "<ul>" in page and "<li>" in page and "<strong>case 0</strong>" in page
    assert "<code>affine_forward</code>" in page and "**" not in page


def test_fake_pass_lines_stay_inside_their_case_in_results_json():
    """Can a case's text forge a PASS line (or a line of its own) in results.json's output?"""
    report = _report(_test("adam", [FAKE_PASS, ANSI]))
    output = report.to_gradescope()["tests"][0]["output"]
    lines = output.split("\n")
    assert [line for line in lines if line.startswith(("PASS", "FAIL"))] == ["FAIL case 0:", "FAIL case 1:"]
    assert all(ch not in output for ch in "\r\u2028\x1b\x00")
    json.loads(json.dumps(report.to_gradescope()))


def test_clean_keeps_text_and_columns():
    """Does clean drop escapes and controls but keep words, newlines and the caret's column?"""
    assert clean(ANSI) == "PASS  done"
    assert clean("a\r\nb\rc\u2028d\u2029e") == "a\nb\nc\nd\ne"
    assert clean(SYNTAX) == SYNTAX
    assert clean("x\u202egnp.exe") == "xgnp.exe"


@pytest.mark.parametrize("name, fmt", [("f.md", "markdown"), ("F.HTML", "html"), ("out/f.htm", "html")])
def test_feedback_format_from_the_extension(name, fmt):
    """Is the format picked from the file's extension?"""
    assert feedback_format(name) == fmt


@pytest.mark.parametrize("name", ["feedback.pdf", "feedback", "feedback.txt"])
def test_unknown_feedback_extension_is_a_usage_error(name):
    """Is an unknown extension a usage error (exit code 2) that names --feedback and the choices?"""
    with pytest.raises(UsageError, match=r"--feedback .*\.md, .*\.html") as info:
        feedback_format(name)
    assert info.value.exit_code == 2


def test_a_shared_error_says_what_to_open(syntax_report):
    """Does an error shown once name the file and line to open (and the function when it is known)?"""
    assert "Open `cs231n/layers.py` at line 102." in render(syntax_report, "markdown")
    stub = ('cs231n/layers.py, line 33, in affine_forward: raise NotImplementedError("x")\n'
            "NotImplementedError: x")
    markdown = render(_report(_test("a", [stub]), _test("b", [_gradient(stub)])), "markdown")
    assert "Open `affine_forward` in `cs231n/layers.py`, line 33." in markdown


def test_class_mode_writes_the_feedback_format_asked_for(course, tmp_path):
    """Does a class grade write each student's feedback in the format --feedback names, and refuse .pdf?"""
    from coursekit.classroom.batch import grade_batch

    from .conftest import copy_solution

    copy_solution(course, "fc_net", tmp_path / "submitted" / "s1" / "fc_net")
    with pytest.raises(UsageError):
        grade_batch(course, "fc_net", tmp_path / "submitted", tmp_path / "bad", fast=True, progress=False,
                    feedback="feedback.pdf")
    assert not (tmp_path / "bad").exists()  # refused before anything ran
    grade_batch(course, "fc_net", tmp_path / "submitted", tmp_path / "out", workers=1, fast=True,
                progress=False, feedback="feedback.html")
    page = (tmp_path / "out" / "students" / "s1" / "feedback.html").read_text()
    assert page.startswith("<!doctype html>") and "All checks passed." in page
    assert not (tmp_path / "out" / "students" / "s1" / "feedback.md").exists()


def test_only_a_caret_block_keeps_its_columns():
    """Do long explanations wrap in HTML, while a block with a caret line is never wrapped?"""
    page = render(_report(_test("a", ["expected [1] got [2]"]), _test("b", [SYNTAX])), "html")
    assert '<pre class="wrap">expected [1] got [2]</pre>' in page
    assert "<pre>File &quot;cs231n/layers.py&quot;" in page
