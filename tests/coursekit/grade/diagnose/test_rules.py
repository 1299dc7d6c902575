"""Diagnosis rules, fed the solution's outputs with one known mistake applied (no child process).

Each test builds the grader's real checks, takes the solution's outputs for their tasks as
what "came back", changes them the way a mistake would, judges them as the parent does, and
asks whether the expected rule (and only a rule, never an error) names the cause.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from coursekit.grade.checks.analytic import LARGE_LABEL
from coursekit.grade.checks.base import GRAD_STEP, reference
from coursekit.grade.diagnose import RULE_IDS, RULES, Evidence, diagnose
from coursekit.grade.diagnose.optim import replay
from coursekit.grade.pipeline import _judge, build_checks
from coursekit.grade.report import GradeReport, feedback_markdown
from coursekit.grade.sandbox.parent import Outcome
from coursekit.selfcheck.catalogue import MistakeError, parse_catalogue

REFERENCE_DRIVERS = ("call", "optim")
EPS = 1e-5  # the eps of the grader's batchnorm and layernorm inputs


MODULAR_CHECKS = ("two_layer_init", "two_layer_scores", "two_layer_loss", "two_layer_gradients")  # the modular flow's own


def all_checks(course, hidden_seed=None):
    """Every check by name: both assignments, and the net checks of the two-layer assignment's modular flow."""
    found = {c.name: c for a in ("two_layer_net", "fc_net") for c in build_checks(course, a, hidden_seed)}
    modular = build_checks(course.with_flow("two_layer_net", "modular"), "two_layer_net", hidden_seed)
    return found | {c.name: c for c in modular if c.name in MODULAR_CHECKS}


@pytest.fixture(scope="module")
def checks(course):
    return all_checks(course)


def solution_outputs(check, with_grids=False):
    """The solution's outputs for every task of ``check`` (grids only when asked), by suffix."""
    outputs = {}
    for task in check.tasks:
        if task.driver in REFERENCE_DRIVERS or (with_grids and task.driver == "grid"):
            outputs[task.id[len(check.name) + 1:]] = dict(reference(task.driver, task.spec, task.inputs))
    return outputs


def judged(check, outputs, errors=None):
    """The TestResult of ``check`` when the child returned ``outputs`` (and ``errors``) per suffix."""
    outcomes = {f"{check.name}.{s}": Outcome(True, {k: np.asarray(v) for k, v in out.items()})
                for s, out in outputs.items()}
    outcomes.update({f"{check.name}.{s}": Outcome(False, error=e) for s, e in (errors or {}).items()})
    return _judge(check, 1.0, outcomes)


def inputs_of(check, suffix):
    return next(t.inputs for t in check.tasks if t.id == f"{check.name}.{suffix}")


def spec_of(check, suffix):
    return next(t.spec for t in check.tasks if t.id == f"{check.name}.{suffix}")


def norm(x, gamma, beta, axis, eps_outside=False):
    mu, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    return gamma * (x - mu) / ((np.sqrt(var) + EPS) if eps_outside else np.sqrt(var + EPS)) + beta


def reg_of(spec):
    return spec.get("kwargs", {}).get("reg", spec.get("init", {}).get("kwargs", {}).get("reg", 0.0))


# --- one mistake per rule: (check, rule, how the mistake changes the solution's outputs) -----

def scores_no_relu(check, outs):
    for suffix, out in outs.items():
        i = inputs_of(check, suffix)
        out["scores"] = (i["X"].reshape(len(i["X"]), -1) @ i["param_W1"] + i["param_b1"]) @ i["param_W2"] + i["param_b2"]


def scores_clipped(check, outs):
    for suffix, out in outs.items():
        if "scores" in out:
            out["scores"] = np.maximum(out["scores"], 0)


REG_LOSS_FACTOR = {"loss": 1.0, "fc_loss": 0.5, "two_layer_loss": 0.5}  # of reg * sum(W**2), in each net's loss
REG_GRAD_FACTOR = {"gradients": 2.0, "fc_gradients": 1.0, "two_layer_gradients": 1.0}  # of reg * W, in each dW


