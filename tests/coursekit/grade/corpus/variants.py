"""A corpus of realistic submissions, written from the solutions track with small patches.

Each :class:`Variant` is a student folder in the style of one CS231n year: the solution's
files with some regions written differently (correct) or wrongly (buggy), plus the extra
files real submissions carry (Python-2-era imports, the other classifiers of the official
assignment, a ``solver.py`` of the student's own, a ``fast_layers.py`` that imports torch or a
compiled extension, sandwich layers of the student's own in ``layer_utils.py``).  The grader
takes every module the graded ones import from the submission, so these files are graded as
the student ran them; a non-graded one that fails to import is replaced by the course's copy.

Kinds:
- ``correct``: full marks on every code check;
- ``shape``: right values with an extra axis of length 1 (keepdims): loses only the shape
  case of the checks in ``loses``, with the keepdims diagnosis;
- ``buggy``: loses points only in the checks in ``loses``, the first with the diagnosis ``rule``;
- ``explained``: an error that is the same everywhere (an older API, a failed import):
  shown in full once (diagnosis ``explained-once``), in one line in every other case;
- ``full-mode-bug``: a bug that only the CIFAR-10 checks can see (the student's Solver, which no
  quick check runs): full marks in fast mode, which names those checks as skipped; loses only
  ``loses`` in full mode.

``replaced``: the modules the course's copy (or stand-in) replaces, each named in one note.
"""
from __future__ import annotations

import ast
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

NN = "cs231n/classifiers/neural_net.py"
FC = "cs231n/classifiers/fc_net.py"
LAYERS = "cs231n/layers.py"
OPTIM = "cs231n/optim.py"
START = "        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****\n"


@dataclass(frozen=True)
class Variant:
    name: str
    assignment: str
    kind: str  # correct | shape | buggy | explained
    edits: tuple[tuple[str, str, str], ...] = ()  # (file, find, replace), each find exactly once
    files: dict[str, str] = field(default_factory=dict)  # extra files of the submission
    loses: tuple[str, ...] = ()
    rule: str = ""
    replaced: tuple[str, ...] = ()  # files the course's copy replaces (each gets a note)


# --- files real submissions carry ------------------------------------------------------------

PY2_HEADER = ("from __future__ import print_function\nfrom builtins import range\nfrom builtins import object\n"
              "from past.builtins import xrange\n")
OFFICIAL_CLASSIFIERS_INIT = ("from cs231n.classifiers.k_nearest_neighbor import *\n"
                             "from cs231n.classifiers.linear_classifier import *\n")
KNN = ("from builtins import range\nfrom builtins import object\nimport numpy as np\n"
       "from past.builtins import xrange\n\n\nclass KNearestNeighbor(object):\n    def __init__(self):\n"
       "        pass\n")
LINEAR = ("from __future__ import print_function\nfrom builtins import range\nfrom builtins import object\n"
          "import numpy as np\nfrom cs231n.classifiers.linear_svm import *\nfrom cs231n.classifiers.softmax import *\n"
          "from past.builtins import xrange\n")
