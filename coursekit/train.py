"""Training the reference solution on CIFAR-10 with the course's hyperparameters.

``coursekit train ASSIGNMENT`` calls :func:`train_reference`.  It trains the annotated
solution (not a student's code), shows a progress bar, and writes the loss and accuracy
curves as PNG plus a ``metrics.json`` with the accuracies and the wall time.
"""
from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .config import GRADER_RUN_KEYS, Course
from .data.dataset import check_cifar10_dir
from .errors import ConfigError
from .solution import solution_module


@dataclass
class TrainResult:
    """What one reference training run achieved."""

    assignment: str
    hyperparameters: dict[str, Any]
    train_seconds: float
    val_accuracy: float
    test_accuracy: float
    history: dict[str, list[float]] = field(repr=False)
    # Seconds from the start of training until validation accuracy first reached each
    # threshold (None: never reached). Measured at the points where accuracy is checked.
    seconds_to: dict[str, float | None] = field(default_factory=dict)
    model: Any = field(default=None, repr=False, compare=False)  # the trained net itself


def load_data(course: Course, dtype=np.float32) -> dict[str, np.ndarray]:
    """The 49,000 / 1,000 / 1,000 split, mean image subtracted, channels first."""
    check_cifar10_dir(course.data.cifar10_dir)
    data_utils = solution_module(course, "data_utils")
    return data_utils.get_CIFAR10_data(cifar10_dir=str(course.data.cifar10_dir), dtype=dtype)


def train_reference(course: Course, assignment_id: str, out_dir: Path | None = None, *,
                    progress: bool = True, seed: int = 0,
                    data: Mapping[str, np.ndarray] | None = None,
                    overrides: Mapping[str, Any] | None = None) -> TrainResult:
    """Train the solution of ``assignment_id`` (in its flow) with its ``[train]`` table from course.toml."""
    assignment = course.assignment(assignment_id)
    trainer = _TRAINERS.get((assignment_id, assignment.flow)) or _TRAINERS.get((assignment_id, ""))
    if trainer is None:
        raise ConfigError(f"Assignment '{assignment_id}' (flow {assignment.flow!r}) has no reference model "
                          f"to train; choose one of: {', '.join(sorted({a for a, _ in _TRAINERS}))}.")
    hyper = {key: value for key, value in {**assignment.train, **(overrides or {})}.items()
             if key not in GRADER_RUN_KEYS}  # (grade_train's stop rule: the grader's, not the training's)
    data = data if data is not None else load_data(course)
    np.random.seed(seed)
    result = trainer(course, data, hyper, progress, assignment.thresholds)
    if out_dir is not None:
        write_report(result, Path(out_dir))
    return result


