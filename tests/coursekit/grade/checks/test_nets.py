"""The hidden inputs of the net checks can reveal what they test (coursekit/grade/checks/nets.py)."""
import numpy as np

from coursekit.grade.checks import nets


def test_fc_loss_inputs_always_have_live_relus():
    """A dropout net whose hidden layer is all zero cannot show dropout applied at test time (a
    class grade gave that mistake a hidden case for free).  Over 3,000 draws, does every hidden
    layer of the unnormalized configurations keep live ReLUs, including draws where the first
    candidate had a dead layer?"""
    redrawn = 0
    for seed in range(3000):
        for keep in (1.0, 0.5):
            first = np.random.default_rng(seed)
            candidate = {"X": first.standard_normal((nets.N, nets.D)), "y": first.integers(0, nets.C, nets.N),
                         **{f"param_{k}": v for k, v in nets.random_params(
                             first, None, nets.DROPOUT_WEIGHT_SCALE if keep < 1 else 0.5).items()}}
            inputs = nets._loss_inputs(np.random.default_rng(seed), None, keep)
            assert min(nets._live_fractions(inputs)) >= nets.MIN_LIVE
            if min(nets._live_fractions(candidate)) == 0:
                redrawn += 1
                assert not np.array_equal(inputs["X"], candidate["X"])
    assert redrawn > 10  # the redraw was exercised: about 1 draw in 100 had a dead layer


def test_normalized_fc_loss_inputs_are_the_first_draw():
    """Normalized nets keep their first draw (about half their ReLUs live by construction)."""
    a = nets._loss_inputs(np.random.default_rng(7), "batchnorm", 0.75)
    rng = np.random.default_rng(7)
    assert np.array_equal(a["X"], rng.standard_normal((nets.N, nets.D)))
