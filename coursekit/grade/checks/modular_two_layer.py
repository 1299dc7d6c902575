"""Checks of the modular ``TwoLayerNet`` (cs231n/classifiers/fc_net.py, CS231n 2021+).

The net is built from the layers of ``cs231n/layers.py`` and trained by the Solver, so the
two-layer assignment's "modular" flow grades those layers too (affine, ReLU, softmax: what
the official 2026 notebook asks for) and then the net: its initial parameters, its scores,
its loss with and without regularization, and its gradients (against the numeric gradient
of the student's own forward pass, and against the solution's; a gradient computed numerically
earns nothing, see :mod:`.analytic`).  Its training on CIFAR-10 is
:func:`.accuracy.training_check`.
"""
from __future__ import annotations

import numpy as np

from . import analytic
from .base import (Check, CaseResult, add_gradient_cases, compare_case, custom_case, hidden_build, reference, rng_for,
                   squeezable)
from .layers import affine_checks, relu_checks, softmax_check
from .two_layer import LARGE_C, LARGE_D, LARGE_H, large_inputs

CLASS = "cs231n.classifiers.fc_net:TwoLayerNet"
FILE = "cs231n/classifiers/fc_net.py"
PARAMS = ("W1", "b1", "W2", "b2")
N, D, H, C = 6, 5, 8, 4
IMAGE = (3, 2, 2)  # inputs of shape (N, d_1, d_2, d_3), as CIFAR-10 reaches the net: (N, 3, 32, 32)
INIT_DIMS, INIT_SCALE = (60, 50, 10), 0.05  # enough weights to estimate their spread
DEFAULT_WEIGHT_SCALE = 1e-3  # TwoLayerNet's default, in the given signature
INIT_STD_RTOL = 0.2  # the spread of the initial weights against weight_scale
INIT_MEAN_SIGMAS = 5  # |mean of the weights| within this many standard errors of 0
REGS = (0.0, 0.7)
# The layers TwoLayerNet.loss is built from: when their checks fail, they can explain the net's failure.
FORWARD_CHECKS = ("affine_forward", "relu_forward")
BACKWARD_CHECKS = ("affine_backward", "relu_backward", "softmax_loss")
LAYER_FORWARDS = [f"cs231n.layers:{name}" for name in ("affine_forward", "relu_forward", "softmax_loss")]


def _init(reg=0.0, set_params=True):
    return {"cls": CLASS, "args": [], "kwargs": {"input_dim": D, "hidden_dim": H, "num_classes": C,
                                                 "weight_scale": 1e-2, "reg": reg},
            "set_params": list(PARAMS) if set_params else []}


def _inputs(name, image=False):
    rng = rng_for(name)
    dim = int(np.prod(IMAGE)) if image else D
    X = 2 * rng.standard_normal((N, *IMAGE) if image else (N, D))
    return {"X": X, "y": rng.integers(0, C, N),
            "param_W1": 0.5 * rng.standard_normal((dim, H)), "param_b1": 0.2 * rng.standard_normal(H),
            "param_W2": 0.5 * rng.standard_normal((H, C)), "param_b2": 0.2 * rng.standard_normal(C)}


def init_check() -> Check:
    check = Check("two_layer_init", "TwoLayerNet: initial parameters", "TwoLayerNet.__init__", FILE,
                  "Store W1 (D, H), b1 (H,), W2 (H, C) and b2 (C,) in self.params: weights from a Gaussian "
                  "with mean 0 and standard deviation weight_scale, biases zero.")
    D_, H_, C_ = INIT_DIMS
    for label, args, kwargs, scale in (
            (f"weight_scale = {INIT_SCALE}", [], {"input_dim": D_, "hidden_dim": H_, "num_classes": C_,
                                                   "weight_scale": INIT_SCALE}, INIT_SCALE),
            ("default weight_scale, positional arguments", [D_, H_, C_], {}, DEFAULT_WEIGHT_SCALE)):
        init = {"cls": CLASS, "args": args, "kwargs": kwargs}
        task = check.add_task(f"init{len(check.tasks)}", "call", {"init": init, "keep_params": True}, {})
        check.add_case(label, custom_case(label, task, _init_judge(label, scale)))
        if not args:
            check.add_shape_case([(task, f"param_{k}", shape) for k, shape in
                                  zip(PARAMS, [(D_, H_), (H_,), (H_, C_), (C_,)])])
    return check


def _init_judge(label, scale):
    D_, H_, C_ = INIT_DIMS
    shapes = {"W1": (D_, H_), "b1": (H_,), "W2": (H_, C_), "b2": (C_,)}

    def test(outputs):
        params = {k[len("param_"):]: v for k, v in outputs.items() if k.startswith("param_")}
        if sorted(params) != sorted(PARAMS):
            return CaseResult(label, False, f"self.params has keys {sorted(params)}, expected {sorted(PARAMS)}")
        for name, shape in shapes.items():
            if not squeezable(params[name].shape, shape):
                return CaseResult(label, False, f"{name} has shape {params[name].shape}, expected {shape}")
        for name in ("W1", "W2"):
            W = np.asarray(params[name], dtype=np.float64)
            if abs(W.std() / scale - 1) > INIT_STD_RTOL:
                return CaseResult(label, False, f"{name} has standard deviation {W.std():.3g}, expected "
                                  f"weight_scale = {scale:g}")
            if abs(W.mean()) > INIT_MEAN_SIGMAS * scale / np.sqrt(W.size):
                return CaseResult(label, False, f"{name} has mean {W.mean():.3g}: draw the weights from a "
                                  "Gaussian centred at 0")
        if any(np.any(params[name] != 0) for name in ("b1", "b2")):
            return CaseResult(label, False, "the biases b1 and b2 must start at zero")
        return CaseResult(label, True)

    return test


