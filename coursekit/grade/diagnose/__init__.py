"""Diagnosis: name the likely cause of a failed check, from what the student's code returned.

Each :class:`Rule` has an ``id``, the ``message`` a student reads, the checks it looks at,
and a predicate over an :class:`Evidence`: the grader's inputs of each task of one failed
check, the student's outputs, and the solution's outputs (computed lazily in the parent).
Rules match observed outputs only: ratios to the reference, shapes, non-finite values, or
a known wrong formula recomputed here from the same inputs.  They never read source text.

Modules: :mod:`.evidence` (what a rule sees), :mod:`.nets`, :mod:`.layers`, :mod:`.optim`,
:mod:`.numeric` (the predicates), :mod:`.rules` (the table).
"""
from __future__ import annotations

import numpy as np

from .evidence import Diagnosis, Evidence
from .rules import RULE_IDS, RULES

__all__ = ["Diagnosis", "Evidence", "RULE_IDS", "RULES", "diagnose"]


def diagnose(evidence: Evidence) -> list[Diagnosis]:
    """Every rule for this check whose predicate holds; a rule that cannot judge the values does not match."""
    found = []
    for rule in RULES:
        if evidence.check not in rule.checks:
            continue
        try:
            with np.errstate(all="ignore"):
                matched = bool(rule.test(evidence))
        except Exception:  # noqa: BLE001 - odd student values must never break the grade
            matched = False
        if matched:
            found.append(Diagnosis(rule.id, rule.message))
    return found
