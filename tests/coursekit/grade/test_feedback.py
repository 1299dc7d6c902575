"""Feedback a student reads: one message per cause, valid HTML, Markdown that renders, hostile text inert;
hidden cases that show no value, public and hidden cases apart, skipped checks named, scores that add up."""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import mistune
import numpy as np
import pytest

from coursekit.errors import UsageError
from coursekit.grade import grade_submission
from coursekit.grade.checks import accuracy
from coursekit.grade.checks.base import CaseResult
from coursekit.grade.feedback import clean, feedback_format, render
from coursekit.grade.pipeline import _judge
from coursekit.grade.report import GradeReport, TestResult as Result
from coursekit.grade.sandbox.parent import Outcome
from coursekit.selfcheck.catalogue import apply_mistake, load_catalogue

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


# --- what a real grade shows: hidden cases, labels, counts, advice, skipped checks, rounding ---------

ROOT = Path(__file__).resolve().parents[3]
# One mistake per kind of hidden message: a gradient against the numeric one, a value against
# the reference, NaN from an overflow, a net's gradients with and without dropout, an update rule.
MISTAKES = ("batchnorm-backward-no-mean-terms", "softmax-no-max-shift", "batchnorm-test-uses-batch-stats",
            "fc-dropout-backward-skipped", "adam-no-bias-correction")
ARRAY = re.compile(r"\[\s*[-+]?(\d|\.\d|nan|inf)", re.IGNORECASE)  # "[0.508285, 0, ..." (not "(2, 3)")
HIDDEN_MARK = "FAIL (hidden, scored)"


@pytest.fixture(scope="module")
def partial_grade(course, tmp_path_factory):
    """A fast grade of the fc_net solution with MISTAKES: (report, results.json, feedback.md, feedback.html)."""
    root = tmp_path_factory.mktemp("partial")
    folder = root / "fc_net"
    shutil.copytree(ROOT / "solutions" / "fc_net", folder)
    catalogue = {m.id: m for m in load_catalogue(ROOT / "autograder" / "mistakes.toml")}
    for mistake in MISTAKES:
        apply_mistake(catalogue[mistake], folder)
    report = grade_submission(course, "fc_net", folder, fast=True, results_path=root / "results.json",
                              feedback_path=root / "feedback.md")
    report.write_feedback(root / "feedback.html")
    return (report, json.loads((root / "results.json").read_text()), (root / "feedback.md").read_text(),
            (root / "feedback.html").read_text())


def hidden_lines(output: str) -> list[str]:
    """The lines of a check's text that belong to a failed hidden case (its header and detail)."""
    lines, inside = [], False
    for line in output.splitlines():
        if not line.startswith(" "):
            inside = line.startswith(HIDDEN_MARK)
        if inside:
            lines.append(line)
    return lines


def test_no_hidden_case_line_contains_an_array_of_values(partial_grade):
    """Does every line about a failed hidden case, in results.json and in both feedback formats, show
    counts, an index and a relative error only, never an array of values (the reference, or the numeric
    gradient that is the right answer)?"""
    report, results, markdown, page = partial_grade
    outputs = [test["output"] for test in results["tests"]]
    hidden = [line for output in outputs for line in hidden_lines(output)]
    public = [line for output in outputs for line in output.splitlines() if ARRAY.search(line)]
    assert len([line for line in hidden if line.startswith(HIDDEN_MARK)]) >= 8, outputs
    assert public, "the public cases show their values: without them this test would prove nothing"
    assert [line for line in hidden if ARRAY.search(line)] == []
    assert any("loss is NaN or infinite" in line for line in hidden)  # the overflow's message holds no value
    assert any("entries differ, most at index" in line for line in hidden)
    failed_hidden = [c for t in report.tests for c in t.cases if t.kind(c) == "hidden" and not c.passed]
    assert failed_hidden and not [c.detail for c in failed_hidden if ARRAY.search(c.detail)]
    for text in (markdown, page):  # each hidden item is followed by its explanation block
        blocks = re.findall(r"hidden case, scored.*?(?:```text|<pre[^>]*>)(.*?)(?:```|</pre>)", text, re.S)
        assert len(blocks) >= 8 and not [b for b in blocks if ARRAY.search(b)]


