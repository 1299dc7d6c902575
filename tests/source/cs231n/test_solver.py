"""Solver: argument checking, training, learning-rate decay, best params and checkpoints."""
import pickle

import numpy as np
import pytest

from cs231n import optim
from cs231n.classifiers.fc_net import FullyConnectedNet
from cs231n.solver import Solver


def blobs(n, rng, num_classes=3, dim=10):
    """n noisy examples around num_classes fixed centres (the same centres for every call)."""
    centres = np.random.default_rng(99).standard_normal((num_classes, dim))
    y = rng.integers(num_classes, size=n)
    return centres[y] + 0.7 * rng.standard_normal((n, dim)), y


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X_train, y_train = blobs(200, rng)
    X_val, y_val = blobs(50, rng)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


class StepModel:
    """A duck-typed model with one parameter w, which every step raises by 1.

    It gets every example right exactly when w == good, so the best epoch is known.
    """

    def __init__(self, good):
        self.params = {"w": np.zeros(1)}
        self.good = good

    def loss(self, X, y=None):
        if y is None:
            scores = np.zeros((X.shape[0], 2))
            scores[:, 0 if self.params["w"][0] == self.good else 1] = 1
            return scores
        return 0.0, {"w": np.zeros(1)}


def add_one(w, dw, config):
    """An update rule given as a function: w + 1, with a learning rate to decay."""
    config.setdefault("learning_rate", 1.0)
    return w + 1, config


def step_data(n=10):
    zeros = np.zeros((n, 1))
    return {"X_train": zeros, "y_train": np.zeros(n, int), "X_val": zeros,
            "y_val": np.zeros(n, int)}


def test_unknown_keyword_is_refused(data):
    """Does an unknown keyword argument raise a ValueError that names it?"""
    model = FullyConnectedNet([5], input_dim=10, num_classes=3)
    with pytest.raises(ValueError, match='Unrecognized arguments "learning_rate"'):
        Solver(model, data, learning_rate=1e-3)


@pytest.mark.parametrize("rule", ["adagrad", "np"])
def test_invalid_update_rule(data, rule):
    """Does a name that is not an update function in optim raise a ValueError?"""
    model = FullyConnectedNet([5], input_dim=10, num_classes=3)
    with pytest.raises(ValueError, match=f'Invalid update_rule "{rule}"'):
        Solver(model, data, update_rule=rule)


def test_update_rule_by_name_or_function(data):
    """Is update_rule looked up in optim by name, and a function accepted as it is?"""
    model = FullyConnectedNet([5], input_dim=10, num_classes=3)
    assert Solver(model, data, update_rule="adam").update_rule is optim.adam
    assert Solver(model, data, update_rule=add_one).update_rule is add_one


def test_training_improves_train_accuracy(data):
    """Does training a tiny net with adam raise train accuracy and lower the loss?"""
    np.random.seed(0)
    model = FullyConnectedNet([20], input_dim=10, num_classes=3, weight_scale=1e-2)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=5, batch_size=50, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 5 * 4
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 1 + 5
    assert solver.train_acc_history[-1] > solver.train_acc_history[0] + 0.3
    assert np.mean(solver.loss_history[-4:]) < solver.loss_history[0]


def test_lr_decays_once_per_epoch():
    """After 3 epochs with lr_decay=0.5, is every learning rate 0.5**3 of the start?"""
    solver = Solver(StepModel(good=-1), step_data(10), update_rule="sgd",
                    optim_config={"learning_rate": 0.8}, lr_decay=0.5, batch_size=5,
                    num_epochs=3, verbose=False)
    solver.train()
    assert solver.optim_configs["w"]["learning_rate"] == pytest.approx(0.8 * 0.5**3)
    assert solver.epoch == 3 and solver.optim_config == {"learning_rate": 0.8}