def reg_loss_times(factor):
    def change(check, outs):
        half = REG_LOSS_FACTOR[check.name]
        for suffix, out in outs.items():
            reg = reg_of(spec_of(check, suffix))
            if "loss" in out and reg:
                term = half * reg * sum(np.sum(v * v) for k, v in inputs_of(check, suffix).items()
                                        if k.startswith("param_W"))
                out["loss"] = out["loss"] + (factor - 1) * term
    return change


def reg_on_biases(check, outs):
    for suffix, out in outs.items():
        reg = reg_of(spec_of(check, suffix))
        if "loss" in out and reg:
            out["loss"] = out["loss"] + 0.5 * reg * sum(np.sum(v * v) for k, v in inputs_of(check, suffix).items()
                                                        if re.fullmatch(r"param_b\d+", k))  # not beta


def reg_grad_minus(check, outs, fraction=1.0, only=None):
    """Take ``fraction`` of the regularisation gradient out of every dW (or of dW``only``)."""
    for suffix, out in outs.items():
        reg = REG_GRAD_FACTOR[check.name] * reg_of(spec_of(check, suffix))
        for key in [k for k in out if k.startswith("grad_W") and only in (None, k[len("grad_W"):])]:
            out[key] = out[key] - fraction * reg * inputs_of(check, suffix)["param_" + key[len("grad_"):]]


def loss_overflows(check, outs):
    outs["large" if "large" in outs else "stable"]["loss"] = np.array(np.nan)


def loss_times_n(check, outs):
    suffix = next(s for s in ("reg0", "reg0.0", "analytic") if s in outs)
    outs[suffix]["loss"] = outs[suffix]["loss"] * len(inputs_of(check, suffix).get("X", inputs_of(check, suffix).get("x")))


def no_relu_gate(check, outs):
    """The gradients of a net whose backward pass lets dout through every ReLU (configurations
    without normalization or dropout; the others keep the solution's)."""
    for suffix, out in outs.items():
        kwargs = spec_of(check, suffix)["init"]["kwargs"]
        if not suffix.endswith("analytic") or kwargs.get("normalization") or kwargs.get("dropout_keep_ratio", 1) < 1:
            continue
        i, reg = inputs_of(check, suffix), REG_GRAD_FACTOR[check.name] * reg_of(spec_of(check, suffix))
        layers = sum(1 for k in i if re.fullmatch(r"param_W\d+", k))
        hidden, dout = [i["X"]], None
        for n in range(1, layers):
            hidden.append(np.maximum(hidden[-1] @ i[f"param_W{n}"] + i[f"param_b{n}"], 0))
        scores = hidden[-1] @ i[f"param_W{layers}"] + i[f"param_b{layers}"]
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(p)), i["y"]] -= 1
        dout = p / len(p)
        for n in range(layers, 0, -1):
            out[f"grad_W{n}"] = hidden[n - 1].T @ dout + reg * i[f"param_W{n}"]
            out[f"grad_b{n}"] = dout.sum(axis=0)
            dout = dout @ i[f"param_W{n}"].T  # no ReLU gate


def same_batch(check, outs):
    outs["minibatches"] = {"batches": np.tile([[3.25, 10.0]], (20, 1))}


def rising_loss(check, outs):
    outs["toy"] = {"loss_history": np.linspace(1.1, 5.0, 200)}


def loss_at_chance(check, outs):
    outs["toy"] = {"loss_history": np.linspace(1.2, 1.03, 200)}
    outs["minibatches"] = {"batches": np.column_stack([np.arange(20.0), np.full(20, 10.0)])}


def step_shrinks_every_iteration(check, outs):
    task = next(t for t in check.tasks if t.id.endswith(".toy"))
    history = np.array(reference(task.driver, task.spec, task.inputs)["loss_history"], dtype=np.float64)
    history[2:] = np.linspace(history[1], 0.3 * history[1], history.size - 2)  # first step right, then stalls
    outs["toy"] = {"loss_history": history}