def test_public_and_hidden_cases_are_listed_and_counted_apart(partial_grade):
    """Is fc_gradients' hidden dropout case its own item, labelled scored, apart from the public one; and do
    the counts cover the scored cases only?"""
    report, results, markdown, _ = partial_grade
    gradients = next(t for t in results["tests"] if t["tags"][0] == "fc_gradients")["output"]
    assert gradients.splitlines()[0].startswith("3 of 6 scored cases passed (hidden")  # batchnorm, dropout
    assert "public cases (not scored): 3 of 6 passed" in gradients.splitlines()[0]
    assert "FAIL (hidden, scored) dropout keep 0.5:" in gradients
    assert "FAIL (public, not scored) dropout keep 0.5:" in gradients
    assert "(and dropout keep 0.5)" not in markdown
    assert "- **dropout keep 0.5** \\[hidden case, scored" in markdown
    assert "- **dropout keep 0.5** \\[public case, not scored\\]" in markdown
    test = next(t for t in report.tests if t.key == "fc_gradients")
    assert test.passed_cases == 3 and len(test.scored_cases) == 6 and test.score == 2
    assert "FAILED (3 of 6 scored cases)" in report.table()


def _trained(check, points):
    """The cifar_accuracy result of a net the grader trained (all-zero weights: the accuracy of class 0)."""
    outputs = {}
    dims = [accuracy.INPUT_DIM, 100, 100, 100, accuracy.NUM_CLASSES]
    for i in range(1, len(dims)):
        outputs[f"param_W{i}"], outputs[f"param_b{i}"] = np.zeros((dims[i - 1], dims[i])), np.zeros(dims[i])
        if i < len(dims) - 1:
            outputs[f"param_gamma{i}"], outputs[f"param_beta{i}"] = np.ones(dims[i]), np.zeros(dims[i])
            outputs[f"running_mean{i}"], outputs[f"running_var{i}"] = np.zeros(dims[i]), np.ones(dims[i])
    return _judge(check, points, {check.tasks[0].id: Outcome(True, outputs)})


def test_cifar_accuracy_is_scored_and_its_advice_names_each_file(course, partial_grade):
    """Are the grader-trained net's cases scored and unlabelled (not "public, not scored"), and does a failure
    name fc_net.py, solver.py and optim.py, and say to fix the failed checks of the code it trains first?"""
    assignment = course.assignment("fc_net")
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((40, 3, 32, 32)), "y_train": rng.integers(0, 10, 40),
            "X_val": rng.standard_normal((20, 3, 32, 32)), "y_val": np.full(20, 1),
            "X_heldout": rng.standard_normal((20, 3, 32, 32)), "y_heldout": np.full(20, 1)}  # class 0 never right
    check = accuracy.training_check("fc_net", assignment.grade_train, assignment.thresholds, data, 60.0)
    test = _trained(check, assignment.points["cifar_accuracy"])
    assert test.score == 0 and not test.passed and len(test.scored_cases) == 2
    output = test.output()
    assert "public" not in output and "not scored" not in output
    assert output.splitlines()[0] == "0 of 2 cases passed."
    assert ("Where to look: FullyConnectedNet in cs231n/classifiers/fc_net.py; Solver in cs231n/solver.py; "
            "adam in cs231n/optim.py.") in output
    report, *_ = partial_grade
    report = GradeReport("fc_net", [*report.tests, test])
    failed = {t.key for t in report.tests if not t.passed}
    first = report.fix_first(test)
    assert first == [key for key in test.after if key in failed]
    assert {"softmax_loss", "batchnorm_backward", "fc_gradients", "adam"} <= set(first)  # what MISTAKES broke
    assert "rmsprop" not in first and "dropout_forward" not in first  # passed, or not what it trains
    assert f"Fix first: {', '.join(first)} failed" in report.test_output(test)
    markdown = render(report, "markdown")
    assert "**Fix first:** " + ", ".join(f"`{key}`" for key in first) + " failed" in markdown
    assert "Open `FullyConnectedNet` in `cs231n/classifiers/fc_net.py`; `Solver` in `cs231n/solver.py`" in markdown


