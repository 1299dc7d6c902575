"""Checks of ``cs231n/layers.py``: every forward value and every backward pass.

Forward values are compared with the solution's; each backward pass is checked against
the numeric gradient of the student's own forward pass (computed in the parent from the
forward values the child returns) and against the solution's gradient.
"""
from __future__ import annotations

import numpy as np

from . import analytic
from .base import (GRAD_STEP, Check, CaseResult, compare_case, custom_case, first_failure, gradient_case,
                     hidden_build,
                     reference, rng_for)

LAYERS = "cs231n.layers"
FILE = "cs231n/layers.py"
DROPOUT_KEEP_TOL = 0.02  # |fraction of outputs kept - p|
DROPOUT_MEAN_RTOL = 0.05  # the mean of the output against the mean of the input
DROPOUT_VALUE_RTOL = 1e-6  # the scale factors of the kept units against each other
BN_PARAM = {"mode": "train", "eps": 1e-5, "momentum": 0.9}
BN_WARMUP_STEPS = 10  # training batches behind the running averages of the test-mode case


def _check(name, function, title, hint):
    return Check(name=name, title=title, function=function, file=FILE, hint=hint)


def forward_check(name, function, title, hint, cases):
    """Each case: (label, args, inputs, returns, compared keys); compared with the solution."""
    check = _check(name, function, title, hint)
    shapes = []
    for index, (label, args, inputs, returns, keys, extra) in enumerate(cases):
        spec = {"target": f"{LAYERS}:{function}", "args": args, "returns": returns, **extra}
        task = check.add_task(f"c{index}", "call", spec, inputs)
        expected = reference("call", spec, inputs)
        for key in keys:
            check.add_case(f"{label}: {key}", compare_case(f"{label}: {key}", task, key, expected[key]))
            shapes.append((task, key, expected[key].shape))
    check.add_shape_case(shapes)
    return check


def backward_check(name, function, forward, title, hint, args, inputs, grads, wrt,
                   against_reference=True, forward_returns=(None, None)):
    """Gradients of ``function`` against numeric ones of ``forward`` for each input in ``wrt``."""
    check = _check(name, function, title, hint)
    if forward != name:  # judged against its own forward pass: a wrong forward explains a failure
        check.after = (forward,)
    spec = _gradient_spec(function, forward, args, grads, forward_returns)
    grad_task = check.add_task("analytic", "call", spec, inputs)
    grid_spec = {"target": f"{LAYERS}:{forward}", "args": args, "pick": 0, "h": GRAD_STEP, "wrt": wrt}
    grid_task = check.add_task("numeric", "grid", grid_spec, inputs)
    expected = reference("call", spec, inputs) if against_reference else {}
    names = grads if isinstance(grads, list) else [grads]
    for arg in wrt:
        key = "d" + arg
        assert key in names, key
        label = f"gradient on {arg}"
        check.add_case(label, gradient_case(label, grad_task, key, grid_task, arg, inputs[arg].shape,
                                            inputs.get("dout"), expected.get(key), forward))
    check.add_shape_case([(grad_task, "d" + arg, inputs[arg].shape) for arg in wrt])
    return check


def _gradient_spec(function, forward, args, grads, forward_returns=(None, None)):
    """The ``call`` spec that returns ``function``'s gradients: the forward pass, then its cache
    to the backward pass (or one call, for a loss that returns its own gradient)."""
    if function == forward:  # a loss that returns its own gradient, like softmax_loss
        return {"target": f"{LAYERS}:{forward}", "args": args, "returns": grads}
    back = {"target": f"{LAYERS}:{function}", "dout": "dout", "returns": grads}
    return {"target": f"{LAYERS}:{forward}", "args": args, "returns": list(forward_returns), "backward": back}


def require_derived(check, forward, args, large, grads, wrt, forward_returns=(None, None), expected=None):
    """Hidden build: ``check``'s gradients must be derived, not numeric, on the inputs ``large()``
    makes (see :mod:`.analytic`); ``expected`` defaults to the solution's gradients."""
    if not hidden_build():
        return
    inputs = large()
    grad = _gradient_spec(check.function, forward, args, grads, forward_returns)
    keys = {"d" + arg: inputs[arg].shape for arg in wrt}
    if expected is None:
        expected = {key: value for key, value in reference("call", grad, inputs).items() if key in keys}
    own = check.function == forward  # no separate forward pass to time: the harness's softmax instead
    analytic.require_derived(check, grad=grad, inputs=inputs, small=check.tasks[0], watch=[f"{LAYERS}:{forward}"],
                             forward="a softmax of the same scores" if own else forward, keys=keys,
                             expected=expected, calibrate="x" if own else None,
                             base=None if own else {"target": f"{LAYERS}:{forward}", "args": args,
                                                    "returns": [None, None]})


