"""Checks of ``TwoLayerNet`` (cs231n/classifiers/neural_net.py) on small inputs."""
from __future__ import annotations

import numpy as np

from . import analytic
from .base import (Check, CaseResult, add_gradient_cases, compare_case, custom_case, hidden_build,
                   reference, revealing_inputs, rng_for)

CLASS = "cs231n.classifiers.neural_net:TwoLayerNet"
FILE = "cs231n/classifiers/neural_net.py"
TOY_LOSS = 0.02  # the final training loss on the toy problem must go below this
MINIBATCH_ITERS = 20  # iterations watched to see that each draws a new minibatch
N, D, H, C = 6, 5, 8, 4
PARAMS = ("W1", "b1", "W2", "b2")
STABILITY_OFFSET = 1000.0  # added to b2: np.exp(1000) overflows, so the softmax must be shifted
PREDICT_N, PREDICT_MIN_ROWS = 40, 4  # rows of the predict case; of them, at least this many best scores of each sign
LARGE_N, LARGE_D, LARGE_H, LARGE_C = 20, 100, 500, 10  # the large-input gradient case: 55,510 parameters


def _inputs(name):
    rng = rng_for(name)
    return {"X": 2 * rng.standard_normal((N, D)), "y": rng.integers(0, C, N),
            "param_W1": 0.5 * rng.standard_normal((D, H)), "param_b1": 0.2 * rng.standard_normal(H),
            "param_W2": 0.5 * rng.standard_normal((H, C)), "param_b2": 0.2 * rng.standard_normal(C)}


def toy_loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, reg: float) -> float:
    """Softmax loss plus reg * (sum(W1**2) + sum(W2**2)) of a two-layer net, in float64.

    X: (N, D); y: (N,); W1: (D, H), b1: (H,) or (1, H), W2: (H, C), b2: (C,) or (1, C).
    Raises ValueError for parameters whose shapes do not fit X.
    """
    W1, W2 = (np.asarray(params[k], dtype=np.float64) for k in ("W1", "W2"))
    b1, b2 = (np.asarray(params[k], dtype=np.float64).reshape(-1) for k in ("b1", "b2"))
    if W1.shape != (X.shape[1], b1.size) or W2.shape != (b1.size, b2.size):
        raise ValueError(f"shapes W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape} do not fit "
                         f"inputs of {X.shape[1]} features")
    scores = np.maximum(0, X @ W1 + b1) @ W2 + b2  # (N, C)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean() + reg * (np.sum(W1 * W1) + np.sum(W2 * W2)))


def _init(std=0.1, set_params=True):
    return {"cls": CLASS, "args": [D, H, C], "kwargs": {"std": std},
            "set_params": list(PARAMS) if set_params else []}


def scores_check() -> Check:
    check = Check("scores", "TwoLayerNet: class scores (forward pass)", "TwoLayerNet.loss", FILE,
                  "Two affine layers with a ReLU between them; when y is None, return the scores (no softmax).")
    inputs = _inputs("scores")
    spec = {"init": _init(), "method": "loss", "args": [{"a": "X"}], "returns": "scores"}
    task = check.add_task("scores", "call", spec, inputs)
    expected = reference("call", spec, inputs)["scores"]
    check.add_case("scores", compare_case("scores", task, "scores", expected))
    check.add_shape_case([(task, "scores", expected.shape)])
    return check


def loss_check() -> Check:
    check = Check("loss", "TwoLayerNet: softmax loss with L2 regularization", "TwoLayerNet.loss", FILE,
                  "Data loss: mean of -log softmax(scores)[y]; add reg * (sum(W1**2) + sum(W2**2)), "
                  "without a factor 0.5.")
    check.after = ("scores",)
    inputs = _inputs("loss")
    # A common offset of STABILITY_OFFSET on every score: np.exp overflows without a max
    # shift, and the gaps within a row stay small, so a shift is enough in float64.
    large = {**inputs, "param_b2": inputs["param_b2"] + STABILITY_OFFSET}
    for suffix, reg, values, label in (("reg0", 0.0, inputs, "loss with reg = 0.0"),
                                       ("reg005", 0.05, inputs, "loss with reg = 0.05"),
                                       ("large", 0.0, large, "loss with every score near 1000 "
                                                              "(numeric stability)")):
        spec = {"init": _init(), "method": "loss", "args": [{"a": "X"}, {"a": "y"}],
                "kwargs": {"reg": reg}, "returns": ["loss", None]}
        task = check.add_task(suffix, "call", spec, values)
        check.add_case(label, compare_case(label, task, "loss", reference("call", spec, values)["loss"]))
    return check