# A Solver of the student's own, in the 2017 style (Python 2 shims), written unlike the course's:
# options from a table, one shuffled pass over the training set per epoch (no replacement).
SOLVER_2017 = PY2_HEADER + '''from future import standard_library
standard_library.install_aliases()
import numpy as np

from cs231n import optim


class Solver(object):
    OPTIONS = {'update_rule': 'sgd', 'optim_config': None, 'lr_decay': 1.0, 'batch_size': 100,
               'num_epochs': 10, 'num_train_samples': 1000, 'num_val_samples': None,
               'checkpoint_name': None, 'print_every': 10, 'verbose': True}

    def __init__(self, model, data, **kwargs):
        unknown = sorted(set(kwargs) - set(self.OPTIONS))
        if unknown:
            raise ValueError('Unrecognized arguments %s' % ', '.join(unknown))
        for name, default in self.OPTIONS.items():
            setattr(self, name, kwargs.get(name, default))
        self.optim_config = dict(self.optim_config or {})
        self.model = model
        self.X_train, self.y_train = data['X_train'], data['y_train']
        self.X_val, self.y_val = data['X_val'], data['y_val']
        self.update_rule = getattr(optim, self.update_rule)
        self.epoch = 0
        self.best_val_acc = -1.0
        self.best_params = {}
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.optim_configs = dict((p, dict(self.optim_config)) for p in self.model.params)

    def _step(self, X_batch, y_batch):
        loss, grads = self.model.loss(X_batch, y_batch)
        self.loss_history.append(loss)
        for p in list(self.model.params):
            w, config = self.update_rule(self.model.params[p], grads[p], self.optim_configs[p])
            self.model.params[p], self.optim_configs[p] = w, config

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        if num_samples is not None and X.shape[0] > num_samples:
            keep = np.random.choice(X.shape[0], num_samples, replace=False)
            X, y = X[keep], y[keep]
        correct = 0
        for start in xrange(0, X.shape[0], batch_size):
            scores = self.model.loss(X[start:start + batch_size])
            correct += np.sum(np.argmax(scores, axis=1) == y[start:start + batch_size])
        return float(correct) / X.shape[0]

    def train(self):
        num_train = self.X_train.shape[0]
        per_epoch = max(num_train // self.batch_size, 1)
        for epoch in xrange(self.num_epochs):
            order = np.random.permutation(num_train)
            for it in xrange(per_epoch):
                batch = order[it * self.batch_size:(it + 1) * self.batch_size]
                self._step(self.X_train[batch], self.y_train[batch])
                if self.verbose and it % self.print_every == 0:
                    print('(Epoch %d, iteration %d) loss: %f' % (epoch + 1, it + 1, self.loss_history[-1]))
            self.epoch = epoch + 1
            for config in self.optim_configs.values():
                config['learning_rate'] *= self.lr_decay
            train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
            val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
            self.train_acc_history.append(train_acc)
            self.val_acc_history.append(val_acc)
            if val_acc > self.best_val_acc:
                self.best_val_acc = val_acc
                self.best_params = dict((k, v.copy()) for k, v in self.model.params.items())
        self.model.params = self.best_params
'''
FAST_LAYERS = "import numpy as np\nimport torch\n\n\ndef conv_forward_fast(x, w, b, conv_param):\n    pass\n"
FAST_LAYERS_CYTHON = ("import numpy as np\nfrom .im2col_cython import col2im_cython, im2col_cython  # built by setup.py\n\n\n"
                      "def conv_forward_fast(x, w, b, conv_param):\n    pass\n")
EXTRAS_2017 = {"cs231n/classifiers/__init__.py": OFFICIAL_CLASSIFIERS_INIT,
               "cs231n/classifiers/k_nearest_neighbor.py": KNN, "cs231n/classifiers/linear_classifier.py": LINEAR}
EXTRAS_FC = {"cs231n/solver.py": SOLVER_2017, "cs231n/fast_layers.py": FAST_LAYERS}

# --- two_layer_net ---------------------------------------------------------------------------

TL_LOSS_SHIFT = """        shifted = scores - scores.max(axis=1, keepdims=True)  # (N, C)
        exp_scores = np.exp(shifted)
        sum_exp = exp_scores.sum(axis=1, keepdims=True)  # (N, 1)
        probs = exp_scores / sum_exp  # (N, C)
        data_loss = np.mean(np.log(sum_exp[:, 0]) - shifted[np.arange(N), y])
"""
TL_LOGSUMEXP = """        top = np.max(scores, axis=1, keepdims=True)
        lse = top + np.log(np.sum(np.exp(scores - top), axis=1, keepdims=True))  # (N, 1)
        probs = np.exp(scores - lse)
        data_loss = np.sum(lse[:, 0] - scores[np.arange(N), y]) / N
"""
TL_LOOP_2017 = """        probs = np.zeros_like(scores)
        data_loss = 0.0
        for i in xrange(N):
            row = scores[i] - np.max(scores[i])
            p = np.exp(row) / np.sum(np.exp(row))
            probs[i] = p
            data_loss += -np.log(p[y[i]])
        data_loss /= N
"""
TL_UPDATE = """            for name, grad in grads.items():
                self.params[name] -= learning_rate * grad
"""
TL_COPY_UPDATE = """            for param in self.params:
                self.params[param] = self.params[param] - learning_rate * grads[param]
"""
TL_BATCH = "            batch = np.random.choice(num_train, batch_size)\n"
TL_DB = ("            'b1': dhidden.sum(axis=0),  # (H,)\n", "            'b2': dscores.sum(axis=0),  # (C,)\n")

