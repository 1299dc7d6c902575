"""``coursekit check``: does the grader catch what it should?

It builds both tracks into a temporary folder and grades three things:

1. the solutions track, which must score full marks (in full mode, with the sample model a
   student's tuning notebook would save, trained first as ``coursekit demo`` does: the
   track cannot ship one);
2. the untouched release track, which must score 0 on every check;
3. every mistake in the catalogue (``autograder/mistakes.toml``), applied to a copy of the
   solutions track, which must fail at least one check.

An assignment with several flows (course.toml's ``flow``) is checked in each flow that a
mistake of the catalogue belongs to, from tracks built for that flow.

In fast mode the CIFAR-10 checks are skipped; a mistake that no code check catches is then
graded again with them (when the dataset is there), so fast mode never lets a mistake pass
that the full grader would catch.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..tracks import build_tracks
from ..config import Course
from ..errors import CoursekitError
from ..grade import GradeReport, grade_submission
from ..grade.pipeline import grader_flow
from .catalogue import Mistake, apply_mistake, load_catalogue, mistake_course


@dataclass
class MistakeResult:
    """How the grader did on one mistake."""

    mistake: Mistake
    failing: list[str]
    points_lost: float
    error: str = ""
    escalated: bool = False  # caught only once the CIFAR-10 checks ran
    diagnoses: list[str] = field(default_factory=list)  # ids of the diagnosis rules that matched

    @property
    def caught(self) -> bool:
        return bool(self.failing) and not self.error

    @property
    def diagnosed(self) -> bool:
        """The mistake's expected diagnosis was found (True when it expects none)."""
        return not self.mistake.diagnosis or self.mistake.diagnosis in self.diagnoses

    @property
    def diagnosis_column(self) -> str:
        if not self.mistake.diagnosis:
            return "-"
        return self.mistake.diagnosis if self.diagnosed else "MISSING"


