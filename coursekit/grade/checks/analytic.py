"""Gradients must be derived: a gradient computed numerically earns no points for its check.

A numeric gradient (finite differences of the student's own forward pass) passes every value
case, since it is what the checker itself computes.  So the hidden build of each gradient check
gets one more task, on an input so large that finite differences need more than 10^5
evaluations of the forward pass, run by the harness's ``analytic`` driver
(``sandbox/harness.py``):

- the forward pass alone is timed first (CPU time, the fastest of three runs), and its calls
  of the watched functions (the forward pass; for a net, ``loss`` and the layers) are counted;
- the gradient call then gets RATIO times that CPU time (at least FLOOR_SECONDS): a loop over
  the entries with its own copy of the forward formula needs far more, and is stopped there;
- it may call the watched functions RECOMPUTES times more than a forward pass does, and
  MIN_CALLS times in all (a backward pass that recomputes its forward pass is fine), and never a
  numeric helper of ``cs231n.gradient_check``: either stops it at once.

CPU time, not wall-clock time, and a ratio to the same child's forward pass, so that a busy
or a slow machine moves both sides alike.  The parent judges what came back
(:func:`numeric_reason`): a numeric gradient fails every case of its check, with the reason
(:func:`require_derived`); a derived one must also be right on the large input, a case counted
only when it tells something the small cases do not.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..sandbox import harness
from ..sandbox.parent import Outcome, Task
from .base import GRAD_RTOL, NORM_FLOOR, CaseResult, Check, fetch

RATIO = 1000  # a gradient call may use this many times the CPU time of one forward pass...
FLOOR_SECONDS = 0.05  # ... and at least this much CPU time
RECOMPUTES = 4  # forward passes a gradient call may run besides its own (recomputing is fine)...
MIN_CALLS = 20  # ... and calls of the watched functions it may make in all (finite differences make 10^5)
SMALL_SECONDS = 0.5  # CPU time in which a numeric gradient ends on a small input (one that hangs does not)
NUMERIC_HELPERS = ("cs231n.gradient_check:eval_numerical_gradient",
                   "cs231n.gradient_check:eval_numerical_gradient_array")
LARGE = "derived"  # suffix of the large-input task
LARGE_LABEL = "a large input"  # how the label of its case begins
MEASURES = ("stopped", "calls", "base_calls", "numeric_calls", "cpu", "base_cpu", "small_finished")


def measures(outputs: dict[str, np.ndarray]) -> dict[str, float] | None:
    """What the ``analytic`` driver measured, as numbers, or None when something is missing."""
    try:
        return {key: float(np.asarray(outputs[key]).reshape(())) for key in MEASURES}
    except (KeyError, ValueError, TypeError):
        return None


def why_numeric(outputs: dict[str, np.ndarray]) -> str | None:
    """"helper", "calls" or "time" when the large-input run shows a numeric gradient, else None.

    Too slow counts only when the same call ends on the small inputs: one that never ends hangs."""
    m = measures(outputs)
    if m is None:
        return None
    if m["stopped"] == harness.STOPPED_GRADIENT_CHECK or m["numeric_calls"] > 0:
        return "helper"
    if m["stopped"] == harness.STOPPED_CALLS or m["calls"] > allowed_calls(m["base_calls"]):
        return "calls"
    slow = m["stopped"] == harness.STOPPED_TIME or m["cpu"] > max(RATIO * m["base_cpu"], FLOOR_SECONDS)
    return "time" if slow and m["small_finished"] else None


def allowed_calls(base_calls: float) -> int:
    """Calls of the watched functions a gradient call may make, when one forward pass makes ``base_calls``."""
    return max((1 + RECOMPUTES) * max(int(base_calls), 1), MIN_CALLS)


def numeric_reason(outcome: Outcome | None, function: str, forward: str, entries: int) -> str | None:
    """Why ``function``'s gradient counts as numeric, in one sentence, or None."""
    if outcome is None or not outcome.ok:
        return None
    out = outcome.outputs
    kind = why_numeric(out)
    if kind == "helper":
        return (f"{function} calls a numeric-gradient helper of cs231n.gradient_check "
                "(eval_numerical_gradient or eval_numerical_gradient_array)")
    if kind == "calls":
        base = int(out["base_calls"])
        return (f"{function} evaluated {forward} over and over for one gradient ({int(out['calls'])} calls where "
                f"one forward pass makes {base}; it was stopped there): finite differences, one entry at a time")
    if kind == "time":
        return (f"on an input of {entries:,} entries, {function} used more than {RATIO} times the CPU time of "
                f"{forward} ({float(out['base_cpu']) * 1e3:.2f} ms) and was stopped after "
                f"{float(out['cpu']):.2f} s: the cost of finite differences, one evaluation per entry (a derived "
                "gradient costs about as much as a few forward passes)")
    return None


