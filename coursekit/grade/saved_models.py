"""The model a student saved: read in a sandboxed child, scored by the parent in bounded memory.

Two formats are read, in this order of preference:

- the official CS231n (2021+) one, ``model.save(fname)``: ``np.save`` of the params dict at
  ``cs231n/saved/<fname>`` (a pickled 0-d object array; params only, the architecture is
  inferred from the keys and shapes, and batchnorm's statistics are not saved);
- the kit's own, ``cs231n.model_io``: ``best_<net>.npz`` at the top of the submission, with
  ``arch``, ``normalization``, ``hidden_dims`` and batchnorm's running averages.

The file is opened only inside the sandbox (harness driver ``load_model``; a pickle that runs
code runs it there), with the child's limits, and capped at :data:`MAX_MODEL_BYTES` of float32
or float64 arrays.  Its arrays stay in the child's output file (:class:`~.sandbox.untrusted.StoredArray`):
the parent checks every key, shape and dtype, then scores the net with its own forward pass a
batch of images and a block of weight rows at a time, so that a model at the caps makes the
parent grow by at most about :data:`MAX_SCORING_GROWTH_MB` (``tests/coursekit/grade/test_saved_models.py``
measures it).  Batchnorm statistics missing from the file are computed from training images,
layer by layer, each layer's values spilled to a temporary file.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import numpy as np

from .models import MAX_HIDDEN_DIM, MAX_HIDDEN_LAYERS, NORM_EPS, NORMALIZATIONS, ModelError
from .sandbox.parent import Task
from .sandbox.untrusted import StoredArray

# (official file, kit file) of each assignment, relative to the submission; the first present is read.
SAVED_FILES = {"two_layer_net": ("cs231n/saved/best_two_layer_net.npy", "best_two_layer_net.npz"),
               "fc_net": ("cs231n/saved/best_fc_net.npy", "best_fc_net.npz")}
MAX_MODEL_BYTES = 100_000_000  # float32 / float64 arrays of one saved model, all together
MAX_FILE_BYTES = MAX_MODEL_BYTES + 2**20  # a saved-model file staged for the child (headers, pickle)
SCORE_BATCH = 200  # images through the net at once
ROW_BLOCK_BYTES = 4 * 2**20  # weights read from the child's file this much at a time
BN_STATS_IMAGES = 2_000  # training images whose statistics stand in for the running averages not saved
MAX_SCORING_GROWTH_MB = 64  # what scoring a model at the caps may add to the parent (tested)
FLOATS = ("float32", "float64")


@dataclass
class Net:
    """A fully-connected net to score: layer i maps (N, D_i) to (N, D_i+1) with weights[i] and biases[i]."""

    weights: list[StoredArray]
    biases: list[np.ndarray]
    normalization: str = "none"
    norms: list[dict[str, np.ndarray]] = field(default_factory=list)  # per hidden layer
    described: str = ""

    @property
    def layers(self) -> int:
        return len(self.weights)


def load_task(assignment_id: str, seconds: float) -> Task:
    """The child's task that reads the saved model (its arrays stay in the child's output file)."""
    spec = {"files": list(SAVED_FILES[assignment_id]), "max_bytes": MAX_MODEL_BYTES}
    return Task("saved_model.load", "load_model", spec, {}, seconds, lazy=True)


def nets_of(stored: dict[str, StoredArray], input_dim: int, num_classes: int, assignment_id: str) -> list[Net]:
    """The nets a saved model describes, every key, shape and dtype checked (ModelError if not).

    Two when the official format leaves it open whether gamma and beta belong to batchnorm or
    to layernorm (the params do not say): the better-scoring one counts.
    """
    name = _file_name(stored, assignment_id)
    params = {k[len("param_"):]: v for k, v in stored.items() if k.startswith("param_")}
    for key, value in params.items():
        if value.dtype.name not in FLOATS:
            raise ModelError(f"{name}: '{key}' has dtype {value.dtype}; save float32 or float64 arrays")
    if "str_arch" in stored:  # the kit's format says what it is
        arch = _text(stored, "arch", name)
        if arch != assignment_id:
            raise ModelError(f"{name}: arch is {arch!r}, expected {assignment_id!r}")
        fc = assignment_id == "fc_net"
        choices = [_text(stored, "normalization", name) if fc else "none"]
        if choices[0] not in NORMALIZATIONS:
            raise ModelError(f"{name}: normalization is {choices[0]!r}, expected one of {NORMALIZATIONS}")
        dims = _hidden_dims(stored, name) if fc else _inferred_dims(params, name)
    else:  # the official format: the architecture from the keys and shapes
        dims = _inferred_dims(params, name)
        choices = ["batchnorm", "layernorm"] if "gamma1" in params else ["none"]
    return [_net(params, [input_dim, *dims, num_classes], norm, name) for norm in choices]


def _file_name(stored, assignment_id: str) -> str:
    """Which of the assignment's files the child read (it says so in ``which_file``)."""
    which = stored.get("which_file")
    index = int(which.read()) if which is not None and which.shape == () and which.dtype.kind in "iu" else -1
    return SAVED_FILES[assignment_id][index] if index in (0, 1) else "the saved model"


