"""The grade of one submission: a terminal table, Gradescope's results.json, and feedback.

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
a top-level ``score``, ``execution_time``, ``output`` and ``tests``, each test with
``name``, ``score``, ``max_score``, ``status``, ``output`` and ``visibility``.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from .checks.base import CaseResult
from .diagnose import Diagnosis

VISIBILITY = "visible"
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "output", "tests"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "status", "output", "visibility"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "score": {"type": "number", "minimum": 0},
                "max_score": {"type": "number", "minimum": 0},
                "status": {"enum": ["passed", "failed"]},
                "output": {"type": "string"},
                "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": False,
        }},
    },
    "additionalProperties": False,
}


@dataclass
class TestResult:
    """One graded check: its cases, its score, and where the student should look."""

    key: str
    title: str
    function: str
    file: str
    hint: str
    max_score: float
    cases: list[CaseResult]
    diagnoses: list[Diagnosis] = field(default_factory=list)  # likely causes, when the check failed

    @property
    def scored_cases(self) -> list[CaseResult]:
        """The hidden cases when the check has public ones too (those are not scored), else all."""
        return [case for case in self.cases if not case.public] or self.cases

    @property
    def passed_cases(self) -> int:
        return sum(case.passed for case in self.cases)

    @property
    def score(self) -> float:
        scored = self.scored_cases
        return round(self.max_score * sum(c.passed for c in scored) / len(scored), 4) if scored else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(case.passed for case in self.scored_cases)

    def output(self) -> str:
        lines = [f"{self.passed_cases}/{len(self.cases)} cases passed."]
        for case in self.cases:
            mark = ("PASS" if case.passed else "FAIL") + (" (public, not scored)" if case.public else "")
            lines.append(f"{mark} {case.label}" + (f": {case.detail}" if case.detail else ""))
            if case.review:
                lines.append(f"REVIEW {case.review}")
        lines += [f"Likely cause: {d.message}" for d in self.diagnoses]
        if not self.passed:
            lines.append(f"Where to look: {self.function} in {self.file}. Hint: {self.hint}")
        return "\n".join(lines)


@dataclass
class GradeReport:
    """Everything about one grade; ``score`` is never more than ``max_score``."""

    assignment: str
    tests: list[TestResult]
    execution_time: float = 0.0
    protections: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float | None] = field(default_factory=dict)  # where the time went
    hidden_seed: int | None = None  # the seed of this grade's hidden cases, to reproduce it

    @property
    def score(self) -> float:
        return round(sum(test.score for test in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(test.max_score for test in self.tests), 4)

    @property
    def diagnoses(self) -> list[str]:
        """The ids of the diagnosis rules that matched, each once, in the order of the checks."""
        return list(dict.fromkeys(d.id for test in self.tests for d in test.diagnoses))

    @property
    def reviews(self) -> list[str]:
        return [case.review for test in self.tests for case in test.cases if case.review]

    def summary(self) -> str:
        lines = [f"{self.assignment}: {self.score:g} / {self.max_score:g} points in {self.execution_time:.1f} s."]
        if self.skipped:
            lines.append("Skipped (fast mode): " + ", ".join(self.skipped) + ".")
        lines += [f"FLAGGED FOR REVIEW: {text}" for text in self.reviews]
        active = self.protections.get("active", [])
        lines.append("Sandbox: " + ("; ".join(active) if active else "no protection was active"))
        for failure in self.protections.get("failed", []):
            lines.append(f"Sandbox protection not active: {failure}")
        lines.append("Anything the submission printed was ignored.")
        return "\n".join(lines)

    def table(self) -> str:
        width = max((len(t.key) for t in self.tests), default=10)
        rows = [f"{'check':<{width}}  {'score':>11}  result"]
        for test in self.tests:
            result = "passed" if test.passed else f"FAILED ({test.passed_cases}/{len(test.cases)} cases)"
            rows.append(f"{test.key:<{width}}  {test.score:>5g} / {test.max_score:<3g}  {result}")
        return "\n".join(rows + ["", self.summary()])

    def to_gradescope(self) -> dict:
        return {
            "score": self.score,
            "execution_time": round(self.execution_time, 2),
            "output": self.summary(),
            "visibility": VISIBILITY,
            "extra_data": {"assignment": self.assignment, "max_score": self.max_score,
                           "protections": self.protections, "review": self.reviews,
                           "diagnoses": self.diagnoses,
                           "skipped": self.skipped, "seconds": self.seconds,
                           "hidden_seed": self.hidden_seed},
            "tests": [{"name": f"{t.key}: {t.title}", "score": t.score, "max_score": t.max_score,
                       "status": "passed" if t.passed else "failed", "output": t.output(),
                       "visibility": VISIBILITY, "tags": [t.key] + (["review"] if any(c.review for c in t.cases) else [])}
                      for t in self.tests],
        }

    def write_results(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_gradescope(), indent=2) + "\n")

    def write_feedback(self, path: Path) -> None:
        path = Path(path)
        markdown = feedback_markdown(self)
        path.write_text(markdown_to_html(markdown, self.assignment) if path.suffix.lower() in (".html", ".htm")
                        else markdown)


def feedback_markdown(report: GradeReport) -> str:
    """What a student reads: one section per failed check, with where to look and why."""
    lines = [f"# Feedback: {report.assignment}", "",
             f"**Score: {report.score:g} / {report.max_score:g}**", ""]
    failed = [t for t in report.tests if not t.passed]
    lines += ["All checks passed." if not failed else f"{len(failed)} of {len(report.tests)} checks need work.", ""]
    for test in failed:
        lines += [f"## {test.title} ({test.score:g} / {test.max_score:g})", "",
                  f"Open `{test.function}` in `{test.file}`.", ""]
        for case in test.cases:
            if not case.passed:
                error = f" (relative error {case.rel_error:.2e})" if case.rel_error is not None else ""
                detail = (case.detail or "failed").replace("\n", "\n  ")
                lines.append(f"- **{case.label}**{error}: {detail}")
        lines += [""] + [f"**Likely cause:** {d.message}" for d in test.diagnoses]
        lines += ["", f"Hint: {test.hint}", ""]
    if report.reviews:
        lines += ["## Flagged for review", ""] + [f"- {text}" for text in report.reviews] + [""]
    passed = [t for t in report.tests if t.passed]
    if passed:
        lines += ["## Passed", ""] + [f"- {t.title} ({t.score:g} / {t.max_score:g})" for t in passed] + [""]
    return "\n".join(lines)


def markdown_to_html(markdown: str, title: str) -> str:
    """The feedback's small Markdown subset as a standalone, escaped HTML page."""
    body = []
    for line in markdown.splitlines():
        text = html.escape(line)
        text = _inline(text, "**", "strong")
        text = _inline(text, "`", "code")
        if line.startswith("## "):
            body.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("- "):
            body.append(f"<li>{text[2:]}</li>")
        elif line:
            body.append(f"<p>{text}</p>")
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>Feedback: {html.escape(title)}"
            "</title></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str, marker: str, tag: str) -> str:
    parts = text.split(marker)
    if len(parts) % 2 == 0:  # unbalanced: leave as is
        return text
    return "".join(f"<{tag}>{part}</{tag}>" if i % 2 else part for i, part in enumerate(parts))
