"""TwoLayerNet: the published CS231n toy references, gradients and training."""
import numpy as np
import pytest

from cs231n.classifiers.neural_net import TwoLayerNet
from cs231n.gradient_check import eval_numerical_gradient

SCORES_TOL = 1e-7  # summed absolute difference, as in the CS231n notebook
LOSS_TOL = 1e-10
GRAD_TOL = 1e-7
TOY_TRAIN_LOSS = 0.02

CORRECT_SCORES = np.asarray([
    [-0.81233741, -1.27654624, -0.70335995],
    [-0.17129677, -1.18803311, -0.47310444],
    [-0.51590475, -1.01354314, -0.8504215],
    [-0.15419291, -0.48629638, -0.52901952],
    [-0.00618733, -0.12435261, -0.15226949],
])
CORRECT_LOSS = 1.30378789133


def rel_error(x, y):
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


@pytest.fixture
def toy():
    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return net, X, y


def test_toy_scores(toy):
    """Do the toy model's scores match the published reference?"""
    net, X, _ = toy
    assert np.sum(np.abs(net.loss(X) - CORRECT_SCORES)) < SCORES_TOL


def test_toy_loss(toy):
    """Does the toy loss at reg=0.05 match 1.30378789133 (reg * sum(W**2), no 0.5)?"""
    net, X, y = toy
    loss, _ = net.loss(X, y, reg=0.05)
    assert abs(loss - CORRECT_LOSS) < LOSS_TOL


@pytest.mark.parametrize("reg", [0.0, 0.05])
@pytest.mark.parametrize("name", ["W1", "b1", "W2", "b2"])
def test_gradients(toy, reg, name):
    """Does each analytic gradient match the numeric one (float64)?"""
    net, X, y = toy
    _, grads = net.loss(X, y, reg=reg)
    numeric = eval_numerical_gradient(lambda _: net.loss(X, y, reg=reg)[0], net.params[name],
                                      verbose=False)
    assert rel_error(numeric, grads[name]) < GRAD_TOL


def test_toy_training(toy):
    """Does training the toy model for 100 steps bring the loss below 0.02?"""
    net, X, y = toy
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, verbose=False)
    assert stats["loss_history"][-1] < TOY_TRAIN_LOSS
    assert len(stats["loss_history"]) == 100
    assert set(stats) == {"loss_history", "train_acc_history", "val_acc_history"}


def test_predict_is_argmax_of_scores(toy):
    """Does predict return the argmax of the scores, one label per row?"""
    net, X, _ = toy
    assert np.array_equal(net.predict(X), np.argmax(CORRECT_SCORES, axis=1))


def test_softmax_is_stable_on_huge_scores():
    """Is the loss finite when the scores are in the thousands (max shift)?"""
    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e2)
    X = 100 * np.random.randn(5, 4)
    loss, grads = net.loss(X, np.array([0, 1, 2, 2, 1]))
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_float32_stays_float32(toy):
    """Does a float32 net on float32 data train without upcasting its parameters?"""
    net, X, y = toy
    net.params = {k: v.astype(np.float32) for k, v in net.params.items()}
    net.train(X.astype(np.float32), y, X.astype(np.float32), y, num_iters=3)
    assert all(v.dtype == np.float32 for v in net.params.values())


def test_learning_rate_decays_once_per_epoch():
    """Is the learning rate decayed at epoch boundaries only (not every step)?"""
    np.random.seed(0)
    X = np.random.randn(40, 4)
    y = np.random.randint(3, size=40)
    net = TwoLayerNet(4, 5, 3)
    stats = net.train(X, y, X, y, num_iters=20, batch_size=10)
    assert len(stats["val_acc_history"]) == 5  # 4 steps per epoch, 20 steps
