"""Sandwich layers: common chains of layers from layers.py, as one forward/backward pair."""
from .layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
)

# normalization name -> (forward, backward); None means no normalization layer.
NORMALIZATIONS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward),
    "layernorm": (layernorm_forward, layernorm_backward),
}


def affine_relu_forward(x, w, b):
    """
    Convenience layer that performs an affine transform followed by a ReLU.

    Inputs:
    - x: Input to the affine layer, of shape (N, d_1, ..., d_k)
    - w: Weights for the affine layer, of shape (D, M)
    - b: Biases for the affine layer, of shape (M,)

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, M)
    - cache: Object to give to the backward pass
    """
    a, fc_cache = affine_forward(x, w, b)  # (N, M)
    out, relu_cache = relu_forward(a)  # (N, M)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """
    Backward pass for the affine-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, M)
    - cache: The cache from affine_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)  # (N, M)
    return affine_backward(da, fc_cache)


# TODO: Sandwich layers of your own, if you want them (an affine - batchnorm - ReLU
# pair for FullyConnectedNet, say): write each as a forward/backward pair here,
# with the layers of layers.py. They are graded as your code, like layers.py.
# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
pass
# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****


def _check_normalization(normalization):
    if normalization is not None and normalization not in NORMALIZATIONS:
        raise ValueError(f'Unknown normalization "{normalization}"; '
                         'use None, "batchnorm" or "layernorm"')


def affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, normalization):
    """
    Convenience layer: affine transform, then an optional batch or layer
    normalization, then a ReLU.

    Inputs:
    - x: Input to the affine layer, of shape (N, d_1, ..., d_k)
    - w: Weights for the affine layer, of shape (D, M)
    - b: Biases for the affine layer, of shape (M,)
    - gamma, beta: Scale and shift of the normalization, each of shape (M,);
      ignored (may be None) when normalization is None
    - norm_param: bn_param for batchnorm_forward or ln_param for
      layernorm_forward; ignored when normalization is None
    - normalization: None, "batchnorm" or "layernorm"

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, M)
    - cache: Object to give to the backward pass
    """
    _check_normalization(normalization)
    a, fc_cache = affine_forward(x, w, b)  # (N, M)
    norm_cache = None
    if normalization is not None:
        norm_forward, _ = NORMALIZATIONS[normalization]
        a, norm_cache = norm_forward(a, gamma, beta, norm_param)  # (N, M)
    out, relu_cache = relu_forward(a)  # (N, M)
    return out, (fc_cache, norm_cache, relu_cache, normalization)


def affine_norm_relu_backward(dout, cache, need_dx=True):
    """
    Backward pass for the affine-norm-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, M)
    - cache: The cache from affine_norm_relu_forward
    - need_dx: Optional; False when nothing needs the gradient on x (a net's
      first layer, whose input is the data): dx is then None, not computed

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    - dgamma, dbeta: Gradients with respect to gamma and beta, each of shape
      (M,); None when there is no normalization
    """
    fc_cache, norm_cache, relu_cache, normalization = cache
    da = relu_backward(dout, relu_cache)  # (N, M)
    dgamma = dbeta = None
    if normalization is not None:
        _, norm_backward = NORMALIZATIONS[normalization]
        da, dgamma, dbeta = norm_backward(da, norm_cache)  # (N, M)
    if need_dx:  # the plain call, so that a two-argument affine_backward works too
        dx, dw, db = affine_backward(da, fc_cache)
    else:
        dx, dw, db = affine_backward(da, fc_cache, need_dx=False)
    return dx, dw, db, dgamma, dbeta