def gradients_check() -> Check:
    check = Check("gradients", "TwoLayerNet: gradients (numeric gradient check)", "TwoLayerNet.loss", FILE,
                  "Backpropagate the softmax through W2, the ReLU and W1; the regularization adds "
                  "2 * reg * W to each dW.")
    check.after = ("scores", "loss")
    for reg in (0.0, 0.05):
        inputs = _inputs(f"gradients{reg}")
        spec = {"init": _init(), "method": "loss", "args": [{"a": "X"}, {"a": "y"}], "kwargs": {"reg": reg},
                "returns": ["loss", {"prefix": "grad_", "keys": list(PARAMS)}]}
        grad_task, _ = add_gradient_cases(check, f"reg{reg}", spec, inputs, PARAMS, "TwoLayerNet.loss forward pass",
                                          f" with reg = {reg}")
    check.add_shape_case([(grad_task, f"grad_{k}", inputs[f"param_{k}"].shape) for k in PARAMS])
    if hidden_build():
        _require_derived(check)
    return check


def large_inputs(name: str) -> dict[str, np.ndarray]:
    """A minibatch and the parameters of a two-layer net of 55,510 parameters (LARGE_*): finite
    differences of its loss need over 10^5 forward passes (see :mod:`.analytic`)."""
    rng = rng_for(name)
    return {"X": rng.standard_normal((LARGE_N, LARGE_D)), "y": rng.integers(0, LARGE_C, LARGE_N),
            "param_W1": rng.standard_normal((LARGE_D, LARGE_H)) / np.sqrt(LARGE_D),
            "param_b1": 0.1 * rng.standard_normal(LARGE_H),
            "param_W2": rng.standard_normal((LARGE_H, LARGE_C)) / np.sqrt(LARGE_H),
            "param_b2": 0.1 * rng.standard_normal(LARGE_C)}


def _require_derived(check: Check) -> None:
    """TwoLayerNet.loss must backpropagate, not differentiate itself numerically: on a net of
    55,510 parameters (see :mod:`.analytic`), against the solution's gradients."""
    inputs = large_inputs("gradients-large")
    init = {**_init(), "args": [LARGE_D, LARGE_H, LARGE_C]}
    grad = {"init": init, "method": "loss", "args": [{"a": "X"}, {"a": "y"}], "kwargs": {"reg": 0.05},
            "returns": ["loss", {"prefix": "grad_", "keys": list(PARAMS)}]}
    keys = {f"grad_{k}": inputs[f"param_{k}"].shape for k in PARAMS}
    expected = {k: v for k, v in reference("call", grad, inputs).items() if k in keys}
    analytic.require_derived(check, grad=grad, inputs=inputs, small=check.tasks[0], watch=[f"{CLASS}.loss"],
                             forward="its forward pass loss(X)", keys=keys, expected=expected,
                             base={"init": init, "method": "loss", "args": [{"a": "X"}], "returns": "scores"})