TWO_LAYER = [
    Variant("tl-2017-py2-imports-loop-loss", "two_layer_net", "correct",
            ((NN, "import os\n", PY2_HEADER + "import os\n"),
             (NN, TL_LOSS_SHIFT, TL_LOOP_2017),
             (NN, "        for it in range(num_iters):\n", "        for it in xrange(num_iters):\n")),
            files=EXTRAS_2017, replaced=("cs231n/classifiers/__init__.py",)),  # imports a missing linear_svm
    Variant("tl-2020-logsumexp", "two_layer_net", "correct", ((NN, TL_LOSS_SHIFT, TL_LOGSUMEXP),)),
    Variant("tl-float32-training", "two_layer_net", "correct",
            ((NN, "            X_batch = X[batch]  # (batch_size, D)\n",
              "            X_batch = X[batch].astype(np.float32)\n"),
             (NN, "        self.params['W1'] = std * np.random.randn(input_size, hidden_size)\n",
              "        self.params['W1'] = (std * np.random.randn(input_size, hidden_size)).astype(np.float32)\n"))),
    Variant("tl-without-replacement", "two_layer_net", "correct",
            ((NN, TL_BATCH, "            batch = np.random.choice(num_train, batch_size, "
                            "replace=batch_size > num_train)\n"),)),
    Variant("tl-permutation-batches", "two_layer_net", "correct",
            ((NN, TL_BATCH, "            batch = np.random.permutation(num_train)[:batch_size]\n"),)),
    Variant("tl-copying-update", "two_layer_net", "correct", ((NN, TL_UPDATE, TL_COPY_UPDATE),)),
    Variant("tl-keepdims-biases", "two_layer_net", "shape",
            ((NN, TL_DB[0], "            'b1': np.sum(dhidden, axis=0, keepdims=True),\n"),
             (NN, TL_DB[1], "            'b2': np.sum(dscores, axis=0, keepdims=True),\n"),
             (NN, TL_UPDATE, TL_COPY_UPDATE)), loses=("gradients",), rule="keepdims-shape"),
    Variant("tl-no-max-shift", "two_layer_net", "buggy",
            ((NN, "        shifted = scores - scores.max(axis=1, keepdims=True)  # (N, C)\n",
              "        shifted = scores\n"),), loses=("loss",), rule="no-max-shift"),
    Variant("tl-reg-half", "two_layer_net", "buggy",
            ((NN, "        reg_loss = reg * (np.vdot(W1, W1) + np.vdot(W2, W2))  # sums of squares, no W * W array\n",
              "        reg_loss = 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))\n"),),
            loses=("loss",), rule="reg-loss-half"),
    Variant("tl-reseeded-minibatch", "two_layer_net", "buggy",
            ((NN, TL_BATCH, "            np.random.seed(0)\n" + TL_BATCH),),
            loses=("toy_training",), rule="same-minibatch"),
    Variant("tl-update-climbs", "two_layer_net", "buggy",
            ((NN, "                self.params[name] -= learning_rate * grad\n",
              "                self.params[name] += learning_rate * grad\n"),), loses=("toy_training",), rule="loss-rises"),
    Variant("tl-labels-drawn-apart", "two_layer_net", "buggy",
            ((NN, "            y_batch = y[batch]  # (batch_size,)\n",
              "            y_batch = y[np.random.choice(num_train, batch_size)]\n"),),
            loses=("toy_training",), rule="loss-at-chance"),
    Variant("tl-imports-torch", "two_layer_net", "explained",
            ((NN, "import os\n\n", "import os\nimport torch\n"),),
            loses=("scores", "loss", "gradients", "toy_training", "predict"), rule="explained-once"),
]

# --- fc_net ----------------------------------------------------------------------------------

DROPOUT_MASK = ("        mask = (rng.random(x.shape, dtype=np.float32) < p).astype(x.dtype)  # 1 = keep\n"
                "        mask /= p\n")
