"""What a check is, and the parent-side judges that score it.

A :class:`Check` is one graded item of ``[assignments.<id>.points]``.  It owns the child
tasks that call the student's code on the grader's inputs, and a list of cases, each a
judge that reads the tasks' outcomes in the parent and says passed or failed with an
explanation.  The check earns ``points * passed cases / cases``.

References are computed here, in the parent, by running the same harness driver on the
annotated solution (``source/``), which the child never sees.
"""
from __future__ import annotations

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
QUICK_SECONDS = 20.0  # default wall-clock limit of a task; grade_submission uses [grading] check_seconds
GRADER_SEED = 231  # every input the grader makes derives from this and the check name


@dataclass
class CaseResult:
    """One sub-case of a check, as the student will read it."""

    label: str
    passed: bool
    detail: str = ""
    rel_error: float | None = None
    review: str = ""  # set when a human should look at this result (e.g. implausible accuracy)


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

    def add_task(self, suffix: str, driver: str, spec: dict, inputs: dict, seconds: float = QUICK_SECONDS) -> str:
        task_id = f"{self.name}.{suffix}"
        self.tasks.append(Task(task_id, driver, spec, inputs, seconds))
        return task_id

    def add_case(self, label: str, judge: Callable[[dict[str, Outcome]], CaseResult]) -> None:
        self.cases.append((label, judge))


def rng_for(name: str) -> np.random.Generator:
    """The grader's own random numbers for one check, stable from run to run."""
    return np.random.default_rng([GRADER_SEED, zlib.crc32(name.encode())])


def reference(driver: str, spec: dict, inputs: dict) -> dict[str, np.ndarray]:
    """Run a harness driver on the solution, in the parent (``cs231n`` is the solution here)."""
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


def fetch(outcomes: dict[str, Outcome], task_id: str, key: str, shape: tuple | None) -> np.ndarray | str:
    """The output ``key`` of a task as float64, or a message saying why it is unusable."""
    outcome = outcomes.get(task_id)
    if outcome is None:
        return "this check did not run"
    if not outcome.ok:
        return outcome.error
    if key not in outcome.outputs:
        return f"no value came back for {key}"
    value = outcome.outputs[key]
    if shape is not None and value.shape != tuple(shape):
        return f"{key} has shape {value.shape}, expected {tuple(shape)}"
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        return f"{key} contains NaN or infinite values: {preview(value)}"
    return value


def compare_case(label: str, task_id: str, key: str, expected: np.ndarray, rtol: float = VALUE_RTOL):
    """A judge: the output ``key`` must match ``expected`` within ``rtol``."""

    def judge(outcomes):
        got = fetch(outcomes, task_id, key, expected.shape)
        if isinstance(got, str):
            return CaseResult(label, False, got)
        error = rel_error(got, expected)
        if error <= rtol:
            return CaseResult(label, True, rel_error=error)
        return CaseResult(label, False, f"expected {preview(expected)}, got {preview(got)}; "
                          f"relative error {error:.2e} > {rtol:.0e}", error)

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
    forward pass, and (when ``expected`` is given) the reference gradient."""

    def judge(outcomes):
        analytic = fetch(outcomes, grad_task, grad_key, shape)
        if isinstance(analytic, str):
            return CaseResult(label, False, analytic)
        grid = fetch(outcomes, grid_task, "grid_" + wrt, None)
        if isinstance(grid, str):
            return CaseResult(label, False, f"the forward pass ({forward_name}) failed: {grid}")
        if grid.shape[:2] != (int(np.prod(shape)), 2) or (dout is not None and grid.shape[2:] != dout.shape):
            return CaseResult(label, False, f"{forward_name} returned an output of the wrong shape "
                              f"{grid.shape[2:]}")
        numeric = numeric_gradient(grid, dout, GRAD_STEP, shape)
        error = rel_error(analytic, numeric)
        if error > GRAD_RTOL:
            return CaseResult(label, False, f"analytic {preview(analytic)} differs from numeric "
                              f"{preview(numeric)}; relative error {error:.2e} > {GRAD_RTOL:.0e}", error)
        if expected is not None:
            ref_error = rel_error(analytic, expected)
            if ref_error > GRAD_RTOL:
                return CaseResult(label, False, f"the gradient matches your own forward pass, but that "
                                  f"forward pass is wrong ({forward_name}): expected {preview(expected)}, "
                                  f"got {preview(analytic)}; relative error {ref_error:.2e}", ref_error)
        return CaseResult(label, True, rel_error=error)

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
