"""Checks of ``FullyConnectedNet`` (fc_net.py) and the update rules (optim.py)."""
from __future__ import annotations

import numpy as np

from . import analytic
from .base import (GRAD_STEP, Check, CaseResult, compare_case, custom_case, fetch, first_failure, gradient_case,
                     hidden_build, reference, revealing_inputs, rng_for, squeezable)

FC_CLASS = "cs231n.classifiers.fc_net:FullyConnectedNet"
FC_FILE = "cs231n/classifiers/fc_net.py"
OPTIM_FILE = "cs231n/optim.py"
INIT_STD_RTOL = 0.2  # the spread of the initial weights against weight_scale
DROPOUT_LOSS_RTOL = 0.1  # train-mode loss with dropout: any random mask is correct, so the
DROPOUT_WEIGHT_SCALE = 0.05  # weights are small there and the initial loss is about log(C)
N, D, C, HIDDEN = 6, 5, 4, [7, 6]
OPTIM_DW_SCALE = 1e-2
DROPOUT_SEED = 123
MIN_LIVE = 0.25  # of a hidden layer's ReLU outputs, in fc_loss's unnormalized inputs (_loss_inputs)
BN_WARMUP_STEPS = 10  # training passes that give the test-mode cases their running averages
# The layer checks of the code FullyConnectedNet.loss runs in CONFIGS: when they fail, they
# can explain a failure of the net's checks.
FORWARD_CHECKS = ("affine_forward", "relu_forward", "batchnorm_forward", "layernorm_forward",
                  "dropout_forward", "softmax_loss")
BACKWARD_CHECKS = ("affine_backward", "relu_backward", "batchnorm_backward", "layernorm_backward",
                   "dropout_backward", "softmax_loss")
LARGE_N, LARGE_DIMS = 20, [100, 250, 100, 10]  # the large-input gradient case: 51,360 parameters (one BLAS thread)
LAYER_FORWARDS = [f"cs231n.layers:{name}" for name in ("affine_forward", "relu_forward", "batchnorm_forward",
                                                       "layernorm_forward", "dropout_forward", "softmax_loss")]

# (label, normalization, dropout_keep_ratio, reg)
CONFIGS = [("no normalization, reg = 0", None, 1.0, 0.0),
           ("no normalization, reg = 3.14", None, 1.0, 3.14),
           ("batchnorm, reg = 0.7", "batchnorm", 1.0, 0.7),
           ("layernorm, reg = 0.7", "layernorm", 1.0, 0.7),
           ("dropout keep 0.5", None, 0.5, 0.0),
           ("batchnorm and dropout keep 0.75", "batchnorm", 0.75, 0.1)]


def param_names(normalization, layers=len(HIDDEN) + 1):
    names = [f"{kind}{i}" for i in range(1, layers + 1) for kind in ("W", "b")]
    if normalization:
        names += [f"{kind}{i}" for i in range(1, layers) for kind in ("gamma", "beta")]
    return names


def random_params(rng, normalization, scale=0.5, dims=(D, *HIDDEN, C)):
    params = {}
    for i in range(1, len(dims)):
        params[f"W{i}"] = rng.standard_normal((dims[i - 1], dims[i])) * scale
        params[f"b{i}"] = rng.standard_normal(dims[i]) * 0.1
        if normalization and i < len(dims) - 1:
            params[f"gamma{i}"] = 1 + 0.2 * rng.standard_normal(dims[i])
            params[f"beta{i}"] = 0.2 * rng.standard_normal(dims[i])
    return params


def net_init(normalization, keep, reg, set_params=True):
    return {"cls": FC_CLASS, "args": [HIDDEN],
            "kwargs": {"input_dim": D, "num_classes": C, "normalization": normalization,
                       "dropout_keep_ratio": keep, "reg": reg, "weight_scale": 5e-2,
                       "dtype": {"t": "float64"}, "seed": DROPOUT_SEED},
            "set_params": param_names(normalization) if set_params else []}