MOMENTUM = """    v = config["velocity"]  # updated in place, like w: no new arrays each step
    v *= config["momentum"]
    v -= config["learning_rate"] * dw
    w += v
    next_w = w
"""
RMSPROP = """    decay = config["decay_rate"]
    cache = config["cache"]  # updated in place, like w: no new arrays each step
    cache *= decay
    cache += (1 - decay) * (dw * dw)
    w -= config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    next_w = w
"""
ADAM_MOMENTS = """    # next_w = w - learning_rate * mt / (sqrt(vt) + epsilon), built in one array as big
    # as w: each further temporary that size costs a pass over memory and fresh pages.
    step = v / (1 - beta2**t)  # vt, the bias-corrected second moment
    np.sqrt(step, out=step)
    step += config["epsilon"]
    np.divide(m, step, out=step)
    step *= config["learning_rate"] / (1 - beta1**t)  # mt = m / (1 - beta1**t)
    w -= step
    next_w = w
"""
ADAM_FIRST = """    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    m, v = config["m"], config["v"]  # updated in place, like w: no new arrays each step
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * dw * dw  # one temporary: numpy reuses the one of (1 - beta2) * dw
"""
COPYING_OPTIM = (
    (OPTIM, MOMENTUM, "    v = config['momentum'] * config['velocity'] - config['learning_rate'] * dw\n"
                      "    next_w = w + v\n    config['velocity'] = v\n"),
    (OPTIM, RMSPROP, "    config['cache'] = config['decay_rate'] * config['cache'] + (1 - config['decay_rate']) * dw**2\n"
                     "    next_w = w - config['learning_rate'] * dw / (np.sqrt(config['cache']) + config['epsilon'])\n"),
    (OPTIM, ADAM_FIRST + ADAM_MOMENTS,
     "    config['t'] = config['t'] + 1\n"
     "    config['m'] = config['beta1'] * config['m'] + (1 - config['beta1']) * dw\n"
     "    config['v'] = config['beta2'] * config['v'] + (1 - config['beta2']) * (dw**2)\n"
     "    mb = config['m'] / (1 - config['beta1']**config['t'])\n"
     "    vb = config['v'] / (1 - config['beta2']**config['t'])\n"
     "    next_w = w - config['learning_rate'] * mb / (np.sqrt(vb) + config['epsilon'])\n"),
)
BN_BACKWARD = """    dbeta = dout.sum(axis=0)  # (D,)
    dgamma = np.sum(dout * x_hat, axis=0)  # (D,)
    dx_hat = dout * gamma  # (N, D)
    x_mu = x_hat / inv_std  # (N, D), x - mean
    dinv_std = np.sum(dx_hat * x_mu, axis=0)  # (D,)
    dvar = -0.5 * inv_std**3 * dinv_std  # (D,)
    dx_mu = dx_hat * inv_std + x_mu * (2.0 / N * dvar)  # (N, D), both paths into x_mu
    dx = dx_mu - dx_mu.mean(axis=0)  # (N, D), through x_mu = x - mean(x)
"""
BN_BACKWARD_STAGED = """    # the computational graph, one node at a time (2017 notebooks)
    xmu = x_hat / inv_std
    sqrtvar = 1.0 / inv_std
    dbeta = np.sum(dout, axis=0)
    dgammax = dout
    dgamma = np.sum(dgammax * x_hat, axis=0)
    dxhat = dgammax * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * inv_std
    dsqrtvar = -1.0 / (sqrtvar**2) * divar
    dvar = 0.5 * inv_std * dsqrtvar
    dsq = 1.0 / N * np.ones((N, x_hat.shape[1])) * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
    dx2 = 1.0 / N * np.ones((N, x_hat.shape[1])) * dmu
    dx = dx1 + dx2
"""
BN_ALT = "    dx = inv_std * (dx_hat - dx_hat.mean(axis=0) - x_hat * np.mean(dx_hat * x_hat, axis=0))\n"
BN_ALT_ONE_LINE = ("    N = dout.shape[0]\n    dx = (1.0 / N) * gamma * inv_std * (N * dout - np.sum(dout, axis=0)\n"
                   "                                        - x_hat * np.sum(dout * x_hat, axis=0))\n")
BN_TEST = """        inv_std = 1.0 / np.sqrt(running_var + eps)  # (D,)
        x_hat = (x - running_mean) * inv_std  # (N, D)
"""
BN_TEST_DIRECT = """        inv_std = 1.0 / np.sqrt(bn_param['running_var'] + eps)
        x_hat = (x - bn_param['running_mean']) * inv_std
"""
LN_FORWARD = """    x_mu = x - x.mean(axis=1, keepdims=True)  # (N, D)
    var = np.mean(x_mu * x_mu, axis=1, keepdims=True)  # (N, 1)
    inv_std = 1.0 / np.sqrt(var + eps)  # (N, 1)
    x_hat = x_mu * inv_std  # (N, D)
"""
LN_TRANSPOSED = """    xt = x.T  # (D, N): batch norm's statistics over axis 0 of the transpose
    mu, var = xt.mean(axis=0), xt.var(axis=0)  # (N,)
    inv_std = (1.0 / np.sqrt(var + eps))[:, None]  # (N, 1)
    x_hat = ((xt - mu) / np.sqrt(var + eps)).T  # (N, D)
"""
AFFINE = "    out = x.reshape(x.shape[0], -1) @ w + b  # (N, M)\n"
AFFINE_BACKWARD = ("    dx = None\n"
                   "    if need_dx:  # a net's first layer skips it, as PyTorch does for its input\n"
                   "        dx = (dout @ w.T).reshape(x.shape)  # (N, d_1, ..., d_k)\n"
                   "    dw = x.reshape(x.shape[0], -1).T @ dout  # (D, M)\n    db = dout.sum(axis=0)  # (M,)\n")
SOFTMAX_VECTORIZED = ("    shifted = x - x.max(axis=1, keepdims=True)  # (N, C), every row max is 0\n"
                      "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)\n"
                      "    loss = -log_probs[np.arange(N), y].mean()\n"
                      "    dx = np.exp(log_probs)  # (N, C), the probabilities\n"
                      "    dx[np.arange(N), y] -= 1\n    dx /= N\n")
