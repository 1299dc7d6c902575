"""Layers as forward/backward pairs: affine, ReLU, softmax loss, batch/layer norm, dropout.

Every layer is a pair ``x_forward(...) -> (out, cache)`` and ``x_backward(dout, cache)``,
which returns the gradient on each input of the forward pass.  The outputs and gradients
keep the dtype of the inputs: float32 in, float32 out.
"""
import numpy as np


def affine_forward(x, w, b):
    """
    Computes the forward pass for an affine (fully-connected) layer.

    The input x has shape (N, d_1, ..., d_k) and contains a minibatch of N
    examples, where each example x[i] has shape (d_1, ..., d_k). We will
    reshape each input into a vector of dimension D = d_1 * ... * d_k, and
    then transform it to an output vector of dimension M.

    Inputs:
    - x: A numpy array containing input data, of shape (N, d_1, ..., d_k)
    - w: A numpy array of weights, of shape (D, M)
    - b: A numpy array of biases, of shape (M,)

    Returns a tuple of:
    - out: output, of shape (N, M)
    - cache: (x, w, b)
    """
    # TODO: Implement the affine forward pass. Reshape each example of x into
    # a row of length D (x.reshape(N, -1) does it without copying), then
    # compute out = x_rows @ w + b, of shape (N, M). Store the inputs in cache
    # as the tuple (x, w, b): the backward pass needs x in its original shape.
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("affine_forward in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return out, cache


def affine_backward(dout, cache, need_dx=True):
    """
    Computes the backward pass for an affine layer.

    Inputs:
    - dout: Upstream derivative, of shape (N, M)
    - cache: Tuple of:
      - x: Input data, of shape (N, d_1, ... d_k)
      - w: Weights, of shape (D, M)
      - b: Biases, of shape (M,)
    - need_dx: Optional; False when nothing needs the gradient on x, as in a
      net's first layer, whose input is the data (dx is then None)

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    x, w, b = cache
    # TODO: Implement the affine backward pass. With x_rows = x.reshape(N, D):
    # dx = dout @ w.T reshaped back to x.shape, dw = x_rows.T @ dout, and
    # db = the sum of dout over the N examples. When need_dx is False, leave
    # dx = None: the product dout @ w.T is then work nobody uses.
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("affine_backward in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return dx, dw, db


def relu_forward(x):
    """
    Computes the forward pass for a layer of rectified linear units (ReLUs).

    Input:
    - x: Inputs, of any shape

    Returns a tuple of:
    - out: Output, of the same shape as x
    - cache: x
    """
    # TODO: Implement the ReLU forward pass, out = max(x, 0) elementwise, and
    # store x in cache.
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("relu_forward in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return out, cache


def relu_backward(dout, cache):
    """
    Computes the backward pass for a layer of rectified linear units (ReLUs).

    Input:
    - dout: Upstream derivatives, of any shape
    - cache: Input x, of same shape as dout

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout
    """
    x = cache
    # TODO: Implement the ReLU backward pass: dout flows through where x > 0
    # and is zero elsewhere (we use 0 as the gradient at x == 0).
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("relu_backward in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return dx


def softmax_loss(x, y):
    """
    Computes the loss and gradient for softmax classification.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth
      class for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
      0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the loss, averaged over the N examples
    - dx: Gradient of the loss with respect to x, of shape (N, C)
    """
    N = x.shape[0]
    # TODO: Compute the softmax loss and its gradient. For numeric stability,
    # first subtract the maximum of each row of x (this does not change the
    # probabilities), then take log-probabilities as shifted - log(sum(exp)).
    # The loss is the mean over the N examples of -log p[i, y[i]]; the
    # gradient is (p - one_hot(y)) / N.
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("softmax_loss in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return loss, dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """
    Forward pass for batch normalization.

    During training the sample mean and (uncorrected) sample variance are
    computed from minibatch statistics and used to normalize the incoming data.
    During training we also keep an exponentially decaying running mean of the
    mean and variance of each feature, and these averages are used to normalize
    data at test-time:

    running_mean = momentum * running_mean + (1 - momentum) * sample_mean
    running_var = momentum * running_var + (1 - momentum) * sample_var

    Inputs:
    - x: Data of shape (N, D)
    - gamma: Scale parameter of shape (D,)
    - beta: Shift parameter of shape (D,)
    - bn_param: Dictionary with the following keys:
      - mode: 'train' or 'test'; required
      - eps: Constant for numeric stability (default 1e-5)
      - momentum: Constant for running mean / variance (default 0.9)
      - running_mean: Array of shape (D,) giving running mean of features
      - running_var: Array of shape (D,) giving running variance of features

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: (x_hat, gamma, inv_std, mode) with x_hat of shape (N, D), the
      normalized input, and inv_std of shape (D,), 1 / sqrt(var + eps)
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)

    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        # TODO: Implement the training-time forward pass for batch norm.
        # Compute the mean and variance of each feature over the minibatch,
        # normalize: x_hat = (x - mean) * inv_std with inv_std = 1 / sqrt(var +
        # eps), then scale and shift: out = gamma * x_hat + beta. Update
        # running_mean and running_var with the momentum formula above, and
        # store cache = (x_hat, gamma, inv_std, mode).
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        raise NotImplementedError("batchnorm_forward in cs231n/layers.py: write your code between the START/END markers")
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    elif mode == "test":
        # TODO: Implement the test-time forward pass for batch norm. Normalize
        # x with the running mean and running variance instead of the batch
        # statistics, then scale by gamma and shift by beta. Store cache =
        # (x_hat, gamma, inv_std, mode), as in the training branch.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        raise NotImplementedError("batchnorm_forward in cs231n/layers.py: write your code between the START/END markers")
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"; use "train" or "test"')

    # Store the updated running means back into bn_param
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var

    return out, cache


