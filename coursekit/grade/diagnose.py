"""Diagnosis: name the likely cause of a failed check, from what the student's code returned.

Each :class:`Rule` has an ``id``, the ``message`` a student reads, the checks it looks at,
and a predicate over an :class:`Evidence`: the grader's inputs of each task of one failed
check, the student's outputs, and the solution's outputs (computed lazily in the parent).
Rules match observed outputs only: ratios to the reference, shapes, non-finite values, or
a known wrong formula recomputed here from the same inputs.  They never read source text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .checks import GRAD_STEP, VALUE_RTOL, Check, CaseResult, numeric_gradient, reference, rel_error
from .sandbox import Outcome, Task

MATCH_RTOL = 1e-9  # the student's output against a recomputed wrong formula
RATIO_TOL = 1e-6  # a fitted ratio (e.g. 0.5 of the reg term) against the ratio a rule names
DROPOUT_FRACTION_TOL = 0.02  # fraction of kept units against the one a dropout rule names
DROPOUT_MEAN_TOL = 0.05  # mean of out against the mean a dropout rule names (relative)
INIT_STD_TOL = 0.2  # std of initial weights against 1 (randn not scaled by weight_scale)
CHANCE_LOSS_FRACTION = 0.8  # a final training loss above this fraction of log(C) learned nothing
REG_LOSS = {"loss": 1.0, "fc_loss": 0.5}  # the factor of reg * sum(W**2) in each net's loss
REG_GRAD = {"gradients": 2.0, "fc_gradients": 1.0}  # the factor of reg * W in each net's dW


@dataclass(frozen=True)
class Diagnosis:
    """A rule that matched: its id and what the student reads."""

    id: str
    message: str


@dataclass
class Evidence:
    """What the parent saw for one check: per task (by suffix) its inputs, the student's and
    the solution's outputs, and the judged cases."""

    check: str
    tasks: dict[str, Task]
    outcomes: dict[str, Outcome]
    cases: list[CaseResult] = field(default_factory=list)
    references: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def of(cls, check: Check, outcomes: dict[str, Outcome], cases: list[CaseResult]) -> "Evidence":
        tasks = {t.id[len(check.name) + 1:]: t for t in check.tasks}
        return cls(check.name, tasks, {s: outcomes[t.id] for s, t in tasks.items() if t.id in outcomes}, cases)

    def inputs(self, suffix: str) -> dict[str, np.ndarray]:
        return self.tasks[suffix].inputs

    def spec(self, suffix: str) -> dict:
        return self.tasks[suffix].spec

    def out(self, suffix: str, key: str) -> np.ndarray | None:
        """The student's output as float64, or None when the task failed or returned no ``key``."""
        outcome = self.outcomes.get(suffix)
        if outcome is None or not outcome.ok or key not in outcome.outputs:
            return None
        return np.asarray(outcome.outputs[key], dtype=np.float64)

    def error(self, suffix: str) -> str:
        """The last line of the task's error (the exception, never the student's code lines)."""
        outcome = self.outcomes.get(suffix)
        return outcome.error.strip().splitlines()[-1] if outcome and not outcome.ok and outcome.error else ""

    def ref(self, suffix: str, key: str) -> np.ndarray:
        if suffix not in self.references:
            task = self.tasks[suffix]
            self.references[suffix] = reference(task.driver, task.spec, task.inputs)
        return self.references[suffix][key]


@dataclass(frozen=True)
class Rule:
    id: str
    checks: tuple[str, ...]
    message: str
    test: Callable[[Evidence], bool]


def close(got, expected, rtol: float = MATCH_RTOL) -> bool:
    return got is not None and np.shape(got) == np.shape(expected) and rel_error(got, expected) <= rtol


def instead(got, wrong, right) -> bool:
    """``got`` is the wrong formula's value and not the right one (the two differ on these inputs)."""
    return close(got, wrong) and not close(got, right)


def ratio(got, base) -> float | None:
    """The least-squares factor k with got ~ k * base, or None when it does not fit."""
    if got is None or np.shape(got) != np.shape(base) or not np.any(base):
        return None
    k = float(np.sum(got * base) / np.sum(base * base))
    return k if rel_error(got, k * base) <= RATIO_TOL else None


def near(value: float | None, target: float) -> bool:
    return value is not None and abs(value - target) <= RATIO_TOL * max(1.0, abs(target))


