"""layers: numeric gradient checks, the published CS231n forward references, and dtypes."""
import numpy as np
import pytest

from cs231n import layers
from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array

GRAD_TOL = 1e-7  # affine, relu, softmax, dropout (float64)
NORM_GRAD_TOL = 1e-5  # batch/layer norm: more operations, more rounding
REF_TOL = 1e-7  # against the arrays printed in the CS231n notebooks
STAT_TOL = 1e-3  # train-mode batchnorm / layernorm output statistics
RUNNING_STAT_TOL = 0.2  # test-mode batchnorm uses noisy running averages
DROPOUT_MEAN_TOL = 0.02  # relative change of the mean of 250,000 inputs
DROPOUT_FRACTION_TOL = 0.01


def rel_error(x, y):
    """The CS231n relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


# ---------------------------------------------------------------- layer cases
# Each case builds (forward, backward, inputs, tol): forward(*inputs) -> (out, cache) and
# backward(dout, cache) -> the gradients on the inputs, in order.


def _affine(rng, dtype):
    x = rng.standard_normal((10, 2, 3)).astype(dtype)
    w = rng.standard_normal((6, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    return layers.affine_forward, layers.affine_backward, [x, w, b], GRAD_TOL


def _relu(rng, dtype):
    x = rng.standard_normal((10, 10)).astype(dtype)
    return layers.relu_forward, lambda d, c: (layers.relu_backward(d, c),), [x], GRAD_TOL


def _batchnorm(mode, backward):
    def case(rng, dtype):
        N, D = 4, 5
        x = (5 * rng.standard_normal((N, D)) + 12).astype(dtype)
        gamma = rng.standard_normal(D).astype(dtype)
        beta = rng.standard_normal(D).astype(dtype)
        bn_param = {"mode": mode, "running_mean": (12 + rng.standard_normal(D)).astype(dtype),
                    "running_var": (25 + rng.random(D)).astype(dtype)}

        def forward(x, gamma, beta):
            return layers.batchnorm_forward(x, gamma, beta, bn_param)
        return forward, backward, [x, gamma, beta], NORM_GRAD_TOL
    return case


def _layernorm(rng, dtype):
    N, D = 4, 5
    x = (5 * rng.standard_normal((N, D)) + 12).astype(dtype)
    gamma = rng.standard_normal(D).astype(dtype)
    beta = rng.standard_normal(D).astype(dtype)

    def forward(x, gamma, beta):
        return layers.layernorm_forward(x, gamma, beta, {})
    return forward, layers.layernorm_backward, [x, gamma, beta], NORM_GRAD_TOL


def _dropout(mode, p):
    def case(rng, dtype):
        x = (rng.standard_normal((10, 10)) + 10).astype(dtype)
        param = {"mode": mode, "p": p, "seed": 123}

        def forward(x):
            return layers.dropout_forward(x, param)
        return forward, lambda d, c: (layers.dropout_backward(d, c),), [x], GRAD_TOL
    return case


LAYER_CASES = {
    "affine": _affine,
    "relu": _relu,
    "batchnorm-train": _batchnorm("train", layers.batchnorm_backward),
    "batchnorm-test": _batchnorm("test", layers.batchnorm_backward),
    "batchnorm_alt-train": _batchnorm("train", layers.batchnorm_backward_alt),
    "batchnorm_alt-test": _batchnorm("test", layers.batchnorm_backward_alt),
    "layernorm": _layernorm,
    "dropout-train-0.2": _dropout("train", 0.2),
    "dropout-train-0.75": _dropout("train", 0.75),
    "dropout-test": _dropout("test", 0.5),
}


@pytest.mark.parametrize("name", LAYER_CASES)
def test_backward_matches_numeric_gradient(name):
    """Does each layer's backward pass match the numeric gradient on every input (float64)?"""
    rng = np.random.default_rng(231)
    forward, backward, inputs, tol = LAYER_CASES[name](rng, np.float64)
    out, cache = forward(*inputs)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    assert len(grads) == len(inputs)
    for x, grad in zip(inputs, grads):
        numeric = eval_numerical_gradient_array(lambda _: forward(*inputs)[0], x, dout)
        assert grad.shape == x.shape
        assert rel_error(numeric, grad) < tol


@pytest.mark.parametrize("name", LAYER_CASES)
def test_float32_in_float32_out(name):
    """Does each layer keep float32 inputs in float32, forward and backward?"""
    rng = np.random.default_rng(0)
    forward, backward, inputs, _ = LAYER_CASES[name](rng, np.float32)
    out, cache = forward(*inputs)
    assert out.dtype == np.float32
    grads = backward(np.ones_like(out), cache)
    assert [g.dtype for g in grads] == [np.float32] * len(inputs)


def test_softmax_loss_gradient():
    """Does softmax_loss's dx match the numeric gradient of its loss?"""
    rng = np.random.default_rng(231)
    x = 0.001 * rng.standard_normal((50, 10))
    y = rng.integers(10, size=50)
    numeric = eval_numerical_gradient(lambda x: layers.softmax_loss(x, y)[0], x, verbose=False)
    _, dx = layers.softmax_loss(x, y)
    assert rel_error(numeric, dx) < GRAD_TOL


