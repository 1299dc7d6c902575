"""The feedback a student reads: one message per cause, as Markdown or as a standalone HTML page.

Both formats are rendered from one list of blocks (:func:`feedback_blocks`), so they say the
same thing.  Text that the student's code controls (exception messages, output, file names,
values) only ever appears inside a code block: fenced in Markdown, escaped inside ``<pre>``
in HTML, and first cleaned by :func:`clean` of terminal escapes, control characters and
Unicode line separators, so it can neither become structure nor forge a line.

An error that stops several cases (a ``SyntaxError`` in ``layers.py`` stops every check of
the file) is shown once, with the checks it stops listed on one line.
"""
from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
LINE_BREAKS = re.compile("\r\n|[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# C0/C1 controls (but \n and \t), DEL, and the bidirectional overrides that reorder text on screen
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
ERROR_LINE = re.compile(r"^(\w+(Error|Exception|Exit|Interrupt)):?", re.MULTILINE)
ERROR_START = re.compile(r'File "[^"\n]+", line \d+|[\w./-]+\.py, line \d+, in ')
WHERE = re.compile(r'File "(?P<sfile>[\w./-]+\.py)", line (?P<sline>\d+)\n|'
                   r'(?P<file>[\w./-]+\.py), line (?P<line>\d+), in (?P<function>[\w<>]+):')
MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>])")
CARET_LINE = re.compile(r"^ *[\^~]+ *$", re.MULTILINE)  # a SyntaxError's pointer under the code
MIN_SHARED = 2  # checks one error must stop to be shown once for all of them


def points_text(value: float) -> str:
    """A score as people read it: at most 2 decimals, no trailing zeros (2.67, 36, 0.5)."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def clean(text: str) -> str:
    """``text`` without terminal escapes or control characters; every line break is a plain \\n."""
    text = ANSI.sub("", str(text))
    text = LINE_BREAKS.sub("\n", text)
    return INVISIBLE.sub("", text.expandtabs(4))


def feedback_format(path) -> str:
    """"markdown" or "html" from the file's extension; anything else is a UsageError."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"--feedback {Path(path).name}: the kit writes feedback as Markdown or HTML, "
                         f"not '{suffix or 'a file without an extension'}'. Use a file name ending in "
                         f"{', '.join(FORMATS)}, e.g. --feedback feedback.html.")
    return FORMATS[suffix]


def cause_of(detail: str) -> str | None:
    """The innermost frame and the exception of a case's explanation (what cases share), or None."""
    if not ERROR_LINE.search(detail):
        return None
    starts = list(ERROR_START.finditer(detail))
    return detail[starts[-1].start():] if starts else None


# --- blocks ----------------------------------------------------------------------------------

@dataclass
class Block:
    """One piece of the page.  ``kind``: h1, h2, h3, p, ul, pre, score.

    ``parts`` are inline runs (kind, text) with kind "text", "strong" or "code" (grader text);
    ``items`` of a list are lists of blocks; ``text`` of a pre block is student text.
    """

    kind: str
    parts: list[tuple[str, str]] = field(default_factory=list)
    items: list[list["Block"]] = field(default_factory=list)
    text: str = ""


def p(*parts) -> Block:
    return Block("p", [part if isinstance(part, tuple) else ("text", part) for part in parts])


def feedback_blocks(report) -> list[Block]:
    """What the student reads, for a :class:`~coursekit.grade.report.GradeReport`."""
    failed = [t for t in report.tests if not t.passed]
    blocks = [Block("h1", [("text", f"Feedback: {report.assignment}")]),
              Block("score", [("text", f"Score: {points_text(report.score)} / {points_text(report.max_score)}")]),
              p("All checks passed." if not failed else f"{len(failed)} of {len(report.tests)} checks need work.")]
    blocks += _skipped_blocks(report.skipped)
    blocks += _note_blocks(getattr(report, "notes", []))
    causes = _shared_causes(failed)
    if causes:
        blocks += _cause_blocks(causes)
    for test in failed:
        blocks += _test_blocks(test, causes, report.fix_first(test))
    if report.reviews:
        blocks += [Block("h2", [("text", "Flagged for review")]),
                   Block("ul", items=[[p(clean(text))] for text in report.reviews])]
    passed = [t for t in report.tests if t.passed]
    if passed:
        blocks += [Block("h2", [("text", "Passed")]),
                   Block("ul", items=[[p(f"{t.title} ({points_text(t.score)} / {points_text(t.max_score)})")]
                                      for t in passed])]
    return blocks


