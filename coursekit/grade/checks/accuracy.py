"""Accuracy on CIFAR-10: the grader's own training run, and the models the student saved.

The student's code trains in a child with the course's fixed ``grade_train``
hyperparameters and returns its weights; the parent scores them with the kit's own
forward pass (:mod:`.models`) on a split the child never receives: the test split for the
two-layer net, the validation split for the deep net (whose Solver validates on a slice of
the training images instead).  For a batchnorm net the parent recomputes the normalization statistics
from training images first: the Solver keeps its best epoch's weights but its last step's
running averages (the running averages themselves are checked by ``batchnorm_forward``).
Saved models are read in a sandboxed child (:mod:`..saved_models`) and scored by the parent, with
their own statistics when they have them, else with statistics of training images.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...config import Course
from ...errors import ConfigError, DatasetError
from ...solution import solution_module
from .. import models, saved_models
from ..sandbox.parent import Outcome, Task
from .base import Check, CaseResult, custom_case

INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10
DATA_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
SPLIT = {"two_layer_net": ("test", "test_accuracy"), "fc_net": ("val", "val_accuracy")}
MODULAR = "modular"  # the two-layer assignment's 2021+ flow: TwoLayerNet in fc_net.py, trained by the Solver
TWO_LAYER_MODEL = ("hidden_size", "std", "num_training")
MODULAR_MODEL = ("hidden_dim", "weight_scale", "reg", "num_training")
FC_MODEL = ("hidden_dims", "normalization", "dropout_keep_ratio", "weight_scale", "reg", "num_training")
TWO_LAYER_TRAIN = ("learning_rate", "learning_rate_decay", "reg", "num_iters", "batch_size")
FC_SOLVER = ("update_rule", "learning_rate", "lr_decay", "batch_size", "num_epochs")
GRADE_TRAIN_KEYS = {("two_layer_net", "neural_net"): TWO_LAYER_MODEL + TWO_LAYER_TRAIN,
                    ("two_layer_net", MODULAR): MODULAR_MODEL + FC_SOLVER,
                    ("fc_net", ""): FC_MODEL + FC_SOLVER}
TRAIN_SEED = 0
NEAR_MISS = 0.9  # a trained net above this fraction of the threshold earns half the points
BN_STATS_IMAGES = 10_000  # training images whose statistics replace the trained net's running averages
SOLVER_VAL_IMAGES = 1_000  # training images the student's Solver validates on (fc_net); never scored
TUNING_NOTEBOOK = {"two_layer_net": "two_layer_net.ipynb", "fc_net": "tuning.ipynb"}  # saves the model
TWO_LAYER_CODE_CHECKS = ("scores", "loss", "gradients", "toy_training")  # what the grader's training runs
MODULAR_NET_CHECKS = ("two_layer_init", "two_layer_scores", "two_layer_loss", "two_layer_gradients")
FC_CODE_CHECKS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
                  "fc_init", "fc_loss", "fc_gradients")
NORMALIZATION_CHECKS = {"batchnorm": ("batchnorm_forward", "batchnorm_backward"),
                        "layernorm": ("layernorm_forward", "layernorm_backward")}


@dataclass(frozen=True)
class DataSlice:
    """``data[key][start:stop]`` of the course's CIFAR-10 split, named instead of sent: the
    machine that runs the training child (a Dask worker, in class mode) loads it from its own
    copy of the dataset (:func:`resolve_inputs`)."""

    key: str
    start: int
    stop: int | None  # None: to the end
    flat: bool = False  # one row of 3072 values per image

    def take(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        array = data[self.key][self.start:self.stop]
        return array.reshape(array.shape[0], -1) if self.flat else array


def resolve_inputs(task: Task, data: Mapping[str, np.ndarray]) -> Task:
    """``task`` with each DataSlice input replaced by its arrays from ``data``."""
    return replace(task, inputs={key: value.take(data) if isinstance(value, DataSlice) else value
                                 for key, value in task.inputs.items()})


def train_images(data: Mapping[str, np.ndarray]) -> int:
    """How many training images ``data`` holds, without loading a lazy split (data.split.LazySplit)."""
    return getattr(data, "train_images", None) or len(data["y_train"])


def check_cifar10_files(course: Course) -> None:
    """A DatasetError that says what to do when a CIFAR-10 batch file is missing."""
    folder = course.data.cifar10_dir
    missing = [name for name in DATA_FILES if not (folder / name).is_file()]
    if missing:
        raise DatasetError(f"CIFAR-10 is not in {folder} (missing {', '.join(missing)}). Run "
                           "`coursekit data`, or set CIFAR10_DIR to the folder that holds it, or "
                           "grade with --fast (fast=True in Python) to skip the accuracy checks.")


def load_cifar10(course: Course) -> dict[str, np.ndarray]:
    """The 49,000 / 1,000 / 1,000 split (mean image subtracted), or a DatasetError."""
    check_cifar10_files(course)
    folder = course.data.cifar10_dir
    try:
        return solution_module(course, "data_utils").get_CIFAR10_data(cifar10_dir=str(folder))
    except (OSError, ValueError) as err:
        raise DatasetError(f"CIFAR-10 in {folder} cannot be read: {err}") from None


def grader_run_threshold(thresholds: Mapping[str, float], key: str) -> float:
    """The bar of the grader's own short training run: ``grade_train_<key>`` when the course
    sets one (a fixed, cheap run lands lower than a tuned model; its margin is measured by
    autograder/margin.py), else the assignment's ``<key>`` itself."""
    return float(thresholds.get(f"grade_train_{key}", thresholds[key]))