def gradients_wrong_with_dropout(check, outs):
    for task in check.tasks:
        suffix = task.id[len(check.name) + 1:]
        if suffix.endswith("analytic") and task.spec["init"]["kwargs"]["dropout_keep_ratio"] < 1:
            outs[suffix]["grad_W1"] = outs[suffix]["grad_W1"] * 1.1


def predict_scores(check, outs):
    outs["predict"]["y_pred"] = outs["predict"]["y_pred"] + 0.37


def predict_axis(check, outs):
    outs["predict"]["y_pred"] = np.array([3.0, 0.0, 1.0, 2.0])


def dx_flat(check, outs):
    outs["analytic"]["dx"] = outs["analytic"]["dx"].reshape(3, -1)


def dw_unflattened(check, outs):
    i = inputs_of(check, "analytic")
    outs["analytic"]["dw"] = i["x"].T @ i["dout"]


def db_mean(check, outs):
    outs["analytic"]["db"] = outs["analytic"]["db"] / 3


def dx_times_n(check, outs):
    outs["analytic"]["dx"] = outs["analytic"]["dx"] * len(inputs_of(check, "analytic")["x"])


def relu_np_max(check, outs):
    outs["c0"]["out"] = inputs_of(check, "c0")["x"].max(axis=0)


def relu_gate_dout(check, outs):
    dout = inputs_of(check, "analytic")["dout"]
    outs["analytic"]["dx"] = dout * (dout > 0)


def running_zero(check, outs):
    outs["c0"].update(running_mean=np.zeros(4), running_var=np.zeros(4))


def running_swapped(check, outs):
    x = inputs_of(check, "c0")["x"]
    outs["c0"].update(running_mean=0.9 * x.mean(axis=0), running_var=0.9 * x.var(axis=0))


def bn_eps_outside(check, outs):
    i = inputs_of(check, "c0")
    outs["c0"]["out"] = norm(i["x"], i["gamma"], i["beta"], 0, eps_outside=True)


def bn_eps_outside_seen_backward(check, outs):
    """The forward values of the gradient check, from an eps-outside forward; dx a little off."""
    i = inputs_of(check, "numeric")
    grid = []
    for index in range(i["beta"].size):
        pair = []
        for sign in (1.0, -1.0):
            beta = i["beta"].copy()
            beta[index] += sign * GRAD_STEP
            pair.append(norm(i["x"], i["gamma"], beta, 0, eps_outside=True))
        grid.append(pair)
    outs["numeric"] = {"grid_beta": np.array(grid)}
    outs["analytic"]["dx"] = outs["analytic"]["dx"] * (1 + 1e-5)


def bn_test_batch(check, outs):
    i = inputs_of(check, "c1")
    outs["c1"]["out"] = norm(i["x"], i["gamma"], i["beta"], 0)


def bn_parts(check, axis=0):
    i = inputs_of(check, "analytic")
    x_mu = i["x"] - i["x"].mean(axis=axis, keepdims=True)
    inv_std = 1 / np.sqrt(i["x"].var(axis=axis, keepdims=True) + EPS)
    return x_mu, inv_std, i["dout"] * i["gamma"]


def bn_no_mean_path(check, outs):
    x_mu, inv_std, dx_hat = bn_parts(check)
    dvar = -0.5 * inv_std**3 * np.sum(dx_hat * x_mu, axis=0)
    outs["analytic"]["dx"] = dx_hat * inv_std + x_mu * (2.0 / len(x_mu) * dvar)


def bn_no_variance_path(check, outs):
    _, inv_std, dx_hat = bn_parts(check)
    outs["analytic"]["dx"] = inv_std * (dx_hat - dx_hat.mean(axis=0))


def bn_forgets_gamma(check, outs):
    outs["analytic"]["dx"] = outs["analytic"]["dx"] / inputs_of(check, "analytic")["gamma"]