SOFTMAX_NAIVE = """    # softmax_loss_naive of assignment 1: a loop over the examples and the classes
    loss = 0.0
    dx = np.zeros_like(x)
    for i in range(N):
        scores = x[i] - np.max(x[i])
        sum_exp = np.sum(np.exp(scores))
        loss += -scores[y[i]] + np.log(sum_exp)
        for j in range(x.shape[1]):
            p = np.exp(scores[j]) / sum_exp
            dx[i, j] = (p - (j == y[i])) / N
    loss /= N
"""
INIT = '            self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])\n'
FC_REG = "                loss += 0.5 * self.reg * np.vdot(W, W)  # sum of squares, no W * W array\n"

LAYER_UTILS = "cs231n/layer_utils.py"
SOLVER = "cs231n/solver.py"
REGION_START = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****\n"
REGION_END = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****\n"
# The 2021+ official layer_utils.py: star imports of layers and fast_layers, the given affine-relu
# pair, a module-level region for the student's sandwich layers, then the conv layers.
UTILS_HEAD = """from .layers import *
from .fast_layers import *


def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


"""
UTILS_CONV = """

def conv_relu_forward(x, w, b, conv_param):
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)
"""
SANDWICHES = """def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    a, fc_cache = affine_forward(x, w, b)
    a_hat, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(a_hat)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache):
    fc_cache, bn_cache, relu_cache = cache
    da_hat = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward_alt(da_hat, bn_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def affine_ln_relu_forward(x, w, b, gamma, beta, ln_param):
    a, fc_cache = affine_forward(x, w, b)
    a_hat, ln_cache = layernorm_forward(a, gamma, beta, ln_param)
    out, relu_cache = relu_forward(a_hat)
    return out, (fc_cache, ln_cache, relu_cache)


def affine_ln_relu_backward(dout, cache):
    fc_cache, ln_cache, relu_cache = cache
    da_hat = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = layernorm_backward(da_hat, ln_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta
"""
# One hidden layer as one pair (affine - [norm] - relu - [dropout]), written below the region.
HIDDEN_LAYER = """

def hidden_layer_forward(x, w, b, gamma, beta, norm_param, normalization, dropout_param):
    out, fc_cache = affine_forward(x, w, b)
    norm_cache = None
    if normalization == "batchnorm":
        out, norm_cache = batchnorm_forward(out, gamma, beta, norm_param)
    elif normalization == "layernorm":
        out, norm_cache = layernorm_forward(out, gamma, beta, norm_param)
    out, relu_cache = relu_forward(out)
    drop_cache = None
    if dropout_param is not None:
        out, drop_cache = dropout_forward(out, dropout_param)
    return out, (fc_cache, norm_cache, relu_cache, drop_cache, normalization)


def hidden_layer_backward(dout, cache):
    fc_cache, norm_cache, relu_cache, drop_cache, normalization = cache
    if drop_cache is not None:
        dout = dropout_backward(dout, drop_cache)
    dout = relu_backward(dout, relu_cache)
    dgamma = dbeta = None
    if normalization == "batchnorm":
        dout, dgamma, dbeta = batchnorm_backward(dout, norm_cache)
    elif normalization == "layernorm":
        dout, dgamma, dbeta = layernorm_backward(dout, norm_cache)
    dx, dw, db = affine_backward(dout, fc_cache)
    return dx, dw, db, dgamma, dbeta
"""
UTILS_IN_REGION = UTILS_HEAD + REGION_START + SANDWICHES + REGION_END + UTILS_CONV
UTILS_BELOW_REGION = UTILS_HEAD + REGION_START + "pass\n" + REGION_END + HIDDEN_LAYER + UTILS_CONV
UTILS_BELOW_REGION_NO_DROPOUT_GRAD = UTILS_BELOW_REGION.replace(
    "    if drop_cache is not None:\n        dout = dropout_backward(dout, drop_cache)\n", "")
FC_UTILS_IMPORT = ("from ..layer_utils import (\n    affine_norm_relu_backward,\n    affine_norm_relu_forward,\n"
                   "    affine_relu_backward,\n    affine_relu_forward,\n)\n")
