"""2021+ CS231n two-layer submissions: ``TwoLayerNet`` in ``cs231n/classifiers/fc_net.py``.

The two-layer assignment's "modular" flow (course.toml ``flow = "modular"``): the net is
built from the layers of ``layers.py`` and trained by the Solver.  Each :class:`Variant`
(the class of ``variants.py``) patches the solutions track of that flow the way real
2021-2025 submissions are written: other shapes and formulas, numpy by hand instead of the
layer functions, the official ``save``/``load`` methods, 2017-era absolute imports.
Correct ones get full marks; each bug loses only the checks it breaks, the first with the
diagnosis ``rule`` where one names it.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_BASE = "corpus_variants"
if _BASE not in sys.modules:  # the class and writers of variants.py, loaded once as test_corpus does
    _spec = importlib.util.spec_from_file_location(_BASE, Path(__file__).with_name("variants.py"))
    sys.modules[_BASE] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_BASE])
Variant = sys.modules[_BASE].Variant
write_variant = sys.modules[_BASE].write_variant
write_starter_skeleton = sys.modules[_BASE].write_starter_skeleton

FC = "cs231n/classifiers/fc_net.py"
LAYERS = "cs231n/layers.py"
NET_CHECKS = ("two_layer_init", "two_layer_scores", "two_layer_loss", "two_layer_gradients")

# --- the solution's text, as the patches find it ----------------------------------------------

INIT = """        self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b2"] = np.zeros(num_classes)
"""
FORWARD = """        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        hidden, hidden_cache = affine_relu_forward(X, W1, b1)  # (N, H)
        scores, scores_cache = affine_forward(hidden, W2, b2)  # (N, C)
"""
BACKWARD = """        loss, dscores = softmax_loss(scores, y)  # dscores: (N, C)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        grads = {}
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, scores_cache)  # dhidden: (N, H)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, hidden_cache)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
"""
SAVE_LOAD = '''    def save(self, fname):
        """Save self.params (np.save of the dict) as cs231n/saved/<fname>."""
        save_params(self.params, fname)

    def load(self, fname):
        """Load self.params from cs231n/saved/<fname>; True if it was there, else False."""
        params = load_params(fname)
        if params is None:
            return False
        self.params = params
        return True


class FullyConnectedNet(object):'''
HEADER = "import os\n\nimport numpy as np\n\nfrom ..layer_utils import ("

# --- how real 2021+ submissions write it --------------------------------------------------------

INIT_2022 = """
        D, H, C = input_dim, hidden_dim, num_classes
        self.params['b1'] = np.zeros((H,))
        self.params['b2'] = np.zeros((C,))
        self.params['W1'] = np.random.normal(loc=0.0, scale=weight_scale, size=(D, H))
        self.params['W2'] = np.random.normal(loc=0.0, scale=weight_scale, size=(H, C))

"""
FORWARD_2022 = """
        out1, cache1 = affine_relu_forward(X, self.params['W1'], self.params['b1'])
        out2, cache2 = affine_forward(out1, self.params['W2'], self.params['b2'])
        scores = out2

"""
BACKWARD_2022 = """
        grads = {}
        data_loss, dout2 = softmax_loss(scores, y)
        W1, W2 = self.params['W1'], self.params['W2']
        l2 = 0.5 * self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
        loss = data_loss + l2

        dout1, dW2, db2 = affine_backward(dout2, cache2)
        _, dW1, db1 = affine_relu_backward(dout1, cache1)

        grads['W1'], grads['b1'] = dW1 + self.reg * W1, db1
        grads['W2'], grads['b2'] = dW2 + self.reg * W2, db2

