"""Training throughput of the solution code, side by side with the same nets in PyTorch.

For each net and dtype, numpy and torch take turns (``mode.rounds`` times) on the same
synthetic training set, so that both see the same load from other jobs on the machine.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .common import EPOCH_IMAGES, Mode, Row, blas_threads, skipped
from .nets import NETS, numpy_trainer, torch_available, torch_trainer

SECTION = "train"
DTYPES = (np.float32, np.float64)
RATIO_TARGET = "<= 1.2"  # numpy time / torch time, for the deep nets
CEILING_TARGET = ">= 50% of ceiling"  # achieved GFLOP/s of a float32 epoch
WARMUP_STEPS = 2
TINY_BATCH = 8


def synthetic_data(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normal noise shaped like CIFAR-10: the speed of a step does not depend on the pixels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((images, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, size=images)
    return X, y


def run(mode: Mode, ceilings: dict[str, float]) -> list[Row]:
    X32, y = synthetic_data(mode.train_images)
    rows = []
    have_torch = torch_available()
    for dtype in DTYPES:
        X = X32 if dtype is np.float32 else X32.astype(dtype)
        for spec in NETS.values():
            if mode.tiny:  # the same rows in seconds: a smaller batch
                spec = replace(spec, batch_size=TINY_BATCH)
            rows += _one_net(spec, X, y, mode, ceilings.get(np.dtype(dtype).name), have_torch)
        del X
    return rows


def _one_net(spec, X, y, mode: Mode, ceiling: float | None, have_torch: bool) -> list[Row]:
    kind = np.dtype(X.dtype).name
    steps_per_epoch = EPOCH_IMAGES // spec.batch_size
    timed_steps = max(round(steps_per_epoch * mode.epoch_fraction), mode.rounds)
    per_round = max(timed_steps // mode.rounds, 1)
    trainers = {"numpy": numpy_trainer(spec, X, y)}
    if have_torch:
        trainers["torch"] = torch_trainer(spec, X, y, blas_threads())
    seconds = dict.fromkeys(trainers, 0.0)
    for steps in trainers.values():
        steps(WARMUP_STEPS)
    for _ in range(mode.rounds):
        for name, steps in trainers.items():
            start = time.perf_counter()
            steps(per_round)
            seconds[name] += time.perf_counter() - start
    done = per_round * mode.rounds
    how = "one epoch" if done >= steps_per_epoch else f"{done} steps, extrapolated to {steps_per_epoch}"
    rows = []
    for name in ("numpy", "torch"):
        label = f"{spec.name} {kind} {name}"
        if name not in seconds:
            rows.append(skipped(SECTION, label, "s/epoch",
                                "torch is not installed (pip install -e '.[bench]')"))
            continue
        per_step = seconds[name] / done
        gflops = spec.step_flops() / per_step / 1e9
        data = {"net": spec.name, "dtype": kind, "framework": name, "steps_timed": done,
                "images_per_s": spec.batch_size / per_step, "gflops": gflops}
        detail = f"{data['images_per_s']:,.0f} img/s, {gflops:.1f} GFLOP/s"
        target = ""
        if ceiling:
            data["fraction_of_ceiling"] = gflops / ceiling
            detail += f" ({100 * gflops / ceiling:.0f}% of ceiling)"
            target = CEILING_TARGET if name == "numpy" and kind == "float32" else ""
        rows.append(Row(SECTION, label, per_step * steps_per_epoch, "s/epoch", detail=detail,
                        target=target, note=how, data=data))
    if "torch" in seconds:
        ratio = seconds["numpy"] / seconds["torch"]
        target = RATIO_TARGET if spec.name != "two_layer" and kind == "float32" else ""
        rows.append(Row(SECTION, f"{spec.name} {kind} numpy/torch", ratio, "time ratio", target=target,
                        note=f"same run, {mode.rounds} alternating rounds",
                        data={"net": spec.name, "dtype": kind}))
    else:
        rows.append(skipped(SECTION, f"{spec.name} {kind} numpy/torch", "time ratio",
                            "torch is not installed (pip install -e '.[bench]')"))
    return rows