def _away_from_zero(rng, shape):
    """Values with |x| >= 0.1, so no centred difference straddles the ReLU's kink."""
    return np.sign(rng.standard_normal(shape)) * (0.1 + np.abs(rng.standard_normal(shape)))


def affine_checks():
    rng = rng_for("affine")
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((8, 5)), rng.standard_normal(5)
    inputs = {"x": x, "w": w, "b": b, "dout": rng.standard_normal((3, 5))}
    args = [{"a": "x"}, {"a": "w"}, {"a": "b"}]
    backward = backward_check("affine_backward", "affine_backward", "affine_forward", "Affine layer: backward",
                              "Each gradient has the shape of what it differentiates: let the shapes pick the matrix "
                              "products; dx returns to x's original shape and db gathers dout over the N examples.",
                              args, inputs, ["dx", "dw", "db"], ["x", "w", "b"])
    # 51,010 entries; shapes whose matrix products stay on one BLAS thread in the parent
    require_derived(backward, "affine_forward", args, lambda: {
        "x": rng.standard_normal((500, 4, 25)), "w": rng.standard_normal((100, 10)) / 10,
        "b": rng.standard_normal(10), "dout": rng.standard_normal((500, 10))}, ["dx", "dw", "db"], ["x", "w", "b"])
    return [
        forward_check("affine_forward", "affine_forward", "Affine layer: forward",
                      "Flatten each example into one row of D values first; then it is a matrix product plus the bias.",
                      [("x of shape (3, 2, 4)", args, inputs, ["out", None], ["out"], {})]),
        backward,
    ]


def relu_checks():
    rng = rng_for("relu")
    inputs = {"x": _away_from_zero(rng, (4, 6)), "dout": rng.standard_normal((4, 6))}
    args = [{"a": "x"}]
    backward = backward_check("relu_backward", "relu_backward", "relu_forward", "ReLU: backward",
                              "dout passes where x > 0 and is zero elsewhere.", args, inputs, "dx", ["x"])
    require_derived(backward, "relu_forward", args, lambda: _elementwise_large(rng), "dx", ["x"])
    return [
        forward_check("relu_forward", "relu_forward", "ReLU: forward", "ReLU acts on each entry on its own: positive values pass, the others become 0.",
                      [("x of shape (4, 6)", args, inputs, ["out", None], ["out"], {})]),
        backward,
    ]


def softmax_check():
    rng = rng_for("softmax_loss")
    x, y = rng.standard_normal((7, 5)) * 2, rng.integers(0, 5, 7)
    check = backward_check("softmax_loss", "softmax_loss", "softmax_loss", "Softmax loss",
                           "Shifting each row's scores by a constant changes no probability but avoids overflow; the loss is a "
                           "mean over the N examples, and so is its gradient.",
                           [{"a": "x"}, {"a": "y"}], {"x": x, "y": y}, ["loss", "dx"], ["x"])
    spec = {"target": f"{LAYERS}:softmax_loss", "args": [{"a": "x"}, {"a": "y"}], "returns": ["loss", "dx"]}
    analytic = check.tasks[0].id  # the backward_check's call, which returns the loss too
    check.add_case("loss", compare_case("loss", analytic, "loss",
                                        reference("call", spec, {"x": x, "y": y})["loss"]))
    big = {"x": x + 1000.0, "y": y}  # an unshifted softmax overflows here
    task = check.add_task("stable", "call", spec, big)
    expected = reference("call", spec, big)
    for key in ("loss", "dx"):
        label = f"scores around 1000 (numeric stability): {key}"
        check.add_case(label, compare_case(label, task, key, expected[key]))
    require_derived(check, "softmax_loss", [{"a": "x"}, {"a": "y"}],
                    lambda: {"x": rng.standard_normal((30, 2000)) * 2, "y": rng.integers(0, 2000, 30)},
                    ["loss", "dx"], ["x"])
    return [check]


def running_statistics(rng, batch, steps=BN_WARMUP_STEPS, momentum=BN_PARAM["momentum"]):
    """The running averages after ``steps`` training batches, from zeros as the starter code
    begins: realistic test-mode statistics (the variance is well away from 0)."""
    mean, var = 0.0, 0.0
    for _ in range(steps):
        x = batch()
        mean = momentum * mean + (1 - momentum) * x.mean(axis=0)
        var = momentum * var + (1 - momentum) * x.var(axis=0)
    return {"running_mean": mean, "running_var": var}


