"""Predicates for the two-layer net and the fully connected net: losses, gradients, training, predict."""
from __future__ import annotations

import re

import numpy as np

from ..checks.analytic import LARGE_LABEL
from ..checks.base import VALUE_RTOL

from .evidence import Evidence, close, instead, near, ratio, suffixes

CHANCE_LOSS_FRACTION = 0.8  # a final training loss above this fraction of log(C) learned nothing
REG_LOSS = {"loss": 1.0, "fc_loss": 0.5, "two_layer_loss": 0.5}  # the factor of reg * sum(W**2) in each net's loss
REG_GRAD = {"gradients": 2.0, "fc_gradients": 1.0, "two_layer_gradients": 1.0}  # the factor of reg * W in each dW
INIT_STD_TOL = 0.2  # std of initial weights against 1 (randn not scaled by weight_scale)


def params(inputs: dict, kind: str) -> list[np.ndarray]:
    """The weights ("W") or biases ("b") of a net's inputs: param_W1, param_b1, ... (not beta1)."""
    return [v for k, v in sorted(inputs.items()) if re.fullmatch(f"param_{kind}\\d+", k)]


def reg_of(spec: dict) -> float:
    return float(spec.get("kwargs", {}).get("reg", spec.get("init", {}).get("kwargs", {}).get("reg", 0.0)))


def reg_loss_ratio(ev: Evidence, target: float) -> bool:
    """(loss - data loss) / expected reg term == target, on some task with reg > 0."""
    for suffix, task in ev.tasks.items():
        got, reg = ev.out(suffix, "loss"), reg_of(task.spec)
        if got is None or reg == 0 or task.driver != "call":
            continue
        term = REG_LOSS[ev.check] * reg * sum(np.sum(W * W) for W in params(task.inputs, "W"))
        data = ev.ref(suffix, "loss") - term
        if near(ratio(got - data, np.asarray(term)), target):
            return True
    return False


def reg_biases(ev: Evidence) -> bool:
    for suffix, task in ev.tasks.items():
        got, reg = ev.out(suffix, "loss"), reg_of(task.spec)
        if got is not None and reg > 0:
            extra = REG_LOSS[ev.check] * reg * sum(np.sum(b * b) for b in params(task.inputs, "b"))
            if near(ratio(got - ev.ref(suffix, "loss"), np.asarray(extra)), 1.0):
                return True
    return False


def reg_grad_ratio(ev: Evidence, target: float) -> bool:
    """(dW - reference dW) / expected reg gradient == target for some W, with reg > 0, and every
    other W exact (a regularisation gradient missing from one layer, or from all)."""
    for suffix in suffixes(ev, "analytic"):
        spec, inputs = ev.spec(suffix), ev.inputs(suffix)
        reg = reg_of(spec)
        if reg == 0 or spec["init"]["kwargs"].get("dropout_keep_ratio", 1.0) != 1.0:
            continue
        names = [k[len("param_"):] for k in inputs if k.startswith("param_W")]
        fits = [ratio(minus(ev.out(suffix, f"grad_{n}"), ev.ref(suffix, f"grad_{n}")),
                      REG_GRAD[ev.check] * reg * inputs[f"param_{n}"]) for n in names]
        if any(near(k, target) for k in fits) and all(near(k, target) or near(k, 0.0) for k in fits):
            return True
    return False


def minus(a, b):
    return None if a is None or np.shape(a) != np.shape(b) else a - b


def fc_configs(ev: Evidence, ending: str):
    """(task suffix, its net's keyword arguments) for each configuration of an fc check, in order."""
    for suffix in suffixes(ev, ending):
        yield suffix, ev.spec(suffix)["init"]["kwargs"]


def only_dropout_fails(ev: Evidence) -> bool:
    """Every configuration with dropout fails its gradient check, every one without passes
    (fc_gradients has one case per configuration, in the order of its tasks, and the large-input
    case of checks/analytic.py)."""
    configs = [kw["dropout_keep_ratio"] < 1 for _, kw in fc_configs(ev, "analytic")]
    cases = [case for case in ev.cases if not case.label.startswith(LARGE_LABEL)]
    if len(configs) != len(cases) or all(configs) or not any(configs):
        return False
    ran = all(ev.outcomes.get(s) is not None and ev.outcomes[s].ok for s in suffixes(ev, "numeric"))
    return ran and all(case.passed != dropout for case, dropout in zip(cases, configs))