def test_best_params_are_restored():
    """Are the params of the best validation epoch put back at the end of training?"""
    solver = Solver(StepModel(good=3), step_data(), update_rule=add_one, batch_size=10,
                    num_epochs=6, verbose=False)
    solver.train()
    assert solver.val_acc_history == [0, 0, 1, 0, 0, 0]  # w = 1, 2, 3, 4, 5, 6
    assert solver.best_val_acc == 1
    assert solver.model.params["w"][0] == 3


def test_params_kept_when_val_accuracy_is_always_zero():
    """If no epoch gets a validation example right, does the model still have params?"""
    solver = Solver(StepModel(good=-1), step_data(), update_rule=add_one, batch_size=10,
                    num_epochs=2, verbose=False)
    solver.train()
    assert solver.model.params["w"][0] == 1  # the first check's params, not an empty dict


def test_checkpoint_written(tmp_path, data):
    """With checkpoint_name, is a pickle of the model and histories written at every check?"""
    model = FullyConnectedNet([5], input_dim=10, num_classes=3)
    name = str(tmp_path / "ckpt")
    solver = Solver(model, data, checkpoint_name=name, num_epochs=2, batch_size=100,
                    verbose=False)
    solver.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt_epoch_0.pkl", "ckpt_epoch_1.pkl", "ckpt_epoch_2.pkl"]  # 0: the first iteration
    with open(tmp_path / "ckpt_epoch_2.pkl", "rb") as f:
        checkpoint = pickle.load(f)
    assert checkpoint["epoch"] == 2 and len(checkpoint["loss_history"]) == 4
    assert set(checkpoint["model"].params) == {"W1", "b1", "W2", "b2"}


def test_check_accuracy_batches_and_subsamples():
    """Does check_accuracy handle a last partial batch, and subsample to num_samples?"""
    solver = Solver(StepModel(good=0), step_data(), verbose=False)
    X, y = np.zeros((250, 1)), np.array([0] * 125 + [1] * 125)
    assert solver.check_accuracy(X, y, batch_size=100) == 0.5
    np.random.seed(0)
    assert solver.check_accuracy(X, np.zeros(250, int), num_samples=30) == 1.0


def test_verbose_prints_progress(capsys):
    """With verbose=True, are the iteration losses and epoch accuracies printed?"""
    Solver(StepModel(good=0), step_data(), update_rule=add_one, batch_size=10, num_epochs=2,
           print_every=1).train()
    printed = capsys.readouterr().out
    assert "(Iteration 1 / 2) loss: 0.000000" in printed
    assert "(Epoch 2 / 2) train acc:" in printed


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_float32_training_stays_float32(rule, normalization):
    """Does a float32 net with dropout train in float32 throughout: params, the optimizer's
    state, batchnorm's running averages and the losses (no silent float64 arrays)?"""
    rng = np.random.default_rng(0)
    X, y = blobs(60, rng)
    data = {"X_train": X.astype(np.float32), "y_train": y, "X_val": X[:20].astype(np.float32), "y_val": y[:20]}
    model = FullyConnectedNet([8, 6], input_dim=10, num_classes=3, normalization=normalization,
                              dropout_keep_ratio=0.75, reg=0.1, dtype=np.float32)
    solver = Solver(model, data, update_rule=rule, optim_config={"learning_rate": 1e-3},
                    batch_size=10, num_epochs=1, verbose=False)
    for _ in range(3):
        solver._step()
    arrays = {**model.params, **{f"{p}.{key}": value for p, config in solver.optim_configs.items()
                                 for key, value in config.items() if isinstance(value, np.ndarray)}}
    arrays.update({f"bn_params[{i}].{key}": value for i, bn in enumerate(model.bn_params)
                   for key, value in bn.items() if isinstance(value, np.ndarray)})
    assert {name: a.dtype for name, a in arrays.items() if a.dtype != np.float32} == {}
    assert all(np.asarray(loss).dtype == np.float32 for loss in solver.loss_history)
