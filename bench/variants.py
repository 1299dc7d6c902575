"""The code as it was before each speed change, kept to time old against new (see compare.py).

Each function has the signature and the result of its counterpart in source/cs231n; only the
way it computes differs.
"""
import os
import pickle

import numpy as np


def adam_allocating(w, dw, config=None):
    """optim.adam before: every step makes new m, v and next_w arrays."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    config["m"] = beta1 * config["m"] + (1 - beta1) * dw
    config["v"] = beta2 * config["v"] + (1 - beta2) * (dw * dw)
    mt = config["m"] / (1 - beta1**t)
    vt = config["v"] / (1 - beta2**t)
    next_w = w - config["learning_rate"] * mt / (np.sqrt(vt) + config["epsilon"])
    return next_w, config


def sgd_momentum_allocating(w, dw, config=None):
    """optim.sgd_momentum before: a new velocity and next_w every step."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    return next_w, config


def rmsprop_allocating(w, dw, config=None):
    """optim.rmsprop before: a new cache and next_w every step."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    decay = config["decay_rate"]
    cache = decay * config["cache"] + (1 - decay) * (dw * dw)
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    return next_w, config


def dropout_forward_float64_mask(x, dropout_param):
    """The CS231n starter's dropout: a float64 mask, so a float32 x comes out as float64."""
    p = dropout_param["p"]
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, (dropout_param, mask)


def relu_backward_index(dout, cache):
    """relu_backward with a copy and a boolean-mask assignment, a common student variant."""
    dx = dout.copy()
    dx[cache <= 0] = 0
    return dx


def get_CIFAR10_data_starter(cifar10_dir, num_training=49000, num_validation=1000, num_test=1000):
    """The CS231n starter's loader: float64 per batch, list-index copies, a final transpose copy."""
    xs, ys = [], []
    for b in range(1, 6):
        X, Y = _starter_batch(os.path.join(cifar10_dir, "data_batch_%d" % b))
        xs.append(X)
        ys.append(Y)
    X_train, y_train = np.concatenate(xs), np.concatenate(ys)
    del X, Y, xs
    X_test, y_test = _starter_batch(os.path.join(cifar10_dir, "test_batch"))
    mask = list(range(num_training, num_training + num_validation))
    X_val, y_val = X_train[mask], y_train[mask]
    mask = list(range(num_training))
    X_train, y_train = X_train[mask], y_train[mask]
    mask = list(range(num_test))
    X_test, y_test = X_test[mask], y_test[mask]
    mean_image = np.mean(X_train, axis=0)
    X_train -= mean_image
    X_val -= mean_image
    X_test -= mean_image
    return {
        "X_train": X_train.transpose(0, 3, 1, 2).copy(), "y_train": y_train,
        "X_val": X_val.transpose(0, 3, 1, 2).copy(), "y_val": y_val,
        "X_test": X_test.transpose(0, 3, 1, 2).copy(), "y_test": y_test,
    }


def _starter_batch(filename):
    with open(filename, "rb") as f:
        datadict = pickle.load(f, encoding="latin1")
    X = datadict["data"].reshape(10000, 3, 32, 32).transpose(0, 2, 3, 1).astype("float")
    return X, np.array(datadict["labels"])