def fc_init_check() -> Check:
    check = Check("fc_init", "FullyConnectedNet: initial parameters", "FullyConnectedNet.__init__", FC_FILE,
                  "Weights drawn from a normal distribution with standard deviation weight_scale, zero biases; "
                  "with normalization, gamma starts at one and beta at zero, in the hidden layers only.")
    for normalization in (None, "batchnorm", "layernorm"):
        init = net_init(normalization, 1.0, 0.0, set_params=False)
        init["args"] = [[40, 30]]
        init["kwargs"].update(input_dim=50, num_classes=10, weight_scale=0.1)
        task = check.add_task(str(normalization), "call",
                              {"init": init, "keep_params": True}, {})
        label = f"normalization = {normalization}"
        check.add_case(label, custom_case(label, task, _init_judge(label, normalization)))
        if normalization is None:
            check.add_shape_case([(task, f"param_{kind}{i}", shape) for i, dims in enumerate(
                [(50, 40), (40, 30), (30, 10)], start=1) for kind, shape in (("W", dims), ("b", dims[1:]))])
    return check


def _init_judge(label, normalization):
    dims = [50, 40, 30, 10]

    def test(outputs):
        params = {k[len("param_"):]: v for k, v in outputs.items() if k.startswith("param_")}
        expected = param_names(normalization, layers=3)
        if sorted(params) != sorted(expected):
            return CaseResult(label, False, f"self.params has keys {sorted(params)}, expected {sorted(expected)}")
        for i in range(1, 4):
            W, b = params[f"W{i}"], params[f"b{i}"]
            if not (squeezable(W.shape, (dims[i - 1], dims[i])) and squeezable(b.shape, (dims[i],))):
                return CaseResult(label, False, f"W{i} has shape {W.shape} and b{i} {b.shape}, expected "
                                  f"{(dims[i - 1], dims[i])} and {(dims[i],)}")
            if W.dtype != np.float64:
                return CaseResult(label, False, f"W{i} has dtype {W.dtype}; cast the params to dtype")
            if abs(W.std() / 0.1 - 1) > INIT_STD_RTOL or np.any(b != 0):
                return CaseResult(label, False, f"W{i} has std {W.std():.3g} (expected weight_scale = 0.1) "
                                  f"or b{i} is not zero")
            if normalization and i < 3 and (np.any(params[f"gamma{i}"] != 1) or np.any(params[f"beta{i}"] != 0)):
                return CaseResult(label, False, f"gamma{i} must start at ones and beta{i} at zeros")
        return CaseResult(label, True)

    return test


def fc_loss_check() -> Check:
    check = Check("fc_loss", "FullyConnectedNet: forward pass and loss", "FullyConnectedNet.loss", FC_FILE,
                  "{affine - [norm] - relu - [dropout]} x (L - 1) - affine - softmax; the loss adds "
                  "0.5 * reg * sum(W**2) for every W. Test mode (y is None) returns the scores.")
    check.after = FORWARD_CHECKS
    for index, (label, normalization, keep, reg) in enumerate(CONFIGS):
        rng = rng_for(f"fc_loss{index}")
        inputs = _loss_inputs(rng, normalization, keep)
        init = net_init(normalization, keep, reg)
        for mode, args, returns, key in (("train", [{"a": "X"}, {"a": "y"}], ["loss", None], "loss"),
                                         ("test", [{"a": "X"}], "scores", "scores")):
            spec = {"init": init, "method": "loss", "args": args, "returns": returns}
            if mode == "test" and normalization == "batchnorm":
                inputs = {**inputs, **trained_statistics(init, inputs, rng)}
            task = check.add_task(f"{index}{mode}", "call", spec, inputs)
            expected = reference("call", spec, inputs)[key]
            case = f"{label}, {mode} mode: {key}"
            if keep < 1 and mode == "train":  # any random mask is right: a loose tolerance, and
                judge = first_failure(compare_case(case, task, key, expected, rtol=DROPOUT_LOSS_RTOL),
                                      _dropout_applied(check, case, index, init, normalization, keep))
            else:
                judge = compare_case(case, task, key, expected)
            check.add_case(case, judge)
    return check