FC_HIDDEN_FORWARD = """            h, layer_cache = affine_norm_relu_forward(
                h, self.params[f"W{i}"], self.params[f"b{i}"], self.params.get(f"gamma{i}"),
                self.params.get(f"beta{i}"), norm_param, self.normalization)  # (N, H_i)
"""
FC_HIDDEN_BACKWARD = """            dh, grads[f"W{i}"], grads[f"b{i}"], dgamma, dbeta = affine_norm_relu_backward(
                dh, layer_cache, need_dx=i > 1)  # dh: (N, H_{i-1}); None for the data (i = 1)
"""
FC_DROPOUT_FORWARD = """            drop_cache = None
            if self.use_dropout:
                h, drop_cache = dropout_forward(h, self.dropout_param)  # (N, H_i)
"""
FC_DROPOUT_BACKWARD = """            if self.use_dropout:
                dh = dropout_backward(dh, drop_cache)
"""
USES_SANDWICHES = (  # fc_net.py calling the student's affine_bn_relu / affine_ln_relu pairs
    (FC, FC_UTILS_IMPORT, "from ..layer_utils import *\n"),
    (FC, FC_HIDDEN_FORWARD, """            W, b = self.params[f"W{i}"], self.params[f"b{i}"]
            if self.normalization == "batchnorm":
                h, layer_cache = affine_bn_relu_forward(h, W, b, self.params[f"gamma{i}"],
                                                        self.params[f"beta{i}"], norm_param)
            elif self.normalization == "layernorm":
                h, layer_cache = affine_ln_relu_forward(h, W, b, self.params[f"gamma{i}"],
                                                        self.params[f"beta{i}"], norm_param)
            else:
                h, layer_cache = affine_relu_forward(h, W, b)
"""),
    (FC, FC_HIDDEN_BACKWARD, """            if self.normalization == "batchnorm":
                dh, grads[f"W{i}"], grads[f"b{i}"], dgamma, dbeta = affine_bn_relu_backward(dh, layer_cache)
            elif self.normalization == "layernorm":
                dh, grads[f"W{i}"], grads[f"b{i}"], dgamma, dbeta = affine_ln_relu_backward(dh, layer_cache)
            else:
                dh, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dh, layer_cache)
"""),
)
USES_HIDDEN_LAYER = (  # fc_net.py calling the student's hidden_layer pair (dropout inside it)
    (FC, FC_UTILS_IMPORT, "from ..layer_utils import *\n"),
    (FC, FC_HIDDEN_FORWARD + FC_DROPOUT_FORWARD, """            h, layer_cache = hidden_layer_forward(
                h, self.params[f"W{i}"], self.params[f"b{i}"], self.params.get(f"gamma{i}"),
                self.params.get(f"beta{i}"), norm_param, self.normalization,
                self.dropout_param if self.use_dropout else None)  # (N, H_i)
            drop_cache = None
"""),
    (FC, FC_DROPOUT_BACKWARD + FC_HIDDEN_BACKWARD,
     """            dh, grads[f"W{i}"], grads[f"b{i}"], dgamma, dbeta = hidden_layer_backward(dh, layer_cache)
"""),
)
SOLVER_LABELS_APART = ((SOLVER, "        y_batch = self.y_train[batch_mask]\n",
                        "        y_batch = self.y_train[np.random.choice(num_train, self.batch_size)]\n"),)

