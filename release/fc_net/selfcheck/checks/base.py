"""What a check is, and the parent-side judges that score it.

A :class:`Check` is one graded item of ``[assignments.<id>.points]``.  It owns the child
tasks that call the student's code on the grader's inputs, and a list of cases, each a
judge that reads the tasks' outcomes in the parent and says passed or failed with an
explanation.  The check earns ``points * passed cases / cases``.

References are computed here, in the parent, by running the same harness driver on the
annotated solution (``source/``), which the child never sees.

Public and hidden cases: a grade builds every code check twice (:func:`building`). The
public build draws its inputs from the fixed ``GRADER_SEED``: its cases are those a student
can run (the self-check), they show the expected values, and they are not scored. The hidden
build draws its inputs from a fresh seed per grade: its cases are scored, and say how a value
differs (relative error, shape, where) without showing the reference, so outputs recorded
from an earlier grade are worth nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..sandbox import harness
from ..sandbox.parent import Outcome, Task

# Tolerances: relative errors are ||a - b|| / max(||a|| + ||b||, NORM_FLOOR), in float64; the
# floor makes gradients that are truly zero (a bias before batchnorm) compare absolutely.
NORM_FLOOR = 1e-3
VALUE_RTOL = 1e-6  # a forward value, loss or update against the reference
GRAD_RTOL = 1e-6  # an analytic gradient against the numeric one (centred differences)
GRAD_STEP = 1e-5  # h of the centred differences
QUICK_SECONDS = 20.0  # default CPU-time limit of a task; grade_submission uses [grading] check_seconds
GRADER_SEED = 231  # every public input the grader makes derives from this and the check name
HIDDEN_PREFIX = "hidden-"  # task suffixes of the hidden build
_BUILD = contextvars.ContextVar("coursekit_check_build", default=(GRADER_SEED, False))  # (seed, hidden?)
# The public build's references, while a cache is active: an object with .get(driver, spec, inputs, compute).
REFERENCE_CACHE = contextvars.ContextVar("coursekit_reference_cache", default=None)


@dataclass
class CaseResult:
    """One sub-case of a check, as the student will read it."""

    label: str
    passed: bool
    detail: str = ""
    rel_error: float | None = None
    review: str = ""  # set when a human should look at this result (e.g. implausible accuracy)
    public: bool = False  # a case of the public build: shown with expected values, not scored


@dataclass
class Check:
    """A graded item: where the student's code is, the child tasks, and the cases."""

    name: str
    title: str
    function: str  # e.g. "affine_backward" or "TwoLayerNet.loss"
    file: str  # e.g. "cs231n/layers.py"
    hint: str
    tasks: list[Task] = field(default_factory=list)
    cases: list[tuple[str, Callable[[dict[str, Outcome]], CaseResult]]] = field(default_factory=list)
    needs_data: bool = False
    places: tuple[tuple[str, str], ...] = ()  # more (function, file) the check runs, besides the first
    after: tuple[str, ...] = ()  # checks of code this one runs: when they fail, fix them first

    def add_task(self, suffix: str, driver: str, spec: dict, inputs: dict, seconds: float = QUICK_SECONDS) -> str:
        task_id = f"{self.name}.{HIDDEN_PREFIX if hidden_build() else ''}{suffix}"
        self.tasks.append(Task(task_id, driver, spec, inputs, seconds))
        return task_id

    def add_case(self, label: str, judge: Callable[[dict[str, Outcome]], CaseResult]) -> None:
        if hidden_build():
            self.cases.append((label, judge))
            return

        def public(outcomes, judge=judge):
            result = judge(outcomes)
            if result is not None:  # (a shape case not counted yet)
                result.public = True
            return result

        public.__wrapped__ = judge  # the judge itself, for readers of its parameters
        self.cases.append((label, public))

    def merge(self, hidden: "Check") -> None:
        """Add the tasks and cases of the same check's hidden build."""
        self.tasks += hidden.tasks
        self.cases += hidden.cases

    def add_shape_case(self, items: list[tuple[str, str, tuple]]) -> None:
        """One case for the exact shapes of (task id, output key, expected shape), counted only
        once the value cases added before it pass: it returns None (no case) otherwise, so a
        wrong value earns nothing for its shape and loses nothing more for it."""
        count, shapes = len(self.cases), shape_case(items)

        def judge(outcomes):  # the value cases as they are when judged (a check may still wrap one)
            if not all(value_judge(outcomes).passed for _, value_judge in self.cases[:count]):
                return None
            return shapes(outcomes)

        self.add_case(SHAPE_LABEL, judge)