def _note_blocks(notes: list[str]) -> list[Block]:
    """How the submission was read: links not followed, files the course's copy replaced."""
    if not notes:
        return []
    return [Block("h2", [("text", "What was graded")]),
            Block("ul", items=[[p(clean(note))] for note in notes])]


def _skipped_blocks(skipped: dict[str, float]) -> list[Block]:
    """The checks this run did not grade and their points, right under the score."""
    if not skipped:
        return []
    named = []
    for index, (key, points) in enumerate(skipped.items()):
        named += [", "] * bool(index) + [("code", key), f" ({points_text(points)} points)"]
    return [p(("strong", "Not graded in this run (fast mode):"), " ", *named,
              f". The score leaves out their {points_text(sum(skipped.values()))} points.")]


def _shared_causes(failed) -> dict[str, list]:
    """Each error that stops at least MIN_SHARED cases -> the tests it stops (in order)."""
    stops = defaultdict(dict)  # cause -> {id(test): test}, in order
    for test in failed:
        for case in test.cases:
            cause = None if case.passed else cause_of(case.detail or "")
            if cause is not None:
                stops[cause][id(test)] = test
    return {cause: list(tests.values()) for cause, tests in stops.items() if len(tests) >= MIN_SHARED}


def _cause_blocks(causes: dict[str, list]) -> list[Block]:
    title = "One error stops several checks" if len(causes) == 1 else "Errors that stop several checks"
    blocks = [Block("h2", [("text", title)]),
              p("Fix these first: every check listed after an error fails because of it.")]
    for number, (cause, tests) in enumerate(causes.items(), start=1):
        kind = ERROR_LINE.search(cause)
        blocks += [Block("h3", [("text", f"Error {number}" + (f": {kind.group(1)}" if kind else ""))]),
                   *_where(cause), Block("pre", text=clean(cause)),
                   p(("strong", f"Checks it stops ({len(tests)}):"), " ",
                     *_joined([("code", t.key) for t in tests]))]
    return blocks


def _where(cause: str) -> list[Block]:
    """"Open f in file, line n." for the innermost frame of an error, when it names one."""
    found = WHERE.match(cause)
    if found is None:
        return []
    if found["sfile"]:
        return [p("Open ", ("code", found["sfile"]), f" at line {found['sline']}.")]
    return [p("Open ", ("code", found["function"]), " in ", ("code", found["file"]), f", line {found['line']}.")]


def _joined(parts):
    out = []
    for index, part in enumerate(parts):
        out += [", "] * bool(index) + [part]
    return out


CASE_KINDS = {"public": " [public case, not scored]", "hidden": " [hidden case, scored: new inputs each grade]"}


def _test_blocks(test, causes: dict[str, list], fix_first: list[str] = ()) -> list[Block]:
    own = [c for c in test.in_order() if not c.passed and cause_of(c.detail or "") not in causes]
    shared = [c for c in test.cases if not c.passed and c not in own]
    if not own:
        return []  # listed under the error that stops it
    blocks = [Block("h2", [("text", f"{test.title} ({points_text(test.score)} / {points_text(test.max_score)})")]),
              p(test.counts())]
    if fix_first:
        blocks.append(p(("strong", "Fix first:"), " ", *_joined([("code", key) for key in fix_first]),
                        " failed, and this check runs that code: fixing them may fix this one too."))
    opens = []
    for index, (function, file) in enumerate(test.where):
        opens += ["; "] * bool(index) + [("code", function), " in ", ("code", file)]
    blocks.append(p("Open ", *opens, "."))
    items, same = [], defaultdict(list)  # one item per distinct explanation, public and hidden apart
    for case in own:
        same[(test.kind(case), case.detail or "failed")].append(case)
    for (kind, detail), cases in same.items():
        error = f" (relative error {cases[0].rel_error:.2e})" if cases[0].rel_error is not None else ""
        also = f" (and {', '.join(c.label for c in cases[1:])})" if cases[1:] else ""
        items.append([p(("strong", cases[0].label), CASE_KINDS.get(kind, "") + error + also + ":"),
                      Block("pre", text=clean(detail))])
    if shared:
        items.append([p(f"{len(shared)} more case(s) stopped by an error shown above.")])
    blocks.append(Block("ul", items=items))
    blocks += [p(("strong", "Likely cause:"), " " + d.message) for d in test.diagnoses]
    blocks.append(p(("strong", "Hint:"), f" {test.hint}"))
    return blocks