def suffixes(ev: Evidence, ending: str) -> list[str]:
    return [s for s in ev.tasks if s.endswith(ending)]


# --- two-layer net and fully connected net -----------------------------------------------

def _params(inputs: dict, kind: str) -> list[np.ndarray]:
    """The weights ("W") or biases ("b") of a net's inputs: param_W1, param_b1, ... (not beta1)."""
    return [v for k, v in sorted(inputs.items()) if re.fullmatch(f"param_{kind}\\d+", k)]


def _reg(spec: dict) -> float:
    return float(spec.get("kwargs", {}).get("reg", spec.get("init", {}).get("kwargs", {}).get("reg", 0.0)))


def _reg_loss_ratio(ev: Evidence, target: float) -> bool:
    """(loss - data loss) / expected reg term == target, on some task with reg > 0."""
    for suffix, task in ev.tasks.items():
        got, reg = ev.out(suffix, "loss"), _reg(task.spec)
        if got is None or reg == 0 or task.driver != "call":
            continue
        term = REG_LOSS[ev.check] * reg * sum(np.sum(W * W) for W in _params(task.inputs, "W"))
        data = ev.ref(suffix, "loss") - term
        if near(ratio(got - data, np.asarray(term)), target):
            return True
    return False


def _reg_biases(ev: Evidence) -> bool:
    for suffix, task in ev.tasks.items():
        got, reg = ev.out(suffix, "loss"), _reg(task.spec)
        if got is not None and reg > 0:
            extra = REG_LOSS[ev.check] * reg * sum(np.sum(b * b) for b in _params(task.inputs, "b"))
            if near(ratio(got - ev.ref(suffix, "loss"), np.asarray(extra)), 1.0):
                return True
    return False


def _reg_grad_ratio(ev: Evidence, target: float) -> bool:
    """(dW - reference dW) / expected reg gradient == target for every W, with reg > 0."""
    for suffix in suffixes(ev, "analytic"):
        spec, inputs = ev.spec(suffix), ev.inputs(suffix)
        reg = _reg(spec)
        if reg == 0 or spec["init"]["kwargs"].get("dropout_keep_ratio", 1.0) != 1.0:
            continue
        names = [k[len("param_"):] for k in inputs if k.startswith("param_W")]
        fits = [ratio(_minus(ev.out(suffix, f"grad_{n}"), ev.ref(suffix, f"grad_{n}")),
                      REG_GRAD[ev.check] * reg * inputs[f"param_{n}"]) for n in names]
        if names and all(near(k, target) for k in fits):
            return True
    return False


def _minus(a, b):
    return None if a is None or np.shape(a) != np.shape(b) else a - b


def _fc_configs(ev: Evidence, ending: str):
    """(task suffix, its net's keyword arguments) for each configuration of an fc check, in order."""
    for suffix in suffixes(ev, ending):
        yield suffix, ev.spec(suffix)["init"]["kwargs"]


def _only_dropout_fails(ev: Evidence) -> bool:
    """Every configuration with dropout fails its gradient check, every one without passes
    (fc_gradients has one case per configuration, in the order of its tasks)."""
    configs = [kw["dropout_keep_ratio"] < 1 for _, kw in _fc_configs(ev, "analytic")]
    if len(configs) != len(ev.cases) or all(configs) or not any(configs):
        return False
    return all(case.passed != dropout for case, dropout in zip(ev.cases, configs))


def _bn_param_shared(ev: Evidence) -> bool:
    """Batch norm nets fail with running averages of another layer's size; others run."""
    batchnorm = [s for s, kw in _fc_configs(ev, "train") if kw["normalization"] == "batchnorm"]
    others = [s for s, kw in _fc_configs(ev, "train") if kw["normalization"] != "batchnorm"]
    sizes = {f"({h},)" for h in ev.spec(batchnorm[0])["init"]["args"][0]} if batchnorm else set()
    return (len(sizes) > 1 and all(ev.outcomes.get(s) is not None and ev.outcomes[s].ok for s in others)
            and all("broadcast" in ev.error(s) and sum(size in ev.error(s) for size in sizes) > 1
                    for s in batchnorm))


def _relu_on_scores(ev: Evidence) -> bool:
    return any(instead(ev.out(s, "scores"), np.maximum(ev.ref(s, "scores"), 0), ev.ref(s, "scores"))
               for s, t in ev.tasks.items() if t.spec.get("returns") == "scores")


