"""What a diagnosis rule looks at: the :class:`Evidence` of one failed check, and the
small comparisons (:func:`close`, :func:`instead`, :func:`ratio`) the predicates share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..checks.base import Check, CaseResult, reference, rel_error
from ..sandbox.parent import Outcome, Task

MATCH_RTOL = 1e-9  # the student's output against a recomputed wrong formula
RATIO_TOL = 1e-6  # a fitted ratio (e.g. 0.5 of the reg term) against the ratio a rule names


@dataclass(frozen=True)
class Diagnosis:
    """A rule that matched: its id and what the student reads."""

    id: str
    message: str


@dataclass
class Evidence:
    """What the parent saw for one check: per task (by suffix) its inputs, the student's and
    the solution's outputs, and the judged cases."""

    check: str
    tasks: dict[str, Task]
    outcomes: dict[str, Outcome]
    cases: list[CaseResult] = field(default_factory=list)
    references: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def of(cls, check: Check, outcomes: dict[str, Outcome], cases: list[CaseResult]) -> "Evidence":
        tasks = {t.id[len(check.name) + 1:]: t for t in check.tasks}
        return cls(check.name, tasks, {s: outcomes[t.id] for s, t in tasks.items() if t.id in outcomes}, cases)

    def inputs(self, suffix: str) -> dict[str, np.ndarray]:
        return self.tasks[suffix].inputs

    def spec(self, suffix: str) -> dict:
        return self.tasks[suffix].spec

    def out(self, suffix: str, key: str) -> np.ndarray | None:
        """The student's output as float64, or None when the task failed or returned no ``key``."""
        outcome = self.outcomes.get(suffix)
        if outcome is None or not outcome.ok or key not in outcome.outputs:
            return None
        return np.asarray(outcome.outputs[key], dtype=np.float64)

    def error(self, suffix: str) -> str:
        """The last line of the task's error (the exception, never the student's code lines)."""
        outcome = self.outcomes.get(suffix)
        return outcome.error.strip().splitlines()[-1] if outcome and not outcome.ok and outcome.error else ""

    def ref(self, suffix: str, key: str) -> np.ndarray:
        if suffix not in self.references:
            task = self.tasks[suffix]
            self.references[suffix] = reference(task.driver, task.spec, task.inputs)
        return self.references[suffix][key]


@dataclass(frozen=True)
class Rule:
    id: str
    checks: tuple[str, ...]
    message: str
    test: Callable[[Evidence], bool]


def close(got, expected, rtol: float = MATCH_RTOL) -> bool:
    return got is not None and np.shape(got) == np.shape(expected) and rel_error(got, expected) <= rtol


def instead(got, wrong, right) -> bool:
    """``got`` is the wrong formula's value and not the right one (the two differ on these inputs)."""
    return close(got, wrong) and not close(got, right)


def ratio(got, base) -> float | None:
    """The least-squares factor k with got ~ k * base, or None when it does not fit."""
    if got is None or np.shape(got) != np.shape(base) or not np.any(base):
        return None
    k = float(np.sum(got * base) / np.sum(base * base))
    return k if rel_error(got, k * base) <= RATIO_TOL else None


def near(value: float | None, target: float) -> bool:
    return value is not None and abs(value - target) <= RATIO_TOL * max(1.0, abs(target))


def suffixes(ev: Evidence, ending: str) -> list[str]:
    return [s for s in ev.tasks if s.endswith(ending)]
