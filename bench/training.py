"""Training throughput of the solution code, side by side with the same nets in PyTorch.

For each net and dtype, numpy, PyTorch and (with ``--baseline REV``) the numpy code of another
revision take turns (``mode.rounds`` times) on the same synthetic training set, so that all
see the same load from other jobs on the machine.  Each round also records the process's CPU
time and its minor page faults: on a busy machine the CPU-time ratio is the steadier one, and
page faults are what a fresh temporary array as big as a weight matrix costs.
"""
from __future__ import annotations

import resource
import time
from dataclasses import replace

import numpy as np

from .common import EPOCH_IMAGES, Mode, Row, blas_threads, skipped
from .nets import NETS, numpy_trainer, torch_available, torch_trainer

SECTION = "train"
DTYPES = (np.float32, np.float64)
RATIO_TARGETS = {"float32": "<= 1.0", "float64": "<= 1.1"}  # numpy time / torch time (issue 20)
CEILING_TARGETS = {"two_layer": ">= 50% of ceiling", "deep_bn": ">= 50% of ceiling",
                   "wide_dropout": ">= 75% of ceiling"}  # achieved GFLOP/s of a float32 epoch
WARMUP_STEPS = 2
TINY_BATCH = 8
NO_TORCH = "torch is not installed (pip install -c constraints.txt -e '.[bench]')"
SAME_WORK = "torch, penalty in its loss"  # the solution's work: its loss includes the L2 penalty


def synthetic_data(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normal noise shaped like CIFAR-10: the speed of a step does not depend on the pixels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((images, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, size=images)
    return X, y


def run(mode: Mode, ceilings: dict[str, float], baseline: tuple[str, str] | None = None) -> list[Row]:
    """``baseline``: (label, package) of bench/baseline.py's import, or None."""
    X32, y = synthetic_data(mode.train_images)
    rows = []
    have_torch = torch_available()
    for dtype in DTYPES:
        X = X32 if dtype is np.float32 else X32.astype(dtype)
        for spec in NETS.values():
            if mode.tiny:  # the same rows in seconds: a smaller batch
                spec = replace(spec, batch_size=TINY_BATCH)
            rows += _one_net(spec, X, y, mode, ceilings.get(np.dtype(dtype).name), have_torch, baseline)
        del X
    return rows


def _timed_rounds(trainers: dict, rounds: int, per_round: int) -> dict[str, dict[str, float]]:
    """Wall seconds, CPU seconds and minor page faults of each trainer, summed over the rounds."""
    totals = {name: {"wall": 0.0, "cpu": 0.0, "faults": 0} for name in trainers}
    for steps in trainers.values():
        steps(WARMUP_STEPS)
    for _ in range(rounds):
        for name, steps in trainers.items():
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            cpu, wall = time.process_time(), time.perf_counter()
            steps(per_round)
            totals[name]["wall"] += time.perf_counter() - wall
            totals[name]["cpu"] += time.process_time() - cpu
            totals[name]["faults"] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return totals


def _one_net(spec, X, y, mode: Mode, ceiling: float | None, have_torch: bool, baseline) -> list[Row]:
    kind = np.dtype(X.dtype).name
    steps_per_epoch = EPOCH_IMAGES // spec.batch_size
    timed_steps = max(round(steps_per_epoch * mode.epoch_fraction), mode.rounds)
    per_round = max(timed_steps // mode.rounds, 1)
    trainers = {"numpy": numpy_trainer(spec, X, y)}
    if baseline:
        trainers["numpy baseline"] = numpy_trainer(spec, X, y, package=baseline[1])
    if have_torch:
        trainers["torch"] = torch_trainer(spec, X, y, blas_threads())
        if spec.reg:  # the penalty computed, as the solution's loss must: the same work
            trainers[SAME_WORK] = torch_trainer(spec, X, y, blas_threads(), penalty_in_loss=True)
    totals = _timed_rounds(trainers, mode.rounds, per_round)
    done = per_round * mode.rounds
    how = "one epoch" if done >= steps_per_epoch else f"{done} steps, extrapolated to {steps_per_epoch}"
    rows = []
    for name in ("numpy", "numpy baseline", "torch", SAME_WORK):
        label = f"{spec.name} {kind} {name}"
        if (name == "numpy baseline" and not baseline) or (name == SAME_WORK and not spec.reg):
            continue
        if name not in totals:
            rows.append(skipped(SECTION, label, "s/epoch", NO_TORCH))
            continue
        rows.append(_speed_row(spec, kind, name, label, totals[name], done, steps_per_epoch, ceiling, how,
                               baseline[0] if name == "numpy baseline" else None))
    for name, over, target in (("numpy/torch", "torch", RATIO_TARGETS[kind]),
                               (f"numpy/{SAME_WORK}", SAME_WORK, ""),
                               ("numpy/baseline", "numpy baseline", "")):
        label = f"{spec.name} {kind} {name}"
        if over not in totals:
            if over == "torch" or (over == SAME_WORK and spec.reg):
                rows.append(skipped(SECTION, label, "time ratio", NO_TORCH))
            continue
        ratio = totals["numpy"]["wall"] / totals[over]["wall"]
        cpu_ratio = totals["numpy"]["cpu"] / totals[over]["cpu"]
        rows.append(Row(SECTION, label, ratio, "time ratio", detail=f"CPU-time ratio {cpu_ratio:.3f}",
                        target=target, note=f"same run, {mode.rounds} alternating rounds",
                        data={"net": spec.name, "dtype": kind, "cpu_ratio": cpu_ratio}))
    return rows


def _speed_row(spec, kind, name, label, total, done, steps_per_epoch, ceiling, how, revision) -> Row:
    per_step = total["wall"] / done
    gflops = spec.step_flops() / per_step / 1e9
    faults = total["faults"] / done
    data = {"net": spec.name, "dtype": kind, "framework": name, "steps_timed": done,
            "images_per_s": spec.batch_size / per_step, "gflops": gflops,
            "gflops_needed": spec.needed_flops() / per_step / 1e9,
            "cpu_seconds_per_step": total["cpu"] / done, "page_faults_per_step": faults}
    detail = f"{data['images_per_s']:,.0f} img/s, {gflops:.1f} GFLOP/s"
    target = ""
    if ceiling:
        data["fraction_of_ceiling"] = gflops / ceiling
        detail += f" ({100 * gflops / ceiling:.0f}% of ceiling)"
        target = CEILING_TARGETS[spec.name] if name == "numpy" and kind == "float32" else ""
    detail += f"; {faults:,.0f} page faults/step"
    if revision:
        data["revision"] = revision
        label += f" ({revision})"
    return Row(SECTION, label, per_step * steps_per_epoch, "s/epoch", detail=detail, target=target,
               note=how, data=data)