def ln_batch_axis(check, outs):
    i = inputs_of(check, "c0")
    outs["c0"]["out"] = norm(i["x"], i["gamma"], i["beta"], 0)


def ln_backward_batch_axis(check, outs):
    x_mu, inv_std, dx_hat = bn_parts(check, axis=1)
    x_hat = x_mu * inv_std
    outs["analytic"]["dx"] = inv_std * (dx_hat - dx_hat.mean(axis=0) - x_hat * np.mean(dx_hat * x_hat, axis=0))


def ln_param_grads_rows(check, outs):
    i = inputs_of(check, "analytic")
    outs["analytic"]["dbeta"] = i["dout"].sum(axis=1)


def dropout_outputs(check, train, test):
    """Train- and test-mode outputs from ``train(x, keep, p)`` and ``test(x, keep, p)``."""
    outs = {}
    for task in check.tasks:
        suffix, x = task.id[len(check.name) + 1:], task.inputs["x"]
        p = task.spec["args"][1]["d"]["p"]
        keep = np.random.default_rng(0).random(x.shape)
        outs[suffix] = {"out": (train if suffix.startswith("train") else test)(x, keep, p)}
    return outs


CORRECT_TRAIN = (lambda x, r, p: x * (r < p) / p)
CORRECT_TEST = (lambda x, r, p: x)


def dropout_case(train=CORRECT_TRAIN, test=CORRECT_TEST):
    def change(check, outs):
        outs.clear()
        outs.update(dropout_outputs(check, train, test))
    return change


def dropout_grad_unscaled(check, outs):
    i, p = inputs_of(check, "analytic"), spec_of(check, "analytic")["args"][1]["d"]["p"]
    grid = outs["numeric"]["grid_x"]
    numeric = ((grid[:, 0] - grid[:, 1]) * i["dout"]).reshape(grid.shape[0], -1).sum(axis=1) / (2 * GRAD_STEP)
    outs["analytic"]["dx"] = p * numeric.reshape(i["x"].shape)


def db_keepdims(check, outs):
    outs["analytic"]["db"] = outs["analytic"]["db"].reshape(1, -1)


def one_mask_per_batch(x, r, p):
    """2017-style code with the mask drawn for one example: every row keeps the same units."""
    return x * (r[:1] < p) / p


def update_variant(**variant):
    def change(check, outs):
        ev = Evidence(check.name, {t.id[len(check.name) + 1:]: t for t in check.tasks}, {})
        outs["steps"]["w"] = replay(ev, **variant)
    return change


def velocity_not_stored(check, outs):
    outs["steps"]["velocity"] = np.stack([inputs_of(check, "steps")["state_velocity"]] * 3)


def init_change(key, change):
    def apply(check, outs):
        for out in outs.values():
            if key in out:
                out[key] = change(out[key])
        if key == "param_gamma3":
            for suffix in ("batchnorm", "layernorm"):
                outs[suffix].update(param_gamma3=np.ones(10), param_beta3=np.zeros(10))
    return apply


