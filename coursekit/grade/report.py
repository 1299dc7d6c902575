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
from .feedback import clean, feedback_format, points_text, render

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


SCORE_DECIMALS = 2  # every score is rounded once, per check; totals are sums of the rounded scores
KIND_LABELS = {"public": "public, not scored", "hidden": "hidden, scored"}  # a case of a check with both


def round_points(value: float) -> float:
    return round(float(value), SCORE_DECIMALS)


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
    places: list[tuple[str, str]] = field(default_factory=list)  # more (function, file) to look at
    after: list[str] = field(default_factory=list)  # checks of code this one runs (fix those first)

    @property
    def split(self) -> bool:
        """Does the check have public cases (not scored) and hidden ones (scored)?"""
        return any(c.public for c in self.cases) and any(not c.public for c in self.cases)

    def kind(self, case: CaseResult) -> str:
        """"public" or "hidden" in a check that has both, else "" (every case is scored)."""
        return ("public" if case.public else "hidden") if self.split else ""

    @property
    def scored_cases(self) -> list[CaseResult]:
        """The hidden cases when the check has public ones too (those are not scored), else all."""
        return [case for case in self.cases if self.kind(case) != "public"]

    @property
    def public_cases(self) -> list[CaseResult]:
        return [case for case in self.cases if self.kind(case) == "public"]

    @property
    def passed_cases(self) -> int:
        """Scored cases that passed."""
        return sum(case.passed for case in self.scored_cases)

    @property
    def score(self) -> float:
        scored = self.scored_cases
        return round_points(self.max_score * self.passed_cases / len(scored)) if scored else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(case.passed for case in self.scored_cases)

    @property
    def where(self) -> list[tuple[str, str]]:
        """(function, file) of the code the check runs, the main one first."""
        return [(self.function, self.file), *self.places]

    def in_order(self) -> list[CaseResult]:
        """The cases, the scored ones first."""
        return sorted(self.cases, key=lambda case: self.kind(case) == "public")

    def counts(self) -> str:
        """How many scored cases passed, and the public ones apart."""
        scored = self.scored_cases
        if not self.split:
            return f"{self.passed_cases} of {len(scored)} cases passed."
        public = self.public_cases
        return (f"{self.passed_cases} of {len(scored)} scored cases passed (hidden: new inputs each grade); "
                f"public cases (not scored): {sum(c.passed for c in public)} of {len(public)} passed.")

    def output(self, fix_first: list[str] = ()) -> str:
        """The check as plain text (Gradescope, nbgrader's cell, ``grade -v``); ``fix_first``:
        failed checks of code this one runs."""
        lines = [self.counts()]
        if fix_first and not self.passed:
            lines.append(f"Fix first: {', '.join(fix_first)} failed, and this check runs that code.")
        for case in self.in_order():  # the submission's text is indented: it cannot start a line
            kind = self.kind(case)
            mark = ("PASS" if case.passed else "FAIL") + (f" ({KIND_LABELS[kind]})" if kind else "")
            lines.append(f"{mark} {case.label}" + (":" if case.detail else ""))
            lines += [OUTPUT_INDENT + line for line in clean(case.detail).split("\n") if case.detail]
            if case.review:
                lines.append(f"REVIEW {clean(case.review).replace(chr(10), ' ')}")
        lines += [f"Likely cause: {d.message}" for d in self.diagnoses]
        if not self.passed:
            where = "; ".join(f"{function} in {file}" for function, file in self.where)
            lines.append(f"Where to look: {where}. Hint: {self.hint}")
        return "\n".join(lines)