def toy_training_check() -> Check:
    check = Check("toy_training", "TwoLayerNet: training on a toy problem", "TwoLayerNet.train", FILE,
                  "Each iteration: draw a fresh random minibatch, get the loss and gradients on it, and move "
                  "every parameter a small step against its gradient.")
    check.after = ("loss", "gradients")
    rng = rng_for("toy_training", public=True)  # a toy problem known to converge; the loss is
    # recomputed from the returned weights, so recorded numbers are no help
    inputs = {"X": 10 * rng.standard_normal((5, 4)), "y": np.array([0, 1, 2, 2, 1])}
    inputs.update(X_val=inputs["X"], y_val=inputs["y"])
    spec = {"init": {"cls": CLASS, "args": [4, 10, 3], "kwargs": {"std": 0.1}}, "seed": 0,
            "hyper": {"learning_rate": 0.1, "reg": 5e-6, "num_iters": 200, "verbose": False}}
    task = check.add_task("toy", "train_two_layer", spec, inputs)

    def test(outputs, X=inputs["X"], y=inputs["y"], reg=spec["hyper"]["reg"]):
        # The loss is recomputed here from the weights train() left in net.params: a
        # loss_history that train() returns is the student's word, not evidence.
        try:
            final = toy_loss({k: outputs[f"param_{k}"] for k in PARAMS}, X, y, reg)
        except (KeyError, ValueError) as err:
            return CaseResult("final loss", False, f"the trained parameters are unusable ({err})")
        ok = np.isfinite(final) and final < TOY_LOSS
        history = outputs.get("loss_history")
        first = (f" (the first loss in your loss_history is {float(history[0]):.4g})"
                 if history is not None and history.size else "")
        return CaseResult("final loss", bool(ok), "" if ok else
                          f"the loss of the trained net, recomputed by the grader from net.params, is "
                          f"{final:.4g}, expected below {TOY_LOSS}{first}")

    check.add_case("final loss", custom_case("final loss", task, test))

    rng = rng_for("minibatches")
    inputs = {"X": rng.standard_normal((50, 4)), "y": rng.integers(0, 3, 50)}
    inputs.update(X_val=inputs["X"], y_val=inputs["y"])
    spec = {"init": {"cls": CLASS, "args": [4, 10, 3], "kwargs": {"std": 0.1}}, "seed": 0, "record_batches": True,
            "hyper": {"learning_rate": 1e-3, "num_iters": MINIBATCH_ITERS, "batch_size": 10, "verbose": False}}
    task = check.add_task("minibatches", "train_two_layer", spec, inputs)
    label = "a new minibatch of batch_size examples on every iteration"

    def fresh_batches(outputs):
        batches = outputs["batches"]
        sizes, distinct = set(batches[:, 1].astype(int)), len(set(batches[:, 0].round(9)))
        if len(batches) != MINIBATCH_ITERS or sizes != {10}:
            return CaseResult(label, False, f"self.loss was called {len(batches)} times with batches of "
                              f"{sorted(sizes)} examples; expected {MINIBATCH_ITERS} calls with 10")
        ok = distinct > MINIBATCH_ITERS // 2
        return CaseResult(label, ok, "" if ok else f"only {distinct} different minibatches in {MINIBATCH_ITERS} "
                          "iterations: draw a fresh one each time (do not reseed inside the loop)")

    check.add_case(label, custom_case(label, task, fresh_batches))
    return check


def predict_check() -> Check:
    check = Check("predict", "TwoLayerNet: predict", "TwoLayerNet.predict", FILE,
                  "Return the argmax over classes of the scores, an array of shape (N,).")
    check.after = ("scores",)
    inputs = _predict_inputs()
    spec = {"init": _init(), "method": "predict", "args": [{"a": "X"}], "returns": "y_pred"}
    task = check.add_task("predict", "call", spec, inputs)
    expected = reference("call", spec, inputs)["y_pred"]
    check.add_case("labels", compare_case("labels", task, "y_pred", expected, rtol=0.0))
    check.add_shape_case([(task, "y_pred", expected.shape)])
    return check


def _predict_inputs() -> dict:
    """Inputs of the predict case, drawn again until at least PREDICT_MIN_ROWS rows have a best
    score below zero and as many above: predictions must follow scores of either sign.  Half the
    draws had no row with a negative best score, where a net that clips its scores (a ReLU on
    them) predicts right and passes; whether it did depended on the grade's seed."""
    def draw(attempt: int) -> dict:
        suffix = f"-{attempt}" if attempt else ""  # the first draw is the one used before
        inputs = _inputs("predict" + suffix)
        inputs["X"] = 3 * rng_for("predict-X" + suffix).standard_normal((PREDICT_N, D))
        return inputs

    def both_signs(inputs: dict) -> bool:
        hidden = np.maximum(inputs["X"] @ inputs["param_W1"] + inputs["param_b1"], 0)
        best = (hidden @ inputs["param_W2"] + inputs["param_b2"]).max(axis=1)
        return min(np.count_nonzero(best < 0), np.count_nonzero(best > 0)) >= PREDICT_MIN_ROWS

    return revealing_inputs(draw, both_signs, "best scores of both signs")


def two_layer_checks() -> list[Check]:
    return [scores_check(), loss_check(), gradients_check(), toy_training_check(), predict_check()]