CASES = [
    ("scores", "no-hidden-relu", scores_no_relu),
    ("scores", "relu-on-scores", scores_clipped),
    ("fc_loss", "relu-on-scores", scores_clipped),
    ("loss", "reg-loss-half", reg_loss_times(0.5)),
    ("fc_loss", "reg-loss-double", reg_loss_times(2.0)),
    ("fc_loss", "reg-on-biases", reg_on_biases),
    ("gradients", "reg-grad-half", lambda check, outs: reg_grad_minus(check, outs, fraction=0.5)),
    ("fc_gradients", "reg-grad-missing", reg_grad_minus),
    ("loss", "no-max-shift", loss_overflows),
    ("softmax_loss", "no-max-shift", loss_overflows),
    ("loss", "loss-summed", loss_times_n),
    ("softmax_loss", "loss-summed", loss_times_n),
    ("gradients", "backward-no-relu-gate", no_relu_gate),
    ("toy_training", "same-minibatch", same_batch),
    ("toy_training", "loss-rises", rising_loss),
    ("toy_training", "loss-at-chance", loss_at_chance),
    ("toy_training", "lr-decay-every-step", step_shrinks_every_iteration),
    ("fc_gradients", "fc-dropout-backward", gradients_wrong_with_dropout),
    ("predict", "predict-scores", predict_scores),
    ("predict", "predict-wrong-axis", predict_axis),
    ("affine_backward", "dx-not-reshaped", dx_flat),
    ("affine_backward", "dw-not-flattened", dw_unflattened),
    ("affine_backward", "grad-averaged", db_mean),
    ("softmax_loss", "grad-not-averaged", dx_times_n),
    ("relu_forward", "relu-reduces", relu_np_max),
    ("relu_backward", "relu-gated-by-dout", relu_gate_dout),
    ("batchnorm_forward", "bn-running-not-updated", running_zero),
    ("batchnorm_forward", "bn-momentum-swapped", running_swapped),
    ("batchnorm_forward", "bn-eps-outside-sqrt", bn_eps_outside),
    ("batchnorm_backward", "bn-eps-outside-sqrt", bn_eps_outside_seen_backward),
    ("batchnorm_forward", "bn-test-batch-stats", bn_test_batch),
    ("batchnorm_backward", "bn-dx-no-mean-path", bn_no_mean_path),
    ("batchnorm_backward", "bn-dx-no-variance-path", bn_no_variance_path),
    ("batchnorm_backward_alt", "bn-dx-no-variance-path", bn_no_variance_path),
    ("batchnorm_backward_alt", "bn-dx-forgets-gamma", bn_forgets_gamma),
    ("layernorm_forward", "ln-wrong-axis", ln_batch_axis),
    ("layernorm_backward", "ln-backward-batch-axis", ln_backward_batch_axis),
    ("layernorm_backward", "ln-param-grads-per-example", ln_param_grads_rows),
    ("dropout_forward", "dropout-not-inverted", dropout_case(train=lambda x, r, p: x * (r < p))),
    ("dropout_forward", "dropout-keeps-1-minus-p", dropout_case(train=lambda x, r, p: x * (r < 1 - p) / p)),
    ("dropout_forward", "dropout-at-test", dropout_case(test=CORRECT_TRAIN)),
    ("dropout_forward", "dropout-drop-probability",
     dropout_case(train=lambda x, r, p: x * (r >= p) / (1 - p))),
    ("dropout_forward", "dropout-mask-shared", dropout_case(train=one_mask_per_batch)),
    ("affine_backward", "keepdims-shape", db_keepdims),
    ("dropout_forward", "dropout-test-scaled", dropout_case(test=lambda x, r, p: x * p)),
    ("dropout_backward", "dropout-grad-unscaled", dropout_grad_unscaled),
    ("sgd_momentum", "momentum-sign", update_variant(sign=1.0)),
    ("sgd_momentum", "state-not-stored", velocity_not_stored),
    ("rmsprop", "rmsprop-eps-in-sqrt", update_variant(eps_inside=True)),
    ("rmsprop", "rmsprop-decay-swapped", update_variant(swapped=True)),
    ("adam", "adam-t-late", update_variant(late_t=True)),
    ("adam", "adam-no-bias-correction", update_variant(corrected=False)),
    ("fc_init", "init-not-scaled", init_change("param_W1", lambda W: W * 10)),
    ("fc_init", "init-biases-not-zero", init_change("param_b2", lambda b: b + 0.01)),
    ("fc_init", "init-norm-on-last-layer", init_change("param_gamma3", None)),
    ("fc_init", "init-uniform", init_change("param_W2", np.abs)),
    ("fc_init", "init-transposed", init_change("param_W1", np.transpose)),
    ("fc_gradients", "backward-no-relu-gate", no_relu_gate),
    ("fc_gradients", "reg-grad-missing", lambda check, outs: reg_grad_minus(check, outs, only="3")),
    # the modular flow's TwoLayerNet (fc_net.py), with the rules of its siblings
    ("two_layer_init", "init-uniform", init_change("param_W1", lambda W: np.abs(W))),
    ("two_layer_init", "init-transposed", init_change("param_W1", np.transpose)),
    ("two_layer_init", "init-not-scaled", init_change("param_W2", lambda W: W / W.std())),
    ("two_layer_init", "init-biases-not-zero", init_change("param_b1", lambda b: b + 0.01)),
    ("two_layer_scores", "no-hidden-relu", scores_no_relu),
    ("two_layer_scores", "relu-on-scores", scores_clipped),
    ("two_layer_loss", "reg-loss-double", reg_loss_times(2.0)),
    ("two_layer_loss", "reg-loss-half", reg_loss_times(0.5)),
    ("two_layer_loss", "reg-on-biases", reg_on_biases),
    ("two_layer_loss", "loss-summed", loss_times_n),
    ("two_layer_gradients", "backward-no-relu-gate", no_relu_gate),
    ("two_layer_gradients", "reg-grad-missing", reg_grad_minus),
    ("two_layer_gradients", "reg-grad-missing", lambda check, outs: reg_grad_minus(check, outs, only="2")),
    ("two_layer_gradients", "reg-grad-half", lambda check, outs: reg_grad_minus(check, outs, fraction=0.5)),
    ("two_layer_gradients", "keepdims-shape", lambda check, outs: outs["reg0.7analytic"].update(
        grad_b2=outs["reg0.7analytic"]["grad_b2"].reshape(1, -1))),
]
NEEDS_GRIDS = {"dropout_backward", "fc_gradients", "two_layer_gradients"}
ERRORS = {("affine_forward", "affine-not-flattened"): {
    "c0": "cs231n/layers.py, line 40, in affine_forward: out = x @ w + b\nValueError: matmul: Input "
          "operand 1 has a mismatch in its core dimension 0 (size 8 is different from 4)"}}