def check_grade_train(assignment_id: str, grade_train: Mapping[str, Any], where: str, flow: str = "",
                      table: str = "") -> None:
    """Every key of ``grade_train`` is one the grader's run of this assignment (and flow) uses."""
    allowed = GRADE_TRAIN_KEYS[assignment_id, flow or ("neural_net" if assignment_id == "two_layer_net" else "")]
    table = table or f"assignments.{assignment_id}.grade_train"
    for key in grade_train:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key '{table}.{key}'" + (f" (flow {flow!r})" if flow else "")
                              + f". Accepted keys: {', '.join(allowed)}.")


def training_check(assignment_id: str, hyper: Mapping[str, Any], thresholds, data, seconds,
                   flow: str = "") -> Check:
    """Train the student's model in a child; score the weights it returns in the parent.

    The task names its CIFAR-10 inputs (:class:`DataSlice`); ``data`` is read only when the
    weights are judged, so it may be a mapping that loads the dataset on first use."""
    split, key = SPLIT[assignment_id]
    threshold = grader_run_threshold(thresholds, key)
    n = int(hyper.get("num_training", train_images(data)))
    flat = lambda X: X.reshape(X.shape[0], -1)  # noqa: E731
    if assignment_id == "two_layer_net" and flow == MODULAR:
        check, task = _modular_two_layer_training(hyper, data, n, seconds)
    elif assignment_id == "two_layer_net":
        check = Check("cifar_accuracy", f"CIFAR-10 {split} accuracy of a TwoLayerNet the grader trains",
                      "TwoLayerNet.train", "cs231n/classifiers/neural_net.py",
                      "The grader trains your TwoLayerNet with fixed hyperparameters: if the small checks "
                      "pass but this one fails, look at the minibatch sampling and the SGD update.",
                      needs_data=True, after=TWO_LAYER_CODE_CHECKS)
        spec = {"init": {"cls": "cs231n.classifiers.neural_net:TwoLayerNet",
                         "args": [INPUT_DIM, hyper["hidden_size"], NUM_CLASSES], "kwargs": {"std": hyper["std"]}},
                "seed": TRAIN_SEED, "hyper": {**{k: hyper[k] for k in TWO_LAYER_TRAIN if k in hyper}, "verbose": False}}
        inputs = {"X": DataSlice("X_train", 0, n, flat=True), "y": DataSlice("y_train", 0, n),
                  "X_val": DataSlice("X_val", 0, None, flat=True), "y_val": DataSlice("y_val", 0, None)}
        task = check.add_task("train", "train_two_layer", spec, inputs, seconds)
    else:
        normalization = hyper.get("normalization", "none")
        rule = hyper.get("update_rule", "adam")
        keep = float(hyper.get("dropout_keep_ratio", 1.0))
        after = (*FC_CODE_CHECKS, *NORMALIZATION_CHECKS.get(normalization, ()),
                 *(("dropout_forward", "dropout_backward") if keep < 1 else ()), rule)
        check = Check("cifar_accuracy", f"CIFAR-10 {split} accuracy of a FullyConnectedNet the grader trains "
                      f"with your Solver and {rule}", "FullyConnectedNet", "cs231n/classifiers/fc_net.py",
                      f"The grader trains your net with fixed hyperparameters, your Solver and your {rule}: if the "
                      "small checks pass but this one fails, look at batchnorm's running averages, the Solver's "
                      f"update step and {rule}.", needs_data=True,
                      places=(("Solver", "cs231n/solver.py"), (rule, "cs231n/optim.py")), after=after)
        model = {"input_dim": INPUT_DIM, "num_classes": NUM_CLASSES, "dtype": {"t": "float32"},
                 "normalization": None if normalization == "none" else normalization,
                 **{k: hyper[k] for k in ("dropout_keep_ratio", "weight_scale", "reg") if k in hyper}}
        solver = {"update_rule": rule, "verbose": False,
                  "optim_config": {"d": {"learning_rate": hyper.get("learning_rate", 1e-3)}},
                  **{k: hyper[k] for k in ("lr_decay", "batch_size", "num_epochs") if k in hyper}}
        spec = {"init": {"cls": "cs231n.classifiers.fc_net:FullyConnectedNet", "args": [list(hyper["hidden_dims"])],
                         "kwargs": model}, "seed": TRAIN_SEED, "solver": "cs231n.solver:Solver",
                "solver_kwargs": {"d": solver}}
        # The Solver picks its best epoch on a slice of the training images; the split the
        # parent scores on never reaches the child, so training on it cannot help.
        cut = n - min(SOLVER_VAL_IMAGES, max(1, n // 10))
        inputs = {"X_train": DataSlice("X_train", 0, cut), "y_train": DataSlice("y_train", 0, cut),
                  "X_val": DataSlice("X_train", cut, n), "y_val": DataSlice("y_train", cut, n)}
        task = check.add_task("train", "solver", spec, inputs, seconds)

    @functools.cache
    def held_out() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The split the child never sees, and the images of the batchnorm statistics: read from
        ``data`` at judging time only (a class grade loads CIFAR-10 on the client once)."""
        return (flat(data[f"X_{split}"]).astype(np.float64), data[f"y_{split}"],
                flat(data["X_train"][:BN_STATS_IMAGES]).astype(np.float64))

    def accuracy_of(outputs) -> float:
        """The accuracy of the weights the child returned; ModelError if they are unusable."""
        X_eval, y_eval, X_stats = held_out()
        arrays = {k[len("param_"):]: v for k, v in outputs.items() if k.startswith("param_")}
        arrays.update({k: v for k, v in outputs.items() if k.startswith("running_")})
        if assignment_id == "two_layer_net":
            arrays["arch"] = np.array("two_layer_net")
            params = models.validate_two_layer(arrays, "the trained net", INPUT_DIM, NUM_CLASSES)
            return models.accuracy(models.two_layer_scores(params, X_eval), y_eval)
        arrays.update(arch=np.array("fc_net"), normalization=np.array(normalization),
                      hidden_dims=np.array(hyper["hidden_dims"], dtype=np.int64))
        params, layers, norm = models.validate_fc(arrays, "the trained net", INPUT_DIM, NUM_CLASSES)
        if norm == "batchnorm":
            params = models.recalibrate_batchnorm(params, X_stats, layers)
        return models.accuracy(models.fc_scores(params, X_eval, layers, norm), y_eval)

    judged: list = []  # (outputs, accuracy or ModelError) of the last outputs: both bars judge the same ones

    def accuracy_once(outputs) -> float:
        if not judged or judged[0][0] is not outputs:
            try:
                judged[:] = [(outputs, accuracy_of(outputs))]
            except models.ModelError as err:
                judged[:] = [(outputs, err)]
        if isinstance(judged[0][1], models.ModelError):
            raise judged[0][1]
        return judged[0][1]

    for bar in (round(NEAR_MISS * threshold, 3), threshold):  # half the points for a near miss
        label = f"{split} accuracy >= {bar}"

        def score(outputs, label=label, bar=bar) -> CaseResult:
            try:
                acc = accuracy_once(outputs)
            except models.ModelError as err:
                return CaseResult(label, False, f"the trained parameters are unusable: {err}")
            ok = acc >= bar
            return CaseResult(label, ok, f"{split} accuracy {acc:.3f}" + ("" if ok else f", below {bar}"))

        check.add_case(label, custom_case(label, task, score))
    return check


def _modular_two_layer_training(hyper: Mapping[str, Any], data, n: int, seconds: float) -> tuple[Check, str]:
    """The 2021+ TwoLayerNet (fc_net.py), trained by the student's Solver with the course's
    update rule; the Solver validates on the validation split, the parent scores the test split."""
    check = Check("cifar_accuracy", "CIFAR-10 test accuracy of a TwoLayerNet the grader trains with your Solver",
                  "TwoLayerNet.loss", "cs231n/classifiers/fc_net.py",
                  "The grader trains your TwoLayerNet with fixed hyperparameters and your Solver: if the small "
                  "checks pass but this one fails, look at what the Solver calls (TwoLayerNet.loss on batches of "
                  "shape (N, 3, 32, 32)) and at cs231n/solver.py.", needs_data=True,
                  places=(("Solver", "cs231n/solver.py"),), after=(*FC_CODE_CHECKS[:5], *MODULAR_NET_CHECKS))
    model = {"input_dim": INPUT_DIM, "num_classes": NUM_CLASSES,
             **{k: hyper[k] for k in ("hidden_dim", "weight_scale", "reg") if k in hyper}}
    solver = {"update_rule": hyper.get("update_rule", "sgd"), "verbose": False,
              "optim_config": {"d": {"learning_rate": hyper.get("learning_rate", 1e-3)}},
              **{k: hyper[k] for k in ("lr_decay", "batch_size", "num_epochs") if k in hyper}}
    spec = {"init": {"cls": "cs231n.classifiers.fc_net:TwoLayerNet", "args": [], "kwargs": model},
            "seed": TRAIN_SEED, "solver": "cs231n.solver:Solver", "solver_kwargs": {"d": solver}}
    inputs = {"X_train": DataSlice("X_train", 0, n), "y_train": DataSlice("y_train", 0, n),
              "X_val": DataSlice("X_val", 0, None), "y_val": DataSlice("y_val", 0, None)}
    return check, check.add_task("train", "solver", spec, inputs, seconds)


@dataclass(frozen=True)
class SavedModelScore:
    """What was measured of the saved model where it was read (phase 2 of a grade: it needs the
    child's output file and the dataset, never a reference), small enough to send back."""

    read_error: str = ""  # the file could not be read (missing, refused, not plain arrays)
    model_error: str = ""  # read, but its keys, shapes or values make no usable net
    accuracy: float | None = None
    described: str = ""  # which net was scored (a layernorm or batchnorm reading of gamma/beta, ...)


def score_saved_model(assignment_id: str, loaded: Outcome | None, data) -> SavedModelScore:
    """The accuracy of what the sandboxed child read of the saved model (``loaded``, the outcome of
    :func:`~coursekit.grade.saved_models.load_task`), with the kit's own forward pass."""
    if loaded is None or not loaded.ok:
        return SavedModelScore(read_error=loaded.error if loaded is not None else "the saved model was not read")
    split = SPLIT[assignment_id][0]
    try:
        nets = saved_models.nets_of(loaded.stored, INPUT_DIM, NUM_CLASSES, assignment_id)
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        X_stats = data["X_train"][:saved_models.BN_STATS_IMAGES]
        acc, net = max(((saved_models.accuracy(net, X, y, X_stats), net) for net in nets), key=lambda a: a[0])
    except models.ModelError as err:
        return SavedModelScore(model_error=str(err))
    return SavedModelScore(accuracy=float(acc), described=net.described)


def saved_model_check(assignment_id: str, score: SavedModelScore, thresholds) -> tuple[Check, list[CaseResult]]:
    """The saved-model check's cases, from what :func:`score_saved_model` measured."""
    official, kit = saved_models.SAVED_FILES[assignment_id]
    split, key = SPLIT[assignment_id]
    threshold, review = thresholds[key], thresholds["review_above"]
    check = Check("saved_model", f"Your saved model: {split} accuracy", "the last cells",
                  TUNING_NOTEBOOK[assignment_id], f"Save your best model with best_model.save(\"{Path(official).name}\") "
                  f"(it writes {official}; the kit's earlier {kit} is read too) after tuning it to reach the "
                  "threshold, and hand that file in: the last cells of the notebook do it.", needs_data=True)
    results = [CaseResult("file loads", False), CaseResult("keys, shapes and dtypes", False),
               CaseResult(f"{split} accuracy >= {threshold}", False)]
    if score.read_error:
        for result in results:
            result.detail = f"{official} or {kit} could not be read: {score.read_error}"
        return check, results
    results[0].passed = True
    if score.model_error or score.accuracy is None:
        for result in results[1:]:
            result.detail = score.model_error or "no accuracy was measured"
        return check, results
    acc = score.accuracy
    results[1].passed = True
    results[2].passed = acc >= threshold
    results[2].detail = f"{split} accuracy {acc:.3f} of the {score.described} (the kit's own forward pass)" + (
        "" if acc >= threshold else f", below {threshold}")
    if acc > review:
        results[2].review = (f"{split} accuracy {acc:.3f} of the saved model is above {review}, implausibly "
                             "high for this model (was it trained on the validation or test set?)")
    return check, results