def batchnorm_checks():
    rng = rng_for("batchnorm")
    N, D = 8, 4
    x = 3 * rng.standard_normal((N, D)) + 5
    gamma, beta = rng.standard_normal(D) + 1, rng.standard_normal(D)
    train = {"x": x, "gamma": gamma, "beta": beta, "dout": rng.standard_normal((N, D))}
    args = [{"a": "x"}, {"a": "gamma"}, {"a": "beta"}, {"d": BN_PARAM}]
    stats = running_statistics(rng, lambda: 3 * rng.standard_normal((N, D)) + 5)
    test_inputs = {"x": x, "gamma": gamma, "beta": beta, **stats}
    test_args = [{"a": "x"}, {"a": "gamma"}, {"a": "beta"},
                 {"d": {"mode": "test", "eps": 1e-5, "running_mean": {"a": "running_mean"},
                        "running_var": {"a": "running_var"}}}]
    after = {"after_args": {"running_mean": [3, "running_mean"], "running_var": [3, "running_var"]}}
    forward = forward_check(
        "batchnorm_forward", "batchnorm_forward", "Batch normalization: forward (train and test)",
        "Train: normalize with the batch mean and variance and update the running averages with "
        "momentum; test: normalize with the running averages.",
        [("train mode", args, train, ["out", None], ["out", "running_mean", "running_var"], after),
         ("test mode", test_args, test_inputs, ["out", None], ["out"], {})])
    hint = "Differentiate through the mean and the variance too: they depend on every example."
    backs = [backward_check(name, name, "batchnorm_forward", title, hint, args, train,
                            ["dx", "dgamma", "dbeta"], ["x", "gamma", "beta"])
             for name, title in (("batchnorm_backward", "Batch normalization: backward"),
                                 ("batchnorm_backward_alt", "Batch normalization: simplified backward"))]
    large = _norm_large(rng, 3, 5) if hidden_build() else {}  # one input for both backward passes
    for back in backs:
        require_derived(back, "batchnorm_forward", args, lambda: large, ["dx", "dgamma", "dbeta"],
                        ["x", "gamma", "beta"])
    return [forward, *backs]


def _norm_large(rng, scale, shift, shape=(600, 100)):
    """Large inputs of a normalization layer's backward pass: x, gamma, beta and dout."""
    return {"x": scale * rng.standard_normal(shape) + shift, "gamma": rng.standard_normal(shape[1]) + 1,
            "beta": rng.standard_normal(shape[1]), "dout": rng.standard_normal(shape)}


def layernorm_checks():
    rng = rng_for("layernorm")
    N, D = 5, 6
    inputs = {"x": 2 * rng.standard_normal((N, D)) - 1, "gamma": rng.standard_normal(D) + 1,
              "beta": rng.standard_normal(D), "dout": rng.standard_normal((N, D))}
    args = [{"a": "x"}, {"a": "gamma"}, {"a": "beta"}, {"d": {"eps": 1e-5}}]
    backward = backward_check("layernorm_backward", "layernorm_backward", "layernorm_forward",
                              "Layer normalization: backward",
                              "batchnorm_backward_alt's formula with the means over axis=1; dgamma and dbeta sum over N.",
                              args, inputs, ["dx", "dgamma", "dbeta"], ["x", "gamma", "beta"])
    require_derived(backward, "layernorm_forward", args, lambda: _norm_large(rng, 2, -1),
                    ["dx", "dgamma", "dbeta"], ["x", "gamma", "beta"])
    return [
        forward_check("layernorm_forward", "layernorm_forward", "Layer normalization: forward",
                      "Batch norm's training branch with statistics over the features (axis=1).",
                      [("x of shape (5, 6)", args, inputs, ["out", None], ["out"], {})]),
        backward,
    ]