def require_derived(check: Check, *, grad: dict, inputs: dict[str, np.ndarray], small: Task,
                    watch: list[str], forward: str, keys: dict[str, tuple], expected, base: dict | None = None,
                    calibrate: str | None = None) -> None:
    """In a hidden build: add the large-input task of ``check``, a case for it, and make every
    case of the check fail when its gradient turns out numeric.

    ``grad``: the ``call`` spec that returns the gradients ``keys`` (name -> shape) on ``inputs``;
    ``small``: the check's task of the same gradient call on a small input;
    ``base``: the ``call`` spec of one forward pass, or ``calibrate``: the input array whose
    softmax the harness times instead (for a function that is its own forward pass);
    ``expected``: the right gradients by name, or a function of the task's outputs and inputs that
    gives them.
    """
    spec = {"grad": grad, "watch": watch, "numeric": list(NUMERIC_HELPERS), "ratio": RATIO,
            "floor": FLOOR_SECONDS, "recomputes": RECOMPUTES, "min_calls": MIN_CALLS, "small": small.spec,
            "small_seconds": SMALL_SECONDS}
    spec.update({"base": base} if base is not None else {"calibrate": calibrate})
    task = check.add_task(LARGE, "analytic", spec, {**inputs, **{harness.SMALL + k: v for k, v in small.inputs.items()}})
    entries = sum(int(np.prod(shape)) for shape in keys.values())

    def reason(outcomes):
        return numeric_reason(outcomes.get(task), check.function, forward, entries)

    check.cases = [(label, _gated(judge, reason)) for label, judge in check.cases]
    label = f"{LARGE_LABEL} ({entries:,} entries): gradients derived, not numeric, and right"
    check.add_case(label, _counted_when_news(check, reason, _large_case(label, task, keys, expected, inputs, reason)))


def _counted_when_news(check: Check, reason: Callable, judge: Callable) -> Callable:
    """The large case counts when the gradient is numeric, or when it fails while the check's other
    cases pass; otherwise it returns None (no case), so that it never changes the partial credit
    of a mistake the small cases show already, nor dilutes it when it passes."""
    others = list(check.cases)

    def counted(outcomes):
        result = judge(outcomes)
        if result.passed:
            return None
        if reason(outcomes) is not None:
            return result
        earlier = [other(outcomes) for _, other in others]
        return result if all(r is None or r.passed for r in earlier) else None

    return counted


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """base.rel_error's formula with sums of squares: np.linalg.norm of a large array wakes the
    parent's BLAS threads, which spin for a core other work needs."""
    return _norm(a - b) / max(_norm(a) + _norm(b), NORM_FLOOR)


def _norm(v: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.square(v))))


def _gated(judge: Callable, reason: Callable) -> Callable:
    """The judge, failed with ``reason`` when the check's gradient is numeric."""

    def gated(outcomes):
        result = judge(outcomes)
        why = reason(outcomes)
        if result is None or why is None:
            return result
        return CaseResult(result.label, False, f"not counted: {why}")

    return gated


def _large_case(label: str, task: str, keys: dict[str, tuple], expected, inputs: dict, reason: Callable) -> Callable:
    """A judge: the gradient on the large input is derived and matches ``expected`` (no values shown)."""

    def judge(outcomes):
        outcome = outcomes.get(task)
        if outcome is None or not outcome.ok:
            return CaseResult(label, False, outcome.error if outcome else "this check did not run")
        why = reason(outcomes)
        if why is not None:
            return CaseResult(label, False, why)
        m = measures(outcome.outputs)
        if m is not None and m["stopped"]:  # stopped for time, and it never ended on a small input either
            return CaseResult(label, False, f"stopped after {m['cpu']:.2f} s of CPU time on the large input, and "
                              f"it did not end within {SMALL_SECONDS} s on a small one either: does it loop forever?")
        try:
            right = expected(outcome.outputs, inputs) if callable(expected) else expected
        except (KeyError, ValueError, TypeError) as err:
            return CaseResult(label, False, f"the values that came back are unusable ({err})")
        worst = 0.0
        for key, shape in keys.items():
            got = fetch(outcomes, task, key, shape)
            if isinstance(got, str):
                return CaseResult(label, False, got)
            error = _rel_error(got, np.asarray(right[key], dtype=np.float64))
            if error > GRAD_RTOL:
                return CaseResult(label, False, f"{key} on the large input: relative error {error:.2e} > "
                                  f"{GRAD_RTOL:.0e}", error)
            worst = max(worst, error)
        return CaseResult(label, True, rel_error=worst)

    return judge
