"""FullyConnectedNet: the published CS231n initial losses, gradients, modes, dtype, overfitting."""
import numpy as np
import pytest

from cs231n.classifiers.fc_net import FullyConnectedNet
from cs231n.gradient_check import eval_numerical_gradient

# The CS231n notebook accepts errors "on the order of e-5" (ReLU kinks, tiny entries).
FC_NET_GRAD_TOL = 1e-5
LOSS_TOL = 1e-10
LOG_C_TOL = 1e-3
ZERO_GRAD_ATOL = 1e-8  # gradients that are exactly zero in exact arithmetic
N, D, H1, H2, C = 2, 15, 20, 30, 10

# FullyConnectedNet.ipynb: "Initial loss" printed for np.random.seed(231), weight_scale=5e-2.
CS231N_INITIAL_LOSS = {0.0: 2.3004790897684924, 3.14: 7.052114776533016}


def rel_error(x, y):
    """The CS231n relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def _data(n=N):
    np.random.seed(231)
    X = np.random.randn(n, D)
    y = np.random.randint(C, size=(n,))
    return X, y


def test_initial_loss_matches_cs231n():
    """Does the CS231n sanity check print the published initial losses for reg 0 and 3.14?"""
    X, y = _data()
    for reg in (0.0, 3.14):  # in this order: the second model draws the next random weights
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg,
                                  weight_scale=5e-2, dtype=np.float64)
        loss, _ = model.loss(X, y)
        assert abs(loss - CS231N_INITIAL_LOSS[reg]) < LOSS_TOL, reg


def test_initial_loss_is_log_c_with_small_weights():
    """With tiny weights and no regularization, is the initial loss about log(C)?"""
    X, y = _data()
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=1e-3)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(C)) < LOG_C_TOL


GRAD_CASES = [(norm, reg, 1) for norm in (None, "batchnorm", "layernorm") for reg in (0.0, 3.14)]
GRAD_CASES += [(norm, 0.0, keep) for norm in (None, "batchnorm", "layernorm") for keep in (0.5,)]


@pytest.mark.parametrize("normalization, reg, keep", GRAD_CASES)
def test_gradients_match_numeric(normalization, reg, keep):
    """Does every gradient match the numeric one (float64, dropout seeded)?"""
    X, y = _data(n=10)  # batchnorm over 2 examples leaves almost no gradient to check
    np.random.seed(231)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                              dtype=np.float64, normalization=normalization,
                              dropout_keep_ratio=keep, seed=123)
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, grad in grads.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name],
                                          verbose=False)
        if normalization == "batchnorm" and name in ("b1", "b2"):
            # Batchnorm subtracts the batch mean, so these biases have no effect: both
            # gradients are ~0 and their relative error would only compare rounding noise.
            assert np.abs(grad).max() < ZERO_GRAD_ATOL and np.abs(numeric).max() < ZERO_GRAD_ATOL
        else:
            assert rel_error(numeric, grad) < FC_NET_GRAD_TOL, name


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_param_names_and_shapes(normalization):
    """Are W1..WL, b1..bL (and gamma/beta for hidden layers) created with the right shapes?"""
    model = FullyConnectedNet([7, 8, 9], input_dim=6, num_classes=4, normalization=normalization)
    expected = {"W1": (6, 7), "b1": (7,), "W2": (7, 8), "b2": (8,), "W3": (8, 9), "b3": (9,),
                "W4": (9, 4), "b4": (4,)}
    if normalization is not None:
        expected.update({f"{p}{i}": (h,) for i, h in ((1, 7), (2, 8), (3, 9))
                         for p in ("gamma", "beta")})
    assert {k: v.shape for k, v in model.params.items()} == expected
    assert model.num_layers == 4
    assert len(model.bn_params) == (0 if normalization is None else 3)


def test_initial_values():
    """Are weights ~ weight_scale * randn, biases and betas zero, gammas one?"""
    np.random.seed(0)
    model = FullyConnectedNet([200], input_dim=300, weight_scale=0.5, normalization="batchnorm")
    assert model.params["W1"].std() == pytest.approx(0.5, rel=0.02)
    assert not model.params["b1"].any() and not model.params["beta1"].any()
    assert np.all(model.params["gamma1"] == 1)


def test_attributes_follow_cs231n():
    """Are use_dropout, dropout_param (with seed), reg and dtype set as in CS231n?"""
    model = FullyConnectedNet([5], dropout_keep_ratio=0.5, reg=0.1, seed=3)
    assert model.use_dropout and model.dropout_param == {"mode": "train", "p": 0.5, "seed": 3}
    assert model.reg == 0.1 and model.dtype == np.float32 and model.normalization is None
    assert not FullyConnectedNet([5]).use_dropout


def test_float32_by_default():
    """By default are params, scores, loss and grads all float32 (even for float64 X)?"""
    X, y = _data(n=6)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=0.1,
                              normalization="batchnorm", dropout_keep_ratio=0.5)
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert model.loss(X).dtype == np.float32
    loss, grads = model.loss(X, y)
    assert np.asarray(loss).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_only_the_first_layer_skips_dx(monkeypatch, normalization):
    """Does the backward pass ask for dx in every hidden layer but the first, whose input is
    the data (a third of that layer's FLOPs), and still give the numeric gradients on W1, b1?"""
    from cs231n.classifiers import fc_net

    asked = []

    def recording(dout, cache, need_dx=True):
        asked.append(need_dx)
        return original(dout, cache, need_dx=need_dx)

    original = fc_net.affine_norm_relu_backward
    monkeypatch.setattr(fc_net, "affine_norm_relu_backward", recording)
    X, y = _data(n=10)  # batchnorm over 2 examples leaves almost no gradient to check
    np.random.seed(231)
    model = FullyConnectedNet([H1, H2, H2], input_dim=D, num_classes=C, normalization=normalization,
                              weight_scale=5e-2, dtype=np.float64)
    _, grads = model.loss(X, y)
    assert asked == [True, True, False]  # layers 3, 2, 1
    numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params["W1"], verbose=False)
    assert rel_error(numeric, grads["W1"]) < FC_NET_GRAD_TOL