def dropout_checks():
    rng = rng_for("dropout")
    x = rng.standard_normal((300, 300)) + 10
    check = _check("dropout_forward", "dropout_forward", "Dropout: forward (train and test)",
                   "p is the probability of keeping a unit. In training, drop units at random and scale the kept ones "
                   "so the expected output equals x; in test mode, change nothing.")
    for p in (0.25, 0.4, 0.7):
        for mode in ("train", "test"):
            spec = {"target": f"{LAYERS}:dropout_forward", "returns": ["out", None],
                    "args": [{"a": "x"}, {"d": {"mode": mode, "p": p, "seed": 7}}]}
            task = check.add_task(f"{mode}{p}", "call", spec, {"x": x})
            label = f"{mode} mode, p = {p}"
            check.add_case(label, custom_case(label, task, _dropout_judge(label, x, p, mode)))
    back_inputs = {"x": _away_from_zero(rng, (6, 5)), "dout": rng.standard_normal((6, 5))}
    backward = backward_check(
        "dropout_backward", "dropout_backward", "dropout_forward", "Dropout: backward",
        "In train mode the gradient flows through the kept units only, scaled by the same mask.",
        [{"a": "x"}, {"d": {"mode": "train", "p": 0.6, "seed": 123}}], back_inputs, "dx", ["x"],
        against_reference=False)  # any random mask is correct: check it against the forward pass only
    # ... but the forward pass it is checked against must be a dropout: an all-zero (or an
    # identity) "dropout" has a gradient consistent with itself.
    p = 0.6
    spec = {"target": f"{LAYERS}:dropout_forward", "returns": ["out", None],
            "args": [{"a": "x"}, {"d": {"mode": "train", "p": p, "seed": 123}}]}
    task = backward.add_task("forward", "call", spec, {"x": back_inputs["x"]})
    index = next(i for i, (label, _) in enumerate(backward.cases) if label == "gradient on x")
    label, gradient = backward.cases[index]
    mask = custom_case(label, task, _dropout_mask_judge(label, back_inputs["x"], p))
    backward.cases[index] = (label, first_failure(mask, gradient, public=not hidden_build()))
    require_derived(backward, "dropout_forward", [{"a": "x"}, {"d": {"mode": "train", "p": p, "seed": 123}}],
                    lambda: _elementwise_large(rng), "dx", ["x"], forward_returns=("out", None),
                    expected=_dropout_gradient)  # any mask is right: the one of the student's own forward pass
    return [check, backward]


def _elementwise_large(rng, shape=(300, 200)):
    """A large x (|x| >= 0.1) and dout for an elementwise layer's backward pass."""
    return {"x": _away_from_zero(rng, shape), "dout": rng.standard_normal(shape)}


def _dropout_gradient(outputs, inputs):
    """dx of a dropout whose forward pass returned ``out``: dout times the mask, out / x."""
    x = inputs["x"]
    return {"dx": inputs["dout"] * np.asarray(outputs["out"], dtype=np.float64).reshape(x.shape) / x}


def _dropout_mask_judge(label, x, p):
    """Some units of ``out`` are dropped (0) and the others kept, all scaled by one factor.

    Not the factor 1 / p itself: a mistake there is dropout_forward's, and its backward
    pass is still right for the forward pass it goes with.
    """

    def test(outputs):
        out = np.asarray(outputs["out"], dtype=np.float64)
        if out.size != x.size:
            return CaseResult(label, False, f"out has shape {out.shape}, expected {x.shape}")
        out = out.reshape(x.shape)
        kept = out != 0
        if not kept.any() or kept.all():
            return CaseResult(label, False, f"the train-mode forward pass this gradient goes with is not a "
                              f"dropout: {'no' if not kept.any() else 'every'} unit was kept with p = {p} "
                              "(dropout keeps each unit with probability p)")
        factors = out[kept] / x[kept]
        ok = np.allclose(factors, factors[0], rtol=DROPOUT_VALUE_RTOL, atol=0) and factors[0] > 0
        return CaseResult(label, bool(ok), "" if ok else "the train-mode forward pass this gradient goes "
                          "with scales the units it keeps by different factors: a dropout mask is 0 or one "
                          "constant")

    return test


def _dropout_judge(label, x, p, mode):
    def test(outputs):
        out = outputs["out"].astype(np.float64)
        if out.shape != x.shape or not np.all(np.isfinite(out)):
            return CaseResult(label, False, f"out has shape {out.shape} or non-finite values")
        if mode == "test":
            ok = np.array_equal(out, x)
            return CaseResult(label, ok, "" if ok else "test mode must return x unchanged")
        kept = float(np.mean(out != 0))
        if np.all((out != 0) == (out[0] != 0)):
            return CaseResult(label, False, "every example (row) has the same units kept: the mask "
                              "must be drawn independently for every element of x")
        mean_error = abs(out.mean() - x.mean()) / abs(x.mean())
        if abs(kept - p) > DROPOUT_KEEP_TOL:
            return CaseResult(label, False, f"{kept:.3f} of the units were kept, expected about p = {p}")
        if mean_error > DROPOUT_MEAN_RTOL:
            return CaseResult(label, False, f"the mean of out is {mean_error:.0%} away from the mean of x: "
                              "inverted dropout divides the kept units by p", mean_error)
        return CaseResult(label, True, rel_error=mean_error)

    return test


def layer_checks() -> list[Check]:
    return [*affine_checks(), *relu_checks(), *softmax_check(), *batchnorm_checks(),
            *layernorm_checks(), *dropout_checks()]
