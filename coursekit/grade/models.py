"""The kit's own forward passes, and safe loading of the models students save.

Saved models in the kit's plain-array format (``best_two_layer_net.npz``, ``best_fc_net.npz``,
written by :func:`coursekit.train.write_kit_model`, and by ``cs231n/model_io.py`` of earlier
releases) are parsed as hostile data (:mod:`.sandbox.untrusted`: headers first, no
compression, no objects, bounded shapes), the architecture is checked against caps,
every key, shape and dtype is validated, and the scores come from the functions below,
never from the student's code.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .sandbox.untrusted import UntrustedDataError, read_npz

MAX_MODEL_BYTES = 200_000_000  # uncompressed, over all arrays of one file
MAX_MODEL_ITEMS = 50_000_000  # elements of one array
MAX_HIDDEN_LAYERS = 20  # entries of hidden_dims
MAX_HIDDEN_DIM = 10_000  # units of one hidden layer
MAX_STRING_CHARS = 64  # arch, normalization
NORM_EPS = 1e-5
NORMALIZATIONS = ("none", "batchnorm", "layernorm")


class ModelError(ValueError):
    """A saved model that cannot be used; the message says what is wrong with it."""


def two_layer_scores(p: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    hidden = np.maximum(X @ p["W1"] + p["b1"], 0)  # (N, H)
    return hidden @ p["W2"] + p["b2"]  # (N, C)


def fc_scores(p: dict[str, np.ndarray], X: np.ndarray, num_layers: int, normalization: str) -> np.ndarray:
    """Test-time forward pass of the fully-connected net (dropout is the identity)."""
    h = X.reshape(X.shape[0], -1)
    for i in range(1, num_layers):
        h = h @ p[f"W{i}"] + p[f"b{i}"]  # (N, H_i)
        if normalization == "batchnorm":
            h = (h - p[f"running_mean{i}"]) / np.sqrt(p[f"running_var{i}"] + NORM_EPS)
        elif normalization == "layernorm":
            h = (h - h.mean(axis=1, keepdims=True)) / np.sqrt(h.var(axis=1, keepdims=True) + NORM_EPS)
        if normalization != "none":
            h = p[f"gamma{i}"] * h + p[f"beta{i}"]
        h = np.maximum(h, 0)
    return h @ p[f"W{num_layers}"] + p[f"b{num_layers}"]  # (N, C)


def recalibrate_batchnorm(p: dict[str, np.ndarray], X: np.ndarray, num_layers: int) -> dict[str, np.ndarray]:
    """``p`` with each running_mean/var replaced by the statistics of X (population batchnorm).

    The Solver keeps the parameters of its best epoch but the running averages of its last
    step; recomputing the statistics scores the kept weights consistently.
    """
    p = dict(p)
    h = X.reshape(X.shape[0], -1)
    for i in range(1, num_layers):
        h = h @ p[f"W{i}"] + p[f"b{i}"]  # (N, H_i)
        p[f"running_mean{i}"], p[f"running_var{i}"] = h.mean(axis=0), h.var(axis=0)
        h = (h - p[f"running_mean{i}"]) / np.sqrt(p[f"running_var{i}"] + NORM_EPS)
        h = np.maximum(p[f"gamma{i}"] * h + p[f"beta{i}"], 0)
    return p


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == y))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a student's .npz: headers checked before inflating, no pickles, no symlinks."""
    if path.is_symlink() or not path.is_file():
        raise ModelError(f"{path.name} is missing (or is not a regular file)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            return read_npz(f, kinds="biufU", max_total_bytes=MAX_MODEL_BYTES, max_member_items=MAX_MODEL_ITEMS)
    except OSError as err:
        raise ModelError(f"{path.name} could not be read ({err.strerror})") from None
    except UntrustedDataError as err:
        raise ModelError(f"{path.name} cannot be used: {err}. Save your model with "
                         "best_model.save(...) in the notebook instead") from None


def _string(arrays, key, path_name) -> str:
    value = arrays.get(key)
    if value is None or value.shape != () or value.dtype.kind != "U" or value.dtype.itemsize > 4 * MAX_STRING_CHARS:
        raise ModelError(f"{path_name}: '{key}' must be a 0-d string array")
    return str(value)


def _float(arrays, key, shape, path_name) -> np.ndarray:
    if key not in arrays:
        raise ModelError(f"{path_name}: key '{key}' is missing")
    value = arrays[key]
    if value.dtype.kind != "f":
        raise ModelError(f"{path_name}: '{key}' has dtype {value.dtype}, expected floating point")
    if value.shape != tuple(shape):
        if [d for d in value.shape if d != 1] != [d for d in shape if d != 1]:
            raise ModelError(f"{path_name}: '{key}' has shape {value.shape}, expected {tuple(shape)}")
        value = value.reshape(shape)  # e.g. a bias of shape (1, H) from keepdims=True: same values
    if not np.all(np.isfinite(value)):
        raise ModelError(f"{path_name}: '{key}' contains NaN or infinite values")
    return value.astype(np.float64)


def validate_two_layer(arrays, name, input_dim, num_classes) -> dict[str, np.ndarray]:
    if _string(arrays, "arch", name) != "two_layer_net":
        raise ModelError(f"{name}: arch is {str(arrays['arch'])!r}, expected 'two_layer_net'")
    W1 = arrays.get("W1")
    if W1 is None or W1.ndim != 2:
        raise ModelError(f"{name}: 'W1' must be a matrix of shape ({input_dim}, H)")
    H = W1.shape[1]
    shapes = {"W1": (input_dim, H), "b1": (H,), "W2": (H, num_classes), "b2": (num_classes,)}
    _no_extra(arrays, {"arch", *shapes}, name)
    return {key: _float(arrays, key, shape, name) for key, shape in shapes.items()}


def validate_fc(arrays, name, input_dim, num_classes) -> tuple[dict[str, np.ndarray], int, str]:
    if _string(arrays, "arch", name) != "fc_net":
        raise ModelError(f"{name}: arch is {str(arrays['arch'])!r}, expected 'fc_net'")
    normalization = _string(arrays, "normalization", name)
    if normalization not in NORMALIZATIONS:
        raise ModelError(f"{name}: normalization is {normalization!r}, expected one of {NORMALIZATIONS}")
    hidden = arrays.get("hidden_dims")
    if hidden is None or hidden.ndim != 1 or hidden.dtype.kind not in "iu" or np.any(hidden <= 0):
        raise ModelError(f"{name}: 'hidden_dims' must be a 1-d array of positive integers")
    if hidden.size > MAX_HIDDEN_LAYERS or np.any(hidden > MAX_HIDDEN_DIM):
        raise ModelError(f"{name}: 'hidden_dims' may have at most {MAX_HIDDEN_LAYERS} layers of at most "
                         f"{MAX_HIDDEN_DIM} units")
    dims = [input_dim, *(int(h) for h in hidden), num_classes]
    shapes = {}
    for i in range(1, len(dims)):
        shapes[f"W{i}"], shapes[f"b{i}"] = (dims[i - 1], dims[i]), (dims[i],)
        if i < len(dims) - 1 and normalization != "none":
            shapes[f"gamma{i}"] = shapes[f"beta{i}"] = (dims[i],)
        if i < len(dims) - 1 and normalization == "batchnorm":
            shapes[f"running_mean{i}"] = shapes[f"running_var{i}"] = (dims[i],)
    _no_extra(arrays, {"arch", "normalization", "hidden_dims", *shapes}, name)
    params = {key: _float(arrays, key, shape, name) for key, shape in shapes.items()}
    if any(np.any(params[k] < 0) for k in params if k.startswith("running_var")):
        raise ModelError(f"{name}: a running_var has negative entries")
    return params, len(dims) - 1, normalization


def _no_extra(arrays, allowed, name):
    extra = sorted(set(arrays) - set(allowed))
    if extra:
        raise ModelError(f"{name}: unexpected keys {extra}; save your model with "
                         "best_model.save(...) in the notebook instead")
