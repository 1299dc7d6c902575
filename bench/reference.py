"""The reference trainings: ``coursekit train`` of each assignment, with the [train] tables of course.toml.

These are the figures the README quotes as "Reference figures": the accuracy the annotated
solution reaches with the course's reference hyperparameters (two-layer net: 4,000
iterations; deep net: [1024, 512] for 20 epochs), how long that takes, and how soon the
deep net's validation accuracy first reaches the grader's threshold. They take minutes, so
the unit suite does not re-measure them (tests/coursekit/test_train.py trains the grader's
short configurations instead).

Tiny mode trains the same code a few steps on synthetic data: it proves the rows, not the
figures (its accuracies are chance level).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from .common import ROOT, Mode, Row, skipped

SECTION = "reference"
ASSIGNMENTS = ("two_layer_net", "fc_net")
# (assignment, split, threshold key of course.toml): the accuracy the reference must reach.
ACCURACY = {"two_layer_net": ("test", "reference_test_accuracy"),
            "fc_net": ("val", "reference_val_accuracy")}
SECONDS_TO = ("fc_net", "val_accuracy")  # time to the grader's validation threshold
SECONDS_TO_TARGET = "<= 300 s"  # "within a few minutes on 2 cores" (the claim the unit suite used to assert)
TINY_IMAGES = {"train": 400, "val": 100, "test": 100}
TINY_OVERRIDES = {"two_layer_net": {"num_iters": 4, "batch_size": 50},
                  "fc_net": {"num_epochs": 1, "batch_size": 100}}
QUICK_REASON = "quick mode: the reference trainings take minutes (run `python -m bench --only reference`)"


def row_names(course) -> list[tuple[str, str, str]]:
    """(name, unit, target) of every row, in order, so that skipped rows are named too."""
    names = []
    for assignment in ASSIGNMENTS:
        split, key = ACCURACY[assignment]
        target = f">= {course.assignment(assignment).thresholds[key]:.2f}"
        names.append((f"{assignment} reference {split} accuracy", "accuracy", target))
        names.append((f"{assignment} reference training wall time", "s", ""))
    who, key = SECONDS_TO
    value = course.assignment(who).thresholds[key]
    names.append((f"{who} reference time to val {value:.2f}", "s", SECONDS_TO_TARGET))
    return names


def synthetic_split(seed: int = 0) -> dict[str, np.ndarray]:
    """Noise shaped like the course's split (channels first, float32): for the tiny mode only."""
    rng = np.random.default_rng(seed)
    data = {}
    for split, images in TINY_IMAGES.items():
        data[f"X_{split}"] = rng.standard_normal((images, 3, 32, 32), dtype=np.float32)
        data[f"y_{split}"] = rng.integers(0, 10, size=images)
    return data


def run(mode: Mode) -> list[Row]:
    from coursekit.config import load_config
    from coursekit.data.dataset import cifar10_problem

    course = load_config(ROOT / "course.toml")
    names = row_names(course)
    if mode.name == "quick":
        return [skipped(SECTION, name, unit, QUICK_REASON, target) for name, unit, target in names]
    if mode.tiny:
        data, how = synthetic_split(), "tiny: a few steps on synthetic data, not the reference figures"
    else:
        problem = cifar10_problem(course.data.cifar10_dir)
        if problem:
            return [skipped(SECTION, name, unit, problem, target) for name, unit, target in names]
        from coursekit.train import load_data

        data, how = load_data(course), "CIFAR-10, course.toml [train]"
    results = {assignment: _train(course, assignment, data, mode) for assignment in ASSIGNMENTS}
    return _rows(course, names, results, how)


def _train(course, assignment: str, data, mode: Mode) -> dict:
    from coursekit.train import train_reference

    overrides = TINY_OVERRIDES[assignment] if mode.tiny else None
    load_before = _load()
    start = time.perf_counter()
    result = train_reference(course, assignment, None, progress=sys.stderr.isatty() and not mode.tiny,
                             data=data, overrides=overrides)
    return {"result": result, "wall_seconds": time.perf_counter() - start,
            "load_average": [load_before, _load()]}


def _rows(course, names, results: dict, how: str) -> list[Row]:
    rows = []
    named = iter(names)
    for assignment in ASSIGNMENTS:
        run = results[assignment]
        result = run["result"]
        split, _ = ACCURACY[assignment]
        other = "val" if split == "test" else "test"
        data = {"assignment": assignment, "val_accuracy": result.val_accuracy,
                "test_accuracy": result.test_accuracy, "train_seconds": result.train_seconds,
                "wall_seconds": run["wall_seconds"], "load_average": run["load_average"],
                "hyperparameters": {**course.assignment(assignment).train, **result.hyperparameters}}
        name, unit, target = next(named)
        rows.append(Row(SECTION, name, getattr(result, f"{split}_accuracy"), unit,
                        detail=f"{other} {getattr(result, f'{other}_accuracy'):.3f}", target=target,
                        note=how, data=data))
        name, unit, target = next(named)
        load = "load average " + " -> ".join("?" if x is None else f"{x:.1f}" for x in run["load_average"])
        rows.append(Row(SECTION, name, result.train_seconds, unit,
                        detail=f"{run['wall_seconds']:.1f} s with evaluation; {load}", target=target,
                        note=how, data=data))
    who, key = SECONDS_TO
    result = results[who]["result"]
    name, unit, target = next(named)
    seconds = result.seconds_to.get(key)
    note = how if seconds is not None else f"{how}; not reached (val {result.val_accuracy:.3f})"
    thresholds = course.assignment(who).thresholds
    others = [f"val {thresholds[k]:.2f} after {v:.0f} s" for k, v in result.seconds_to.items()
              if k != key and v is not None]
    rows.append(Row(SECTION, name, seconds, unit, detail="; ".join(["first epoch-end check at or above it", *others]),
                    target=target, note=note, data={"seconds_to": dict(result.seconds_to)}))
    return rows


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