def test_skipped_checks_and_their_points_are_named_in_every_format(partial_grade, monkeypatch, capsys):
    """In fast mode, do the table, feedback.md, feedback.html, results.json and nbgrader's cell each name
    cifar_accuracy and saved_model and the 9 points the score leaves out?"""
    from coursekit.classroom import kitcells

    report, results, markdown, page = partial_grade
    table = report.table()
    assert re.search(r"^cifar_accuracy +- / 5 +not graded \(fast mode\)$", table, re.M)
    assert re.search(r"^saved_model +- / 4 +not graded \(fast mode\)$", table, re.M)
    for text in (table, markdown, page, results["output"]):
        assert "cifar_accuracy" in text and "saved_model" in text and "their 9 points" in text, text[:300]
    skipped = {t["tags"][0]: t for t in results["tests"] if "skipped" in t["tags"]}
    assert sorted(skipped) == ["cifar_accuracy", "saved_model"]
    assert skipped["cifar_accuracy"]["max_score"] == 0 and "5 points are not in this score" in (
        skipped["cifar_accuracy"]["output"])
    folder = Path("/nonexistent/submission")
    monkeypatch.setenv(kitcells.ENV_FAST, "1")
    monkeypatch.setitem(kitcells._REPORTS, ("fc_net", str(folder), True), report)
    assert kitcells.check_score("fc_net", "cifar_accuracy", folder) == 0.0
    assert "cifar_accuracy: not graded in fast mode (COURSEKIT_FAST=1): 0 of its 5 points" in capsys.readouterr().out


def test_scores_have_two_decimals_and_every_total_is_the_sum_shown():
    """Are scores rounded once per check to 2 decimals, and is each total (table, feedback, results.json)
    the sum of the check scores shown, with the table's columns lined up?"""
    third = [CaseResult("a", True), CaseResult("b", False), CaseResult("c", False)]
    tests = [Result(f"check_{i}", f"Title {i}", "f", "cs231n/layers.py", "hint", 4.0, list(third)) for i in range(3)]
    tests.append(Result("long_check_name_here", "Long", "f", "cs231n/layers.py", "hint", 10.0,
                        [CaseResult("a", True)]))
    report = GradeReport("fc_net", tests, skipped={"cifar_accuracy": 5.0})
    assert [t.score for t in tests[:3]] == [1.33, 1.33, 1.33] and report.score == 13.99
    results = report.to_gradescope()
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-9)
    table = report.table().split("\n\n")[0].splitlines()
    assert "1.33 / 4" in table[1] and table[-1].split() == ["total", "13.99", "/", "22"]
    slashes = {line.index(" / ") for line in table if " / " in line}
    assert len(slashes) == 1, table  # the scores line up on their slash
    assert "Score: 13.99 / 22" in render(report, "markdown")
    assert "1.3333" not in report.table() + render(report, "html") + json.dumps(results)


def test_notes_reach_every_format():
    """Does a note of the report (e.g. a kit module that replaced the student's) show, once and cleaned, in
    the summary, results.json, Markdown and HTML?"""
    note = "cs231n/fast_layers.py: the kit copy replaced yours\u2028(it imports torch)"
    report = _report(_test("adam", [], passed=1))
    report.notes.append(note)
    results = report.to_gradescope()
    for text in (report.summary(), results["output"], render(report, "markdown"), render(report, "html")):
        assert "cs231n/fast_layers.py: the kit copy replaced yours" in text.replace("\\", "")
        assert "\u2028" not in text
    assert results["extra_data"]["notes"] == [note]
