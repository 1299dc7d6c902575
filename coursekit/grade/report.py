"""The grade of one submission: a terminal table, Gradescope's results.json, and feedback.

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
a top-level ``score``, ``execution_time``, ``output`` and ``tests``, each test with
``name``, ``score``, ``max_score``, ``status``, ``output`` and ``visibility``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .checks.base import CaseResult
from .diagnose import Diagnosis
from .feedback import clean, feedback_format, render

VISIBILITY = "visible"
OUTPUT_INDENT = "    "  # before every line of text that came from the submission
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
        for case in self.cases:  # the submission's text is indented: it cannot start a line
            mark = ("PASS" if case.passed else "FAIL") + (" (public, not scored)" if case.public else "")
            lines.append(f"{mark} {case.label}" + (":" if case.detail else ""))
            lines += [OUTPUT_INDENT + line for line in clean(case.detail).split("\n") if case.detail]
            if case.review:
                lines.append(f"REVIEW {clean(case.review).replace(chr(10), ' ')}")
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
    notes: list[str] = field(default_factory=list)  # how the submission was read (links, replaced files)

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
        lines += ["Note: " + clean(note).replace("\n", " ") for note in self.notes]
        lines += [f"FLAGGED FOR REVIEW: {clean(text)}".replace("\n", " ") for text in self.reviews]
        active = [clean(item).replace("\n", " ") for item in self.protections.get("active", [])]
        lines.append("Sandbox: " + ("; ".join(active) if active else "no protection was active"))
        for failure in self.protections.get("failed", []):
            lines.append("Sandbox protection not active: " + clean(failure).replace("\n", " "))
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
                           "hidden_seed": self.hidden_seed, "notes": self.notes},
            "tests": [{"name": f"{t.key}: {t.title}", "score": t.score, "max_score": t.max_score,
                       "status": "passed" if t.passed else "failed", "output": t.output(),
                       "visibility": VISIBILITY, "tags": [t.key] + (["review"] if any(c.review for c in t.cases) else [])}
                      for t in self.tests],
        }

    def write_results(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_gradescope(), indent=2) + "\n")

    def write_feedback(self, path: Path) -> None:
        """Markdown or a standalone HTML page, by the extension (.md, .html); others are a UsageError."""
        path = Path(path)
        path.write_text(render(self, feedback_format(path)))


def feedback_markdown(report: GradeReport) -> str:
    """What a student reads, as Markdown (see :mod:`coursekit.grade.feedback`)."""
    return render(report, "markdown")
