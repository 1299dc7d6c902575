"""optim: the published CS231n update-rule references, defaults, state and dtypes."""
import numpy as np
import pytest

from cs231n import optim

REF_TOL = 1e-6  # the CS231n notebooks accept rel_error ~1e-8; printed to 8 digits
SMALL_BYTES = 64 * 1024  # what a step may allocate besides its big temporaries (scalars, dicts)

N, D = 4, 5
W = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
DW = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
UP = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
DOWN = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)

# First rows as printed in the CS231n FullyConnectedNets notebook.
PUBLISHED_FIRST_ROW = {
    "sgd_momentum": [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
    "rmsprop": [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
    "adam": [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
}

# The whole arrays, computed by this implementation after checking the first rows above
# (and the first rows of the notebook's expected_velocity / expected_cache / expected_m, v).
EXPECTED = {
    "sgd_momentum": {
        "next_w": [[0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
                   [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
                   [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
                   [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]],
        "velocity": [[0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
                     [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
                     [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
                     [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]],
    },
    "rmsprop": {
        "next_w": [[-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
                   [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
                   [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
                   [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]],
        "cache": [[0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
                  [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
                  [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
                  [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]],
    },
    "adam": {
        "next_w": [[-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
                   [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
                   [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
                   [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]],
        "v": [[0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
              [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
              [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
              [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]],
        "m": [[0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
              [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
              [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
              [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]],
    },
}


def notebook_config(rule):
    """The config each CS231n reference test passes (fresh copies of the state arrays)."""
    return {
        "sgd_momentum": {"learning_rate": 1e-3, "velocity": UP.copy()},
        "rmsprop": {"learning_rate": 1e-2, "cache": UP.copy()},
        "adam": {"learning_rate": 1e-2, "m": UP.copy(), "v": DOWN.copy(), "t": 5},
    }[rule]


DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
STATE = {"sgd": [], "sgd_momentum": ["velocity"], "rmsprop": ["cache"], "adam": ["m", "v"]}


def rel_error(x, y):
    """The CS231n relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_matches_published_first_row(rule):
    """Does the first row of next_w match the CS231n notebook's expected_next_w?"""
    next_w, _ = getattr(optim, rule)(W.copy(), DW, notebook_config(rule))
    assert rel_error(next_w[0], np.array(PUBLISHED_FIRST_ROW[rule])) < REF_TOL


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_matches_reference_arrays(rule):
    """Do next_w and every state array match the reference arrays in full?"""
    next_w, config = getattr(optim, rule)(W.copy(), DW, notebook_config(rule))
    for key, expected in EXPECTED[rule].items():
        value = next_w if key == "next_w" else config[key]
        assert rel_error(value, np.array(expected)) < REF_TOL, key


@pytest.mark.parametrize("rule", sorted(DEFAULTS))
def test_defaults_and_state(rule):
    """With config=None, are the CS231n defaults and zero state set in a new config?"""
    w = np.ones((2, 3))
    _, config = getattr(optim, rule)(w.copy(), np.zeros_like(w))
    assert {k: config[k] for k in DEFAULTS[rule]} == DEFAULTS[rule]
    for key in STATE[rule]:
        assert config[key].shape == w.shape and not config[key].any()


@pytest.mark.parametrize("rule", sorted(DEFAULTS))
def test_given_values_win_and_config_is_returned(rule):
    """Is a caller's value kept (setdefault) and the same config dict handed back?"""
    config = {"learning_rate": 0.123}
    _, returned = getattr(optim, rule)(np.ones(3), np.ones(3), config)
    assert returned is config and config["learning_rate"] == 0.123


def test_adam_increments_t_before_use():
    """Does adam count steps from t=0, so that the first step is a full lr-sized step?"""
    next_w, config = optim.adam(np.zeros(3), np.array([1.0, -2.0, 0.5]))
    assert config["t"] == 1
    # After bias correction with t=1, mt / sqrt(vt) = sign(dw): the step is lr per entry.
    np.testing.assert_allclose(next_w, [-1e-3, 1e-3, -1e-3], rtol=1e-6)
    _, config = optim.adam(next_w, np.ones(3), config)
    assert config["t"] == 2


def test_sgd_updates_in_place():
    """Does sgd return w itself, moved by -learning_rate * dw?"""
    w = np.ones(3)
    next_w, _ = optim.sgd(w, np.full(3, 2.0), {"learning_rate": 0.25})
    assert next_w is w and np.array_equal(w, np.full(3, 0.5))


@pytest.mark.parametrize("rule", sorted(DEFAULTS))
def test_float32_stays_float32(rule):
    """Do float32 weights and gradients give float32 next_w and state, over two steps?"""
    w = W.astype(np.float32)
    dw = DW.astype(np.float32)
    update = getattr(optim, rule)
    next_w, config = update(w.copy(), dw)
    next_w, config = update(next_w, dw, config)
    assert next_w.dtype == np.float32
    assert all(config[key].dtype == np.float32 for key in STATE[rule])


def _peak_new_bytes(func) -> int:
    """The most memory ``func`` held at once beyond what existed before (numpy reports its
    array buffers to tracemalloc): a count of temporaries, not a timing."""
    import tracemalloc

    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("rule, temporaries", [("sgd", 1), ("sgd_momentum", 1), ("adam", 1)])
def test_a_step_holds_at_most_one_temporary_as_big_as_w(rule, temporaries):
    """Does a step (after the first) hold at most one new array as big as w at a time, and
    leave the state arrays where they were? (Each further one costs a pass over memory and, on
    a weight matrix, fresh pages: the page faults that made adam slow.)"""
    update = getattr(optim, rule)
    w = np.random.default_rng(0).standard_normal((500, 300)).astype(np.float32)  # > 256 KiB: numpy reuses
    # the temporaries of a chain like a * b * c from that size on
    dw = np.random.default_rng(1).standard_normal(w.shape).astype(np.float32)
    w, config = update(w, dw)  # the first step builds the state
    state = {key: config[key] for key in STATE[rule]}
    peak = _peak_new_bytes(lambda: update(w, dw, config))
    assert peak <= temporaries * w.nbytes + SMALL_BYTES, f"{peak / w.nbytes:.2f} arrays as big as w"
    assert all(config[key] is array for key, array in state.items())
