"""gradient_check: the numeric gradient helpers on functions whose gradients are known."""
import numpy as np

from cs231n.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
)

NUMERIC_TOL = 1e-8  # centered differences are exact for quadratics, up to rounding
WRONG_GRAD_ERROR = 0.99  # the sign flipped: relative error 1


def test_eval_numerical_gradient_of_sum_of_squares():
    """Is the numeric gradient of sum(x**2) equal to 2x, with x left unchanged?"""
    x = np.random.default_rng(0).standard_normal((3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda x: np.sum(x**2), x, verbose=False)
    np.testing.assert_allclose(grad, 2 * before, atol=NUMERIC_TOL)
    assert np.array_equal(x, before)


def test_eval_numerical_gradient_verbose(capsys):
    """With verbose=True, is each index printed with its gradient?"""
    eval_numerical_gradient(lambda x: np.sum(3 * x), np.zeros(2))
    assert capsys.readouterr().out.splitlines()[0].startswith("(0,) 3.0")


def test_eval_numerical_gradient_array_of_matrix_product():
    """For f(x) = x @ A and upstream df, is the numeric gradient df @ A.T?"""
    rng = np.random.default_rng(1)
    x, A, df = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    before = x.copy()
    grad = eval_numerical_gradient_array(lambda x: x @ A, x, df)
    np.testing.assert_allclose(grad, df @ A.T, atol=NUMERIC_TOL)
    assert np.array_equal(x, before)


def test_eval_numerical_gradient_array_copies_outputs():
    """Is the result right when f returns its input itself (a view that later changes)?"""
    x = np.arange(4.0)
    grad = eval_numerical_gradient_array(lambda x: x, x, np.ones(4))
    np.testing.assert_allclose(grad, np.ones(4), atol=NUMERIC_TOL)


def test_grad_check_sparse(capsys):
    """Does grad_check_sparse report tiny errors for the right gradient and large for a wrong one?"""
    np.random.seed(0)
    x = np.random.randn(5, 6)
    f = lambda x: np.sum(x**3)  # noqa: E731
    before = x.copy()
    good = grad_check_sparse(f, x, 3 * x**2, num_checks=7)
    bad = grad_check_sparse(f, x, -3 * x**2, num_checks=7)
    assert good.shape == (7,) and good.max() < 1e-7
    assert bad.min() > WRONG_GRAD_ERROR
    assert np.array_equal(x, before)
    assert capsys.readouterr().out.count("relative error") == 14