def write_report(result: TrainResult, out_dir: Path) -> None:
    """``curves.png`` (loss; train/val accuracy) and ``metrics.json`` in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(result.history["loss_history"], linewidth=0.5)
    ax_loss.set(title="Training loss", xlabel="Iteration", ylabel="Loss")
    ax_acc.plot(result.history["train_acc_history"], label="train")
    ax_acc.plot(result.history["val_acc_history"], label="val")
    ax_acc.set(title="Classification accuracy", xlabel="Epoch", ylabel="Accuracy")
    ax_acc.legend()
    fig.suptitle(f"{result.assignment}: val {result.val_accuracy:.3f}, test {result.test_accuracy:.3f}")
    fig.tight_layout()
    fig.savefig(out_dir / "curves.png", dpi=100)
    plt.close(fig)
    metrics = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "model"}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")


def _call_with(func: Callable, hyper: Mapping[str, Any], fixed: Mapping[str, Any], where: str):
    """Call ``func`` with the hyperparameters it accepts; an unknown one is a ConfigError."""
    accepted = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        try:  # e.g. Solver(**kwargs), which refuses unknown keywords itself
            return func(**fixed, **hyper)
        except ValueError as err:
            raise ConfigError(f"course.toml: a key in '{where}' was refused: {err}.") from None
    unknown = [key for key in hyper if key not in accepted]
    if unknown:
        raise ConfigError(f"course.toml: unknown key '{where}.{unknown[0]}'. "
                          f"Accepted keys: {', '.join(k for k in accepted if k not in fixed)}.")
    return func(**fixed, **hyper)


class _Progress:
    """Wraps ``model.loss`` so that every training step (a call with labels) ticks a bar."""

    def __init__(self, model, total: int, enabled: bool, desc: str):
        from tqdm import tqdm

        # disable=None: no bar unless stderr is a terminal (a redirected log gets none)
        self.bar = tqdm(total=total, desc=desc, unit="step", disable=None if enabled else True, leave=False)
        self.loss = model.loss
        self.start = time.perf_counter()
        model.loss = self

    def __call__(self, X, y=None, **kwargs):
        out = self.loss(X, y, **kwargs)
        if y is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{out[0]:.3f}", refresh=False)
        return out

    def close(self, model) -> float:
        self.bar.close()
        model.loss = self.loss
        return time.perf_counter() - self.start


def _accuracy(predict: Callable, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(X) == y))


def _train_two_layer_net(course, data, hyper, progress, thresholds) -> TrainResult:
    neural_net = solution_module(course, "classifiers.neural_net")
    flat = {k: v.reshape(v.shape[0], -1) if k.startswith("X_") else v for k, v in data.items()}
    hyper = dict(hyper)
    net = neural_net.TwoLayerNet(flat["X_train"].shape[1], hyper.pop("hidden_size"), 10,
                                 std=hyper.pop("std", 1e-4))
    net.params = {k: v.astype(flat["X_train"].dtype) for k, v in net.params.items()}
    bar = _Progress(net, hyper.get("num_iters", 100), progress, "two_layer_net")
    history = _call_with(net.train, hyper, {
        "X": flat["X_train"], "y": flat["y_train"], "X_val": flat["X_val"], "y_val": flat["y_val"],
    }, "assignments.two_layer_net.train")
    seconds = bar.close(net)
    return TrainResult(
        assignment="two_layer_net", hyperparameters={**hyper}, train_seconds=seconds,
        val_accuracy=_accuracy(net.predict, flat["X_val"], flat["y_val"]),
        test_accuracy=_accuracy(net.predict, flat["X_test"], flat["y_test"]),
        history={k: [float(x) for x in v] for k, v in history.items()},
        model=net,
    )


def _train_fc_net(course, data, hyper, progress, thresholds) -> TrainResult:
    fc_net = solution_module(course, "classifiers.fc_net")
    model_keys = ("hidden_dims", "normalization", "dropout_keep_ratio", "weight_scale", "reg")
    return _train_with_solver(course, data, hyper, progress, thresholds, "fc_net", fc_net.FullyConnectedNet,
                              model_keys, {"seed": None})


def _train_modular_two_layer_net(course, data, hyper, progress, thresholds) -> TrainResult:
    fc_net = solution_module(course, "classifiers.fc_net")
    return _train_with_solver(course, data, hyper, progress, thresholds, "two_layer_net", fc_net.TwoLayerNet,
                              ("hidden_dim", "weight_scale", "reg"), {})


def _train_with_solver(course, data, hyper, progress, thresholds, assignment_id: str, make_model,
                       model_keys: tuple[str, ...], fixed: Mapping[str, Any]) -> TrainResult:
    """A net of the solution (``make_model`` with the model's keys of ``hyper``) trained by its Solver."""
    solver_module = solution_module(course, "solver")
    hyper = dict(hyper)
    where = course.assignment(assignment_id).where("train")
    model = _call_with(make_model, {k: hyper.pop(k) for k in model_keys if k in hyper},
                       {"input_dim": int(np.prod(data["X_train"].shape[1:])), **fixed}, where)
    optim_config = {"learning_rate": hyper.pop("learning_rate", 1e-3)}
    steps = (hyper.get("num_epochs", 10) * max(data["X_train"].shape[0] // hyper.get("batch_size", 100), 1))
    bar = _Progress(model, steps, progress, assignment_id)
    solver = _call_with(solver_module.Solver, {**hyper, "verbose": False}, {
        "model": model, "optim_config": optim_config,
        "data": {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")},
    }, where)
    reached = _watch_val_accuracy(solver, data["X_val"], bar.start, thresholds)
    solver.train()
    seconds = bar.close(model)
    predict = lambda X: np.argmax(model.loss(X), axis=1)  # noqa: E731
    return TrainResult(
        assignment=assignment_id, hyperparameters={**hyper}, train_seconds=seconds,
        val_accuracy=_accuracy(predict, data["X_val"], data["y_val"]),
        test_accuracy=_accuracy(predict, data["X_test"], data["y_test"]),
        seconds_to=reached,
        history={"loss_history": [float(x) for x in solver.loss_history],
                 "train_acc_history": [float(x) for x in solver.train_acc_history],
                 "val_acc_history": [float(x) for x in solver.val_acc_history]},
        model=model,
    )


def _watch_val_accuracy(solver, X_val, start: float, thresholds) -> dict[str, float | None]:
    """Record when the Solver's per-epoch validation accuracy first reaches each threshold."""
    targets = {name: value for name, value in thresholds.items() if "val" in name}
    reached: dict[str, float | None] = {name: None for name in targets}
    check = solver.check_accuracy

    def watched(X, y, *args, **kwargs):
        accuracy = check(X, y, *args, **kwargs)
        if X is X_val:
            now = time.perf_counter() - start
            for name, value in targets.items():
                if reached[name] is None and accuracy >= value:
                    reached[name] = now
        return accuracy

    solver.check_accuracy = watched
    return reached


# (assignment, flow) -> the trainer of its reference; "" is any flow without its own.
_TRAINERS = {("two_layer_net", ""): _train_two_layer_net, ("two_layer_net", "modular"): _train_modular_two_layer_net,
             ("fc_net", ""): _train_fc_net}
KIT_MODEL_FILES = {"two_layer_net": "best_two_layer_net.npz", "fc_net": "best_fc_net.npz"}
NORMALIZATIONS = ("none", "batchnorm", "layernorm")


def save_sample_model(course: Course, assignment_id: str, folder: Path, data, *,
                      progress: bool = False) -> Path:
    """Train the reference with the grader's fixed hyperparameters and save it as a tuned model.

    This stands in for what a student's tuning notebook saves, so that a sample submission
    built from ``solutions/`` has the file the grader evaluates.  It is written in the kit's
    plain-array format (:func:`write_kit_model`), which the grader reads without unpickling.
    """
    assignment = course.assignment(assignment_id)
    overrides = dict(assignment.grade_train)
    if assignment_id == "fc_net":
        overrides["num_epochs"] = overrides.get("num_epochs", 5) + 3  # a margin over 0.50
    result = train_reference(course, assignment_id, None, progress=progress, data=data,
                             overrides=overrides)
    path = folder / KIT_MODEL_FILES[assignment_id]
    write_kit_model(path, result.model)
    return path


def write_kit_model(path: Path, model) -> None:
    """Write a trained net in the kit's ``.npz`` format (read by coursekit/grade/models.py).

    Plain arrays only (``np.load(allow_pickle=False)`` reads them): ``arch`` ("two_layer_net" or
    "fc_net"); the params; for a FullyConnectedNet also ``hidden_dims``, ``normalization`` and,
    with batchnorm, each layer's ``running_mean{i}`` and ``running_var{i}``.
    """
    params = {name: np.asarray(value) for name, value in model.params.items()}
    if not hasattr(model, "num_layers"):  # a two-layer net, of either flow
        np.savez(path, arch=np.array("two_layer_net"), **{k: params[k] for k in ("W1", "b1", "W2", "b2")})
        return
    normalization = model.normalization or "none"
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"Cannot save a model with normalization={model.normalization!r}.")
    if normalization == "batchnorm":
        for i, bn_param in enumerate(model.bn_params[:model.num_layers - 1], start=1):
            params[f"running_mean{i}"] = np.asarray(bn_param["running_mean"])
            params[f"running_var{i}"] = np.asarray(bn_param["running_var"])
    hidden_dims = [model.params[f"W{i}"].shape[1] for i in range(1, model.num_layers)]
    np.savez(path, arch=np.array("fc_net"), normalization=np.array(normalization),
             hidden_dims=np.array(hidden_dims, dtype=np.int64), **params)