FC = [
    Variant("fc-2017-py2-official-files", "fc_net", "correct",
            ((LAYERS, "import numpy as np\n", PY2_HEADER + "import numpy as np\n", ),
             (FC, "import os\n", PY2_HEADER + "import os\n"),
             (LAYER_UTILS, "from .layers import (\n", "from cs231n.fast_layers import *\nfrom .layers import (\n")),
            files={**EXTRAS_2017, **EXTRAS_FC},  # its own Solver; fast_layers imports torch
            replaced=("cs231n/classifiers/__init__.py", "cs231n/fast_layers.py")),
    Variant("fc-2022-sandwiches-in-layer-utils-region", "fc_net", "correct", USES_SANDWICHES,
            files={LAYER_UTILS: UTILS_IN_REGION, "cs231n/fast_layers.py": FAST_LAYERS},
            replaced=("cs231n/fast_layers.py",)),
    Variant("fc-2023-hidden-layer-below-region-cython", "fc_net", "correct", USES_HIDDEN_LAYER,
            files={LAYER_UTILS: UTILS_BELOW_REGION, "cs231n/fast_layers.py": FAST_LAYERS_CYTHON},
            replaced=("cs231n/fast_layers.py",)),
    Variant("fc-2023-hidden-layer-forgets-dropout-grad", "fc_net", "buggy", USES_HIDDEN_LAYER,
            files={LAYER_UTILS: UTILS_BELOW_REGION_NO_DROPOUT_GRAD, "cs231n/fast_layers.py": FAST_LAYERS_CYTHON},
            loses=("fc_gradients",), rule="fc-dropout-backward", replaced=("cs231n/fast_layers.py",)),
    Variant("fc-solver-labels-drawn-apart", "fc_net", "full-mode-bug", SOLVER_LABELS_APART,
            loses=("cifar_accuracy",)),
    Variant("fc-float32-mask-np-dot", "fc_net", "correct",
            ((LAYERS, DROPOUT_MASK, "        mask = (np.random.rand(*x.shape) < p) / np.float32(p)\n"),
             (LAYERS, AFFINE, "    out = np.dot(x.reshape(x.shape[0], np.prod(x.shape[1:])), w) + b\n"))),
    Variant("fc-copying-updates", "fc_net", "correct", COPYING_OPTIM),
    Variant("fc-staged-batchnorm-backward", "fc_net", "correct",
            ((LAYERS, BN_BACKWARD, BN_BACKWARD_STAGED), (LAYERS, BN_ALT, BN_ALT_ONE_LINE))),
    Variant("fc-bn-param-read-directly", "fc_net", "correct", ((LAYERS, BN_TEST, BN_TEST_DIRECT),)),
    Variant("fc-layernorm-transposed", "fc_net", "correct", ((LAYERS, LN_FORWARD, LN_TRANSPOSED),)),
    Variant("fc-init-np-random-normal", "fc_net", "correct",
            ((FC, INIT, '            self.params["W%d" % i] = np.random.normal(0.0, weight_scale, '
                        '(dims[i - 1], dims[i]))\n'),)),
    Variant("fc-softmax-probs-2019", "fc_net", "correct",
            ((LAYERS, "    shifted = x - x.max(axis=1, keepdims=True)  # (N, C), every row max is 0\n"
                      "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)\n"
                      "    loss = -log_probs[np.arange(N), y].mean()\n"
                      "    dx = np.exp(log_probs)  # (N, C), the probabilities\n",
              "    probs = np.exp(x - np.max(x, axis=1, keepdims=True))\n"
              "    probs /= np.sum(probs, axis=1, keepdims=True)\n"
              "    loss = -np.sum(np.log(probs[np.arange(N), y])) / N\n"
              "    dx = probs.copy()\n"),)),
    Variant("fc-loops-from-assignment-1", "fc_net", "correct",  # derived, but with loops and a recomputation
            ((LAYERS, SOFTMAX_VECTORIZED, SOFTMAX_NAIVE),
             (LAYERS, "    dw = x.reshape(x.shape[0], -1).T @ dout  # (D, M)\n",
              "    x_rows = x.reshape(x.shape[0], -1)\n    dw = np.zeros_like(w)\n"
              "    for i in range(x.shape[0]):\n        dw += np.outer(x_rows[i], dout[i])\n"),
             (LAYERS, "    dx = dout * (x > 0)\n", "    out, _ = relu_forward(x)  # recomputed, not cached\n"
                                               "    dx = dout * (out > 0)\n"))),
    Variant("fc-keepdims-db", "fc_net", "shape",
            ((LAYERS, "    db = dout.sum(axis=0)  # (M,)\n", "    db = np.sum(dout, axis=0, keepdims=True)\n"),
             *COPYING_OPTIM), loses=("affine_backward",), rule="keepdims-shape"),
    Variant("fc-dropout-drop-probability-2017", "fc_net", "buggy",
            ((LAYERS, DROPOUT_MASK, "        mask = (np.random.rand(*x.shape) >= p) / (1 - p)\n"),),
            loses=("dropout_forward",), rule="dropout-drop-probability"),
    Variant("fc-dropout-one-mask-per-batch", "fc_net", "buggy",
            ((LAYERS, DROPOUT_MASK, "        mask = (np.random.rand(*x.shape[1:]) < p) / p\n"),),
            loses=("dropout_forward",), rule="dropout-mask-shared"),
    Variant("fc-adam-no-bias-correction", "fc_net", "buggy",
            ((OPTIM, ADAM_MOMENTS, "    w -= config['learning_rate'] * m / (np.sqrt(v) + config['epsilon'])\n"
                                   "    next_w = w\n"),),
            loses=("adam",), rule="adam-no-bias-correction"),
    Variant("fc-momentum-sign", "fc_net", "buggy",
            ((OPTIM, '    v -= config["learning_rate"] * dw\n', '    v += config["learning_rate"] * dw\n'),),
            loses=("sgd_momentum",), rule="momentum-sign"),
    Variant("fc-rmsprop-eps-in-sqrt", "fc_net", "buggy",
            ((OPTIM, '    w -= config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])\n',
              '    w -= config["learning_rate"] * dw / np.sqrt(cache + config["epsilon"])\n'),),
            loses=("rmsprop",), rule="rmsprop-eps-in-sqrt"),
    Variant("fc-reg-without-half", "fc_net", "buggy", ((FC, FC_REG, "                loss += self.reg * np.sum(W * W)\n"),),
            # with dropout the grader has no reference gradient, only the student's own forward pass
            loses=("fc_loss", "fc_gradients"), rule="reg-loss-double"),
    Variant("fc-biases-init-ones", "fc_net", "buggy",
            ((FC, '            self.params[f"b{i}"] = np.zeros(dims[i])\n',
              '            self.params[f"b{i}"] = np.ones(dims[i])\n'),), loses=("fc_init",), rule="init-biases-not-zero"),
    Variant("fc-numeric-affine-backward", "fc_net", "buggy",  # the notebook's gradient check as the gradient
            ((LAYERS, AFFINE_BACKWARD,
              "    from cs231n.gradient_check import eval_numerical_gradient_array\n"
              "    dx = eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)\n"
              "    dw = eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)\n"
              "    db = eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)\n"),),
            loses=("affine_backward", "fc_gradients"), rule="numeric-gradient"),  # the net's through it too
    Variant("fc-bn-alt-no-variance-path", "fc_net", "buggy",
            ((LAYERS, BN_ALT, "    dx = inv_std * (dx_hat - dx_hat.mean(axis=0))\n"),),
            loses=("batchnorm_backward_alt",), rule="bn-dx-no-variance-path"),
    Variant("fc-2019-constructor-dropout", "fc_net", "explained",
            ((FC, "        dropout_keep_ratio=1,\n", "        dropout=1,\n"),
             (FC, "        self.use_dropout = dropout_keep_ratio != 1\n", "        self.use_dropout = dropout != 1\n"),
             (FC, '        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}\n',
              '        self.dropout_param = {"mode": "train", "p": dropout}\n')),
            loses=("fc_init", "fc_loss", "fc_gradients"), rule="explained-once"),
    Variant("fc-2017-constructor-use-batchnorm", "fc_net", "explained",
            ((FC, "        dropout_keep_ratio=1,\n        normalization=None,\n",
              "        dropout=0,\n        use_batchnorm=False,\n"),
             (FC, '        if normalization not in (None, "batchnorm", "layernorm"):\n',
              '        normalization = "batchnorm" if use_batchnorm else None\n'
              '        if normalization not in (None, "batchnorm", "layernorm"):\n'),
             (FC, "        self.use_dropout = dropout_keep_ratio != 1\n", "        self.use_dropout = dropout > 0\n"),
             (FC, '        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}\n',
              '        self.dropout_param = {"mode": "train", "p": dropout}\n')),
            loses=("fc_init", "fc_loss", "fc_gradients"), rule="explained-once"),
]