def _two_layer(inputs, gate=True, reg=0.0):
    """The two-layer net's scores and gradients, optionally without the ReLU gate backward."""
    X, y = inputs["X"], inputs["y"].astype(int)
    W1, b1, W2, b2 = (inputs[f"param_{k}"] for k in ("W1", "b1", "W2", "b2"))
    pre = X @ W1 + b1  # (N, H)
    hidden = np.maximum(pre, 0)
    scores = hidden @ W2 + b2  # (N, C)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    dscores = p / len(y)
    dhidden = dscores @ W2.T * ((pre > 0) if gate else 1)
    return {"grad_W1": X.T @ dhidden + 2 * reg * W1, "grad_b1": dhidden.sum(axis=0)}


def _no_relu_gate(ev: Evidence) -> bool:
    for suffix in suffixes(ev, "analytic"):
        wrong = _two_layer(ev.inputs(suffix), gate=False, reg=_reg(ev.spec(suffix)))
        if all(instead(ev.out(suffix, k), wrong[k], ev.ref(suffix, k)) for k in wrong):
            return True
    return False


def _no_hidden_relu(ev: Evidence) -> bool:
    i = ev.inputs("scores")
    linear = (i["X"] @ i["param_W1"] + i["param_b1"]) @ i["param_W2"] + i["param_b2"]
    return instead(ev.out("scores", "scores"), linear, ev.ref("scores", "scores"))


def _no_max_shift(ev: Evidence) -> bool:
    small, large = ("reg0", "large") if "large" in ev.tasks else ("analytic", "stable")
    loss = ev.out(large, "loss")
    return (loss is not None and not np.all(np.isfinite(loss))
            and close(ev.out(small, "loss"), ev.ref(small, "loss"), VALUE_RTOL))


def _scaled_by_n(ev: Evidence, suffix: str, key: str, power: int) -> bool:
    n = len(ev.inputs(suffix)["X" if "X" in ev.inputs(suffix) else "x"])
    return near(ratio(ev.out(suffix, key), ev.ref(suffix, key)), float(n) ** power)


def _same_minibatch(ev: Evidence) -> bool:
    batches = ev.out("minibatches", "batches")
    return batches is not None and len(batches) > 1 and len(set(batches[:, 0].round(9))) == 1


def _loss_rises(ev: Evidence) -> bool:
    history = ev.out("toy", "loss_history")
    if history is None or history.size < 2:
        return False
    finite = history[np.isfinite(history)]
    return not np.isfinite(history[-1]) or (finite.size > 1 and finite[-1] > finite[0])


def _loss_at_chance(ev: Evidence) -> bool:
    """Training runs (fresh minibatches, finite loss) but the loss ends near log(C), chance level."""
    history, classes = ev.out("toy", "loss_history"), ev.spec("toy")["init"]["args"][2]
    return (history is not None and history.size > 1 and bool(np.all(np.isfinite(history)))
            and history[-1] > CHANCE_LOSS_FRACTION * np.log(classes) and not _same_minibatch(ev))


def _step_shrinks_every_iteration(ev: Evidence) -> bool:
    """The first update equals the solution's (the first two losses match exactly), later
    ones fall behind and the loss stalls well above the solution's: the step size shrinks
    on every iteration rather than once per epoch."""
    got, ref = ev.out("toy", "loss_history"), ev.ref("toy", "loss_history")
    if got is None or got.shape != ref.shape or got.size < 20 or not np.all(np.isfinite(got)):
        return False
    late = got.size // 2
    return (close(got[:2], ref[:2]) and not close(got[2:], ref[2:]) and bool(got[-1] > 2 * ref[-1])
            and bool(got[late:].mean() < got[0]) and not _same_minibatch(ev))


def _predict_scores(ev: Evidence) -> bool:
    got = ev.out("predict", "y_pred")
    return got is not None and got.shape == ev.ref("predict", "y_pred").shape and np.any(got != np.round(got))


def _predict_axis(ev: Evidence) -> bool:
    got, classes = ev.out("predict", "y_pred"), ev.inputs("predict")["param_W2"].shape[1]
    return got is not None and got.shape == (classes,) != ev.ref("predict", "y_pred").shape


# --- layers ----------------------------------------------------------------------------

