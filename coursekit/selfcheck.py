"""``coursekit check``: does the grader catch what it should?

It builds both tracks into a temporary folder and grades three things:

1. the solutions track, which must score full marks;
2. the untouched release track, which must score 0 on every check;
3. every mistake in the catalogue (``autograder/mistakes.toml``), applied to a copy of the
   solutions track, which must fail at least one check.

In fast mode the CIFAR-10 checks are skipped; a mistake that no code check catches is then
graded again with them (when the dataset is there), so fast mode never lets a mistake pass
that the full grader would catch.
"""
from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .build import build_tracks
from .config import Course
from .errors import CoursekitError
from .grade import GradeReport, grade_submission
from .mistakes import Mistake, apply_mistake, load_catalogue


@dataclass
class MistakeResult:
    """How the grader did on one mistake."""

    mistake: Mistake
    failing: list[str]
    points_lost: float
    error: str = ""
    escalated: bool = False  # caught only once the CIFAR-10 checks ran

    @property
    def caught(self) -> bool:
        return bool(self.failing) and not self.error


@dataclass
class SelfCheckReport:
    """Everything ``coursekit check`` found; ``ok`` is what the exit code reports."""

    problems: list[str] = field(default_factory=list)
    mistakes: list[MistakeResult] = field(default_factory=list)

    @property
    def uncaught(self) -> list[MistakeResult]:
        return [result for result in self.mistakes if not result.caught]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.uncaught

    def table(self) -> str:
        width = max([len(r.mistake.id) for r in self.mistakes] + [7])
        lines = [f"{'mistake':<{width}}  {'lost':>6}  failing checks"]
        for result in self.mistakes:
            if result.caught:
                failing = ", ".join(result.failing) + ("  (CIFAR-10 checks)" if result.escalated else "")
            else:
                failing = "NOT CAUGHT" + (f": {result.error}" if result.error else "")
            lines.append(f"{result.mistake.id:<{width}}  {result.points_lost:>6.2f}  {failing}")
        caught = len(self.mistakes) - len(self.uncaught)
        lines.append(f"\n{caught} of {len(self.mistakes)} mistakes caught.")
        lines += [f"PROBLEM: {problem}" for problem in self.problems]
        lines += [f"UNCAUGHT: {r.mistake.id} ({r.mistake.assignment}, {r.mistake.function} in "
                  f"{r.mistake.module}): {r.mistake.summary}" for r in self.uncaught]
        return "\n".join(lines)


def _failing(report: GradeReport) -> tuple[list[str], float]:
    failing = [test.key for test in report.tests if test.score < test.max_score]
    lost = sum(test.max_score - test.score for test in report.tests)
    return failing, round(lost, 4)


def _grade_mistake(course: Course, mistake: Mistake, solutions: Path, scratch: Path,
                   fast: bool, escalate: bool) -> MistakeResult:
    folder = scratch / mistake.id
    shutil.copytree(solutions / mistake.assignment, folder)
    try:
        apply_mistake(mistake, folder)
    except CoursekitError as err:
        return MistakeResult(mistake, [], 0.0, error=f"the patch does not apply: {err}")
    report = grade_submission(course, mistake.assignment, folder, fast=fast)
    failing, lost = _failing(report)
    if failing or not (fast and escalate):
        return MistakeResult(mistake, failing, lost)
    report = grade_submission(course, mistake.assignment, folder, fast=False)
    failing, lost = _failing(report)
    return MistakeResult(mistake, failing, lost, escalated=True)


def run_selfcheck(course: Course, *, fast: bool = True, catalogue: Path | None = None,
                  only: list[str] | None = None, workers: int = 2,
                  data_available: bool = True) -> SelfCheckReport:
    """Build the tracks in a temporary folder and grade solutions, release and mistakes."""
    mistakes = load_catalogue(catalogue)
    if only:
        unknown = sorted(set(only) - {m.id for m in mistakes})
        if unknown:
            raise CoursekitError(f"No mistake called {', '.join(unknown)} in the catalogue.")
        mistakes = [m for m in mistakes if m.id in only]
    report = SelfCheckReport()
    with tempfile.TemporaryDirectory(prefix="coursekit-check-") as tmp:
        root = Path(tmp)
        build_tracks(course, out_root=root / "tracks")
        solutions, release = root / "tracks" / "solutions", root / "tracks" / "release"
        for assignment in course.assignments:
            graded = grade_submission(course, assignment, solutions / assignment, fast=fast)
            if graded.score < graded.max_score:
                failing, lost = _failing(graded)
                report.problems.append(f"solutions/{assignment} scores {graded.score:g} / "
                                       f"{graded.max_score:g}, not full marks: {', '.join(failing)}")
            graded = grade_submission(course, assignment, release / assignment, fast=fast)
            scoring = [test.key for test in graded.tests if test.score > 0]
            if scoring:
                report.problems.append(f"release/{assignment} (the untouched skeleton) scores points "
                                       f"on: {', '.join(scoring)}")
        scratch = root / "mistakes"
        scratch.mkdir()
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            report.mistakes = list(pool.map(
                lambda m: _grade_mistake(course, m, solutions, scratch, fast, data_available),
                mistakes))
    return report