# --- Markdown ----------------------------------------------------------------------------------

def to_markdown(blocks: list[Block]) -> str:
    return "\n".join(_md_block(block, "") for block in blocks).rstrip("\n") + "\n"


def _md_block(block: Block, indent: str) -> str:
    if block.kind == "pre":
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", block.text)), default=0))
        body = "\n".join(indent + line for line in block.text.split("\n"))
        return f"{indent}{fence}text\n{body}\n{indent}{fence}\n"
    if block.kind == "ul":
        lines = []
        for item in block.items:
            first, *rest = item
            lines.append(f"{indent}- " + _md_block(first, indent + "  ").strip())
            lines += [_md_block(b, indent + "  ").rstrip("\n") for b in rest]
        return "\n".join(lines) + "\n"
    text = _md_inline(block.parts)
    prefix = {"h1": "# ", "h2": "## ", "h3": "### ", "score": "**"}.get(block.kind, "")
    suffix = "**" if block.kind == "score" else ""
    return f"{indent}{prefix}{text}{suffix}\n"


def _md_inline(parts) -> str:
    out = []
    for kind, text in parts:
        text = clean(text).replace("\n", " ")
        if kind == "code":
            out.append(f"`{text.replace('`', '')}`")
        elif kind == "strong":
            out.append("**" + MARKDOWN_SPECIAL.sub(r"\\\1", text) + "**")
        else:
            out.append(MARKDOWN_SPECIAL.sub(r"\\\1", text))
    return "".join(out)


# --- HTML ----------------------------------------------------------------------------------------

STYLE = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; padding-bottom: .25rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1rem; margin-bottom: .25rem; }
.score { display: inline-block; font-size: 1.25rem; font-weight: 600; padding: .25rem .75rem;
         border-radius: .5rem; background: #fff8c5; border: 1px solid #d4a72c; }
.score.full { background: #dafbe1; border-color: #4ac26b; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa;
       padding: .1em .3em; border-radius: .3em; }
pre { font: 14px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa;
      border: 1px solid #d0d7de; border-radius: .4rem; padding: .6rem .8rem; overflow-x: auto;
      white-space: pre; margin: .25rem 0 .75rem; }
pre.wrap { white-space: pre-wrap; overflow-wrap: anywhere; }
ul { padding-left: 1.5rem; }
li { margin: .25rem 0; }
li > p { margin: .25rem 0; }
""".strip()


def to_html(blocks: list[Block], title: str) -> str:
    body = "\n".join(_html_block(block) for block in blocks)
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(clean(title))}</title>\n<style>\n{STYLE}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _html_block(block: Block) -> str:
    if block.kind == "pre":
        wrap = "" if CARET_LINE.search(block.text) else ' class="wrap"'  # a caret keeps its column
        return f"<pre{wrap}>{html.escape(block.text)}</pre>"
    if block.kind == "ul":
        items = ["<li>" + "".join(_html_block(b) for b in item) + "</li>" for item in block.items]
        return "<ul>\n" + "\n".join(items) + "\n</ul>"
    text = "".join(_html_inline(kind, text) for kind, text in block.parts)
    if block.kind == "score":
        full = " full" if re.fullmatch(r"Score: (\S+) / \1", clean(block.parts[0][1])) else ""
        return f'<p class="score{full}">{text}</p>'
    tag = block.kind if block.kind in ("h1", "h2", "h3") else "p"
    return f"<{tag}>{text}</{tag}>"


def _html_inline(kind: str, text: str) -> str:
    text = html.escape(clean(text).replace("\n", " "))
    return {"code": f"<code>{text}</code>", "strong": f"<strong>{text}</strong>"}.get(kind, text)


def render(report, fmt: str) -> str:
    """The feedback of ``report`` as "markdown" or "html"."""
    blocks = feedback_blocks(report)
    return to_html(blocks, f"Feedback: {report.assignment}") if fmt == "html" else to_markdown(blocks)
