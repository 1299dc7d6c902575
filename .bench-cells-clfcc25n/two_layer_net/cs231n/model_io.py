"""
Saving trained models to plain ``.npz`` files and loading them back.

The files hold numpy arrays only (written with ``np.savez``, no pickled objects), so
they can be read with ``np.load(path, allow_pickle=False)``. The grader reads them in
exactly that way and runs its own reference forward pass, so the keys below are a
contract: do not rename them.

Two-layer net (``save_two_layer_net``), for a TwoLayerNet with D inputs, H hidden
units and C classes:
- ``arch``: 0-d string array ``"two_layer_net"``
- ``W1``: (D, H), ``b1``: (H,), ``W2``: (H, C), ``b2``: (C,)
- scores = max(0, X @ W1 + b1) @ W2 + b2

Fully-connected net (``save_fc_net``), for a FullyConnectedNet with L layers
(L - 1 hidden layers):
- ``arch``: 0-d string array ``"fc_net"``
- ``hidden_dims``: int64 array of shape (L - 1,), the hidden layer sizes in order
- ``normalization``: 0-d string array, one of ``"none"``, ``"batchnorm"``, ``"layernorm"``
- ``W{i}``, ``b{i}`` for i = 1..L: weights (D_{i-1}, D_i) and biases (D_i,)
- when normalization is not ``"none"``: ``gamma{i}``, ``beta{i}`` (D_i,) for i = 1..L-1
- when normalization is ``"batchnorm"``: ``running_mean{i}``, ``running_var{i}`` (D_i,)
  for i = 1..L-1, the statistics batchnorm uses at test time
- test-time forward pass: for i = 1..L-1,
  h = h @ W{i} + b{i}, then normalization with gamma{i}, beta{i} (batchnorm uses the
  running statistics; both use eps = 1e-5), then ReLU; finally scores = h @ W{L} + b{L}.
  Dropout is the identity at test time (inverted dropout), so it is not stored.

Example:

    save_fc_net('best_fc_net.npz', model)
    model = load_fc_net('best_fc_net.npz')
"""
import numpy as np

NORMALIZATIONS = ('none', 'batchnorm', 'layernorm')


def save_two_layer_net(path, net):
    """Write the weights of a TwoLayerNet to the .npz file at path."""
    arrays = {name: np.asarray(net.params[name]) for name in ('W1', 'b1', 'W2', 'b2')}
    np.savez(path, arch=np.array('two_layer_net'), **arrays)


def load_two_layer_net(path):
    """Rebuild a TwoLayerNet from a file written by save_two_layer_net."""
    from .classifiers.neural_net import TwoLayerNet  # imported here: each assignment ships one net

    with np.load(path, allow_pickle=False) as data:
        _check_arch(path, data, 'two_layer_net')
        D, H = data['W1'].shape
        net = TwoLayerNet(D, H, data['W2'].shape[1])
        net.params = {name: data[name].copy() for name in ('W1', 'b1', 'W2', 'b2')}
    return net


def save_fc_net(path, model):
    """Write the parameters, running statistics and architecture of a FullyConnectedNet."""
    normalization = model.normalization or 'none'
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"Cannot save a model with normalization={model.normalization!r}; "
                         f"expected one of None, 'batchnorm', 'layernorm'.")
    num_layers = model.num_layers
    arrays = {name: np.asarray(value) for name, value in model.params.items()}
    if normalization == 'batchnorm':
        for i, bn_param in enumerate(model.bn_params[:num_layers - 1], start=1):
            if 'running_mean' not in bn_param:
                raise ValueError(f"Batchnorm layer {i} has no running statistics yet: train the "
                                 f"model (or run one forward pass in train mode) before saving it.")
            arrays[f'running_mean{i}'] = np.asarray(bn_param['running_mean'])
            arrays[f'running_var{i}'] = np.asarray(bn_param['running_var'])
    hidden_dims = [model.params[f'W{i}'].shape[1] for i in range(1, num_layers)]
    np.savez(path, arch=np.array('fc_net'), normalization=np.array(normalization),
             hidden_dims=np.array(hidden_dims, dtype=np.int64), **arrays)


def load_fc_net(path):
    """Rebuild a FullyConnectedNet (in test mode) from a file written by save_fc_net."""
    from .classifiers.fc_net import FullyConnectedNet  # imported here, as in load_two_layer_net

    with np.load(path, allow_pickle=False) as data:
        _check_arch(path, data, 'fc_net')
        hidden_dims = [int(h) for h in data['hidden_dims']]
        normalization = str(data['normalization'])
        num_layers = len(hidden_dims) + 1
        W1 = data['W1']
        model = FullyConnectedNet(hidden_dims, input_dim=W1.shape[0],
                                  num_classes=data[f'W{num_layers}'].shape[1],
                                  normalization=None if normalization == 'none' else normalization,
                                  dtype=W1.dtype)
        param_names = list(model.params)
        model.params = {name: data[name].copy() for name in param_names}
        if normalization == 'batchnorm':
            for i, bn_param in enumerate(model.bn_params[:num_layers - 1], start=1):
                bn_param['running_mean'] = data[f'running_mean{i}'].copy()
                bn_param['running_var'] = data[f'running_var{i}'].copy()
    return model


def _check_arch(path, data, expected):
    """Refuse a file that holds another kind of model."""
    arch = str(data['arch']) if 'arch' in data.files else None
    if arch != expected:
        raise ValueError(f"{path} holds arch={arch!r}, not {expected!r}; "
                         f"load it with load_{arch}() instead." if arch else
                         f"{path} has no 'arch' key: it was not written by cs231n.model_io.")