def test_softmax_loss_is_log_c_on_tiny_scores():
    """Is the loss about log(C) when every score is nearly zero?"""
    rng = np.random.default_rng(231)
    x = 0.001 * rng.standard_normal((50, 10))
    loss, _ = layers.softmax_loss(x, rng.integers(10, size=50))
    assert loss == pytest.approx(np.log(10), abs=1e-2)


def test_softmax_loss_is_stable_on_huge_scores():
    """Are the loss and gradient finite and right when the scores are of order 1e4?"""
    rng = np.random.default_rng(0)
    x = 1e4 * rng.standard_normal((20, 10))
    y = rng.integers(10, size=20)
    loss, dx = layers.softmax_loss(x, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    shifted = x - x.max(axis=1, keepdims=True)  # the exact loss is the gap to the max
    assert loss == pytest.approx(-np.mean(shifted[np.arange(20), y]), rel=1e-12)
    assert np.allclose(dx.sum(axis=1), 0)


def test_softmax_loss_float32():
    """Does softmax_loss keep float32 scores in float32 (loss and dx)?"""
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    loss, dx = layers.softmax_loss(x, np.array([0, 1, 2, 0, 1]))
    assert np.asarray(loss).dtype == np.float32 and dx.dtype == np.float32


def test_affine_forward_reference():
    """Does affine_forward reproduce the CS231n notebook's correct_out?"""
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = layers.affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                            [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct_out) < REF_TOL


def test_affine_backward_restores_input_shape():
    """Does affine_backward give dx in x's original (N, d_1, ..., d_k) shape?"""
    x = np.ones((3, 2, 4, 5))
    _, cache = layers.affine_forward(x, np.ones((40, 7)), np.zeros(7))
    dx, dw, db = layers.affine_backward(np.ones((3, 7)), cache)
    assert dx.shape == x.shape and dw.shape == (40, 7) and db.shape == (7,)


def test_affine_backward_without_dx_matches_numeric_gradients():
    """With need_dx=False, is dx None and are dw and db still the numeric gradients (and
    exactly what the full backward pass gives)?"""
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((10, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache, need_dx=False)
    assert dx is None
    dw_num = eval_numerical_gradient_array(lambda w_: layers.affine_forward(x, w_, b)[0], w.copy(), dout)
    db_num = eval_numerical_gradient_array(lambda b_: layers.affine_forward(x, w, b_)[0], b.copy(), dout)
    assert rel_error(dw_num, dw) < GRAD_TOL and rel_error(db_num, db) < GRAD_TOL
    _, dw_full, db_full = layers.affine_backward(dout, cache)
    assert np.array_equal(dw, dw_full) and np.array_equal(db, db_full)


def test_relu_forward_reference():
    """Does relu_forward reproduce the CS231n notebook's correct_out?"""
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = layers.relu_forward(x)
    correct_out = np.array([[0., 0., 0., 0.],
                            [0., 0., 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
    assert rel_error(out, correct_out) < REF_TOL


def _two_layer_activations(rng, W1, W2, N=200):
    """The CS231n batchnorm notebook's data: relu(X W1) W2, of shape (N, 3)."""
    X = rng.standard_normal((N, W1.shape[0]))
    return np.maximum(0, X @ W1) @ W2


@pytest.mark.parametrize("gamma, beta", [([1.0, 1.0, 1.0], [0.0, 0.0, 0.0]),
                                         ([1.0, 2.0, 3.0], [11.0, 12.0, 13.0])])
def test_batchnorm_train_statistics(gamma, beta):
    """In train mode, does each feature come out with mean beta and std gamma?"""
    rng = np.random.default_rng(231)
    a = _two_layer_activations(rng, rng.standard_normal((50, 60)), rng.standard_normal((60, 3)))
    out, _ = layers.batchnorm_forward(a, np.array(gamma), np.array(beta), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=STAT_TOL)
    np.testing.assert_allclose(out.std(axis=0), gamma, atol=STAT_TOL)


def test_batchnorm_running_averages():
    """Are the running mean and variance updated as momentum * old + (1 - momentum) * batch?"""
    x = np.random.default_rng(0).standard_normal((30, 4))
    bn_param = {"mode": "train", "momentum": 0.8,
                "running_mean": np.ones(4), "running_var": np.full(4, 2.0)}
    layers.batchnorm_forward(x, np.ones(4), np.zeros(4), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 0.8 + 0.2 * x.mean(axis=0))
    np.testing.assert_allclose(bn_param["running_var"], 1.6 + 0.2 * x.var(axis=0))


def test_batchnorm_running_stats_start_at_zero_in_input_dtype():
    """Without running stats, are they created as zeros of x's dtype (float32 stays float32)?"""
    x = np.ones((3, 2), dtype=np.float32)
    bn_param = {"mode": "test"}
    out, _ = layers.batchnorm_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32), bn_param)
    assert bn_param["running_mean"].dtype == np.float32 and not bn_param["running_mean"].any()
    assert out.dtype == np.float32


def test_batchnorm_test_mode_after_training():
    """After 50 train passes, does test mode give means near beta and stds near gamma?"""
    rng = np.random.default_rng(231)
    W1, W2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))
    gamma, beta = np.ones(3), np.zeros(3)
    bn_param = {"mode": "train"}
    for _ in range(50):
        layers.batchnorm_forward(_two_layer_activations(rng, W1, W2), gamma, beta, bn_param)
    bn_param["mode"] = "test"
    out, _ = layers.batchnorm_forward(_two_layer_activations(rng, W1, W2), gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=RUNNING_STAT_TOL)
    np.testing.assert_allclose(out.std(axis=0), gamma, atol=RUNNING_STAT_TOL)


def test_batchnorm_invalid_mode():
    """Does an unknown mode raise a ValueError that names it?"""
    with pytest.raises(ValueError, match="banana"):
        layers.batchnorm_forward(np.ones((2, 2)), np.ones(2), np.zeros(2), {"mode": "banana"})


def test_batchnorm_backward_variants_agree():
    """Do batchnorm_backward and batchnorm_backward_alt give the same gradients?"""
    rng = np.random.default_rng(231)
    x = 5 * rng.standard_normal((100, 500)) + 12
    gamma, beta = rng.standard_normal(500), rng.standard_normal(500)
    out, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dout = rng.standard_normal(out.shape)
    for g1, g2 in zip(layers.batchnorm_backward(dout, cache),
                      layers.batchnorm_backward_alt(dout, cache)):
        assert rel_error(g1, g2) < NORM_GRAD_TOL


def test_layernorm_per_example_statistics():
    """Does layernorm give each example mean 0 and std 1 over its features (gamma=1, beta=0)?"""
    rng = np.random.default_rng(231)
    a = _two_layer_activations(rng, rng.standard_normal((50, 60)), rng.standard_normal((60, 3)),
                               N=4)
    out, _ = layers.layernorm_forward(a, np.ones(3), np.zeros(3), {})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=STAT_TOL)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=STAT_TOL)


