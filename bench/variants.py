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


def adam_state_every_step(w, dw, config=None):
    """optim.adam before issue 20, its first half: config.setdefault("m", np.zeros_like(w))
    builds (and drops) zero m and v arrays at every step. The step itself is today's."""
    from cs231n import optim  # the solution (bench/common.py use_source)

    config = {} if config is None else config
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    return optim.adam(w, dw, config)


def adam_three_temporaries(w, dw, config=None):
    """optim.adam before issue 20, its second half: mt, vt and sqrt(vt) + epsilon are three
    new arrays as big as w at every step. The state is built once, as today."""
    config = _adam_config(w, config)
    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    m, v = config["m"], config["v"]
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * (dw * dw)
    mt = m / (1 - beta1**t)
    vt = v / (1 - beta2**t)
    mt *= config["learning_rate"]
    mt /= np.sqrt(vt) + config["epsilon"]
    w -= mt
    return w, config


CACHE_BLOCK = 1 << 15  # elements: a block of w, dw, m, v and the step together (640 KB in float32) fits in L2


def adam_in_cache_blocks(w, dw, config=None):
    """Not adopted (README, Benchmarks): optim.adam applied to cache-sized blocks of flat views.

    Each numpy operation is one pass over its arrays; for arrays as big as W1 (6 MB) every pass
    goes to memory, while a block of each stays in the core's cache across the dozen passes.
    The bias corrections are folded into the step size and epsilon (Kingma & Ba, end of their
    section 2): lr * mt / (sqrt(vt) + eps) == lr_t * m / (sqrt(v) + eps_t), the same update.
    Faster, but no longer the update rule as the notebook writes it.
    """
    config = _adam_config(w, config)
    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    lr_t = config["learning_rate"] * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    eps_t = config["epsilon"] * np.sqrt(1 - beta2**t)
    flat = [a.reshape(-1) for a in (w, dw, config["m"], config["v"])]
    if not np.shares_memory(flat[0], w):  # a copy (w not contiguous) would lose the update
        raise ValueError("adam_in_cache_blocks needs a contiguous w")
    for start in range(0, w.size, CACHE_BLOCK):
        w_, dw_, m, v = (a[start:start + CACHE_BLOCK] for a in flat)
        m *= beta1
        m += (1 - beta1) * dw_
        v *= beta2
        v += (1 - beta2) * dw_ * dw_
        step = np.sqrt(v)
        step += eps_t
        np.divide(m, step, out=step)
        step *= lr_t
        w_ -= step
    return w, config


def _adam_config(w, config):
    config = {} if config is None else config
    for key, value in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    for key in ("m", "v"):
        if key not in config:
            config[key] = np.zeros_like(w)
    return config


def dropout_forward_rand_cast(x, dropout_param):
    """dropout_forward before issue 20: float64 draws from np.random.rand, cast to x's dtype."""
    p = dropout_param["p"]
    mask = (np.random.rand(*x.shape) < p).astype(x.dtype)
    mask /= p
    return x * mask, (dropout_param, mask)


def reg_loss_sum_of_product(W):
    """The regularization loss's sum of squares before issue 20: np.sum(W * W) builds W * W."""
    return np.sum(W * W)


def relu_gate_mask_assignment(dhidden, hidden):
    """TwoLayerNet's ReLU gate before issue 20: a boolean-mask assignment (on a copy here, so
    that the timed call leaves its input as it was)."""
    dhidden = dhidden.copy()
    dhidden[hidden <= 0] = 0
    return dhidden


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