def test_scores_and_test_mode():
    """Without y, are (N, C) scores returned and every layer switched to test mode?"""
    X, _ = _data(n=6)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, normalization="batchnorm",
                              dropout_keep_ratio=0.5)
    scores = model.loss(X)
    assert scores.shape == (6, C)
    assert model.dropout_param["mode"] == "test"
    assert all(p["mode"] == "test" for p in model.bn_params)
    assert np.array_equal(model.loss(X), scores)  # no dropout noise at test time


def test_regularization_term():
    """Does reg add exactly 0.5 * reg * sum(W**2) over the weights (not biases or gammas)?"""
    X, y = _data()
    np.random.seed(1)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, dtype=np.float64,
                              normalization="layernorm")
    for k in model.params:  # make biases, gammas and betas nonzero: they must not count
        model.params[k] += 0.3
    loss0, grads0 = model.loss(X, y)
    model.reg = 2.0
    loss2, grads2 = model.loss(X, y)
    weights = [v for k, v in model.params.items() if k.startswith("W")]
    assert loss2 - loss0 == pytest.approx(sum(np.sum(W * W) for W in weights), rel=1e-12)
    np.testing.assert_allclose(grads2["W2"] - grads0["W2"], 2.0 * model.params["W2"])
    np.testing.assert_array_equal(grads2["gamma1"], grads0["gamma1"])


def test_unknown_normalization():
    """Does an unknown normalization raise a ValueError that names it?"""
    with pytest.raises(ValueError, match="groupnorm"):
        FullyConnectedNet([5], normalization="groupnorm")


def test_overfits_50_examples():
    """Can a 3-layer net reach 100% train accuracy on 50 examples with plain SGD?"""
    rng = np.random.default_rng(0)
    y = rng.integers(5, size=50)
    X = rng.standard_normal((5, 20))[y] + 0.5 * rng.standard_normal((50, 20))  # noisy centres
    np.random.seed(0)
    model = FullyConnectedNet([100, 100], input_dim=20, num_classes=5, weight_scale=5e-2)
    for _ in range(200):
        _, grads = model.loss(X, y)
        for k, grad in grads.items():
            model.params[k] -= 0.5 * grad
        if np.mean(model.loss(X).argmax(axis=1) == y) == 1.0:
            break
    assert np.mean(model.loss(X).argmax(axis=1) == y) == 1.0