def _affine_not_flattened(ev: Evidence) -> bool:
    error = ev.error("c0").lower()
    return ev.inputs("c0")["x"].ndim > 2 and any(w in error for w in ("matmul", "not aligned", "shapes"))


def _dx_shape(ev: Evidence) -> bool:
    dx, x = ev.out("analytic", "dx"), ev.inputs("analytic")["x"]
    return (dx is not None and dx.shape == (len(x), x[0].size) != x.shape
            and close(dx.reshape(x.shape), ev.ref("analytic", "dx"), VALUE_RTOL))


def _dw_shape(ev: Evidence) -> bool:
    dw, i = ev.out("analytic", "dw"), ev.inputs("analytic")
    return (dw is not None and dw.shape != i["w"].shape) or (
        i["x"].ndim > 2 and any(w in ev.error("analytic").lower() for w in ("matmul", "not aligned", "shapes")))


def _relu_reduces(ev: Evidence) -> bool:
    x = ev.inputs("c0")["x"]
    return close(ev.out("c0", "out"), x.max(axis=0))


def _relu_gate_on_dout(ev: Evidence) -> bool:
    dout = ev.inputs("analytic")["dout"]
    return instead(ev.out("analytic", "dx"), dout * (dout > 0), ev.ref("analytic", "dx"))


def _norm(x, gamma, beta, axis, eps=1e-5, eps_outside=False):
    mu, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return gamma * (x - mu) / std + beta


def _bn_out(ev: Evidence, suffix: str, **kwargs) -> bool:
    i = ev.inputs(suffix)
    wrong = _norm(i["x"], i["gamma"], i["beta"], 0, **kwargs)
    return instead(ev.out(suffix, "out"), wrong, ev.ref(suffix, "out"))


def _bn_eps_outside(ev: Evidence) -> bool:
    """In the forward check, or in a backward check through the forward values of its gradient
    check: out is linear in beta, so the mean of out at beta +- h is out itself."""
    if "c0" in ev.tasks:
        return _bn_out(ev, "c0", eps_outside=True)
    grid, i = ev.out("numeric", "grid_beta"), ev.inputs("numeric")
    if grid is None:
        return False
    out = grid[0].mean(axis=0)  # (N, D)
    return instead(out, _norm(i["x"], i["gamma"], i["beta"], 0, eps_outside=True),
                   _norm(i["x"], i["gamma"], i["beta"], 0))


def _running_not_updated(ev: Evidence) -> bool:
    got = ev.out("c0", "running_mean")
    return got is not None and not np.any(got) and np.any(ev.ref("c0", "running_mean"))


def _running_swapped(ev: Evidence) -> bool:
    x, momentum = ev.inputs("c0")["x"], ev.spec("c0")["args"][3]["d"]["momentum"]
    return (instead(ev.out("c0", "running_mean"), momentum * x.mean(axis=0), ev.ref("c0", "running_mean"))
            and close(ev.out("c0", "running_var"), momentum * x.var(axis=0)))


def _bn_backward_parts(inputs, axis=0, eps=1e-5):
    x, gamma, dout = inputs["x"], inputs["gamma"], inputs["dout"]
    x_mu = x - x.mean(axis=axis, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=axis, keepdims=True) + eps)
    return x_mu, inv_std, dout * gamma


def _bn_no_mean_path(ev: Evidence) -> bool:
    x_mu, inv_std, dx_hat = _bn_backward_parts(ev.inputs("analytic"))
    dvar = -0.5 * inv_std**3 * np.sum(dx_hat * x_mu, axis=0)
    wrong = dx_hat * inv_std + x_mu * (2.0 / len(x_mu) * dvar)
    return instead(ev.out("analytic", "dx"), wrong, ev.ref("analytic", "dx"))


def _bn_no_variance_path(ev: Evidence) -> bool:
    _, inv_std, dx_hat = _bn_backward_parts(ev.inputs("analytic"))
    wrong = inv_std * (dx_hat - dx_hat.mean(axis=0))
    return instead(ev.out("analytic", "dx"), wrong, ev.ref("analytic", "dx"))


def _bn_forgets_gamma(ev: Evidence) -> bool:
    dx = ev.ref("analytic", "dx")
    return instead(ev.out("analytic", "dx"), dx / ev.inputs("analytic")["gamma"], dx)


def _ln_wrong_axis(ev: Evidence) -> bool:
    i = ev.inputs("c0")
    return instead(ev.out("c0", "out"), _norm(i["x"], i["gamma"], i["beta"], 0), ev.ref("c0", "out"))


