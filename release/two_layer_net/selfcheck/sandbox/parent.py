"""The grader's Task and Outcome classes (from coursekit/grade/sandbox/parent.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Task:
    """One call into student code: a harness driver, its spec, its inputs, its time."""

    id: str
    driver: str
    spec: dict
    inputs: dict[str, np.ndarray]
    seconds: float


@dataclass
class Outcome:
    """What became of one task: its outputs, or why there are none."""

    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    error: str = ""
