"""Submissions whose gradients are numeric (finite differences), in the three ways students write them.

- ``forward``: the backward pass perturbs each entry and calls the layer's forward function (a
  net's loss calls ``self.loss(X)``) twice per entry;
- ``helper``: it calls ``cs231n.gradient_check.eval_numerical_gradient(_array)``;
- ``hand``: it loops over the entries by hand with its own copy of the forward formula, calling
  nothing of the submission.

:func:`write_numeric` writes the solution with the gradients of the layers, or of a net's loss,
computed one of these ways (softmax_loss has no separate forward function: its ``forward`` kind
is ``hand``).  One at a time: numeric layers inside a numeric loss would take the square of the time.
"""
from __future__ import annotations

from pathlib import Path

from ..conftest import copy_solution, inject

KINDS = ("forward", "helper", "hand")
LAYERS = "cs231n/layers.py"
FC = "cs231n/classifiers/fc_net.py"
NET = "cs231n/classifiers/neural_net.py"

LOOP = """h = 1e-5
def numeric(arr):
    grad = np.zeros_like(arr)
    for ix in np.ndindex(arr.shape):
        old = arr[ix]
        arr[ix] = old + h
        pos = f()
        arr[ix] = old - h
        neg = f()
        arr[ix] = old
        grad[ix] = np.sum((pos - neg) * dout) / (2 * h)
    return grad
"""
HELPER = """from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
def numeric(arr):
    if np.ndim(dout) == 0:
        return eval_numerical_gradient(lambda _: f(), arr, verbose=False)
    return eval_numerical_gradient_array(lambda _: f(), arr, dout)
"""
# The normalization layers' caches hold x, gamma, beta and the parameters, so that their
# backward passes can evaluate the forward pass again.
CACHES = {"batchnorm_forward": ("        cache = (x_hat, gamma, inv_std, mode)\n",
                                "        cache = (x, gamma, beta, dict(bn_param))\n"),
          "layernorm_forward": ("    cache = (x_hat, gamma, inv_std)\n", "    cache = (x, gamma, (beta, ln_param))\n")}
BN_HAND = ("gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + bn_param.get('eps', 1e-5)) + beta")
LN_HAND = ("gamma * (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) "
           "+ ln_param.get('eps', 1e-5)) + beta")
SOFTMAX_HAND = """shifted = x - x.max(axis=1, keepdims=True)
    return -(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(N), y].mean()"""
# function -> (lines before, f's body with the forward function, f's body by hand, the gradients)
LAYER_GRADIENTS = {
    "affine_backward": ("", "return affine_forward(x, w, b)[0]", "return x.reshape(x.shape[0], -1) @ w + b",
                        "dx, dw, db = numeric(x), numeric(w), numeric(b)"),
    "relu_backward": ("", "return relu_forward(x)[0]", "return np.maximum(x, 0)", "dx = numeric(x)"),
    "batchnorm_backward": ("x, beta, bn_param = x_hat, inv_std, mode",
                           "return batchnorm_forward(x, gamma, beta, dict(bn_param))[0]", f"return {BN_HAND}",
                           "dx, dgamma, dbeta = numeric(x), numeric(gamma), numeric(beta)"),
    "layernorm_backward": ("x, (beta, ln_param) = x_hat, inv_std", "return layernorm_forward(x, gamma, beta, ln_param)[0]",
                           f"return {LN_HAND}", "dx, dgamma, dbeta = numeric(x), numeric(gamma), numeric(beta)"),
    "dropout_backward": ("v = np.zeros_like(dout)  # dropout is linear: any point will do",
                         "return dropout_forward(v, dropout_param)[0]", "return v * mask", "dx = numeric(v)"),
    "softmax_loss": ("dout = 1.0", f"{SOFTMAX_HAND}", f"{SOFTMAX_HAND}", "loss = f()\ndx = numeric(x)"),
}
LAYER_GRADIENTS["batchnorm_backward_alt"] = LAYER_GRADIENTS["batchnorm_backward"]

FC_FORWARD = """scores_ = self.loss(X)
    return softmax_loss(scores_, y)[0] + 0.5 * self.reg * sum(np.sum(self.params[f"W{i}"] ** 2) for i in range(1, L + 1))"""