"""
SAVE_LOAD_OFFICIAL = '''    def save(self, fname):
        target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "saved", fname)
        np.save(target, self.params)
        print(fname, "saved.")

    def load(self, fname):
        target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "saved", fname)
        if os.path.exists(target):
            self.params = np.load(target, allow_pickle=True).item()
            print(fname, "loaded.")
            return True
        print(fname, "not available.")
        return False


class FullyConnectedNet(object):'''
HEADER_2022 = ("from builtins import range\nfrom builtins import object\nimport os\nimport numpy as np\n\n"
               "from ..layers import *\nfrom ..layer_utils import *\nfrom ..layer_utils import (")
HEADER_2017 = ("from builtins import range\nfrom builtins import object\nimport os\n\nimport numpy as np\n\n"
               "from cs231n.layers import *\nfrom cs231n.layer_utils import *\nfrom ..layer_utils import (")

FORWARD_BY_HAND = """        W1, b1, W2, b2 = self.params['W1'], self.params['b1'], self.params['W2'], self.params['b2']
        N = X.shape[0]
        x = X.reshape(N, -1)  # (N, D)
        h_in = np.dot(x, W1) + b1
        h = np.maximum(0, h_in)  # (N, H)
        scores = np.dot(h, W2) + b2  # (N, C)
"""
BACKWARD_BY_HAND = """        logits = scores - np.max(scores, axis=1, keepdims=True)
        exp = np.exp(logits)
        p = exp / np.sum(exp, axis=1, keepdims=True)
        loss = np.mean(-np.log(p[range(N), y]))
        loss += 0.5 * self.reg * (np.sum(np.square(W1)) + np.sum(np.square(W2)))
        dscores = p
        dscores[range(N), y] -= 1
        dscores /= N
        dh = np.dot(dscores, W2.T)
        dh[h_in <= 0] = 0
        grads = {
            'W2': np.dot(h.T, dscores) + self.reg * W2,
            'b2': np.sum(dscores, axis=0),
            'W1': np.dot(x.T, dh) + self.reg * W1,
            'b1': np.sum(dh, axis=0),
        }
"""
FORWARD_SEPARATE = """        a1, fc1_cache = affine_forward(X, self.params["W1"], self.params["b1"])
        h1, relu_cache = relu_forward(a1)
        scores, fc2_cache = affine_forward(h1, self.params["W2"], self.params["b2"])
"""
BACKWARD_SEPARATE = """        data_loss, dscores = softmax_loss(scores, y)
        reg_loss = 0.0
        grads = {}
        dh1, grads["W2"], grads["b2"] = affine_backward(dscores, fc2_cache)
        da1 = relu_backward(dh1, relu_cache)
        _, grads["W1"], grads["b1"] = affine_backward(da1, fc1_cache)
        for name in ("W1", "W2"):
            W = self.params[name]
            reg_loss += 0.5 * self.reg * np.sum(W * W)
            grads[name] = grads[name] + self.reg * W
        loss = data_loss + reg_loss
"""
# A backward pass that runs the forward layers once more instead of keeping their caches: derived,
# so it keeps every point (the large-input case allows a few forward passes besides its own).
BACKWARD_RECOMPUTES = """        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        hidden, hidden_cache = affine_relu_forward(X, W1, b1)  # again, for a cache of its own
        _, scores_cache = affine_forward(hidden, W2, b2)
        grads = {}
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, scores_cache)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, hidden_cache)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
"""
# The notebook's own gradient check as the backward pass: finite differences of the net's loss.
BACKWARD_NUMERIC = """        from cs231n.gradient_check import eval_numerical_gradient

        def total_loss(_):
            data_loss, _ = softmax_loss(self.loss(X), y)
            return data_loss + 0.5 * self.reg * (np.sum(self.params["W1"] ** 2) + np.sum(self.params["W2"] ** 2))

        loss = total_loss(None)
        grads = {k: eval_numerical_gradient(total_loss, v, verbose=False) for k, v in self.params.items()}
