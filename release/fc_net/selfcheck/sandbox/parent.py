"""The grader's Task and Outcome classes (from coursekit/grade/sandbox/parent.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Task:
    """One call into student code: a harness driver, its spec, its inputs, its time.

    ``seconds``: CPU seconds of the child's whole tree (its wall-clock guard is many times
    longer: :func:`.watch.wall_guard`).  ``lazy``: its outputs stay in the child's output
    file, read in blocks (``Outcome.stored``).  ``optional``: where :meth:`Sandbox.run_tasks`
    is given a ``choose``, it runs after the others, only when ``choose`` names it (a numeric
    gradient that no judgement needs is left out).
    """

    id: str
    driver: str
    spec: dict
    inputs: dict[str, np.ndarray]
    seconds: float
    lazy: bool = False
    optional: bool = False


@dataclass
class Outcome:
    """What became of one task: its outputs, or why there are none."""

    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    error: str = ""
    stored: dict[str, StoredArray] = field(default_factory=dict)  # a lazy task's, open until close()
    scored: Any = None  # what the parent measured of the outputs where it watched the run (never the child's word)