FC_HAND = """h_ = X.reshape(X.shape[0], -1)
    for i in range(1, L):
        h_ = np.maximum(h_ @ self.params[f"W{i}"] + self.params[f"b{i}"], 0)
    s = h_ @ self.params[f"W{L}"] + self.params[f"b{L}"]
    s = s - s.max(axis=1, keepdims=True)
    data = -(s - np.log(np.exp(s).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean()
    return data + 0.5 * self.reg * sum(np.sum(self.params[f"W{i}"] ** 2) for i in range(1, L + 1))"""
MODULAR_SOFTMAX = """s = s - s.max(axis=1, keepdims=True)
    return -(s - np.log(np.exp(s).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean() + 0.5 * self.reg * (
        np.sum(W1 * W1) + np.sum(W2 * W2))"""
TL_SOFTMAX = """s = s - s.max(axis=1, keepdims=True)
    return -(s - np.log(np.exp(s).sum(axis=1, keepdims=True)))[np.arange(N), y].mean() + reg * (
        np.sum(W1 * W1) + np.sum(W2 * W2))"""
# (file, function, region, lines before, f's body with the forward pass, by hand, the gradients)
NET_GRADIENTS = {
    "fc_net": (FC, "FullyConnectedNet.loss", 1, "dout = 1.0", FC_FORWARD, FC_HAND,
               "loss = softmax_loss(scores, y)[0] + 0.5 * self.reg * sum(\n"
               "    np.sum(self.params[f'W{i}'] ** 2) for i in range(1, L + 1))\n"
               "grads = {k: numeric(v) for k, v in self.params.items()}"),
    "two_layer_net": (NET, "loss", 2, "dout = 1.0", f"s = self.loss(X)\n    {TL_SOFTMAX}",
                      f"s = np.maximum(X @ W1 + b1, 0) @ W2 + b2\n    {TL_SOFTMAX}",
                      "grads = {k: numeric(self.params[k]) for k in ('W1', 'b1', 'W2', 'b2')}"),
    "modular": (FC, "TwoLayerNet.loss", 1, "dout = 1.0", f"s = self.loss(X)\n    {MODULAR_SOFTMAX}",
                f"s = np.maximum(X.reshape(len(X), -1) @ W1 + b1, 0) @ W2 + b2\n    {MODULAR_SOFTMAX}",
                "loss = f()\ngrads = {k: numeric(self.params[k]) for k in ('W1', 'b1', 'W2', 'b2')}"),
}


def numeric_region(kind: str, before: str, forward: str, hand: str, grads: str) -> str:
    """A region's code that computes ``grads`` by centred differences of ``f``, the ``kind`` way."""
    body = hand if kind == "hand" else forward
    return "\n".join(part for part in (before, f"def f():\n    {body}", HELPER if kind == "helper" else LOOP, grads)
                     if part)


# what is numeric -> assignment ("modular": the 2021+ TwoLayerNet of fc_net.py, the two-layer assignment's modular flow)
TARGETS = {"layers": "fc_net", "fc_net": "fc_net", "two_layer_net": "two_layer_net", "modular": "two_layer_net"}
FLOWS = {"modular": "modular"}  # the flow a target's assignment is graded in, when not the default


def course_for(course, target: str):
    """The course as it grades ``target``: switched to its flow, if it has one."""
    return course.with_flow(TARGETS[target], FLOWS[target]) if target in FLOWS else course


def write_numeric(course, target: str, kind: str, dest: Path) -> Path:
    """The solution in ``dest`` with the gradients of ``target`` numeric, the ``kind`` way:
    "layers" every backward pass of layers.py (and softmax_loss), "fc_net", "two_layer_net" or "modular"
    the net's loss (its layers stay analytic); ``course`` is :func:`course_for` the target."""
    folder = copy_solution(course, TARGETS[target], dest)
    if target == "layers":
        layers = folder / LAYERS
        text = layers.read_text()
        for old, new in CACHES.values():
            text = text.replace(old, new, 1)
        layers.write_text(text)
        for function, parts in LAYER_GRADIENTS.items():
            inject(folder, LAYERS, function, numeric_region(kind, *parts))
        return folder
    path, function, region, *parts = NET_GRADIENTS[target]
    inject(folder, path, function, numeric_region(kind, *parts), region=region)
    return folder