"""
INIT_FLOAT32 = """        shapes = {"W1": (input_dim, hidden_dim), "W2": (hidden_dim, num_classes)}
        for name, shape in shapes.items():
            self.params[name] = (weight_scale * np.random.randn(*shape)).astype(np.float32)
        self.params["b1"] = np.zeros(hidden_dim, dtype=np.float32)
        self.params["b2"] = np.zeros(num_classes, dtype=np.float32)
"""

MODULAR = [
    Variant("tlm-2022-official-style", "two_layer_net", "correct",
            ((FC, INIT, INIT_2022), (FC, FORWARD, FORWARD_2022), (FC, BACKWARD, BACKWARD_2022),
             (FC, SAVE_LOAD, SAVE_LOAD_OFFICIAL), (FC, HEADER, HEADER_2022))),
    Variant("tlm-2017-absolute-imports", "two_layer_net", "correct",
            ((FC, HEADER, HEADER_2017), (FC, INIT, INIT_2022))),
    Variant("tlm-numpy-by-hand", "two_layer_net", "correct",
            ((FC, FORWARD, FORWARD_BY_HAND), (FC, BACKWARD, BACKWARD_BY_HAND))),
    Variant("tlm-separate-layers-reg-loop", "two_layer_net", "correct",
            ((FC, FORWARD, FORWARD_SEPARATE), (FC, BACKWARD, BACKWARD_SEPARATE))),
    Variant("tlm-float32-params", "two_layer_net", "correct", ((FC, INIT, INIT_FLOAT32),)),
    Variant("tlm-backward-recomputes-forward", "two_layer_net", "correct", ((FC, BACKWARD, BACKWARD_RECOMPUTES),)),
    Variant("tlm-reg-without-half", "two_layer_net", "buggy",
            ((FC, "        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))\n",
              "        loss += self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))\n"),),
            loses=("two_layer_loss",), rule="reg-loss-double"),
    Variant("tlm-no-reg-gradient-on-W1", "two_layer_net", "buggy",
            ((FC, '        grads["W1"] += self.reg * W1\n', ""),), loses=("two_layer_gradients",),
            rule="reg-grad-missing"),
    Variant("tlm-backward-skips-relu", "two_layer_net", "buggy",
            ((FC, '        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, hidden_cache)\n',
              '        _, grads["W1"], grads["b1"] = affine_backward(dhidden, hidden_cache[0])\n'),),
            loses=("two_layer_gradients",), rule="backward-no-relu-gate"),
    Variant("tlm-random-biases", "two_layer_net", "buggy",
            ((FC, '        self.params["b1"] = np.zeros(hidden_dim)\n',
              '        self.params["b1"] = weight_scale * np.random.randn(hidden_dim)\n'),),
            loses=("two_layer_init",), rule="init-biases-not-zero"),
    Variant("tlm-scores-without-hidden-bias", "two_layer_net", "buggy",
            ((FC, "        hidden, hidden_cache = affine_relu_forward(X, W1, b1)  # (N, H)\n",
              "        hidden, hidden_cache = affine_relu_forward(X, W1, 0 * b1)  # (N, H)\n"),),
            loses=("two_layer_scores", "two_layer_loss", "two_layer_gradients")),
    Variant("tlm-relu-backward-gated-by-dout", "two_layer_net", "buggy",
            ((LAYERS, "    dx = dout * (x > 0)\n", "    dx = dout * (dout > 0)\n"),),
            loses=("relu_backward", "two_layer_gradients"), rule="relu-gated-by-dout"),  # built from those layers
    Variant("tlm-numeric-gradient", "two_layer_net", "buggy", ((FC, BACKWARD, BACKWARD_NUMERIC),),
            loses=("two_layer_gradients",), rule="numeric-net-gradient"),  # scores, loss: right
    Variant("tlm-imports-torch", "two_layer_net", "explained",
            ((FC, HEADER, "import os\n\nimport numpy as np\nimport torch\n\nfrom ..layer_utils import ("),),
            loses=NET_CHECKS),
]