def test_layernorm_ignores_the_batch():
    """Is an example's layernorm output the same alone as in a batch?"""
    x = np.random.default_rng(0).standard_normal((6, 8))
    gamma, beta = np.full(8, 2.0), np.full(8, 0.5)
    batch, _ = layers.layernorm_forward(x, gamma, beta, {})
    alone, _ = layers.layernorm_forward(x[2:3], gamma, beta, {})
    np.testing.assert_allclose(batch[2:3], alone)


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_train_keeps_mean_and_drops_1_minus_p(p):
    """In train mode, is the mean preserved and a fraction 1 - p of the outputs zeroed?"""
    x = np.random.default_rng(231).standard_normal((500, 500)) + 10
    out, (_, mask) = layers.dropout_forward(x, {"mode": "train", "p": p, "seed": 123})
    assert abs(out.mean() - x.mean()) / x.mean() < DROPOUT_MEAN_TOL
    assert abs(np.mean(out == 0) - (1 - p)) < DROPOUT_FRACTION_TOL
    assert mask.shape == x.shape


def test_dropout_test_mode_is_identity():
    """In test mode, does dropout return its input unchanged, and pass dout straight back?"""
    x = np.random.default_rng(0).standard_normal((10, 10))
    out, cache = layers.dropout_forward(x, {"mode": "test", "p": 0.3})
    assert np.array_equal(out, x)
    dout = np.ones_like(x)
    assert np.array_equal(layers.dropout_backward(dout, cache), dout)


def test_dropout_seed_is_deterministic():
    """Does the same seed give the same mask twice?"""
    x = np.ones((20, 20))
    out1, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    out2, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    assert np.array_equal(out1, out2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_is_in_x_dtype_and_scaled(dtype):
    """Is the train-mode mask in x's dtype (no float64 array for float32 x), 0 or exactly 1 / p?"""
    p = 0.75
    x = np.ones((40, 30), dtype=dtype)
    out, (_, mask) = layers.dropout_forward(x, {"mode": "train", "p": p})
    assert out.dtype == dtype and mask.dtype == dtype
    assert set(np.unique(mask).tolist()) == {0.0, float(dtype(1) / dtype(p))}


def test_dropout_follows_np_random_seed():
    """Without a "seed" key, does np.random.seed still make the masks repeatable (the
    notebooks seed np.random for reproducible training), and different from call to call?"""
    x = np.ones((20, 20), dtype=np.float32)
    np.random.seed(231)
    first, second = (layers.dropout_forward(x, {"mode": "train", "p": 0.5})[0] for _ in range(2))
    np.random.seed(231)
    again = layers.dropout_forward(x, {"mode": "train", "p": 0.5})[0]
    assert np.array_equal(first, again) and not np.array_equal(first, second)


def test_dropout_invalid_mode():
    """Does an unknown dropout mode raise a ValueError that names it?"""
    with pytest.raises(ValueError, match="banana"):
        layers.dropout_forward(np.ones(3), {"mode": "banana", "p": 0.5})
