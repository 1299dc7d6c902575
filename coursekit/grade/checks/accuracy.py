"""Accuracy on CIFAR-10: the grader's own training run, and the models the student saved.

The student's code trains in a child with the course's fixed ``grade_train``
hyperparameters and hands back its weights as it goes; the parent scores them with the kit's
own forward pass (:mod:`.models`) on held-out test images the child never receives, and stops
the run once they clear the bar with a margin (:mod:`.training_rule`).  The Solver validates
on the validation split (two-layer net) or on a slice of the training images (deep net).  For a
batchnorm net the parent recomputes the normalization statistics from training images first
(the running averages themselves are checked by ``batchnorm_forward``).  Saved models are read
in a sandboxed child (:mod:`..saved_models`) and scored by the parent on the course's test or
validation split, with their own statistics when they have them, else with statistics of
training images.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...config import GRADER_RUN_KEYS, Course
from ...errors import ConfigError, DatasetError
from ...data.split import load_split
from .. import models, saved_models
from ..sandbox.parent import Outcome, Task
from .base import Check, CaseResult
from .training_rule import HELDOUT, TrainingRule, TrainingScore, describe

INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10
DATA_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
SPLIT = {"two_layer_net": ("test", "test_accuracy"), "fc_net": ("val", "val_accuracy")}
MODULAR = "modular"  # the two-layer assignment's 2021+ flow: TwoLayerNet in fc_net.py, trained by the Solver
TWO_LAYER_MODEL = ("hidden_size", "std", "num_training")
MODULAR_MODEL = ("hidden_dim", "weight_scale", "reg", "num_training")
FC_MODEL = ("hidden_dims", "normalization", "dropout_keep_ratio", "weight_scale", "reg", "num_training")
TWO_LAYER_TRAIN = ("learning_rate", "learning_rate_decay", "reg", "num_iters", "batch_size")
FC_SOLVER = ("update_rule", "learning_rate", "lr_decay", "batch_size", "num_epochs")
LOOKS = GRADER_RUN_KEYS  # steps between two looks of the parent at the weights (training_rule.py)
GRADE_TRAIN_KEYS = {("two_layer_net", "neural_net"): TWO_LAYER_MODEL + TWO_LAYER_TRAIN + LOOKS,
                    ("two_layer_net", MODULAR): MODULAR_MODEL + FC_SOLVER + LOOKS,
                    ("fc_net", ""): FC_MODEL + FC_SOLVER + LOOKS}
TRAIN_SEED = 0
NEAR_MISS = 0.9  # a trained net above this fraction of the threshold earns half the points
SOLVER_LOOKS_PER_EPOCH = 4  # default look_every of a Solver run: a quarter of an epoch
NEURAL_NET_LOOKS = 24  # default look_every of TwoLayerNet.train: num_iters / 24
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


def grade_train_images(hyper: Mapping[str, Any], data: Mapping[str, np.ndarray]) -> int:
    """How many of the training images the grader's run uses (``num_training``, else all of them)."""
    return int(hyper.get("num_training", train_images(data)))


def check_cifar10_files(course: Course) -> None:
    """A DatasetError that says what to do when a CIFAR-10 batch file is missing."""
    folder = course.data.cifar10_dir
    missing = [name for name in DATA_FILES if not (folder / name).is_file()]
    if missing:
        raise DatasetError(f"CIFAR-10 is not in {folder} (missing {', '.join(missing)}). Run "
                           "`coursekit data`, or set CIFAR10_DIR to the folder that holds it, or "
                           "grade with --fast (fast=True in Python) to skip the accuracy checks.")


def load_cifar10(course: Course) -> dict[str, np.ndarray]:
    """The 49,000 / 1,000 / 1,000 split (mean image subtracted; the same arrays as source/'s
    get_CIFAR10_data) and the 9,000 held-out test images, or a DatasetError."""
    check_cifar10_files(course)
    folder = course.data.cifar10_dir
    try:
        return load_split(folder, heldout=True)
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