def _text(stored, key, name) -> str:
    value = stored.get("str_" + key)
    if value is None or value.dtype != np.uint8 or len(value.shape) != 1 or value.shape[0] > 256:
        raise ModelError(f"{name}: '{key}' must be a short string")
    return value.read().tobytes().decode(errors="replace")


def _hidden_dims(stored, name) -> list[int]:
    hidden = stored.get("hidden_dims")
    if hidden is None or len(hidden.shape) != 1 or hidden.shape[0] > MAX_HIDDEN_LAYERS:
        raise ModelError(f"{name}: 'hidden_dims' must be a 1-d array of at most {MAX_HIDDEN_LAYERS} layers")
    dims = [int(h) for h in hidden.read()]
    if any(h <= 0 or h > MAX_HIDDEN_DIM for h in dims):
        raise ModelError(f"{name}: 'hidden_dims' must hold positive integers of at most {MAX_HIDDEN_DIM}")
    return dims


def _inferred_dims(params, name) -> list[int]:
    """Hidden widths from W1, W2, ... (W_i of shape (D_i, D_i+1)); the last W is the output layer's."""
    count = 0
    while f"W{count + 1}" in params and count <= MAX_HIDDEN_LAYERS + 1:
        count += 1
    if count < 2 or count > MAX_HIDDEN_LAYERS + 1:
        raise ModelError(f"{name}: expected weights W1 ... WL with 2 <= L <= {MAX_HIDDEN_LAYERS + 1} "
                         f"(keys: {sorted(params)[:12]})")
    dims = []
    for i in range(1, count):
        shape = [d for d in params[f"W{i}"].shape if d != 1]
        if len(shape) != 2 or shape[1] > MAX_HIDDEN_DIM:
            raise ModelError(f"{name}: 'W{i}' has shape {params[f'W{i}'].shape}; a hidden layer is a matrix "
                             f"of at most {MAX_HIDDEN_DIM} units")
        dims.append(shape[1])
    return dims


def _net(params, dims: list[int], normalization: str, name: str) -> Net:
    """The net of ``params`` with layer widths ``dims`` (input ... classes), every shape checked."""
    layers, hidden = range(1, len(dims)), range(1, len(dims) - 1)
    stat_keys = {f"running_{s}{i}" for s in ("mean", "var") for i in hidden}
    norm_keys = ["gamma", "beta"] if normalization != "none" else []
    if normalization == "batchnorm" and stat_keys <= set(params):
        norm_keys += ["running_mean", "running_var"]  # the kit's file has them; else computed later
    expected = {**{f"W{i}": (dims[i - 1], dims[i]) for i in layers}, **{f"b{i}": (dims[i],) for i in layers},
                **{f"{k}{i}": (dims[i],) for k in norm_keys for i in hidden}}
    extra = sorted(set(params) - set(expected) - stat_keys)
    if extra:
        raise ModelError(f"{name}: unexpected keys {extra[:8]}; save the model's params only")
    for key in expected:
        if key not in params:
            raise ModelError(f"{name}: key '{key}' is missing")

    def vector(key):
        value = _shaped(params[key], key, expected[key], name).read().astype(np.float64)
        return _finite(value, key, name)

    net = Net([_shaped(params[f"W{i}"], f"W{i}", expected[f"W{i}"], name) for i in layers],
              [vector(f"b{i}") for i in layers], normalization,
              [{k: vector(f"{k}{i}") for k in norm_keys} for i in hidden],
              f"{normalization} net, hidden layers {dims[1:-1]}")
    if any(np.any(norm["running_var"] < 0) for norm in net.norms if "running_var" in norm):
        raise ModelError(f"{name}: a running_var has negative entries")
    return net


