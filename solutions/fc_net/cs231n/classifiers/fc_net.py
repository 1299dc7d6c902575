"""Fully-connected networks built from the layers of cs231n/layers.py: a two-layer net
(TwoLayerNet) and a net of any depth with optional batch/layer norm and dropout
(FullyConnectedNet). Both are trained by the Solver (cs231n/solver.py).

Like the official CS231n module, ``from cs231n.classifiers.fc_net import *`` also gives the
layers of ``cs231n/layers.py`` and ``cs231n/layer_utils.py`` (the notebooks rely on it).
Both nets save their parameters as the official ones do: ``net.save("best.npy")`` writes
``np.save`` of ``net.params`` to ``cs231n/saved/best.npy``, which the submission collects.
"""
import os

import numpy as np

from ..layer_utils import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from ..layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)

__all__ = [
    "TwoLayerNet", "FullyConnectedNet",
    # re-exported, as the official fc_net.py does with `from ..layers import *`
    "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward", "dropout_forward", "dropout_backward",
    # and with `from ..layer_utils import *`
    "affine_relu_forward", "affine_relu_backward", "affine_norm_relu_forward", "affine_norm_relu_backward",
]


SAVED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved")


def save_params(params, fname):
    """np.save the dict params to cs231n/saved/<fname> and say so (as the official nets do)."""
    os.makedirs(SAVED_DIR, exist_ok=True)
    np.save(os.path.join(SAVED_DIR, fname), params)
    print(fname, "saved.")


def load_params(fname):
    """The params dict saved as cs231n/saved/<fname>, or None (said) when there is no such file."""
    path = os.path.join(SAVED_DIR, fname)
    if not os.path.exists(path):
        print(fname, "not available.")
        return None
    params = np.load(path, allow_pickle=True).item()  # a dict pickled by np.save: your own file only
    print(fname, "loaded.")
    return params


class TwoLayerNet(object):
    """
    A two-layer fully-connected neural network with ReLU nonlinearity and softmax
    loss, built from the modular layers of cs231n/layers.py. The input has D
    dimensions, the hidden layer H units, and there are C classes.

    The architecture is affine - relu - affine - softmax.

    The net does not train itself: a Solver (cs231n/solver.py) runs the
    optimization, reading the learnable parameters from the dictionary
    self.params (parameter name -> numpy array) and the loss and gradients from
    self.loss.

    Graded only where two_layer_net.ipynb asks for it (the two-layer
    assignment of CS231n 2021+). The fc_net assignment does not grade it:
    its net is FullyConnectedNet, below.
    """

    def __init__(
        self,
        input_dim=3 * 32 * 32,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
    ):
        """
        Initialize a new network.

        Inputs:
        - input_dim: An integer D giving the size of the input
        - hidden_dim: An integer H giving the size of the hidden layer
        - num_classes: An integer C giving the number of classes to classify
        - weight_scale: Scalar giving the standard deviation for random
          initialization of the weights.
        - reg: Scalar giving L2 regularization strength.
        """
        self.params = {}
        self.reg = reg

        # TODO: Initialize the weights and biases of the two-layer net. Weights
        # are drawn from a Gaussian centered at 0.0 with standard deviation
        # weight_scale, and biases are zero. Store them in self.params: the first
        # layer's weights and biases under the keys 'W1' (D, H) and 'b1' (H,), the
        # second layer's under 'W2' (H, C) and 'b2' (C,).
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b2"] = np.zeros(num_classes)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    def loss(self, X, y=None):
        """
        Compute loss and gradient for a minibatch of data.

        Inputs:
        - X: A numpy array of input data, of shape (N, d_1, ..., d_k)
        - y: A numpy array of labels, of shape (N,); y[i] is the label of X[i]

        Returns the scores, of shape (N, C), when y is None (a test-time forward
        pass); scores[i, c] is the score of class c for X[i]. Otherwise, a tuple of:
        - loss: the loss on this minibatch, a scalar
        - grads: a dictionary with the keys of self.params, where grads[k] is the
          gradient of the loss with respect to self.params[k], of its shape
        """
        # TODO: Implement the forward pass for the two-layer net, computing the
        # class scores for X and storing them in the scores variable. Use the
        # layers of layers.py and layer_utils.py, and keep their caches: the
        # backward pass needs them.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        hidden, hidden_cache = affine_relu_forward(X, W1, b1)  # (N, H)
        scores, scores_cache = affine_forward(hidden, W2, b2)  # (N, C)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        # If y is None then we are in test mode so just return scores
        if y is None:
            return scores

        # TODO: Implement the backward pass for the two-layer net. Store the loss
        # in the loss variable and gradients in the grads dictionary. Compute data
        # loss using softmax_loss, and make sure that grads[k] holds the gradients
        # for self.params[k]. Don't forget to add L2 regularization!
        #
        # NOTE: To ensure that your implementation matches ours and you pass the
        # automated tests, make sure that your L2 regularization includes a factor
        # of 0.5 to simplify the expression for the gradient: the loss gets
        # 0.5 * self.reg * (sum(W1**2) + sum(W2**2)) and each dW gets self.reg * W.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        loss, dscores = softmax_loss(scores, y)  # dscores: (N, C)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        grads = {}
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, scores_cache)  # dhidden: (N, H)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, hidden_cache)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        return loss, grads

    def save(self, fname):
        """Save self.params (np.save of the dict) as cs231n/saved/<fname>."""
        save_params(self.params, fname)

    def load(self, fname):
        """Load self.params from cs231n/saved/<fname>; True if it was there, else False."""
        params = load_params(fname)
        if params is None:
            return False
        self.params = params
        return True