@dataclass
class SelfCheckReport:
    """Everything ``coursekit check`` found; ``ok`` is what the exit code reports."""

    problems: list[str] = field(default_factory=list)
    mistakes: list[MistakeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the check did besides grading

    @property
    def uncaught(self) -> list[MistakeResult]:
        return [result for result in self.mistakes if not result.caught]

    @property
    def undiagnosed(self) -> list[MistakeResult]:
        """Mistakes whose catalogued diagnosis the grader did not find."""
        return [result for result in self.mistakes if not result.diagnosed]

    @property
    def with_diagnosis(self) -> list[MistakeResult]:
        return [result for result in self.mistakes if result.mistake.diagnosis]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.uncaught and not self.undiagnosed

    def table(self) -> str:
        width = max([len(r.mistake.id) for r in self.mistakes] + [7])
        rule_width = max([len(r.diagnosis_column) for r in self.mistakes] + [9])
        lines = [f"{'mistake':<{width}}  {'lost':>6}  {'diagnosis':<{rule_width}}  failing checks"]
        for result in self.mistakes:
            if result.caught:
                failing = ", ".join(result.failing) + ("  (CIFAR-10 checks)" if result.escalated else "")
            else:
                failing = "NOT CAUGHT" + (f": {result.error}" if result.error else "")
            lines.append(f"{result.mistake.id:<{width}}  {result.points_lost:>6.2f}  "
                         f"{result.diagnosis_column:<{rule_width}}  {failing}")
        caught = len(self.mistakes) - len(self.uncaught)
        diagnosed = len(self.with_diagnosis) - len(self.undiagnosed)
        lines.append(f"\n{caught} of {len(self.mistakes)} mistakes caught; {len(self.with_diagnosis)} have a "
                     f"diagnosis, {diagnosed} of them diagnosed.")
        lines += [f"NOTE: {note}" for note in self.notes]
        lines += [f"PROBLEM: {problem}" for problem in self.problems]
        lines += [f"UNCAUGHT: {r.mistake.id} ({r.mistake.assignment}, {r.mistake.function} in "
                  f"{r.mistake.module}): {r.mistake.summary}" for r in self.uncaught]
        lines += [f"UNDIAGNOSED: {r.mistake.id}: expected '{r.mistake.diagnosis}', found "
                  f"{', '.join(r.diagnoses) or 'none'}" for r in self.undiagnosed]
        return "\n".join(lines)


def _failing(report: GradeReport, baseline: GradeReport | None = None) -> tuple[list[str], float]:
    """Checks that lose points, and how many; with a baseline, only those the baseline passes.

    The baseline is the unpatched solutions track graded the same way: it tells a check the
    mistake failed from one that fails anyway (the solutions track ships no trained model, so
    the saved-model check fails there in full mode).
    """
    ignore = set() if baseline is None else {t.key for t in baseline.tests if t.score < t.max_score}
    lost = {t.key: t.max_score - t.score for t in report.tests
            if t.score < t.max_score and t.key not in ignore}
    return list(lost), round(sum(lost.values()), 4)


def _grade_mistake(variant: "Variant", mistake: Mistake, scratch: Path, fast: bool, escalate: bool,
                   full_baseline) -> MistakeResult:
    folder = scratch / mistake.id
    shutil.copytree(variant.solutions, folder)
    try:
        apply_mistake(mistake, folder)
    except CoursekitError as err:
        return MistakeResult(mistake, [], 0.0, error=f"the patch does not apply: {err}")
    report = grade_submission(variant.course, mistake.assignment, folder, fast=fast)
    failing, lost = _failing(report)
    if failing or not (fast and escalate):
        return MistakeResult(mistake, failing, lost, diagnoses=report.diagnoses)
    report = grade_submission(variant.course, mistake.assignment, folder, fast=False)
    failing, lost = _failing(report, full_baseline(variant))
    return MistakeResult(mistake, failing, lost, escalated=True, diagnoses=report.diagnoses)


@dataclass(frozen=True)
class Variant:
    """One assignment in one flow: its course and the tracks built for it."""

    assignment: str
    flow: str
    course: Course = field(compare=False)
    root: Path = field(compare=False)

    @property
    def solutions(self) -> Path:
        return self.root / "solutions" / self.assignment

    @property
    def release(self) -> Path:
        return self.root / "release" / self.assignment

    def name(self, track: str, own_flow: str) -> str:
        return f"{track}/{self.assignment}" + (f" (flow {self.flow!r})" if self.flow != own_flow else "")


def save_sample_models(course: Course, assignments: list[str], solutions: Path) -> list[str]:
    """Train and save in ``solutions/<id>/`` the model a student's tuning notebook saves; say so."""
    from ..train import load_data, save_sample_model

    data = load_data(course)
    notes = []
    for assignment in assignments:
        start = time.monotonic()
        path = save_sample_model(course, assignment, solutions / assignment, data)
        notes.append(f"solutions/{assignment} ships no trained model: trained the sample {path.name} "
                     f"with grade_train ({time.monotonic() - start:.0f} s), as `coursekit demo` does")
    return notes


def run_selfcheck(course: Course, *, fast: bool = True, catalogue: Path | None = None,
                  only: list[str] | None = None, workers: int = 2,
                  escalate: bool = True) -> SelfCheckReport:
    """Build the tracks in a temporary folder and grade solutions, release and mistakes.

    Every assignment is checked in course.toml's flow, and also in each other flow a mistake
    of the catalogue belongs to (its tracks built from the same source/).  ``escalate``: in
    fast mode, grade a mistake that no code check catches again with the CIFAR-10 checks
    (needs the dataset).  ``only``: these mistakes, and only their assignments and flows.
    """
    mistakes = load_catalogue(catalogue)
    if only:
        unknown = sorted(set(only) - {m.id for m in mistakes})
        if unknown:
            raise CoursekitError(f"No mistake called {', '.join(unknown)} in the catalogue.")
        mistakes = [m for m in mistakes if m.id in only]
    report = SelfCheckReport()
    with tempfile.TemporaryDirectory(prefix="coursekit-check-") as tmp:
        root = Path(tmp)
        wanted = [] if only else [(a, course) for a in course.assignments]
        wanted += [(m.assignment, mistake_course(course, m)) for m in mistakes]
        variants: dict[tuple[str, str], Variant] = {}
        for assignment, variant_course in wanted:
            key = (assignment, grader_flow(variant_course, assignment))  # a course without `flow` gets the first
            if key not in variants:
                variants[key] = Variant(*key, variant_course, root / f"tracks-{len(variants)}")
                build_tracks(variant_course, [assignment], out_root=variants[key].root)
        if not fast:
            for variant in variants.values():
                report.notes += save_sample_models(variant.course, [variant.assignment], variant.root / "solutions")
        for variant in variants.values():
            own = grader_flow(course, variant.assignment)
            graded = grade_submission(variant.course, variant.assignment, variant.solutions, fast=fast)
            if graded.score < graded.max_score:
                failing, lost = _failing(graded)
                report.problems.append(f"{variant.name('solutions', own)} scores {graded.score:g} / "
                                       f"{graded.max_score:g}, not full marks: {', '.join(failing)}")
            graded = grade_submission(variant.course, variant.assignment, variant.release, fast=fast)
            scoring = [test.key for test in graded.tests if test.score > 0]
            if scoring:
                report.problems.append(f"{variant.name('release', own)} (the untouched skeleton) scores "
                                       f"points on: {', '.join(scoring)}")
        scratch = root / "mistakes"
        scratch.mkdir()
        baselines: dict[Variant, GradeReport] = {}
        lock = threading.Lock()

        def full_baseline(variant: Variant) -> GradeReport:
            with lock:  # graded once per assignment and flow, and only if a mistake needs it
                if variant not in baselines:
                    baselines[variant] = grade_submission(variant.course, variant.assignment, variant.solutions)
                return baselines[variant]

        def variant_of(mistake: Mistake) -> Variant:
            return variants[mistake.assignment, grader_flow(mistake_course(course, mistake), mistake.assignment)]

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            report.mistakes = list(pool.map(
                lambda m: _grade_mistake(variant_of(m), m, scratch, fast, escalate, full_baseline), mistakes))
    return report
