"""layer_utils: gradient checks for the sandwich layers."""
import numpy as np
import pytest

from cs231n import layer_utils
from cs231n.gradient_check import eval_numerical_gradient_array

GRAD_TOL = 1e-7
NORM_GRAD_TOL = 1e-5
ZERO_GRAD_ATOL = 1e-8  # gradients that are exactly zero in exact arithmetic


def rel_error(x, y):
    """The CS231n relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def _inputs(rng):
    x = rng.standard_normal((6, 2, 3, 4))
    w = rng.standard_normal((24, 10))
    b = rng.standard_normal(10)
    return x, w, b


def test_affine_relu_gradients():
    """Does affine_relu_backward match the numeric gradient on x, w and b?"""
    rng = np.random.default_rng(231)
    x, w, b = _inputs(rng)
    out, cache = layer_utils.affine_relu_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    grads = layer_utils.affine_relu_backward(dout, cache)
    for value, grad in zip((x, w, b), grads):
        numeric = eval_numerical_gradient_array(
            lambda _: layer_utils.affine_relu_forward(x, w, b)[0], value, dout)
        assert rel_error(numeric, grad) < GRAD_TOL


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_affine_norm_relu_gradients(normalization):
    """Does affine_norm_relu_backward match the numeric gradient on every input?"""
    rng = np.random.default_rng(231)
    x, w, b = _inputs(rng)
    gamma, beta = 1 + 0.1 * rng.standard_normal(10), 0.1 * rng.standard_normal(10)
    norm_param = {"mode": "train"}

    def forward(_):
        return layer_utils.affine_norm_relu_forward(x, w, b, gamma, beta, norm_param,
                                                    normalization)[0]

    out = forward(None)
    _, cache = layer_utils.affine_norm_relu_forward(x, w, b, gamma, beta, norm_param,
                                                   normalization)
    dout = rng.standard_normal(out.shape)
    dx, dw, db, dgamma, dbeta = layer_utils.affine_norm_relu_backward(dout, cache)
    checked = [(x, dx), (w, dw), (b, db)]
    if normalization is None:
        assert dgamma is None and dbeta is None
    else:
        checked += [(gamma, dgamma), (beta, dbeta)]
    for value, grad in checked:
        numeric = eval_numerical_gradient_array(forward, value, dout)
        if normalization == "batchnorm" and value is b:
            # Batchnorm subtracts the batch mean, so b has no effect: both gradients are ~0
            # and their relative error would only compare rounding noise.
            assert np.abs(grad).max() < ZERO_GRAD_ATOL and np.abs(numeric).max() < ZERO_GRAD_ATOL
        else:
            assert rel_error(numeric, grad) < NORM_GRAD_TOL


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_affine_norm_relu_without_dx(normalization):
    """With need_dx=False, is dx None and every parameter gradient the numeric one (and the
    one the full backward pass gives)?"""
    rng = np.random.default_rng(5)
    x, w, b = _inputs(rng)
    gamma, beta = 1 + 0.1 * rng.standard_normal(10), 0.1 * rng.standard_normal(10)

    def forward(w_=w, b_=b, gamma_=gamma, beta_=beta):
        return layer_utils.affine_norm_relu_forward(x, w_, b_, gamma_, beta_, {"mode": "train"}, normalization)

    out, cache = forward()
    dout = rng.standard_normal(out.shape)
    dx, *param_grads = layer_utils.affine_norm_relu_backward(dout, cache, need_dx=False)
    assert dx is None
    _, *full_grads = layer_utils.affine_norm_relu_backward(dout, cache)
    names = ["w_", "b_"] + (["gamma_", "beta_"] if normalization else [])
    for name, value, grad, full in zip(names, (w, b, gamma, beta), param_grads, full_grads):
        numeric = eval_numerical_gradient_array(lambda v: forward(**{name: v})[0], value.copy(), dout)
        tol = NORM_GRAD_TOL if normalization else GRAD_TOL
        assert np.allclose(grad, numeric, rtol=tol, atol=ZERO_GRAD_ATOL), name
        assert np.array_equal(grad, full), name


def test_two_argument_affine_backward_still_works(monkeypatch):
    """Is affine_backward called with two arguments when dx is needed, so that a layers.py
    with the official affine_backward(dout, cache) signature still serves the sandwich?"""
    def official(dout, cache):
        x, w, _ = cache
        return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)

    rng = np.random.default_rng(6)
    x, w, b = _inputs(rng)
    out, cache = layer_utils.affine_norm_relu_forward(x, w, b, None, None, None, None)
    expected = layer_utils.affine_norm_relu_backward(np.ones_like(out), cache)
    monkeypatch.setattr(layer_utils, "affine_backward", official)
    got = layer_utils.affine_norm_relu_backward(np.ones_like(out), cache)
    assert all(np.allclose(e, g) for e, g in zip(expected[:3], got[:3]))


def test_affine_norm_relu_without_norm_is_affine_relu():
    """With normalization=None, is affine_norm_relu exactly affine_relu?"""
    x, w, b = _inputs(np.random.default_rng(0))
    out, _ = layer_utils.affine_norm_relu_forward(x, w, b, None, None, None, None)
    expected, _ = layer_utils.affine_relu_forward(x, w, b)
    assert np.array_equal(out, expected)


def test_unknown_normalization():
    """Does an unknown normalization raise a ValueError that names it?"""
    x, w, b = _inputs(np.random.default_rng(0))
    with pytest.raises(ValueError, match="groupnorm"):
        layer_utils.affine_norm_relu_forward(x, w, b, None, None, {}, "groupnorm")


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_float32_stays_float32(normalization):
    """Do the sandwiches keep float32 inputs in float32, forward and backward?"""
    x, w, b = (a.astype(np.float32) for a in _inputs(np.random.default_rng(0)))
    gamma, beta = np.ones(10, np.float32), np.zeros(10, np.float32)
    out, cache = layer_utils.affine_norm_relu_forward(x, w, b, gamma, beta, {"mode": "train"},
                                                      normalization)
    grads = layer_utils.affine_norm_relu_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads if g is not None)