def bn_param_shared(ev: Evidence) -> bool:
    """Batch norm nets fail with running averages of another layer's size; others run."""
    batchnorm = [s for s, kw in fc_configs(ev, "train") if kw["normalization"] == "batchnorm"]
    others = [s for s, kw in fc_configs(ev, "train") if kw["normalization"] != "batchnorm"]
    sizes = {f"({h},)" for h in ev.spec(batchnorm[0])["init"]["args"][0]} if batchnorm else set()
    return (len(sizes) > 1 and all(ev.outcomes.get(s) is not None and ev.outcomes[s].ok for s in others)
            and all("broadcast" in ev.error(s) and sum(size in ev.error(s) for size in sizes) > 1
                    for s in batchnorm))


def relu_on_scores(ev: Evidence) -> bool:
    return any(instead(ev.out(s, "scores"), np.maximum(ev.ref(s, "scores"), 0), ev.ref(s, "scores"))
               for s in score_tasks(ev))


def score_tasks(ev: Evidence) -> list[str]:
    """The suffixes of the tasks that return a net's scores (a test-time forward pass)."""
    return [s for s, t in ev.tasks.items() if t.spec.get("returns") == "scores"]


def dense_net_gradients(inputs: dict, reg_grad: float, gate: bool = True) -> dict[str, np.ndarray]:
    """The gradients of a net of affine layers W1, b1, ..., WL, bL with ReLUs between them and a
    softmax loss (no normalization, no dropout), plus ``reg_grad * W`` on each dW; with
    ``gate=False``, the backward pass lets the gradient through every ReLU, as if it were not there."""
    X, y = inputs["X"].reshape(len(inputs["X"]), -1), inputs["y"].astype(int)
    layers = len(params(inputs, "W"))
    W = [inputs[f"param_W{i}"] for i in range(1, layers + 1)]
    b = [inputs[f"param_b{i}"] for i in range(1, layers + 1)]
    hidden, active = [X], []
    for i in range(layers - 1):
        pre = hidden[-1] @ W[i] + b[i]  # (N, H_i)
        active.append(pre > 0)
        hidden.append(np.maximum(pre, 0))
    scores = hidden[-1] @ W[-1] + b[-1]  # (N, C)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    dout, grads = p / len(y), {}
    for i in reversed(range(layers)):
        grads[f"grad_W{i + 1}"] = hidden[i].T @ dout + reg_grad * W[i]
        grads[f"grad_b{i + 1}"] = dout.sum(axis=0)
        if i:
            dout = dout @ W[i].T * (active[i - 1] if gate else 1)
    return grads


def no_relu_gate(ev: Evidence) -> bool:
    """Every gradient is that of a backward pass without the ReLUs' gates, and some differ from the
    right ones (on a configuration without normalization or dropout)."""
    for suffix in suffixes(ev, "analytic"):
        kwargs = ev.spec(suffix)["init"]["kwargs"]
        if kwargs.get("normalization") or kwargs.get("dropout_keep_ratio", 1.0) != 1.0:
            continue
        wrong = dense_net_gradients(ev.inputs(suffix), REG_GRAD[ev.check] * reg_of(ev.spec(suffix)), gate=False)
        if (all(close(ev.out(suffix, k), v) for k, v in wrong.items())
                and any(instead(ev.out(suffix, k), v, ev.ref(suffix, k)) for k, v in wrong.items())):
            return True
    return False


def no_hidden_relu(ev: Evidence) -> bool:
    for suffix in score_tasks(ev):
        i = ev.inputs(suffix)
        linear = (i["X"].reshape(len(i["X"]), -1) @ i["param_W1"] + i["param_b1"]) @ i["param_W2"] + i["param_b2"]
        if instead(ev.out(suffix, "scores"), linear, ev.ref(suffix, "scores")):
            return True
    return False


def no_max_shift(ev: Evidence) -> bool:
    small, large = ("reg0", "large") if "large" in ev.tasks else ("analytic", "stable")
    loss = ev.out(large, "loss")
    return (loss is not None and not np.all(np.isfinite(loss))
            and close(ev.out(small, "loss"), ev.ref(small, "loss"), VALUE_RTOL))


def scaled_by_n(ev: Evidence, suffix: str, key: str, power: int) -> bool:
    n = len(ev.inputs(suffix)["X" if "X" in ev.inputs(suffix) else "x"])
    return near(ratio(ev.out(suffix, key), ev.ref(suffix, key)), float(n) ** power)