class FullyConnectedNet(object):
    """Class for a multi-layer fully connected neural network.

    Network contains an arbitrary number of hidden layers, ReLU nonlinearities,
    and a softmax loss function. This will also implement dropout and batch/layer
    normalization as options. For a network with L layers, the architecture will be

    {affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax

    where batch/layer normalization and dropout are optional and the {...} block is
    repeated L - 1 times.

    Learnable parameters are stored in the self.params dictionary and will be learned
    using the Solver class.
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout_keep_ratio=1,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
    ):
        """Initialize a new FullyConnectedNet.

        Inputs:
        - hidden_dims: A list of integers giving the size of each hidden layer.
        - input_dim: An integer giving the size of the input.
        - num_classes: An integer giving the number of classes to classify.
        - dropout_keep_ratio: Scalar between 0 and 1 giving dropout strength.
            If dropout_keep_ratio=1 then the network should not use dropout at all.
        - normalization: What type of normalization the network should use. Valid values
            are "batchnorm", "layernorm", or None for no normalization (the default).
        - reg: Scalar giving L2 regularization strength.
        - weight_scale: Scalar giving the standard deviation for random
            initialization of the weights.
        - dtype: A numpy datatype object; all computations will be performed using
            this datatype. float32 is faster but less accurate, so you should use
            float64 for numeric gradient checking.
        - seed: If not None, then pass this random seed to the dropout layers.
            This will make the dropout layers deterministic so we can gradient check the model.
        """
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f'Unknown normalization "{normalization}"; '
                             'use None, "batchnorm" or "layernorm"')
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}

        # TODO: Initialize the parameters of the network, storing all values in
        # the self.params dictionary. Store weights and biases for the first layer
        # in W1 and b1; for the second layer use W2 and b2, etc. Weights should be
        # initialized from a normal distribution centered at 0 with standard
        # deviation equal to weight_scale. Biases should be initialized to zero.
        # When using batch or layer normalization, store scale and shift
        # parameters for the first layer in gamma1 and beta1; for the second
        # layer use gamma2 and beta2, etc. Scale parameters should be initialized
        # to ones and shift parameters should be initialized to zeros. The last
        # (output) layer has no normalization.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])
            self.params[f"b{i}"] = np.zeros(dims[i])
            if self.normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(dims[i])
                self.params[f"beta{i}"] = np.zeros(dims[i])
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        # When using dropout we need to pass a dropout_param dictionary to each
        # dropout layer so that the layer knows the dropout probability and the mode
        # (train / test). You can pass the same dropout_param to each dropout layer.
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
        if seed is not None:
            self.dropout_param["seed"] = seed

        # With batch normalization we need to keep track of running means and
        # variances, so we need to pass a special bn_param object to each batch
        # normalization layer. You should pass self.bn_params[0] to the forward pass
        # of the first batch normalization layer, self.bn_params[1] to the forward
        # pass of the second batch normalization layer, etc. Layer normalization
        # reads only "eps" from the same dictionaries.
        self.bn_params = []
        if self.normalization is not None:
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]

        # Cast all parameters to the correct datatype.
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Compute loss and gradient for the fully connected net.

        Inputs:
        - X: Array of input data of shape (N, d_1, ..., d_k)
        - y: Array of labels, of shape (N,). y[i] gives the label for X[i].

        Returns:
        If y is None, then run a test-time forward pass of the model and return:
        - scores: Array of shape (N, C) giving classification scores, where
            scores[i, c] is the classification score for X[i] and class c.

        If y is not None, then run a training-time forward and backward pass and
        return a tuple of:
        - loss: Scalar value giving the loss
        - grads: Dictionary with the same keys as self.params, mapping parameter
            names to gradients of the loss with respect to those parameters.
        """
        X = X.astype(self.dtype, copy=False)
        mode = "test" if y is None else "train"

        # Set train/test mode for batchnorm params and dropout param since they
        # behave differently during training and testing.
        self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode

        # TODO: Implement the forward pass for the fully connected net, computing
        # the class scores for X and storing them in the scores variable.
        # Each hidden layer i = 1 .. L-1 is affine_norm_relu_forward (from
        # layer_utils) with W{i}, b{i}, gamma{i}, beta{i} (self.params.get gives
        # None when there is no normalization), self.bn_params[i - 1] and
        # self.normalization, followed by dropout_forward with self.dropout_param
        # when self.use_dropout. The last layer is a plain affine_forward.
        # Keep every cache: the backward pass needs them.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        caches = []  # one (layer cache, dropout cache) per hidden layer
        h = X
        for i in range(1, self.num_layers):
            norm_param = self.bn_params[i - 1] if self.bn_params else None
            h, layer_cache = affine_norm_relu_forward(
                h, self.params[f"W{i}"], self.params[f"b{i}"], self.params.get(f"gamma{i}"),
                self.params.get(f"beta{i}"), norm_param, self.normalization)  # (N, H_i)
            drop_cache = None
            if self.use_dropout:
                h, drop_cache = dropout_forward(h, self.dropout_param)  # (N, H_i)
            caches.append((layer_cache, drop_cache))
        L = self.num_layers
        scores, out_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])  # (N, C)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        # If test mode return early.
        if mode == "test":
            return scores

        # TODO: Implement the backward pass for the fully connected net. Store the
        # loss in the loss variable and gradients in the grads dictionary. Compute
        # data loss using softmax_loss, and make sure that grads[k] holds the gradients
        # for self.params[k]. Don't forget to add L2 regularization!
        #
        # When using batch/layer normalization, you don't need to regularize the
        # scale and shift parameters.
        #
        # NOTE: To ensure that your implementation matches ours and you pass the
        # automated tests, make sure that your L2 regularization includes a factor
        # of 0.5 to simplify the expression for the gradient: the loss gets
        # 0.5 * reg * sum(W**2) and the gradient reg * W, for every weight W.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        loss, dh = softmax_loss(scores, y)  # dh: (N, C)
        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dh, out_cache)
        for i in range(L - 1, 0, -1):
            layer_cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dh = dropout_backward(dh, drop_cache)
            dh, grads[f"W{i}"], grads[f"b{i}"], dgamma, dbeta = affine_norm_relu_backward(
                dh, layer_cache, need_dx=i > 1)  # dh: (N, H_{i-1}); None for the data (i = 1)
            if self.normalization is not None:
                grads[f"gamma{i}"], grads[f"beta{i}"] = dgamma, dbeta
        if self.reg:  # with reg = 0 there is no penalty: no pass over the weights
            for i in range(1, L + 1):
                W = self.params[f"W{i}"]
                loss += 0.5 * self.reg * np.vdot(W, W)  # sum of squares, no W * W array
                grads[f"W{i}"] += self.reg * W
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        return loss, grads

    def save(self, fname):
        """Save self.params (np.save of the dict) as cs231n/saved/<fname>. As in the
        official code, only the parameters are saved: not the batchnorm running averages."""
        save_params(self.params, fname)

    def load(self, fname):
        """Load self.params from cs231n/saved/<fname>; True if it was there, else False."""
        params = load_params(fname)
        if params is None:
            return False
        self.params = params
        return True