@pytest.mark.parametrize("check_name, rule_id, change", CASES, ids=[f"{c}-{r}" for c, r, _ in CASES])
def test_rule_names_its_mistake(checks, check_name, rule_id, change):
    """Does the rule name the cause when the outputs show its mistake, in the feedback too?"""
    check = checks[check_name]
    outs = solution_outputs(check, with_grids=check_name in NEEDS_GRIDS)
    change(check, outs)
    test = judged(check, outs)
    if test.passed:  # below the check's tolerance (eps outside the root): a failure elsewhere triggers it
        test = judged(check, outs, {list(outs)[-1]: "another case failed"})
    assert not test.passed
    assert rule_id in [d.id for d in test.diagnoses]
    message = next(r.message for r in RULES if r.id == rule_id)
    assert f"Likely cause: {message}" in test.output()


def test_affine_error_is_diagnosed(checks):
    """Is a matmul shape error on (N, d_1, d_2) inputs traced to the missing reshape?"""
    check = checks["affine_forward"]
    test = judged(check, {}, ERRORS[("affine_forward", "affine-not-flattened")])
    assert [d.id for d in test.diagnoses] == ["affine-not-flattened"]


def test_shared_bn_param_is_diagnosed(checks):
    """Do batch norm nets that fail with another layer's running-average size point to bn_params[i - 1]?"""
    check = checks["fc_loss"]
    outs = solution_outputs(check)
    broken = {t.id[len(check.name) + 1:]: "cs231n/layers.py, line 189, in batchnorm_forward: ...\nValueError: "
              "operands could not be broadcast together with shapes (7,) (6,)"
              for t in check.tasks if t.spec["init"]["kwargs"]["normalization"] == "batchnorm"}
    test = judged(check, {s: o for s, o in outs.items() if s not in broken}, broken)
    assert [d.id for d in test.diagnoses] == ["bn-param-shared"]


DERIVED = {"stopped": 0, "calls": 1, "base_calls": 1, "numeric_calls": 0, "cpu": 0.002, "base_cpu": 0.001,
           "small_finished": 1}