VARIANTS = TWO_LAYER + FC


def write_variant(variant: Variant, solutions: Path, dest: Path) -> Path:
    """The solutions track of the variant's assignment in ``dest``, patched; returns ``dest``."""
    shutil.copytree(solutions / variant.assignment, dest, ignore=shutil.ignore_patterns("*.ipynb"))
    for relpath, find, replace in variant.edits:
        path = dest / relpath
        text = path.read_text()
        if text.count(find) != 1:
            raise ValueError(f"{variant.name}: the text to replace occurs {text.count(find)} times in "
                             f"{relpath}, not once:\n{find}")
        path.write_text(text.replace(find, replace))
    for relpath, text in variant.files.items():
        (dest / relpath).parent.mkdir(parents=True, exist_ok=True)
        (dest / relpath).write_text(text)
    return dest


def write_starter_skeleton(solutions: Path, assignment: str, dest: Path) -> Path:
    """The official CS231n starter code's shape: each region is ``pass``, after the names it
    would assign are set to None (``out = None`` above the TODO), so functions return None."""
    shutil.copytree(solutions / assignment, dest, ignore=shutil.ignore_patterns("*.ipynb"))
    for path in dest.rglob("*.py"):
        lines = path.read_text().splitlines(keepends=True)
        out, body = [], None
        for line in lines:
            if "*****START OF YOUR CODE" in line:
                out.append(line)
                body = []
            elif "*****END OF YOUR CODE" in line and body is not None:
                indent = line[:len(line) - len(line.lstrip())]
                out += [f"{indent}{name} = None\n" for name in _assigned(body)] + [f"{indent}pass\n", line]
                body = None
            elif body is not None:
                body.append(line)
            else:
                out.append(line)
        path.write_text("".join(out))
    return dest


def _assigned(body: list[str]) -> list[str]:
    """Names a region's code stores to, in order (not attributes or items)."""
    tree = ast.parse(textwrap.dedent("".join(body)))
    names = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)]
    return list(dict.fromkeys(names))