def _dropout_applied(check: Check, label: str, index: int, init: dict, normalization, keep: float):
    """A judge: the train-mode loss changes with the dropout seed (a net that applies no dropout,
    or the same mask whatever the seed, is not a dropout net).  On the public inputs, known to
    have live ReLUs; the judgement shows no reference value."""
    known = _loss_inputs(rng_for(f"fc_loss{index}", public=True), normalization, keep)
    runs = []
    for seed in (DROPOUT_SEED, DROPOUT_SEED + 1):
        spec = {"init": {**init, "kwargs": {**init["kwargs"], "seed": seed}}, "method": "loss",
                "args": [{"a": "X"}, {"a": "y"}], "returns": ["loss", None]}
        runs.append(check.add_task(f"{index}seed{seed}", "call", spec, known))
    return _differs_case(label, *runs, "loss")


def trained_statistics(init: dict, inputs: dict, rng) -> dict[str, np.ndarray]:
    """Batchnorm running averages of the solution after BN_WARMUP_STEPS training passes on
    batches like ``inputs["X"]``: the statistics a test-mode forward pass meets in practice
    (never running_var = 0, which magnifies an epsilon slip 1e5-fold)."""
    warm = {f"warm_{k}{step}": v for step in range(BN_WARMUP_STEPS)
            for k, v in (("X", rng.standard_normal((N, D))), ("y", rng.integers(0, C, N)))}
    spec = {"init": init, "warmup": BN_WARMUP_STEPS, "keep_bn": True}
    return reference("call", spec, {**inputs, **warm})


def _loss_inputs(rng, normalization, keep):
    """Inputs of one fc_loss case.  Without normalization, drawn again until every hidden layer
    has live ReLUs (``MIN_LIVE``): with small weights, about 1 draw in 100 had a hidden layer
    all zero, where dropout (applied at test time, or not at all) changes nothing and a wrong
    net passes the case (about 1 draw in 10 is redrawn).  Normalized layers are centred per
    unit: about half their ReLUs live."""
    scale = DROPOUT_WEIGHT_SCALE if keep < 1 else 0.5

    def draw(attempt: int) -> dict:  # the same generator, drawn on
        return {"X": rng.standard_normal((N, D)), "y": rng.integers(0, C, N),
                **{f"param_{k}": v for k, v in random_params(rng, normalization, scale).items()}}

    return revealing_inputs(draw, lambda inputs: normalization is not None or min(_live_fractions(inputs)) >= MIN_LIVE,
                            "live ReLUs in every hidden layer")


def _live_fractions(inputs) -> list[float]:
    """The fraction of nonzero ReLU outputs in each hidden layer of the unnormalized net."""
    h, fractions = inputs["X"], []
    for i in range(1, len(HIDDEN) + 1):
        h = np.maximum(h @ inputs[f"param_W{i}"] + inputs[f"param_b{i}"], 0)
        fractions.append(np.count_nonzero(h) / h.size)
    return fractions


def _differs_case(label, task_a, task_b, key):
    """A judge: ``key`` of two runs with different dropout seeds must differ."""

    def judge(outcomes):
        got = [fetch(outcomes, t, key, None) for t in (task_a, task_b)]
        failed = next((g for g in got if isinstance(g, str)), None)
        if failed is not None:
            return CaseResult(label, False, failed)
        a, b = got
        ok = a.shape == b.shape and not np.array_equal(a, b)
        return CaseResult(label, ok, "" if ok else "the loss is the same for two different dropout seeds: is "
                          "dropout applied after each ReLU in train mode, with self.dropout_param?")

    return judge


