"""Predicates for the layers: affine, ReLU, batch and layer norm, dropout."""
from __future__ import annotations

import numpy as np

from ..checks.base import GRAD_STEP, SHAPE_LABEL, SINGLETON_NOTE, VALUE_RTOL, numeric_gradient
from .evidence import Evidence, close, instead

DROPOUT_FRACTION_TOL = 0.02  # fraction of kept units against the one a dropout rule names
DROPOUT_MEAN_TOL = 0.05  # mean of out against the mean a dropout rule names (relative)


def affine_not_flattened(ev: Evidence) -> bool:
    error = ev.error("c0").lower()
    return ev.inputs("c0")["x"].ndim > 2 and any(w in error for w in ("matmul", "not aligned", "shapes"))


def dx_shape(ev: Evidence) -> bool:
    dx, x = ev.out("analytic", "dx"), ev.inputs("analytic")["x"]
    return (dx is not None and dx.shape == (len(x), x[0].size) != x.shape
            and close(dx.reshape(x.shape), ev.ref("analytic", "dx"), VALUE_RTOL))


def dw_shape(ev: Evidence) -> bool:
    dw, i = ev.out("analytic", "dw"), ev.inputs("analytic")
    return (dw is not None and dw.shape != i["w"].shape) or (
        i["x"].ndim > 2 and any(w in ev.error("analytic").lower() for w in ("matmul", "not aligned", "shapes")))


def relu_reduces(ev: Evidence) -> bool:
    x = ev.inputs("c0")["x"]
    return close(ev.out("c0", "out"), x.max(axis=0))


def relu_gate_on_dout(ev: Evidence) -> bool:
    dout = ev.inputs("analytic")["dout"]
    return instead(ev.out("analytic", "dx"), dout * (dout > 0), ev.ref("analytic", "dx"))


def norm(x, gamma, beta, axis, eps=1e-5, eps_outside=False):
    mu, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return gamma * (x - mu) / std + beta


def bn_out(ev: Evidence, suffix: str, **kwargs) -> bool:
    i = ev.inputs(suffix)
    wrong = norm(i["x"], i["gamma"], i["beta"], 0, **kwargs)
    return instead(ev.out(suffix, "out"), wrong, ev.ref(suffix, "out"))


def bn_eps_outside(ev: Evidence) -> bool:
    """In the forward check, or in a backward check through the forward values of its gradient
    check: out is linear in beta, so the mean of out at beta +- h is out itself."""
    if "c0" in ev.tasks:
        return bn_out(ev, "c0", eps_outside=True)
    grid, i = ev.out("numeric", "grid_beta"), ev.inputs("numeric")
    if grid is None:
        return False
    out = grid[0].mean(axis=0)  # (N, D)
    return instead(out, norm(i["x"], i["gamma"], i["beta"], 0, eps_outside=True),
                   norm(i["x"], i["gamma"], i["beta"], 0))


def running_not_updated(ev: Evidence) -> bool:
    got = ev.out("c0", "running_mean")
    return got is not None and not np.any(got) and np.any(ev.ref("c0", "running_mean"))


def running_swapped(ev: Evidence) -> bool:
    x, momentum = ev.inputs("c0")["x"], ev.spec("c0")["args"][3]["d"]["momentum"]
    return (instead(ev.out("c0", "running_mean"), momentum * x.mean(axis=0), ev.ref("c0", "running_mean"))
            and close(ev.out("c0", "running_var"), momentum * x.var(axis=0)))


def bn_backward_parts(inputs, axis=0, eps=1e-5):
    x, gamma, dout = inputs["x"], inputs["gamma"], inputs["dout"]
    x_mu = x - x.mean(axis=axis, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=axis, keepdims=True) + eps)
    return x_mu, inv_std, dout * gamma


def bn_no_mean_path(ev: Evidence) -> bool:
    x_mu, inv_std, dx_hat = bn_backward_parts(ev.inputs("analytic"))
    dvar = -0.5 * inv_std**3 * np.sum(dx_hat * x_mu, axis=0)
    wrong = dx_hat * inv_std + x_mu * (2.0 / len(x_mu) * dvar)
    return instead(ev.out("analytic", "dx"), wrong, ev.ref("analytic", "dx"))