def explain_once(tasks: list[Task], outcomes: dict[str, Outcome]) -> tuple[dict[str, Outcome], dict[str, str]]:
    """Errors that are the same in every task (a failed import, an older API; see
    ``harness.ExplainedOnce``) cut to one line each, and their full texts by the id of the
    first task they hit: the caller shows each full text once, with that task's check."""
    full: dict[str, str] = {}  # task id -> full text
    seen: dict[str, str] = {}  # key -> check that shows it
    result = dict(outcomes)
    for task in tasks:
        outcome = outcomes.get(task.id)
        if outcome is None or outcome.ok or not outcome.error.startswith(harness.ONCE_MARK):
            continue
        head, _, text = outcome.error.partition("\n")
        key, _, line = head[len(harness.ONCE_MARK):].partition("]\t")
        check = task.id.split(".")[0]
        if key not in seen:
            seen[key], full[task.id] = check, text
        where = "below" if seen[key] == check else f"under the check '{seen[key]}'"
        result[task.id] = Outcome(False, error=f"{line} (the error is shown once, {where})")
    return result, full


@contextlib.contextmanager
def building(seed: int, hidden: bool):
    """Build checks whose inputs derive from ``seed``; ``hidden`` cases show no reference values."""
    token = _BUILD.set((int(seed), bool(hidden)))
    try:
        yield
    finally:
        _BUILD.reset(token)


def hidden_build() -> bool:
    return _BUILD.get()[1]


def rng_for(name: str, public: bool = False) -> np.random.Generator:
    """The grader's own random numbers for one check: from GRADER_SEED (public, stable from run
    to run) or, in a hidden build, from that grade's seed.  ``public=True`` always gives the
    public numbers: for behaviour checks whose inputs were chosen by hand (a toy problem that
    must converge) and whose judgement reveals no reference value."""
    return np.random.default_rng([GRADER_SEED if public else _BUILD.get()[0], zlib.crc32(name.encode())])


MAX_DRAWS = 100  # draws of a case's inputs before revealing_inputs gives up (never reached: see its callers)


def revealing_inputs(draw: Callable[[int], dict], revealing: Callable[[dict], bool], what: str) -> dict:
    """The first of ``draw(0)``, ``draw(1)``, ... that is ``revealing``: a hidden case's fresh
    inputs must be able to show the mistakes its check is for (live ReLUs, scores of both signs),
    or a wrong submission passes on some seeds and its grade depends on luck.  ``draw(0)`` is
    the case's plain draw, so public inputs that already reveal stay as they were."""
    for attempt in range(MAX_DRAWS):
        inputs = draw(attempt)
        if revealing(inputs):
            return inputs
    raise AssertionError(f"no inputs with {what} in {MAX_DRAWS} draws")


def reference(driver: str, spec: dict, inputs: dict) -> dict[str, np.ndarray]:
    """Run a harness driver on the solution, in the parent (``cs231n`` is the solution here).

    In the public build, while a cache is active (:data:`REFERENCE_CACHE`, set by
    ``coursekit/grade/checks/reference_cache.py``), each reference is computed once (its arrays
    are then read-only)."""
    cache = REFERENCE_CACHE.get()
    if cache is not None and not hidden_build():
        return cache.get(driver, spec, inputs, lambda: _compute_reference(driver, spec, inputs))
    return _compute_reference(driver, spec, inputs)


def _compute_reference(driver: str, spec: dict, inputs: dict) -> dict[str, np.ndarray]:
    outputs = harness.DRIVERS[driver](spec, {k: np.array(v) for k, v in inputs.items()})
    return {key: np.asarray(value, dtype=np.float64) for key, value in outputs.items()}


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a) + np.linalg.norm(b), NORM_FLOOR)
    return float(np.linalg.norm(a - b) / scale)


def preview(array: np.ndarray, count: int = 4) -> str:
    flat = np.asarray(array).ravel()
    head = ", ".join(f"{x:.6g}" for x in flat[:count])
    return f"[{head}{', ...' if flat.size > count else ''}] (shape {tuple(np.shape(array))})"