def fc_gradients_check() -> Check:
    check = Check("fc_gradients", "FullyConnectedNet: gradients (numeric gradient check)",
                  "FullyConnectedNet.loss", FC_FILE,
                  "Backpropagate through every layer in reverse order and add reg * W to each dW.")
    check.after = (*BACKWARD_CHECKS, "fc_loss")
    for index, (label, normalization, keep, reg) in enumerate(CONFIGS):
        # With dropout there is no reference gradient (any mask is right): the numeric gradient
        # alone judges, and random inputs can put a ReLU kink within h of a point (seen once in
        # hundreds of seeds). Those configurations keep the public inputs, known to be clear of
        # kinks; their judgement shows no reference value.
        rng = rng_for(f"fc_gradients{index}", public=keep < 1)
        params = random_params(rng, normalization)
        inputs = {"X": rng.standard_normal((N, D)), "y": rng.integers(0, C, N),
                  **{f"param_{k}": v for k, v in params.items()}}
        init = net_init(normalization, keep, reg)
        names = sorted(params)
        spec = {"init": init, "method": "loss", "args": [{"a": "X"}, {"a": "y"}],
                "returns": ["loss", {"prefix": "grad_", "keys": names}]}
        grad_task = check.add_task(f"{index}analytic", "call", spec, inputs)
        grid_task = check.add_task(f"{index}numeric", "grid", {**spec, "pick": 0, "h": GRAD_STEP,
                                                               "wrt": [f"param_{k}" for k in names]}, inputs)
        expected = reference("call", spec, inputs) if keep == 1 else {}
        judges = [(k, gradient_case(k, grad_task, f"grad_{k}", grid_task, f"param_{k}", params[k].shape,
                                    None, expected.get(f"grad_{k}"), "FullyConnectedNet.loss forward pass"))
                  for k in names]
        if keep < 1:  # gradients consistent with a forward pass that forgot dropout are not right
            plain = {**spec, "init": net_init(normalization, 1.0, reg)}
            without = {k: reference("call", plain, inputs)[f"grad_{k}"] for k in names}
            dropped = reference("call", spec, inputs)  # the solution's, with its mask
            if not all(np.allclose(dropped[f"grad_{k}"], v, rtol=1e-9, atol=0) for k, v in without.items()):
                judges.append(("dropout", _not_without_dropout(label, grad_task, without)))  # where inputs tell
        check.add_case(label, _all_of(label, judges))
    if hidden_build():
        _require_derived(check)
    return check


def _require_derived(check: Check) -> None:
    """FullyConnectedNet.loss must backpropagate, not differentiate itself numerically: on a net
    of 51,360 parameters (see :mod:`.analytic`), against the solution's gradients."""
    rng = rng_for("fc_gradients-large")
    params = random_params(rng, None, scale=0.1, dims=LARGE_DIMS)
    inputs = {"X": rng.standard_normal((LARGE_N, LARGE_DIMS[0])), "y": rng.integers(0, LARGE_DIMS[-1], LARGE_N),
              **{f"param_{k}": v for k, v in params.items()}}
    init = net_init(None, 1.0, 0.1)
    init["args"] = [LARGE_DIMS[1:-1]]
    init["kwargs"].update(input_dim=LARGE_DIMS[0], num_classes=LARGE_DIMS[-1])
    names = sorted(params)
    grad = {"init": init, "method": "loss", "args": [{"a": "X"}, {"a": "y"}],
            "returns": ["loss", {"prefix": "grad_", "keys": names}]}
    keys = {f"grad_{k}": params[k].shape for k in names}
    expected = {k: v for k, v in reference("call", grad, inputs).items() if k in keys}
    analytic.require_derived(check, grad=grad, inputs=inputs, small=check.tasks[0], watch=[f"{FC_CLASS}.loss", *LAYER_FORWARDS],
                             forward="its forward pass loss(X)", keys=keys, expected=expected,
                             base={"init": init, "method": "loss", "args": [{"a": "X"}], "returns": "scores"})