def bn_no_variance_path(ev: Evidence) -> bool:
    _, inv_std, dx_hat = bn_backward_parts(ev.inputs("analytic"))
    wrong = inv_std * (dx_hat - dx_hat.mean(axis=0))
    return instead(ev.out("analytic", "dx"), wrong, ev.ref("analytic", "dx"))


def bn_forgets_gamma(ev: Evidence) -> bool:
    dx = ev.ref("analytic", "dx")
    return instead(ev.out("analytic", "dx"), dx / ev.inputs("analytic")["gamma"], dx)


def ln_wrong_axis(ev: Evidence) -> bool:
    i = ev.inputs("c0")
    return instead(ev.out("c0", "out"), norm(i["x"], i["gamma"], i["beta"], 0), ev.ref("c0", "out"))


def ln_backward_axis(ev: Evidence) -> bool:
    x_mu, inv_std, dx_hat = bn_backward_parts(ev.inputs("analytic"), axis=1)
    x_hat = x_mu * inv_std
    wrong = inv_std * (dx_hat - dx_hat.mean(axis=0) - x_hat * np.mean(dx_hat * x_hat, axis=0))
    return instead(ev.out("analytic", "dx"), wrong, ev.ref("analytic", "dx"))


def ln_param_grads_per_example(ev: Evidence) -> bool:
    n = len(ev.inputs("analytic")["x"])
    return any(ev.out("analytic", k) is not None and ev.out("analytic", k).shape == (n,) != ev.ref("analytic", k).shape
               for k in ("dgamma", "dbeta"))


def dropout_tasks(ev: Evidence, mode: str):
    for suffix, task in ev.tasks.items():
        out = ev.out(suffix, "out")
        if suffix.startswith(mode) and out is not None and out.shape == task.inputs["x"].shape:
            yield out, task.inputs["x"], float(task.spec["args"][1]["d"]["p"])


def dropout_train(ev: Evidence, kept_fraction, mean_factor) -> bool:
    """Some train-mode task keeps kept_fraction(p) of the units with mean(out) ~ mean_factor(p) * mean(x)."""
    for out, x, p in dropout_tasks(ev, "train"):
        kept, mean = float(np.mean(out != 0)), mean_factor(p) * x.mean()
        looks_wrong = (abs(kept_fraction(p) - p) > DROPOUT_FRACTION_TOL
                       or abs(mean_factor(p) - 1) > DROPOUT_MEAN_TOL)  # else it looks like correct dropout
        if (looks_wrong and abs(kept - kept_fraction(p)) <= DROPOUT_FRACTION_TOL
                and abs(out.mean() - mean) <= DROPOUT_MEAN_TOL * abs(mean)):
            return True
    return False


def keepdims_shape(ev: Evidence) -> bool:
    """The shape case failed only because of extra axes of length 1."""
    return any(c.label == SHAPE_LABEL and not c.passed and SINGLETON_NOTE in c.detail for c in ev.cases)


def mask_shared(out: np.ndarray) -> bool:
    """The units kept are the same for every example (rows) of a 2-d output."""
    kept = out != 0
    return out.ndim == 2 and len(out) > 1 and bool(np.all(kept == kept[0]))


def dropout_mask_shared(ev: Evidence) -> bool:
    return any(mask_shared(out) for out, _, p in dropout_tasks(ev, "train") if p < 1)


def dropout_at_test(ev: Evidence) -> bool:
    return any(np.any((out == 0) & (x != 0)) for out, x, _ in dropout_tasks(ev, "test"))


def dropout_test_scaled(ev: Evidence) -> bool:
    return any(p != 1 and close(out, p * x) for out, x, p in dropout_tasks(ev, "test"))


def dropout_backward_unscaled(ev: Evidence) -> bool:
    dx, grid = ev.out("analytic", "dx"), ev.out("numeric", "grid_x")
    inputs, p = ev.inputs("analytic"), float(ev.spec("analytic")["args"][1]["d"]["p"])
    if dx is None or grid is None:
        return False
    numeric = numeric_gradient(grid, inputs["dout"], GRAD_STEP, inputs["x"].shape)
    return close(dx, p * numeric, 1e-6) and not close(dx, numeric, 1e-6)