def _frozen_norm_backward(dout, cache):
    """Backward pass of batchnorm in test mode, where the statistics are constants."""
    x_hat, gamma, inv_std, _ = cache
    dx = dout * (gamma * inv_std)  # (N, D): a fixed affine map per feature
    return dx, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def batchnorm_backward(dout, cache):
    """
    Backward pass for batch normalization, one node of the computational graph
    at a time.

    Inputs:
    - dout: Upstream derivatives, of shape (N, D)
    - cache: Variable of intermediates from batchnorm_forward.

    Returns a tuple of:
    - dx: Gradient with respect to inputs x, of shape (N, D)
    - dgamma: Gradient with respect to scale parameter gamma, of shape (D,)
    - dbeta: Gradient with respect to shift parameter beta, of shape (D,)
    """
    x_hat, gamma, inv_std, mode = cache
    if mode == "test":
        return _frozen_norm_backward(dout, cache)
    N = dout.shape[0]
    # TODO: Implement the training-time backward pass for batch normalization.
    # Walk the graph of the forward pass backwards, one node at a time:
    # out = gamma * x_hat + beta, x_hat = x_mu * inv_std with x_mu = x - mean,
    # inv_std = (var + eps) ** -0.5 and var = mean(x_mu ** 2). Remember that
    # the mean and var depend on every example, so they pass gradient too.
    # Store the results in dx, dgamma and dbeta.
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("batchnorm_backward in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """
    Alternative backward pass for batch normalization: the same gradients,
    from the derivative simplified on paper into one expression for dx.

    Inputs / outputs: Same as batchnorm_backward
    """
    x_hat, gamma, inv_std, mode = cache
    if mode == "test":
        return _frozen_norm_backward(dout, cache)
    # TODO: Implement the backward pass for batch normalization in closed
    # form. Work out dL/dx on paper in terms of dx_hat = dout * gamma, x_hat
    # and inv_std; it fits in a single statement:
    # dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)),
    # with the means taken over the N examples. Also compute dgamma and dbeta.
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("batchnorm_backward_alt in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """
    Forward pass for layer normalization.

    During both training and test-time, the incoming data is normalized per data
    point, before being scaled by gamma and beta parameters identical to that of
    batch normalization. There are no running statistics to keep.

    Inputs:
    - x: Data of shape (N, D)
    - gamma: Scale parameter of shape (D,)
    - beta: Shift parameter of shape (D,)
    - ln_param: Dictionary with the following keys:
      - eps: Constant for numeric stability (default 1e-5)

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: (x_hat, gamma, inv_std) with x_hat of shape (N, D) and inv_std of
      shape (N, 1)
    """
    eps = ln_param.get("eps", 1e-5)
    # TODO: Implement the forward pass for layer norm. It is batch norm's
    # training branch with the statistics taken over the features of each
    # example (axis=1, keepdims=True) instead of over the examples. Store
    # cache = (x_hat, gamma, inv_std).
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("layernorm_forward in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return out, cache


def layernorm_backward(dout, cache):
    """
    Backward pass for layer normalization.

    Inputs:
    - dout: Upstream derivatives, of shape (N, D)
    - cache: Variable of intermediates from layernorm_forward.

    Returns a tuple of:
    - dx: Gradient with respect to inputs x, of shape (N, D)
    - dgamma: Gradient with respect to scale parameter gamma, of shape (D,)
    - dbeta: Gradient with respect to shift parameter beta, of shape (D,)
    """
    x_hat, gamma, inv_std = cache
    # TODO: Implement the backward pass for layer norm. gamma and beta still
    # act per feature, so dgamma and dbeta are summed over the examples as in
    # batch norm; dx is batchnorm_backward_alt's formula with the means taken
    # over the features of each example (axis=1, keepdims=True).
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("layernorm_backward in cs231n/layers.py: write your code between the START/END markers")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """
    Forward pass for inverted dropout.

    Note that this is different from the vanilla version of dropout.
    Here, p is the probability of keeping a neuron output, as opposed to
    the probability of dropping a neuron output.

    Inputs:
    - x: Input data, of any shape
    - dropout_param: A dictionary with the following keys:
      - p: Dropout parameter. We keep each neuron output with probability p.
      - mode: 'test' or 'train'. If the mode is train, then perform dropout;
        if the mode is test, then just return the input.
      - seed: Seed for the random number generator. Passing seed makes this
        function deterministic, which is needed for gradient checking but not
        in real networks.

    Returns a tuple of:
    - out: Array of the same shape as x.
    - cache: tuple (dropout_param, mask). In training mode, mask is the dropout
      mask that was used to multiply the input, of the same shape as x; in test
      mode, mask is None.
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    if mode == "train":
        # TODO: Implement training phase forward pass for inverted dropout.
        # Build a mask, of x's shape and dtype, that is 1 / p with probability
        # p and 0 otherwise (dividing by p here keeps the expected output equal
        # to x, so test time needs no scaling). Multiply x by it and store
        # cache = (dropout_param, mask).
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        raise NotImplementedError("dropout_forward in cs231n/layers.py: write your code between the START/END markers")
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    elif mode == "test":
        # TODO: Implement the test phase forward pass for inverted dropout:
        # every neuron is kept and nothing is scaled. Store cache =
        # (dropout_param, None).
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        raise NotImplementedError("dropout_forward in cs231n/layers.py: write your code between the START/END markers")
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    else:
        raise ValueError(f'Invalid forward dropout mode "{mode}"; use "train" or "test"')

    return out, cache


def dropout_backward(dout, cache):
    """
    Backward pass for inverted dropout.

    Inputs:
    - dout: Upstream derivatives, of any shape
    - cache: (dropout_param, mask) from dropout_forward.

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout
    """
    dropout_param, mask = cache
    mode = dropout_param["mode"]

    if mode == "train":
        # TODO: Implement training phase backward pass for inverted dropout:
        # the gradient flows only through the kept neurons, scaled like them.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        raise NotImplementedError("dropout_backward in cs231n/layers.py: write your code between the START/END markers")
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    elif mode == "test":
        dx = dout
    else:
        raise ValueError(f'Invalid backward dropout mode "{mode}"; use "train" or "test"')
    return dx
