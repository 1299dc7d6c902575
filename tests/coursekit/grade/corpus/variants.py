"""A corpus of realistic submissions, written from the solutions track with small patches.

Each :class:`Variant` is a student folder in the style of one CS231n year: the solution's
files with some regions written differently (correct) or wrongly (buggy), plus the extra
files real submissions carry (Python-2-era imports, the other classifiers of the official
assignment, an official ``solver.py``, a ``fast_layers.py`` that imports torch).

Kinds:
- ``correct``: full marks on every code check;
- ``shape``: right values with an extra axis of length 1 (keepdims): loses only the shape
  case of the checks in ``loses``, with the keepdims diagnosis;
- ``buggy``: loses points only in the checks in ``loses``, the first with the diagnosis ``rule``;
- ``explained``: an error that is the same everywhere (an older API, a failed import):
  shown in full once (diagnosis ``explained-once``), in one line in every other case.
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
OFFICIAL_SOLVER = ("from __future__ import print_function, division\nfrom future import standard_library\n"
                   "standard_library.install_aliases()\nfrom builtins import range\nfrom builtins import object\n"
                   "import os\nimport pickle as pickle\n\nimport numpy as np\n\nfrom cs231n import optim\n\n\n"
                   "class Solver(object):\n    pass  # the official file, cut short: the grader uses the course's\n")
FAST_LAYERS = "import numpy as np\nimport torch\n\n\ndef conv_forward_fast(x, w, b, conv_param):\n    pass\n"
EXTRAS_2017 = {"cs231n/classifiers/__init__.py": OFFICIAL_CLASSIFIERS_INIT,
               "cs231n/classifiers/k_nearest_neighbor.py": KNN, "cs231n/classifiers/linear_classifier.py": LINEAR}
EXTRAS_FC = {"cs231n/solver.py": OFFICIAL_SOLVER, "cs231n/fast_layers.py": FAST_LAYERS,
             "cs231n/layer_utils.py": "from cs231n.layers import *\nfrom cs231n.fast_layers import *\n"}

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
            files=EXTRAS_2017),
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
            ((NN, "        reg_loss = reg * (np.sum(W1 * W1) + np.sum(W2 * W2))\n",
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

DROPOUT_MASK = ("        mask = (np.random.rand(*x.shape) < p).astype(x.dtype)  # 1 = keep\n"
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
ADAM_MOMENTS = """    mt = m / (1 - beta1**t)  # bias-corrected first moment
    vt = v / (1 - beta2**t)  # bias-corrected second moment
    # next_w = w - learning_rate * mt / (sqrt(vt) + epsilon), in place: mt, vt are as big as w
    mt *= config["learning_rate"]
    mt /= np.sqrt(vt) + config["epsilon"]
    w -= mt
    next_w = w
"""
ADAM_FIRST = """    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    m, v = config["m"], config["v"]  # updated in place, like w: no new arrays each step
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * (dw * dw)
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
INIT = '            self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])\n'
FC_REG = "            loss += 0.5 * self.reg * np.sum(W * W)\n"

FC = [
    Variant("fc-2017-py2-official-files", "fc_net", "correct",
            ((LAYERS, "import numpy as np\n", PY2_HEADER + "import numpy as np\n", ),
             (FC, "import os\n", PY2_HEADER + "import os\n")),
            files={**EXTRAS_2017, **EXTRAS_FC}),
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
            ((OPTIM, ADAM_MOMENTS, "    mt, vt = m.copy(), v\n" + ADAM_MOMENTS.split("\n", 2)[2]),),
            loses=("adam",), rule="adam-no-bias-correction"),
    Variant("fc-momentum-sign", "fc_net", "buggy",
            ((OPTIM, '    v -= config["learning_rate"] * dw\n', '    v += config["learning_rate"] * dw\n'),),
            loses=("sgd_momentum",), rule="momentum-sign"),
    Variant("fc-rmsprop-eps-in-sqrt", "fc_net", "buggy",
            ((OPTIM, '    w -= config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])\n',
              '    w -= config["learning_rate"] * dw / np.sqrt(cache + config["epsilon"])\n'),),
            loses=("rmsprop",), rule="rmsprop-eps-in-sqrt"),
    Variant("fc-reg-without-half", "fc_net", "buggy", ((FC, FC_REG, "            loss += self.reg * np.sum(W * W)\n"),),
            # with dropout the grader has no reference gradient, only the student's own forward pass
            loses=("fc_loss", "fc_gradients"), rule="reg-loss-double"),
    Variant("fc-biases-init-ones", "fc_net", "buggy",
            ((FC, '            self.params[f"b{i}"] = np.zeros(dims[i])\n',
              '            self.params[f"b{i}"] = np.ones(dims[i])\n'),), loses=("fc_init",), rule="init-biases-not-zero"),
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