def _ln_backward_axis(ev: Evidence) -> bool:
    x_mu, inv_std, dx_hat = _bn_backward_parts(ev.inputs("analytic"), axis=1)
    x_hat = x_mu * inv_std
    wrong = inv_std * (dx_hat - dx_hat.mean(axis=0) - x_hat * np.mean(dx_hat * x_hat, axis=0))
    return instead(ev.out("analytic", "dx"), wrong, ev.ref("analytic", "dx"))


def _ln_param_grads_per_example(ev: Evidence) -> bool:
    n = len(ev.inputs("analytic")["x"])
    return any(ev.out("analytic", k) is not None and ev.out("analytic", k).shape == (n,) != ev.ref("analytic", k).shape
               for k in ("dgamma", "dbeta"))


def _dropout_tasks(ev: Evidence, mode: str):
    for suffix, task in ev.tasks.items():
        out = ev.out(suffix, "out")
        if suffix.startswith(mode) and out is not None and out.shape == task.inputs["x"].shape:
            yield out, task.inputs["x"], float(task.spec["args"][1]["d"]["p"])


def _dropout_train(ev: Evidence, kept_fraction, mean_factor) -> bool:
    """Some train-mode task keeps kept_fraction(p) of the units with mean(out) ~ mean_factor(p) * mean(x)."""
    for out, x, p in _dropout_tasks(ev, "train"):
        kept, mean = float(np.mean(out != 0)), mean_factor(p) * x.mean()
        looks_wrong = (abs(kept_fraction(p) - p) > DROPOUT_FRACTION_TOL
                       or abs(mean_factor(p) - 1) > DROPOUT_MEAN_TOL)  # else it looks like correct dropout
        if (looks_wrong and abs(kept - kept_fraction(p)) <= DROPOUT_FRACTION_TOL
                and abs(out.mean() - mean) <= DROPOUT_MEAN_TOL * abs(mean)):
            return True
    return False


def _dropout_at_test(ev: Evidence) -> bool:
    return any(np.any((out == 0) & (x != 0)) for out, x, _ in _dropout_tasks(ev, "test"))


def _dropout_test_scaled(ev: Evidence) -> bool:
    return any(p != 1 and close(out, p * x) for out, x, p in _dropout_tasks(ev, "test"))


def _dropout_backward_unscaled(ev: Evidence) -> bool:
    dx, grid = ev.out("analytic", "dx"), ev.out("numeric", "grid_x")
    inputs, p = ev.inputs("analytic"), float(ev.spec("analytic")["args"][1]["d"]["p"])
    if dx is None or grid is None:
        return False
    numeric = numeric_gradient(grid, inputs["dout"], GRAD_STEP, inputs["x"].shape)
    return close(dx, p * numeric, 1e-6) and not close(dx, numeric, 1e-6)


# --- update rules: the student's steps against a known wrong update, replayed here --------

def _momentum(w, dw, c, s, sign=-1.0):
    v = c["momentum"] * s["velocity"] + sign * c["learning_rate"] * dw
    return w + v, {"velocity": v}


def _rmsprop(w, dw, c, s, eps_inside=False, swapped=False):
    d = 1 - c["decay_rate"] if swapped else c["decay_rate"]
    cache = d * s["cache"] + (1 - d) * dw * dw
    denom = np.sqrt(cache + c["epsilon"]) if eps_inside else np.sqrt(cache) + c["epsilon"]
    return w - c["learning_rate"] * dw / denom, {"cache": cache}


def _adam(w, dw, c, s, late_t=False, corrected=True):
    t = s["t"] + 1
    m = c["beta1"] * s["m"] + (1 - c["beta1"]) * dw
    v = c["beta2"] * s["v"] + (1 - c["beta2"]) * dw * dw
    used = t - 1 if late_t else t
    mt, vt = (m / (1 - c["beta1"] ** used), v / (1 - c["beta2"] ** used)) if corrected else (m, v)
    return w - c["learning_rate"] * mt / (np.sqrt(vt) + c["epsilon"]), {"m": m, "v": v, "t": t}


UPDATES = {"sgd_momentum": _momentum, "rmsprop": _rmsprop, "adam": _adam}