def _shaped(value: StoredArray, key, shape, name) -> StoredArray:
    """``value`` seen with ``shape`` when they differ only by axes of length 1 (keepdims=True)."""
    if tuple(value.shape) != tuple(shape):
        if [d for d in value.shape if d != 1] != [d for d in shape if d != 1]:
            raise ModelError(f"{name}: '{key}' has shape {tuple(value.shape)}, expected {tuple(shape)}")
        value = StoredArray(value.fd, value.offset, tuple(shape), value.dtype)
    return value


def _finite(value: np.ndarray, key, name) -> np.ndarray:
    if not np.all(np.isfinite(value)):
        raise ModelError(f"{name}: '{key}' contains NaN or infinite values")
    return value


# --- scoring, in bounded memory -------------------------------------------------------

def _affine(h: np.ndarray, W: StoredArray, b: np.ndarray, key: str) -> np.ndarray:
    """h @ W + b with W read a block of rows at a time: (n, D) -> (n, M)."""
    out = np.zeros((h.shape[0], W.shape[1]))
    rows = max(1, ROW_BLOCK_BYTES // (W.shape[1] * W.dtype.itemsize))
    for start in range(0, W.shape[0], rows):
        block = _finite(W.rows(start, min(start + rows, W.shape[0])), key, "the saved model")
        out += h[:, start:start + block.shape[0]] @ block
    return out + b


def _hidden(z: np.ndarray, net: Net, i: int) -> np.ndarray:
    """Normalization (test mode) and ReLU of hidden layer i."""
    norm = net.norms[i]
    if net.normalization == "batchnorm":
        z = (z - norm["running_mean"]) / np.sqrt(norm["running_var"] + NORM_EPS)
    elif net.normalization == "layernorm":
        z = (z - z.mean(axis=1, keepdims=True)) / np.sqrt(z.var(axis=1, keepdims=True) + NORM_EPS)
    if net.normalization != "none":
        z = norm["gamma"] * z + norm["beta"]
    return np.maximum(z, 0)


def scores(net: Net, X: np.ndarray) -> np.ndarray:
    """The net's class scores for X (N, ...), SCORE_BATCH images at a time: (N, C)."""
    out = []
    for start in range(0, X.shape[0], SCORE_BATCH):
        h = X[start:start + SCORE_BATCH].reshape(min(SCORE_BATCH, X.shape[0] - start), -1).astype(np.float64)
        for i in range(net.layers):
            h = _affine(h, net.weights[i], net.biases[i], f"W{i + 1}")
            if i < net.layers - 1:
                h = _hidden(h, net, i)
        out.append(h)
    return np.concatenate(out)


def with_batchnorm_statistics(net: Net, X: np.ndarray) -> Net:
    """``net`` with each hidden layer's running_mean/var replaced by the statistics of X, layer by
    layer; each layer's pre-normalization values go to a temporary file, so memory stays a batch."""
    norms = [dict(n) for n in net.norms]
    out = Net(net.weights, net.biases, net.normalization, norms, net.described)
    with tempfile.TemporaryFile() as previous, tempfile.TemporaryFile() as current:
        for i in range(net.layers - 1):
            current.seek(0)
            current.truncate()
            previous.seek(0)
            total = np.zeros(net.weights[i].shape[1])
            squares, shift = np.zeros_like(total), None
            for start in range(0, X.shape[0], SCORE_BATCH):
                n = min(SCORE_BATCH, X.shape[0] - start)
                if i == 0:
                    a = X[start:start + n].reshape(n, -1).astype(np.float64)
                else:
                    z = np.fromfile(previous, np.float64, n * net.weights[i].shape[0]).reshape(n, -1)
                    a = _hidden(z, out, i - 1)
                z = _affine(a, net.weights[i], net.biases[i], f"W{i + 1}")
                z.tofile(current)
                shift = z.mean(axis=0) if shift is None else shift  # sums of shifted values: no cancellation
                total += (z - shift).sum(axis=0)
                squares += ((z - shift) ** 2).sum(axis=0)
            mean = total / X.shape[0]
            norms[i]["running_mean"] = shift + mean
            norms[i]["running_var"] = np.maximum(squares / X.shape[0] - mean ** 2, 0)
            previous, current = current, previous
    return out


def accuracy(net: Net, X: np.ndarray, y: np.ndarray, X_stats: np.ndarray) -> float:
    """Accuracy of the net on (X, y), batchnorm statistics from X_stats when the file has none."""
    if net.normalization == "batchnorm" and any("running_mean" not in n for n in net.norms):
        net = with_batchnorm_statistics(net, X_stats)
    return float(np.mean(np.argmax(scores(net, X), axis=1) == y))