def training_rule(assignment_id: str, hyper: Mapping[str, Any], thresholds, n: int, flow: str = "") -> TrainingRule:
    """The stop rule of the grader's run: its bar, how often it looks, how many steps the schedule has."""
    bar = grader_run_threshold(thresholds, SPLIT[assignment_id][1])
    if assignment_id == "two_layer_net" and flow != MODULAR:  # TwoLayerNet.train: num_iters iterations
        steps = int(hyper.get("num_iters", 100))
        every = max(1, steps // NEURAL_NET_LOOKS)
    else:  # the Solver: num_epochs of num_train // batch_size steps
        per_epoch = max((n - fc_solver_val(n) if assignment_id == "fc_net" else n) // int(hyper.get("batch_size", 100)), 1)
        steps = int(hyper.get("num_epochs", 10)) * per_epoch
        every = max(1, per_epoch // SOLVER_LOOKS_PER_EPOCH)
    return TrainingRule(assignment_id, bar, int(hyper.get("look_every", every)), steps,
                        tuple(int(h) for h in hyper.get("hidden_dims", ())), hyper.get("normalization", "none"))


def fc_solver_val(n: int) -> int:
    """How many of the first ``n`` training images the student's Solver validates on (fc_net)."""
    return min(SOLVER_VAL_IMAGES, max(1, n // 10))


def training_check(assignment_id: str, hyper: Mapping[str, Any], thresholds, data, seconds,
                   flow: str = "") -> Check:
    """Train the student's model in a child; score the weights it hands back in the parent.

    The child hands back its weights every ``look_every`` steps; the parent scores them on
    held-out images the child never receives and stops the run once they are far enough above
    the bar (:mod:`.training_rule`).  The task names its CIFAR-10 inputs (:class:`DataSlice`).
    The cases read the parent's score from the outcome (``Outcome.scored``, set where the run
    was watched); an outcome without one is scored here, once, from ``data``."""
    n = grade_train_images(hyper, data)
    rule = training_rule(assignment_id, hyper, thresholds, n, flow)
    if assignment_id == "two_layer_net" and flow == MODULAR:
        check, task = _modular_two_layer_training(hyper, n, seconds, rule.look_every)
    elif assignment_id == "two_layer_net":
        check = Check("cifar_accuracy", f"CIFAR-10 {HELDOUT} accuracy of a TwoLayerNet the grader trains",
                      "TwoLayerNet.train", "cs231n/classifiers/neural_net.py",
                      "The grader trains your TwoLayerNet with fixed hyperparameters: if the small checks "
                      "pass but this one fails, look at the minibatch sampling and the SGD update.",
                      needs_data=True, after=TWO_LAYER_CODE_CHECKS)
        spec = {"init": {"cls": "cs231n.classifiers.neural_net:TwoLayerNet",
                         "args": [INPUT_DIM, hyper["hidden_size"], NUM_CLASSES], "kwargs": {"std": hyper["std"]}},
                "seed": TRAIN_SEED, "look_every": rule.look_every,
                "hyper": {**{k: hyper[k] for k in TWO_LAYER_TRAIN if k in hyper}, "verbose": False}}
        inputs = {"X": DataSlice("X_train", 0, n, flat=True), "y": DataSlice("y_train", 0, n),
                  "X_val": DataSlice("X_val", 0, None, flat=True), "y_val": DataSlice("y_val", 0, None)}
        task = check.add_task("train", "train_two_layer", spec, inputs, seconds)
    else:
        normalization = hyper.get("normalization", "none")
        rule_name = hyper.get("update_rule", "adam")
        keep = float(hyper.get("dropout_keep_ratio", 1.0))
        after = (*FC_CODE_CHECKS, *NORMALIZATION_CHECKS.get(normalization, ()),
                 *(("dropout_forward", "dropout_backward") if keep < 1 else ()), rule_name)
        check = Check("cifar_accuracy", f"CIFAR-10 {HELDOUT} accuracy of a FullyConnectedNet the grader trains "
                      f"with your Solver and {rule_name}", "FullyConnectedNet", "cs231n/classifiers/fc_net.py",
                      f"The grader trains your net with fixed hyperparameters, your Solver and your {rule_name}: if "
                      "the small checks pass but this one fails, look at batchnorm's running averages, the Solver's "
                      f"update step and {rule_name}.", needs_data=True,
                      places=(("Solver", "cs231n/solver.py"), (rule_name, "cs231n/optim.py")), after=after)
        model = {"input_dim": INPUT_DIM, "num_classes": NUM_CLASSES, "dtype": {"t": "float32"},
                 "normalization": None if normalization == "none" else normalization,
                 **{k: hyper[k] for k in ("dropout_keep_ratio", "weight_scale", "reg") if k in hyper}}
        solver = {"update_rule": rule_name, "verbose": False,
                  "optim_config": {"d": {"learning_rate": hyper.get("learning_rate", 1e-3)}},
                  **{k: hyper[k] for k in ("lr_decay", "batch_size", "num_epochs") if k in hyper}}
        spec = {"init": {"cls": "cs231n.classifiers.fc_net:FullyConnectedNet", "args": [list(hyper["hidden_dims"])],
                         "kwargs": model}, "seed": TRAIN_SEED, "solver": "cs231n.solver:Solver",
                "solver_kwargs": {"d": solver}, "look_every": rule.look_every}
        # The Solver picks its best epoch on a slice of the training images; the images the
        # parent scores never reach the child, so training on them cannot help.
        cut = n - fc_solver_val(n)
        inputs = {"X_train": DataSlice("X_train", 0, cut), "y_train": DataSlice("y_train", 0, cut),
                  "X_val": DataSlice("X_train", cut, n), "y_val": DataSlice("y_train", cut, n)}
        task = check.add_task("train", "solver", spec, inputs, seconds)

    scored: dict[int, TrainingScore | None] = {}  # id(outcome) -> its score, for outcomes that came without one

    def score_of(outcome) -> TrainingScore | None:
        if isinstance(outcome.scored, TrainingScore):
            return outcome.scored
        if id(outcome) not in scored:  # watched by no one (a test's own run): its final weights, one look
            scored[id(outcome)] = rule.looks(data).result(outcome)
        return scored[id(outcome)]

    for bar in (round(NEAR_MISS * rule.bar, 3), rule.bar):  # half the points for a near miss
        label = f"{HELDOUT} accuracy >= {bar}"

        def judge(outcomes, label=label, bar=bar) -> CaseResult:
            outcome = outcomes.get(task)
            if outcome is None or not outcome.ok:
                return CaseResult(label, False, outcome.error if outcome else "this check did not run")
            score = score_of(outcome)
            if score is None or score.accuracy is None:
                return CaseResult(label, False, "the trained parameters are unusable: "
                                  + (score.error if score else "nothing came back"))
            return CaseResult(label, score.accuracy >= bar, describe(score, rule, bar))

        check.add_case(label, judge)
    return check


def _modular_two_layer_training(hyper: Mapping[str, Any], n: int, seconds: float,
                                look_every: int) -> tuple[Check, str]:
    """The 2021+ TwoLayerNet (fc_net.py), trained by the student's Solver with the course's
    update rule; the Solver validates on the validation split, the parent scores held-out images."""
    check = Check("cifar_accuracy", f"CIFAR-10 {HELDOUT} accuracy of a TwoLayerNet the grader trains with your "
                  "Solver", "TwoLayerNet.loss", "cs231n/classifiers/fc_net.py",
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
            "seed": TRAIN_SEED, "solver": "cs231n.solver:Solver", "solver_kwargs": {"d": solver},
            "look_every": look_every}
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