def where_differs(expected: np.ndarray, got: np.ndarray) -> str:
    """Where two arrays of one shape differ most, without their values: for hidden cases."""
    if np.ndim(expected) == 0:
        return "the value differs"
    diff = np.abs(np.asarray(got, dtype=np.float64) - expected)
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    wrong = int(np.sum(diff > VALUE_RTOL * (np.abs(expected) + NORM_FLOOR)))
    return f"{wrong} of {diff.size} entries differ, most at index {index}"


def where_not_finite(value: np.ndarray) -> str:
    """How many entries of an array are NaN or infinite and where the first is, without any value."""
    bad = ~np.isfinite(value)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{int(bad.sum())} of {bad.size} entries, the first at index {first}"


def fetch(outcomes: dict[str, Outcome], task_id: str, key: str, shape: tuple | None,
          hidden: bool = False) -> np.ndarray | str:
    """The output ``key`` of a task as float64, or a message saying why it is unusable.

    ``hidden``: the message shows no value (a partly right output on hidden inputs holds
    reference values)."""
    outcome = outcomes.get(task_id)
    if outcome is None:
        return "this check did not run"
    if not outcome.ok:
        return outcome.error
    if key not in outcome.outputs:
        return f"no value came back for {key}"
    value = outcome.outputs[key]
    if shape is not None and value.shape != tuple(shape):
        if not squeezable(value.shape, shape):
            return f"{key} has shape {value.shape}, expected {tuple(shape)}"
        value = value.reshape(shape)  # right up to axes of length 1: the shape case judges those
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        if hidden and value.ndim == 0:
            return f"{key} is NaN or infinite"
        shown = where_not_finite(value) if hidden else preview(value)
        return f"{key} contains NaN or infinite values: {shown}"
    return value


def squeezable(got: tuple, expected: tuple) -> bool:
    """``got`` differs from ``expected`` only by axes of length 1 (e.g. keepdims=True)."""
    return tuple(d for d in got if d != 1) == tuple(d for d in expected if d != 1)


SHAPE_LABEL = "shapes of the returned arrays"
SINGLETON_NOTE = "the same values with extra axes of length 1"


def shape_case(items: list[tuple[str, str, tuple]]):
    """A judge: each (task id, output key, expected shape) came back with exactly that shape.

    Values are judged up to axes of length 1 by the other cases; this one case costs a
    returned ``(1, M)`` for ``(M,)`` a small part of the check, never the whole of it."""

    def judge(outcomes):
        wrong = []
        for task_id, key, shape in items:
            outcome = outcomes.get(task_id)
            if outcome is None or not outcome.ok or key not in outcome.outputs:
                return CaseResult(SHAPE_LABEL, False, "the values did not come back (see the other cases)")
            got = outcome.outputs[key].shape
            if got != tuple(shape):
                note = f" ({SINGLETON_NOTE})" if squeezable(got, shape) else ""
                wrong.append(f"{key} has shape {got}, expected {tuple(shape)}{note}")
        return CaseResult(SHAPE_LABEL, not wrong, "; ".join(wrong))

    return judge


def compare_case(label: str, task_id: str, key: str, expected: np.ndarray, rtol: float = VALUE_RTOL):
    """A judge: the output ``key`` must match ``expected`` within ``rtol``."""

    hidden = hidden_build()

    def judge(outcomes):
        got = fetch(outcomes, task_id, key, expected.shape, hidden)
        if isinstance(got, str):
            return CaseResult(label, False, got)
        error = rel_error(got, expected)
        if error <= rtol:
            return CaseResult(label, True, rel_error=error)
        shown = where_differs(expected, got) if hidden else f"expected {preview(expected)}, got {preview(got)}"
        return CaseResult(label, False, f"{shown}; relative error {error:.2e} > {rtol:.0e}", error)

    return judge


def numeric_gradient(grid: np.ndarray, dout: np.ndarray | None, h: float, shape: tuple) -> np.ndarray:
    """Centred differences from the forward values at x + h e_i and x - h e_i (grid[i, 0/1])."""
    diff = grid[:, 0] - grid[:, 1]  # (n, *out_shape)
    if dout is not None:
        diff = (diff * dout).reshape(diff.shape[0], -1).sum(axis=1)
    return (diff.reshape(-1) / (2 * h)).reshape(shape)