STOPPED = {"calls": {**DERIVED, "stopped": 1, "calls": 21},
           "helper": {**DERIVED, "stopped": 3, "numeric_calls": 1},
           "time": {**DERIVED, "stopped": 2, "cpu": 1.2},
           "slow but not stopped": {**DERIVED, "cpu": 1.2}}
NUMERIC = [("affine_backward", "numeric-gradient", how) for how in STOPPED] + [
    ("softmax_loss", "numeric-gradient", "calls"), ("dropout_backward", "numeric-gradient", "helper"),
    ("fc_gradients", "numeric-net-gradient", "time"), ("gradients", "numeric-net-gradient", "calls"),
    ("two_layer_gradients", "numeric-net-gradient", "helper")]


@pytest.fixture(scope="module")
def hidden_checks(course):
    return all_checks(course, hidden_seed=5)


@pytest.mark.parametrize("check_name, rule_id, how", NUMERIC, ids=[f"{c}-{h}" for c, _, h in NUMERIC])
def test_numeric_gradient_is_diagnosed(hidden_checks, check_name, rule_id, how):
    """Does a large-input run found numeric (forward calls, gradient_check, CPU time) fail every
    scored case of its check and name the rule, while a derived one names none?"""
    check = hidden_checks[check_name]
    outs = solution_outputs(check)
    derived = next(t for t in check.tasks if t.driver == "analytic")
    suffix = derived.id[len(check.name) + 1:]
    right = dict(reference("call", derived.spec["grad"], derived.inputs))
    test = judged(check, {**outs, suffix: {**right, **DERIVED}})
    assert rule_id not in [d.id for d in test.diagnoses]
    assert not [c for c in test.cases if c.label.startswith(LARGE_LABEL)]  # passed: not counted
    test = judged(check, {**outs, suffix: STOPPED[how]})
    assert rule_id in [d.id for d in test.diagnoses]
    scored = [case for case in test.cases if not case.public]
    assert scored and all(not case.passed for case in scored) and test.score == 0


def test_rules_that_count_cases_ignore_the_large_case(hidden_checks):
    """Does a rule that reads fc_gradients' cases as one per configuration still name its mistake
    in a hidden build, which adds the large-input case?"""
    check = hidden_checks["fc_gradients"]
    outs = solution_outputs(check, with_grids=True)
    derived = next(t for t in check.tasks if t.driver == "analytic")
    outs[derived.id[len(check.name) + 1:]] = {**reference("call", derived.spec["grad"], derived.inputs), **DERIVED}
    gradients_wrong_with_dropout(check, outs)
    assert "fc-dropout-backward" in [d.id for d in judged(check, outs).diagnoses]


def test_a_gradient_that_never_ends_is_not_called_numeric(hidden_checks):
    """Is a run stopped for time that did not end on a small input either (an endless loop) left
    to the other cases, with no numeric diagnosis?"""
    check = hidden_checks["relu_backward"]
    outs = solution_outputs(check)
    derived = next(t for t in check.tasks if t.driver == "analytic")
    hang = {**DERIVED, "stopped": 2, "cpu": 0.2, "small_finished": 0}
    test = judged(check, {**outs, derived.id[len(check.name) + 1:]: hang})
    assert "numeric-gradient" not in [d.id for d in test.diagnoses]
    assert [c.detail for c in test.cases if not c.passed] == [
        "stopped after 0.20 s of CPU time on the large input, and it did not end within 0.5 s on a small one "
        "either: does it loop forever?"]


def test_every_rule_has_a_unit_test():
    """Does every rule of diagnose.py have at least one case above?"""
    assert {r for _, r, _ in CASES} | {"affine-not-flattened", "bn-param-shared"} | {r for _, r, _ in NUMERIC} == RULE_IDS


def test_replay_matches_the_solution(checks):
    """Does the parent's replay of each update rule, without a variant, give the solution's steps?"""
    for name in ("sgd_momentum", "rmsprop", "adam"):
        check = checks[name]
        ev = Evidence(name, {t.id[len(name) + 1:]: t for t in check.tasks}, {})
        np.testing.assert_allclose(replay(ev), ev.ref("steps", "w"), rtol=1e-12)


