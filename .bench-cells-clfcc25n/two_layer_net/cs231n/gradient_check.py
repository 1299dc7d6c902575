"""Numeric gradients by centered differences, to check the analytic ones.

Each helper changes one entry of x in place, evaluates f, and puts the entry back, so x
is unchanged when it returns.  Use float64 arrays: float32 is too coarse for h = 1e-5.
"""
import numpy as np


def eval_numerical_gradient(f, x, verbose=True, h=0.00001):
    """
    A naive implementation of numerical gradient of f at x.

    Inputs:
    - f: A function that takes a single argument (x) and returns a scalar
    - x: A numpy array, of any shape, giving the point at which to evaluate
      the gradient
    - verbose: If True, print each index and its numeric gradient
    - h: The step of the centered difference

    Returns:
    - grad: Numeric gradient of f at x, of the same shape as x
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)  # f(x + h)
        x[ix] = oldval - h
        fxmh = f(x)  # f(x - h)
        x[ix] = oldval  # restore

        grad[ix] = (fxph - fxmh) / (2 * h)  # the slope
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """
    Evaluate a numeric gradient for a function that accepts a numpy array and
    returns a numpy array: the gradient of sum(f(x) * df) with respect to x.

    Inputs:
    - f: A function that takes x and returns an array
    - x: A numpy array, of any shape
    - df: Upstream gradient, of the same shape as f(x)
    - h: The step of the centered difference

    Returns:
    - grad: Numeric gradient, of the same shape as x
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        oldval = x[ix]
        x[ix] = oldval + h
        pos = f(x).copy()  # copy: f may return a view of x or of its own buffer
        x[ix] = oldval - h
        neg = f(x).copy()
        x[ix] = oldval

        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5):
    """
    Sample a few random elements and only return numerical gradients in these
    dimensions, printing each comparison.

    Inputs:
    - f: A function that takes x and returns a scalar
    - x: A numpy array, of any shape
    - analytic_grad: The gradient to check, of the same shape as x
    - num_checks: How many random entries to compare
    - h: The step of the centered difference

    Returns:
    - rel_errors: The relative error of each check, of shape (num_checks,)
    """
    rel_errors = np.zeros(num_checks)
    for i in range(num_checks):
        ix = tuple(np.random.randint(m) for m in x.shape)

        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)  # f(x + h)
        x[ix] = oldval - h
        fxmh = f(x)  # f(x - h)
        x[ix] = oldval  # reset

        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = analytic_grad[ix]
        denominator = max(abs(grad_numerical) + abs(grad_analytic), 1e-12)  # both may be 0
        rel_errors[i] = abs(grad_numerical - grad_analytic) / denominator
        print(f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, "
              f"relative error: {rel_errors[i]:e}")
    return rel_errors
