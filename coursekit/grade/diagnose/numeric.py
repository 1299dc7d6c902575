"""Predicate for a gradient computed numerically (finite differences) instead of derived."""
from __future__ import annotations

from ..checks.analytic import LARGE, why_numeric
from .evidence import Evidence


def numeric_gradient(ev: Evidence) -> bool:
    """The large-input run of the check (``checks/analytic.py``) found the gradient numeric."""
    return any(outcome.ok and why_numeric(outcome.outputs) is not None
               for suffix, outcome in ev.outcomes.items() if suffix.endswith(LARGE))