def replay(ev: Evidence, **variant) -> np.ndarray:
    """next_w after every step of the check's update rule, with a variant's wrong formula."""
    inputs, config = ev.inputs("steps"), ev.spec("steps")["config"]["d"]
    state = {k: inputs[v["a"]] for k, v in config.items() if isinstance(v, dict)}
    state.setdefault("t", config.get("t", 0))
    w, steps = inputs["w"], []
    for dw in inputs["dw"]:
        w, new = UPDATES[ev.check](w, dw, config, state, **variant)
        state.update(new)
        steps.append(w)
    return np.array(steps)


def _update_is(**variant) -> Callable[[Evidence], bool]:
    """The first step (before any stored state matters) is the variant's, not the reference's."""

    def test(ev: Evidence) -> bool:
        got = ev.out("steps", "w")
        return got is not None and instead(got[0], replay(ev, **variant)[0], ev.ref("steps", "w")[0])

    return test


def _state_not_stored(ev: Evidence) -> bool:
    config = ev.spec("steps")["config"]["d"]
    for key, value in config.items():
        got = ev.out("steps", key)
        if isinstance(value, dict) and got is not None and got.shape[1:] == ev.inputs("steps")[value["a"]].shape:
            if all(np.array_equal(step, ev.inputs("steps")[value["a"]]) for step in got):
                return True
    return False


# --- FullyConnectedNet.__init__ -------------------------------------------------------------

def _init_params(ev: Evidence):
    for suffix in ev.tasks:
        outcome = ev.outcomes.get(suffix)
        if outcome is not None and outcome.ok:
            yield {k[len("param_"):]: np.asarray(v, dtype=np.float64)
                   for k, v in outcome.outputs.items() if k.startswith("param_")}


def _init_unscaled(ev: Evidence) -> bool:
    return any(k.startswith("W") and abs(W.std() - 1) < INIT_STD_TOL for p in _init_params(ev) for k, W in p.items())


def _init_biases(ev: Evidence) -> bool:
    return any(re.fullmatch(r"b\d+", k) and np.any(b) for p in _init_params(ev) for k, b in p.items())


def _init_norm_last(ev: Evidence) -> bool:
    return any(f"gamma{n}" in p or f"beta{n}" in p
               for p in _init_params(ev) for n in [sum(k.startswith("W") for k in p)])