def test_correct_outputs_trigger_no_rule(checks):
    """Do the solution's own outputs trigger no rule, even where a check fails for want of a grid?"""
    for check in checks.values():
        test = judged(check, solution_outputs(check))
        assert test.diagnoses == [], check.name


def test_unrelated_mistake_gets_expected_versus_got(checks):
    """Does a wrong answer no rule knows get no diagnosis, but still expected-versus-got text?"""
    check = checks["scores"]
    outs = solution_outputs(check)
    outs["scores"]["scores"] = outs["scores"]["scores"] + np.random.default_rng(1).normal(0, 0.1, (6, 4))
    test = judged(check, outs)
    assert not test.passed and test.diagnoses == []
    assert "expected [" in test.output() and ", got [" in test.output()
    assert "Likely cause" not in test.output()


def test_odd_values_never_break_diagnosis(checks):
    """Do outputs of the wrong shape, dtype or kind leave every rule quiet instead of raising?"""
    for check in checks.values():
        outs = {t.id[len(check.name) + 1:]: {"out": np.zeros(3), "loss": np.zeros((2, 2)), "dx": np.array([]),
                                             "w": np.zeros(1), "scores": np.zeros(2)} for t in check.tasks}
        ev = Evidence.of(check, {f"{check.name}.{s}": Outcome(True, o) for s, o in outs.items()}, [])
        assert isinstance(diagnose(ev), list)  # a rule that raises counts as no match


def test_report_shows_diagnoses(checks):
    """Do the Gradescope output, the feedback and GradeReport.diagnoses carry the likely cause?"""
    check = checks["softmax_loss"]
    outs = solution_outputs(check)
    loss_times_n(check, outs)
    report = GradeReport("fc_net", [judged(check, outs)])
    assert report.diagnoses == ["loss-summed"]
    assert "Likely cause:" in report.to_gradescope()["tests"][0]["output"]
    assert report.to_gradescope()["extra_data"]["diagnoses"] == ["loss-summed"]
    markdown = feedback_markdown(report)
    assert "**Likely cause:** your loss is exactly N times too large" in markdown
    assert "expected [" in markdown  # the expected-versus-got explanation stays


def test_catalogue_diagnosis_must_name_a_rule():
    """Is a catalogue entry whose diagnosis names no rule rejected, naming the mistake and key?"""
    entry = {"id": "x-wrong", "assignment": "fc_net", "module": "cs231n/layers.py", "function": "f",
             "find": "a", "replace": "b", "summary": "s", "hint": "h", "signature": "g"}
    assert parse_catalogue({"mistake": [entry]}, "m.toml")[0].diagnosis == ""
    with pytest.raises(MistakeError, match="mistake 'x-wrong', key 'diagnosis' names no diagnosis rule"):
        parse_catalogue({"mistake": [{**entry, "diagnosis": "no-such-rule"}]}, "m.toml")


def test_keepdims_costs_only_the_shape_case(checks):
    """Does a db of shape (1, M) pass every value case and fail only the one shape case?"""
    check = checks["affine_backward"]
    outs = solution_outputs(check, with_grids=True)
    db_keepdims(check, outs)
    test = judged(check, outs)
    failed = [case.label for case in test.cases if not case.passed]
    assert failed == ["shapes of the returned arrays"]
    assert "db has shape (1, 5), expected (5,)" in test.output()


def test_drop_probability_dropout_is_not_called_keep_1_minus_p(checks):
    """Is 2017-style dropout (p = drop probability, scaled by 1 / (1 - p)) told apart from the mask slip?"""
    check = checks["dropout_forward"]
    outs = solution_outputs(check)
    dropout_case(train=lambda x, r, p: x * (r >= p) / (1 - p))(check, outs)
    ids = [d.id for d in judged(check, outs).diagnoses]
    assert "dropout-drop-probability" in ids and "dropout-keeps-1-minus-p" not in ids