@dataclass
class GradeReport:
    """Everything about one grade; ``score`` is never more than ``max_score``.

    ``skipped``: the checks this run did not grade, with their points (fast mode), which
    ``score`` and ``max_score`` leave out.  ``notes``: lines every format shows as they are
    (e.g. a module of the kit that replaced the student's); append to extend the report.
    """

    assignment: str
    tests: list[TestResult]
    execution_time: float = 0.0
    protections: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float | None] = field(default_factory=dict)  # where the time went
    hidden_seed: int | None = None  # the seed of this grade's hidden cases, to reproduce it
    notes: list[str] = field(default_factory=list)  # how the submission was read (links, replaced files)

    @property
    def score(self) -> float:
        return round_points(sum(test.score for test in self.tests))

    @property
    def max_score(self) -> float:
        return round_points(sum(test.max_score for test in self.tests))

    @property
    def diagnoses(self) -> list[str]:
        """The ids of the diagnosis rules that matched, each once, in the order of the checks."""
        return list(dict.fromkeys(d.id for test in self.tests for d in test.diagnoses))

    @property
    def reviews(self) -> list[str]:
        return [case.review for test in self.tests for case in test.cases if case.review]

    def fix_first(self, test: TestResult) -> list[str]:
        """The failed checks of code ``test`` runs: their failure can explain its own."""
        failed = {t.key for t in self.tests if not t.passed}
        return [key for key in test.after if key in failed and key != test.key]

    def test_output(self, test: TestResult) -> str:
        return test.output(self.fix_first(test))

    def skipped_line(self) -> str:
        """What was not graded and the points left out, or ''."""
        if not self.skipped:
            return ""
        named = ", ".join(f"{key} ({points_text(points)} points)" for key, points in self.skipped.items())
        return (f"Not graded in this run (fast mode): {named}; the score leaves out their "
                f"{points_text(sum(self.skipped.values()))} points.")

    def summary(self) -> str:
        lines = [f"{self.assignment}: {points_text(self.score)} / {points_text(self.max_score)} points "
                 f"in {self.execution_time:.1f} s."]
        if self.skipped:
            lines.append(self.skipped_line())
        lines += [f"Note: {clean(note)}".replace("\n", " ") for note in self.notes]
        lines += [f"FLAGGED FOR REVIEW: {clean(text)}".replace("\n", " ") for text in self.reviews]
        active = [clean(item).replace("\n", " ") for item in self.protections.get("active", [])]
        lines.append("Sandbox: " + ("; ".join(active) if active else "no protection was active"))
        for failure in self.protections.get("failed", []):
            lines.append("Sandbox protection not active: " + clean(failure).replace("\n", " "))
        lines.append("Anything the submission printed was ignored.")
        return "\n".join(lines)

    def table(self) -> str:
        rows = [(t.key, points_text(t.score), points_text(t.max_score),
                 "passed" if t.passed else f"FAILED ({t.passed_cases} of {len(t.scored_cases)} scored cases)")
                for t in self.tests]
        rows += [(key, "-", points_text(points), "not graded (fast mode)") for key, points in self.skipped.items()]
        total = ("total", points_text(self.score), points_text(self.max_score), "")
        width = max(len(row[0]) for row in [*rows, total, ("check",)])
        got = max(len(row[1]) for row in [*rows, total])
        top = max(len(row[2]) for row in [*rows, total])
        score_width = max(got + 3 + top, len("score"))

        def line(key, score, max_score, result):
            cell = f"{score:>{got}} / {max_score:<{top}}"
            return f"{key:<{width}}  {cell:<{score_width}}  {result}".rstrip()

        lines = [f"{'check':<{width}}  {'score':<{score_width}}  result"]
        lines += [line(*row) for row in rows]
        lines += ["-" * (width + 2 + score_width), line(*total)]
        return "\n".join(lines + ["", self.summary()])

    def to_gradescope(self) -> dict:
        tests = [{"name": f"{t.key}: {t.title}", "score": t.score, "max_score": t.max_score,
                  "status": "passed" if t.passed else "failed", "output": self.test_output(t),
                  "visibility": VISIBILITY, "tags": [t.key] + (["review"] if any(c.review for c in t.cases) else [])}
                 for t in self.tests]
        tests += [{"name": f"{key}: not graded in this run (fast mode)", "score": 0, "max_score": 0,
                   "status": "failed", "visibility": VISIBILITY, "tags": [key, "skipped"],
                   "output": f"This check did not run (fast mode, no CIFAR-10): its {points_text(points)} "
                             "points are not in this score."}
                  for key, points in self.skipped.items()]
        return {
            "score": self.score,
            "execution_time": round(self.execution_time, 2),
            "output": self.summary(),
            "visibility": VISIBILITY,
            "extra_data": {"assignment": self.assignment, "max_score": self.max_score,
                           "protections": self.protections, "review": self.reviews,
                           "diagnoses": self.diagnoses, "notes": self.notes,
                           "skipped": self.skipped, "seconds": self.seconds,
                           "hidden_seed": self.hidden_seed},
            "tests": tests,
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