def loss_summed(ev: Evidence) -> bool:
    """The loss without regularisation (softmax_loss's own, or a net's at reg = 0) is N times too large."""
    suffix = next(s for s in ("reg0", "reg0.0", "analytic") if s in ev.tasks)
    return scaled_by_n(ev, suffix, "loss", 1)


def same_minibatch(ev: Evidence) -> bool:
    batches = ev.out("minibatches", "batches")
    return batches is not None and len(batches) > 1 and len(set(batches[:, 0].round(9))) == 1


def loss_rises(ev: Evidence) -> bool:
    history = ev.out("toy", "loss_history")
    if history is None or history.size < 2:
        return False
    finite = history[np.isfinite(history)]
    return not np.isfinite(history[-1]) or (finite.size > 1 and finite[-1] > finite[0])


def loss_at_chance(ev: Evidence) -> bool:
    """Training runs (fresh minibatches, finite loss) but the loss ends near log(C), chance level."""
    history, classes = ev.out("toy", "loss_history"), ev.spec("toy")["init"]["args"][2]
    return (history is not None and history.size > 1 and bool(np.all(np.isfinite(history)))
            and history[-1] > CHANCE_LOSS_FRACTION * np.log(classes) and not same_minibatch(ev))


def step_shrinks_every_iteration(ev: Evidence) -> bool:
    """The first update equals the solution's (the first two losses match exactly), later
    ones fall behind and the loss stalls well above the solution's: the step size shrinks
    on every iteration rather than once per epoch."""
    got, ref = ev.out("toy", "loss_history"), ev.ref("toy", "loss_history")
    if got is None or got.shape != ref.shape or got.size < 20 or not np.all(np.isfinite(got)):
        return False
    late = got.size // 2
    return (close(got[:2], ref[:2]) and not close(got[2:], ref[2:]) and bool(got[-1] > 2 * ref[-1])
            and bool(got[late:].mean() < got[0]) and not same_minibatch(ev))


def predict_scores(ev: Evidence) -> bool:
    got = ev.out("predict", "y_pred")
    return got is not None and got.shape == ev.ref("predict", "y_pred").shape and np.any(got != np.round(got))


def predict_axis(ev: Evidence) -> bool:
    got, classes = ev.out("predict", "y_pred"), ev.inputs("predict")["param_W2"].shape[1]
    return got is not None and got.shape == (classes,) != ev.ref("predict", "y_pred").shape


# --- FullyConnectedNet.__init__ -------------------------------------------------------------

def init_params(ev: Evidence):
    """(task suffix, the parameters the student's __init__ made by name) of every init task that ran."""
    for suffix in ev.tasks:
        outcome = ev.outcomes.get(suffix)
        if outcome is not None and outcome.ok:
            yield suffix, {k[len("param_"):]: np.asarray(v, dtype=np.float64)
                           for k, v in outcome.outputs.items() if k.startswith("param_")}


def weights(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weight matrices W1, W2, ... of a net's parameters (not gamma, beta or the biases)."""
    return {k: v for k, v in p.items() if re.fullmatch(r"W\d+", k)}


def init_unscaled(ev: Evidence) -> bool:
    return any(abs(W.std() - 1) < INIT_STD_TOL for _, p in init_params(ev) for W in weights(p).values())


def init_biases(ev: Evidence) -> bool:
    return any(re.fullmatch(r"b\d+", k) and np.any(b) for _, p in init_params(ev) for k, b in p.items())


def init_uniform(ev: Evidence) -> bool:
    """Some weight matrix is all >= 0 and not all 0: drawn from [0, 1) (np.random.rand), not centred."""
    return any(W.size > 1 and np.all(W >= 0) and np.any(W > 0)
               for _, p in init_params(ev) for W in weights(p).values())


def init_transposed(ev: Evidence) -> bool:
    """Some weight matrix has the shape of the right one's transpose (and that shape is not square)."""
    for suffix, p in init_params(ev):
        for name, W in weights(p).items():
            right = np.shape(ev.ref(suffix, f"param_{name}"))
            if W.ndim == 2 and W.shape != right and W.shape == right[::-1]:
                return True
    return False


def init_norm_last(ev: Evidence) -> bool:
    return any(f"gamma{n}" in p or f"beta{n}" in p
               for _, p in init_params(ev) for n in [len(weights(p))])
