"""Time to threshold: training seconds until the reference solution reaches an accuracy on CIFAR-10.

The accuracy is checked every ``CHECK_EVERY`` steps with the clock stopped, so the figure is
training time only, to within ``CHECK_EVERY`` steps.  Learning-rate decay per epoch is applied
as the Solver (and TwoLayerNet.train) do.
"""
from __future__ import annotations

import time

import numpy as np

from .common import ROOT, Mode, Row, skipped, use_source
from .nets import NetSpec, numpy_trainer

SECTION = "threshold"
CHECK_EVERY = 25  # steps between two accuracy checks: 5,000 images at batch 200
DEEP_TARGET = ("val", 0.50)
TWO_LAYER_TARGET = ("test", 0.36)
DEEP_SECONDS_TARGET = "<= 15 s"

# Chosen for speed to 0.50 validation accuracy, not for final accuracy (which is what the
# course's configs are for): a narrow net costs few FLOPs per image, and batchnorm with a high
# adam step gets there in about 2 epochs.  Training seconds to 0.50 measured on 2 loaded cores
# with 1 BLAS thread, one run each: this one 9.8 s; [100, 100, 100] (the grade_train net)
# 8.9-10.9 s; [128, 128] 14.6 s (batch 200) and 9.8 s (lr decay 0.7, weight_scale 1e-2,
# batch 256) but 15.5 s in a second run; [200, 200] 10.4-19.7 s; [256, 256] lr 2e-3, [100] x 5
# lr 2e-3 and [512] lr 1e-3 did not get there in 40 s.  Expect +-30% from run to run.
FAST_DEEP = NetSpec("deep (tuned for time to 0.50)", (100, 100), normalization="batchnorm",
                    learning_rate=3e-3, weight_scale=5e-2, batch_size=200)
FAST_DEEP_LR_DECAY = 0.8


def load_cifar10():
    """The course's 49,000 / 1,000 / 1,000 split in float32, or None with the reason."""
    from coursekit.config import load_config
    from coursekit.data.dataset import cifar10_problem

    course = load_config(ROOT / "course.toml")
    problem = cifar10_problem(course.data.cifar10_dir)
    if problem:
        return None, problem
    use_source()
    from cs231n.data_utils import get_CIFAR10_data

    return get_CIFAR10_data(cifar10_dir=str(course.data.cifar10_dir), dtype=np.float32), None


def course_configs():
    """The deep and two-layer configs of course.toml as (label, NetSpec, lr_decay) triples."""
    from coursekit.config import load_config

    course = load_config(ROOT / "course.toml")
    deep, two = [], []
    for table in ("train", "grade_train"):
        t = getattr(course.assignment("fc_net"), table)
        deep.append((f"fc_net [{table}] {list(t['hidden_dims'])}", NetSpec(
            f"fc_net {table}", tuple(t["hidden_dims"]), normalization=t.get("normalization"),
            dropout_keep_ratio=t.get("dropout_keep_ratio", 1.0), reg=t.get("reg", 0.0),
            update_rule=t.get("update_rule", "adam"), learning_rate=t["learning_rate"],
            weight_scale=t.get("weight_scale", 5e-2), batch_size=t.get("batch_size", 200)),
            t.get("lr_decay", 1.0)))
        t = getattr(course.assignment("two_layer_net"), table)
        two.append((f"two_layer_net [{table}] hidden {t['hidden_size']}", NetSpec(
            f"two_layer {table}", (t["hidden_size"],), reg=t["reg"], update_rule="sgd",
            learning_rate=t["learning_rate"], batch_size=t["batch_size"]),
            t.get("learning_rate_decay", 1.0)))
    return deep, two


def seconds_to(spec: NetSpec, lr_decay: float, data: dict, target: tuple[str, float],
               budget: float, seed: int = 0) -> dict:
    """Train until the accuracy on ``target``'s split reaches its value, or ``budget`` seconds pass."""
    split, value = target
    X, y = data["X_train"], data["y_train"]
    steps = numpy_trainer(spec, X, y, seed=seed)
    X_check, y_check = data[f"X_{split}"], data[f"y_{split}"]
    per_epoch = max(X.shape[0] // spec.batch_size, 1)
    clock, done, best = 0.0, 0, 0.0
    while clock < budget:
        start = time.perf_counter()
        steps(CHECK_EVERY)
        clock += time.perf_counter() - start
        done += CHECK_EVERY
        if done // per_epoch > (done - CHECK_EVERY) // per_epoch:  # an epoch ended
            _decay(steps, lr_decay)
        best = max(best, accuracy(steps.model, X_check, y_check))
        if best >= value:
            return {"seconds": clock, "steps": done, "epochs": done / per_epoch, "accuracy": best}
    return {"seconds": None, "steps": done, "epochs": done / per_epoch, "accuracy": best}


def _decay(steps, lr_decay: float) -> None:
    solver = getattr(steps, "solver", None)
    if solver is not None:
        for config in solver.optim_configs.values():
            config["learning_rate"] *= lr_decay
    else:
        steps.decay(lr_decay)


def accuracy(model, X: np.ndarray, y: np.ndarray) -> float:
    if hasattr(model, "predict"):
        return float(np.mean(model.predict(X.reshape(X.shape[0], -1)) == y))
    return float(np.mean(np.argmax(model.loss(X), axis=1) == y))


def run(mode: Mode) -> list[Row]:
    deep, two = course_configs()
    cases = [(f"{FAST_DEEP.name} {list(FAST_DEEP.hidden_dims)}", FAST_DEEP, FAST_DEEP_LR_DECAY,
              DEEP_TARGET, DEEP_SECONDS_TARGET)]
    cases += [(label, spec, decay, DEEP_TARGET, "") for label, spec, decay in deep]
    cases += [(label, spec, decay, TWO_LAYER_TARGET, "") for label, spec, decay in two]
    data, problem = (None, "tiny mode") if mode.tiny else load_cifar10()
    rows = []
    for label, spec, decay, target, seconds_target in cases:
        name = f"{label} to {target[0]} {target[1]:.2f}"
        if data is None:
            rows.append(skipped(SECTION, name, "s", problem, seconds_target))
            continue
        result = seconds_to(spec, decay, data, target, mode.time_budget)
        detail = (f"{result['steps']} steps = {result['epochs']:.2f} epochs, batch {spec.batch_size}, "
                  f"{spec.update_rule} lr {spec.learning_rate:g} decay {decay:g}")
        note = "" if result["seconds"] is not None else \
            f"not reached in {mode.time_budget:.0f} s of training (best {result['accuracy']:.3f})"
        rows.append(Row(SECTION, name, result["seconds"], "s", detail=detail, target=seconds_target,
                        note=note, data={**result, "target": list(target)}))
    return rows