def _not_without_dropout(label, task_id, plain: dict[str, np.ndarray]):
    """A judge: the gradients must not be exactly those of the same net without dropout."""

    def judge(outcomes):
        outcome = outcomes.get(task_id)
        if outcome is None or not outcome.ok:
            return CaseResult(label, False, outcome.error if outcome else "this check did not run")
        same = all(f"grad_{k}" in outcome.outputs and np.asarray(outcome.outputs[f"grad_{k}"]).size == v.size
                   and np.allclose(np.asarray(outcome.outputs[f"grad_{k}"], dtype=np.float64).reshape(v.shape), v,
                                   rtol=1e-9, atol=0) for k, v in plain.items())
        return CaseResult(label, not same, "" if not same else "your gradients are exactly those of the same net "
                          "without dropout: apply the dropout mask in train mode (forward and backward)")

    return judge


def _all_of(label, judges):
    """One case over several parameters: it passes when every parameter's gradient does."""

    def judge(outcomes):
        results = [(name, judge(outcomes)) for name, judge in judges]
        failed = [(name, r) for name, r in results if not r.passed]
        worst = max((r.rel_error or 0.0 for _, r in results), default=0.0)
        if not failed:
            return CaseResult(label, True, rel_error=worst)
        name, first = failed[0]
        names = ", ".join(n for n, _ in failed)
        return CaseResult(label, False, f"wrong gradient on {names}; {name}: {first.detail}", first.rel_error)

    return judge


OPTIMIZERS = {
    "sgd_momentum": ({"learning_rate": 1e-2, "momentum": 0.9}, ["velocity"],
                     "The velocity remembers past steps (decayed by momentum) and w moves by it; keep it in "
                     "config['velocity'] for the next call."),
    "rmsprop": ({"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-3}, ["cache"],
                "Keep a decaying average of squared gradients in config['cache'] and divide each step by its "
                "square root, with epsilon added after the root."),
    "adam": ({"learning_rate": 1e-2, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-3}, ["m", "v", "t"],
             "Increment t first, then update both moments, correct their bias with t, and step as RMSProp "
             "does with the corrected first moment in place of dw."),
}


def optim_check(name: str, steps: int = 3) -> Check:
    config, state, hint = OPTIMIZERS[name]
    check = Check(name, f"Update rule: {name}", name, OPTIM_FILE, hint)
    rng = rng_for(name)
    shape = (4, 5)
    # Small gradients and a large epsilon, so that where epsilon goes (outside the square
    # root) changes the step: with epsilon = 1e-8 both places give the same numbers.
    inputs = {"w": rng.standard_normal(shape), "dw": rng.standard_normal((steps, *shape)) * OPTIM_DW_SCALE}
    start = {"velocity": rng.standard_normal(shape) * 1e-3, "cache": rng.random(shape) * 1e-6,
             "m": rng.standard_normal(shape) * 1e-3, "v": rng.random(shape) * 1e-6}
    spec_config = dict(config)
    for key in state:
        if key == "t":
            spec_config["t"] = 5
        else:
            inputs[f"state_{key}"] = start[key]
            spec_config[key] = {"a": f"state_{key}"}
    spec = {"target": f"cs231n.optim:{name}", "config": {"d": spec_config}, "state": state}
    task = check.add_task("steps", "optim", spec, inputs)
    expected = reference("optim", spec, inputs)
    for key in ["w", *state]:
        label = f"{'next_w' if key == 'w' else 'config[' + repr(key) + ']'} over {steps} steps"
        check.add_case(label, compare_case(label, task, key, expected[key]))
    check.add_shape_case([(task, "w", expected["w"].shape)])
    return check


def net_checks() -> list[Check]:
    return [fc_init_check(), fc_loss_check(), fc_gradients_check(),
            *(optim_check(name) for name in OPTIMIZERS)]