def gradient_case(label: str, grad_task: str, grad_key: str, grid_task: str, wrt: str,
                  shape: tuple, dout: np.ndarray | None, expected: np.ndarray | None,
                  forward_name: str):
    """A judge: the student's gradient must match the numeric gradient of the student's
    forward pass, and (when ``expected`` is given) the reference gradient.  A hidden case
    shows neither the numeric gradient nor the reference: they are the right answer."""
    hidden = hidden_build()

    def judge(outcomes):
        analytic = fetch(outcomes, grad_task, grad_key, shape, hidden)
        if isinstance(analytic, str):
            return CaseResult(label, False, analytic)
        if expected is not None and rel_error(analytic, expected) <= GRAD_RTOL:
            # the right gradient: a slip in the forward pass costs the forward's check only
            return CaseResult(label, True, rel_error=rel_error(analytic, expected))
        grid = fetch(outcomes, grid_task, "grid_" + wrt, None, hidden)
        if isinstance(grid, str):
            return CaseResult(label, False, f"the forward pass ({forward_name}) failed: {grid}")
        if grid.shape[:2] != (int(np.prod(shape)), 2) or (dout is not None and grid.shape[2:] != dout.shape):
            return CaseResult(label, False, f"{forward_name} returned an output of the wrong shape "
                              f"{grid.shape[2:]}")
        numeric = numeric_gradient(grid, dout, GRAD_STEP, shape)
        error = rel_error(analytic, numeric)
        if error > GRAD_RTOL:
            shown = (f"it differs from the numeric gradient of your forward pass: {where_differs(numeric, analytic)}"
                     if hidden else f"analytic {preview(analytic)} differs from numeric {preview(numeric)}")
            return CaseResult(label, False, f"{shown}; relative error {error:.2e} > {GRAD_RTOL:.0e}", error)
        if expected is not None:
            ref_error = rel_error(analytic, expected)
            if ref_error > GRAD_RTOL:
                shown = (where_differs(expected, analytic) if hidden else
                         f"expected {preview(expected)}, got {preview(analytic)}")
                return CaseResult(label, False, f"the gradient matches your own forward pass, but that "
                                  f"forward pass is wrong ({forward_name}): {shown}; relative error "
                                  f"{ref_error:.2e}", ref_error)
        return CaseResult(label, True, rel_error=error)

    return judge


def first_failure(*judges, public: bool | None = None):
    """A judge of several: the first failing one's result, else the last one's.  ``public``
    marks the result when the combined judge replaces a case already added."""

    def judge(outcomes) -> CaseResult:
        for part in judges:
            result = part(outcomes)
            if not result.passed:
                break
        if public is not None:
            result.public = public
        return result

    return judge


def custom_case(label: str, task_id: str, test: Callable[[dict[str, np.ndarray]], CaseResult]):
    """A judge for checks without a reference value (statistics, thresholds)."""

    def judge(outcomes):
        outcome = outcomes.get(task_id)
        if outcome is None or not outcome.ok:
            return CaseResult(label, False, outcome.error if outcome else "this check did not run")
        try:
            return test(outcome.outputs)
        except (KeyError, ValueError, TypeError, IndexError) as err:
            return CaseResult(label, False, f"the values that came back are unusable ({err})")

    return judge


def add_gradient_cases(check: Check, tag: str, spec: dict, inputs: dict, names, forward_name: str,
                       label: str = "") -> tuple[str, str]:
    """For a net's ``loss`` call ``spec`` (returning ``["loss", {"prefix": "grad_", ...}]``): the
    analytic task, the numeric grid task over ``param_<name>`` of ``inputs``, and one
    :func:`gradient_case` per parameter against the solution's gradient; (grad task, grid task)."""
    grad_task = check.add_task(f"{tag}analytic", "call", spec, inputs)
    grid_task = check.add_task(f"{tag}numeric", "grid",
                               {**spec, "pick": 0, "h": GRAD_STEP, "wrt": [f"param_{k}" for k in names]}, inputs)
    expected = reference("call", spec, inputs)
    for name in names:
        case = f"d{name}{label}"
        check.add_case(case, gradient_case(case, grad_task, f"grad_{name}", grid_task, f"param_{name}",
                                           inputs[f"param_{name}"].shape, None, expected[f"grad_{name}"],
                                           forward_name))
    return grad_task, grid_task