def scores_check() -> Check:
    check = Check("two_layer_scores", "TwoLayerNet: class scores (test-time forward pass)", "TwoLayerNet.loss",
                  FILE, "affine - relu - affine: when y is None, return the scores of shape (N, C). Inputs may "
                  "have shape (N, d_1, ..., d_k): affine_forward reshapes them.")
    check.after = FORWARD_CHECKS
    shapes = []
    for label, image in (("inputs of shape (N, D)", False), ("inputs of shape (N, 3, 2, 2)", True)):
        inputs = _inputs(f"two_layer_scores{image}", image)
        init = _init()
        init["kwargs"] = {**init["kwargs"], "input_dim": inputs["param_W1"].shape[0]}
        spec = {"init": init, "method": "loss", "args": [{"a": "X"}], "returns": "scores"}
        task = check.add_task(f"scores{int(image)}", "call", spec, inputs)
        expected = reference("call", spec, inputs)["scores"]
        check.add_case(label, compare_case(label, task, "scores", expected))
        shapes.append((task, "scores", expected.shape))
    check.add_shape_case(shapes)
    return check


def loss_check() -> Check:
    check = Check("two_layer_loss", "TwoLayerNet: softmax loss with L2 regularization", "TwoLayerNet.loss", FILE,
                  "The data loss is softmax_loss of the scores; add 0.5 * self.reg * (sum(W1**2) + sum(W2**2)).")
    check.after = (*FORWARD_CHECKS, "softmax_loss", "two_layer_scores")
    for reg in REGS:
        inputs = _inputs(f"two_layer_loss{reg}")
        spec = {"init": _init(reg), "method": "loss", "args": [{"a": "X"}, {"a": "y"}], "returns": ["loss", None]}
        task = check.add_task(f"reg{reg}", "call", spec, inputs)
        expected = reference("call", spec, inputs)["loss"]
        label = f"loss with reg = {reg}"
        check.add_case(label, compare_case(label, task, "loss", expected))
    return check


def gradients_check() -> Check:
    check = Check("two_layer_gradients", "TwoLayerNet: gradients (numeric gradient check)", "TwoLayerNet.loss",
                  FILE, "Backpropagate softmax_loss's dscores through the second affine layer, the ReLU and the "
                  "first affine layer (affine_backward, affine_relu_backward); add self.reg * W to each dW.")
    check.after = (*FORWARD_CHECKS, *BACKWARD_CHECKS, "two_layer_loss")
    for reg in REGS:
        inputs = _inputs(f"two_layer_gradients{reg}")
        spec = {"init": _init(reg), "method": "loss", "args": [{"a": "X"}, {"a": "y"}],
                "returns": ["loss", {"prefix": "grad_", "keys": list(PARAMS)}]}
        grad_task, _ = add_gradient_cases(check, f"reg{reg}", spec, inputs, PARAMS, "TwoLayerNet.loss forward pass",
                                          f" with reg = {reg}")
    check.add_shape_case([(grad_task, f"grad_{k}", inputs[f"param_{k}"].shape) for k in PARAMS])
    if hidden_build():
        _require_derived(check)
    return check


def _require_derived(check: Check) -> None:
    """TwoLayerNet.loss must backpropagate, not differentiate itself numerically (by calling
    itself, its layers or cs231n.gradient_check, or in a loop of its own): on a net of 55,510
    parameters (see :mod:`.analytic`), against the solution's gradients."""
    inputs = large_inputs("two_layer_gradients-large")
    init = _init(REGS[-1])
    init["kwargs"].update(input_dim=LARGE_D, hidden_dim=LARGE_H, num_classes=LARGE_C)
    grad = {"init": init, "method": "loss", "args": [{"a": "X"}, {"a": "y"}],
            "returns": ["loss", {"prefix": "grad_", "keys": list(PARAMS)}]}
    keys = {f"grad_{k}": inputs[f"param_{k}"].shape for k in PARAMS}
    expected = {k: v for k, v in reference("call", grad, inputs).items() if k in keys}
    analytic.require_derived(check, grad=grad, inputs=inputs, small=check.tasks[0],
                             watch=[f"{CLASS}.loss", *LAYER_FORWARDS], forward="its forward pass loss(X)", keys=keys,
                             expected=expected, base={"init": init, "method": "loss", "args": [{"a": "X"}],
                                                      "returns": "scores"})


def modular_two_layer_checks() -> list[Check]:
    """The layers the 2021+ two-layer notebook asks for, then the net built from them."""
    return [*affine_checks(), *relu_checks(), *softmax_check(),
            init_check(), scores_check(), loss_check(), gradients_check()]