RULES = [
    # two-layer net
    Rule("no-hidden-relu", ("scores",), "your scores match a network without its ReLU: apply "
         "np.maximum(., 0) to the hidden layer", _no_hidden_relu),
    Rule("relu-on-scores", ("scores", "fc_loss"), "none of your scores is negative (they are the expected "
         "scores clipped at 0): the last layer is affine only, with no ReLU after it", _relu_on_scores),
    Rule("reg-loss-half", ("loss", "fc_loss"), "your regularisation loss is exactly half the expected "
         "value: check the 0.5 factor", lambda ev: _reg_loss_ratio(ev, 0.5)),
    Rule("reg-loss-double", ("loss", "fc_loss"), "your regularisation loss is exactly twice the expected "
         "value: check the 0.5 factor", lambda ev: _reg_loss_ratio(ev, 2.0)),
    Rule("reg-on-biases", ("loss", "fc_loss"), "your loss also penalises the biases: only the weights W "
         "are regularised", _reg_biases),
    Rule("reg-grad-half", ("gradients", "fc_gradients"), "your weight gradients miss half of the "
         "regularisation gradient: the derivative of reg * sum(W**2) is 2 * reg * W",
         lambda ev: _reg_grad_ratio(ev, -0.5)),
    Rule("reg-grad-missing", ("gradients", "fc_gradients"), "your weight gradients ignore regularisation: "
         "add the derivative of the regularisation loss to every dW", lambda ev: _reg_grad_ratio(ev, -1.0)),
    Rule("no-max-shift", ("loss", "softmax_loss"), "your loss is right for small scores but inf or nan "
         "for large ones: subtract each row's max score before np.exp", _no_max_shift),
    Rule("loss-summed", ("loss", "softmax_loss"), "your loss is exactly N times too large: average it "
         "over the N examples instead of summing",
         lambda ev: _scaled_by_n(ev, "reg0" if "reg0" in ev.tasks else "analytic", "loss", 1)),
    Rule("backward-no-relu-gate", ("gradients",), "your W1 and b1 gradients are those of a backward pass "
         "without the ReLU: zero the hidden gradient where the ReLU was inactive", _no_relu_gate),
    Rule("same-minibatch", ("toy_training",), "your minibatch is the same on every iteration: draw a new "
         "random one with np.random.choice each time, without re-seeding", _same_minibatch),
    Rule("loss-rises", ("toy_training",), "your training loss goes up: step against the gradient, "
         "params -= learning_rate * grad", _loss_rises),
    Rule("loss-at-chance", ("toy_training",), "your training loss stays near chance level, log(C), while "
         "the minibatches change: check that the labels y_batch belong to the inputs X_batch (index X and y "
         "with the same indices)", _loss_at_chance),
    Rule("lr-decay-every-step", ("toy_training",), "your first training step is right but later ones "
         "shrink: the learning rate looks decayed on every iteration. The given code decays it once per "
         "epoch, so update with learning_rate * grad", _step_shrinks_every_iteration),
    Rule("predict-scores", ("predict",), "your predictions are scores, not class labels: use np.argmax "
         "over the classes", _predict_scores),
    Rule("predict-wrong-axis", ("predict",), "your predictions have one entry per class instead of one per "
         "example: take the argmax over axis=1", _predict_axis),
    # layers
    Rule("affine-not-flattened", ("affine_forward",), "your affine layer fails on inputs of shape "
         "(N, d_1, ..., d_k): reshape x to (N, D) with x.reshape(N, -1) first", _affine_not_flattened),
    Rule("dx-not-reshaped", ("affine_backward",), "your dx has the right values but shape (N, D) instead "
         "of x's shape: reshape it to x.shape (keep the original x in the cache)", _dx_shape),
    Rule("dw-not-flattened", ("affine_backward",), "your dw has the wrong shape for inputs with more than "
         "two dimensions: use x.reshape(N, -1).T @ dout", _dw_shape),
    Rule("grad-averaged", ("affine_backward",), "your db is exactly N times too small: sum dout over the "
         "N examples, do not average it", lambda ev: _scaled_by_n(ev, "analytic", "db", -1)),
    Rule("grad-not-averaged", ("softmax_loss",), "your gradient is exactly N times too large: the loss is "
         "a mean, so divide dx by N", lambda ev: _scaled_by_n(ev, "analytic", "dx", 1)),
    Rule("relu-reduces", ("relu_forward",), "your ReLU returns the max over axis 0 (np.max(x, 0)): use "
         "np.maximum(x, 0), elementwise", _relu_reduces),
    Rule("relu-gated-by-dout", ("relu_backward",), "your ReLU gradient is gated by dout instead of x: let "
         "dout through where the forward input x was positive", _relu_gate_on_dout),
    Rule("bn-running-not-updated", ("batchnorm_forward",), "your running_mean and running_var never change "
         "in training: update them with the momentum formula on every forward pass", _running_not_updated),
    Rule("bn-momentum-swapped", ("batchnorm_forward",), "your running averages follow the last batch too "
         "closely: keep momentum * running + (1 - momentum) * batch statistic", _running_swapped),
    Rule("bn-eps-outside-sqrt", ("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt"), "your normalised values are slightly off: add eps "
         "to the variance inside the square root, 1 / sqrt(var + eps)", _bn_eps_outside),
    Rule("bn-test-batch-stats", ("batchnorm_forward",), "at test time you normalise with the batch "
         "statistics: use running_mean and running_var in test mode", lambda ev: _bn_out(ev, "c1")),
    Rule("bn-dx-no-mean-path", ("batchnorm_backward",), "your dx misses the path through the batch mean: "
         "the mean depends on every example, so subtract the mean of dx_mu over the batch", _bn_no_mean_path),
    Rule("bn-dx-no-variance-path", ("batchnorm_backward", "batchnorm_backward_alt"), "your dx misses the "
         "path through the batch variance: add its term (x_hat * mean(dx_hat * x_hat) in the simplified "
         "form)", _bn_no_variance_path),
    Rule("bn-dx-forgets-gamma", ("batchnorm_backward", "batchnorm_backward_alt"), "your dx is right only "
         "when gamma is 1: the gradient on x_hat is dout * gamma", _bn_forgets_gamma),
    Rule("ln-wrong-axis", ("layernorm_forward",), "you normalise each feature over the batch, as batch norm "
         "does: layer norm takes the mean and variance of each example, over axis=1", _ln_wrong_axis),
    Rule("ln-backward-batch-axis", ("layernorm_backward",), "your layer norm dx takes its means over the "
         "batch: in layer norm they are over the features of each example (axis=1, keepdims=True)",
         _ln_backward_axis),
    Rule("ln-param-grads-per-example", ("layernorm_backward",), "your dgamma and dbeta have one entry per "
         "example: gamma and beta act per feature, so sum over the N examples (axis=0)",
         _ln_param_grads_per_example),
    Rule("dropout-not-inverted", ("dropout_forward",), "your dropout output is p times too small on "
         "average: in inverted dropout divide the mask by p, so the expected output equals x",
         lambda ev: _dropout_train(ev, lambda p: p, lambda p: p)),
    Rule("dropout-keeps-1-minus-p", ("dropout_forward",), "your dropout keeps a fraction 1 - p of the "
         "units: p is the probability of keeping a unit, so keep where rand < p",
         lambda ev: _dropout_train(ev, lambda p: 1 - p, lambda p: (1 - p) / p)),
    Rule("dropout-at-test", ("dropout_forward",), "your dropout drops units at test time: in test mode "
         "return x unchanged", _dropout_at_test),
    Rule("dropout-test-scaled", ("dropout_forward",), "your test-mode output is x * p: with inverted "
         "dropout the scaling happens in training, so test mode returns x unchanged", _dropout_test_scaled),
    Rule("dropout-grad-unscaled", ("dropout_backward",), "your dropout gradient is p times too small: "
         "scale it like the forward pass, dx = dout * mask with the mask divided by p",
         _dropout_backward_unscaled),
    # update rules
    Rule("momentum-sign", ("sgd_momentum",), "your momentum update climbs the gradient: with "
         "next_w = w + v, the velocity is momentum * v - learning_rate * dw", _update_is(sign=1.0)),
    Rule("state-not-stored", ("sgd_momentum", "rmsprop", "adam"), "your first step is right but later "
         "ones are not: the state in config (e.g. config['velocity']) never changes; store the new value "
         "back in config", _state_not_stored),
    Rule("rmsprop-eps-in-sqrt", ("rmsprop",), "your RMSProp steps are too small when gradients are tiny: "
         "add epsilon after the square root, sqrt(cache) + epsilon", _update_is(eps_inside=True)),
    Rule("rmsprop-decay-swapped", ("rmsprop",), "your RMSProp cache follows the latest squared gradient: "
         "keep decay_rate * cache + (1 - decay_rate) * dw**2", _update_is(swapped=True)),
    Rule("adam-t-late", ("adam",), "bias-corrected moments look one step behind: increment t before "
         "using it", _update_is(late_t=True)),
    Rule("adam-no-bias-correction", ("adam",), "your Adam steps match an update without bias correction: "
         "divide m by (1 - beta1**t) and v by (1 - beta2**t)", _update_is(corrected=False)),
    # FullyConnectedNet.loss
    Rule("fc-dropout-backward", ("fc_gradients",), "your gradients are right without dropout and wrong with "
         "it: pass the gradient back through dropout_backward for every hidden layer", _only_dropout_fails),
    Rule("bn-param-shared", ("fc_loss", "fc_gradients"), "your batch norm layers fail with running averages of "
         "another layer's size: give layer i its own bn_param, self.bn_params[i - 1]", _bn_param_shared),
    # FullyConnectedNet.__init__
    Rule("init-not-scaled", ("fc_init",), "your initial weights have standard deviation 1: multiply "
         "np.random.randn by weight_scale", _init_unscaled),
    Rule("init-biases-not-zero", ("fc_init",), "your initial biases are not zero: initialise every b{i} "
         "with np.zeros", _init_biases),
    Rule("init-norm-on-last-layer", ("fc_init",), "you create gamma and beta for the output layer, which "
         "has no normalisation: only layers 1 to L-1 have them", _init_norm_last),
]
RULE_IDS = frozenset(rule.id for rule in RULES)


def diagnose(evidence: Evidence) -> list[Diagnosis]:
    """Every rule for this check whose predicate holds; a rule that cannot judge the values does not match."""
    found = []
    for rule in RULES:
        if evidence.check not in rule.checks:
            continue
        try:
            with np.errstate(all="ignore"):
                matched = bool(rule.test(evidence))
        except Exception:  # noqa: BLE001 - odd student values must never break the grade
            matched = False
        if matched:
            found.append(Diagnosis(rule.id, rule.message))
    return found
