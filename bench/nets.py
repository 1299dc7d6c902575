"""The benchmarked architectures, and one training step of each in numpy (cs231n) and in PyTorch.

A trainer is built from a :class:`NetSpec` and returns ``steps(k)``, which makes k training
steps: draw a minibatch with replacement, forward, backward, update.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from .common import BATCH_SIZE, use_source

INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10


@dataclass(frozen=True)
class NetSpec:
    name: str
    hidden_dims: tuple[int, ...]
    normalization: str | None = None
    dropout_keep_ratio: float = 1.0
    reg: float = 0.0
    update_rule: str = "adam"  # "sgd" for the two-layer net, whose own train() uses plain SGD
    learning_rate: float = 1e-3
    weight_scale: float = 5e-2
    batch_size: int = BATCH_SIZE

    @property
    def dims(self) -> list[int]:
        return [INPUT_DIM, *self.hidden_dims, NUM_CLASSES]

    def step_flops(self) -> int:
        """Matmul FLOPs of one step: forward 2*N*in*out per layer, backward twice that.

        The count of a full backward pass, as issue 20's figures use it: it includes the first
        layer's dx (2*N*in*out), which no net needs (its input is the data) and neither
        PyTorch nor the solution computes; see needed_flops.
        """
        return 6 * self.batch_size * sum(a * b for a, b in zip(self.dims, self.dims[1:]))

    def needed_flops(self) -> int:
        """step_flops without the first layer's dx: the matmul FLOPs a step really needs."""
        return self.step_flops() - 2 * self.batch_size * self.dims[0] * self.dims[1]


NETS = {
    # two_layer_net's [train] table in course.toml: TwoLayerNet, SGD.
    "two_layer": NetSpec("two_layer", (500,), reg=0.25, update_rule="sgd", learning_rate=1e-3),
    # Five hidden layers of 100 with batchnorm, adam.
    "deep_bn": NetSpec("deep_bn", (100,) * 5, normalization="batchnorm"),
    # fc_net's [train] table in course.toml: [512, 256], batchnorm, dropout 0.75, adam.
    "wide_dropout": NetSpec("wide_dropout", (512, 256), normalization="batchnorm",
                            dropout_keep_ratio=0.75, reg=1e-3),
}


def numpy_trainer(spec: NetSpec, X: np.ndarray, y: np.ndarray, seed: int = 0, package: str = "cs231n"):
    """k steps of the solution code: TwoLayerNet's train() loop, or the Solver's _step.

    ``package`` is the solution's import name: ``cs231n`` (source/), or the baseline's
    (bench/baseline.py).
    """
    use_source()
    np.random.seed(seed)
    if spec.update_rule == "sgd":
        return _two_layer_trainer(spec, X.reshape(X.shape[0], -1), y, package)
    FullyConnectedNet = importlib.import_module(f"{package}.classifiers.fc_net").FullyConnectedNet
    Solver = importlib.import_module(f"{package}.solver").Solver

    model = FullyConnectedNet(list(spec.hidden_dims), normalization=spec.normalization,
                              dropout_keep_ratio=spec.dropout_keep_ratio, reg=spec.reg,
                              weight_scale=spec.weight_scale, dtype=X.dtype)
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X[:1], "y_val": y[:1]},
                    update_rule=spec.update_rule, optim_config={"learning_rate": spec.learning_rate},
                    batch_size=spec.batch_size, verbose=False)

    def steps(k: int) -> None:
        for _ in range(k):
            solver._step()  # the whole of one Solver iteration, without the accuracy checks

    steps.model, steps.solver = model, solver
    return steps


def _two_layer_trainer(spec: NetSpec, X: np.ndarray, y: np.ndarray, package: str):
    """The body of TwoLayerNet.train (minibatch, loss, SGD update), without its accuracy checks."""
    TwoLayerNet = importlib.import_module(f"{package}.classifiers.neural_net").TwoLayerNet

    net = TwoLayerNet(X.shape[1], spec.hidden_dims[0], NUM_CLASSES)
    net.params = {k: v.astype(X.dtype) for k, v in net.params.items()}  # as coursekit train does
    state = {"learning_rate": spec.learning_rate}

    def steps(k: int) -> None:
        for _ in range(k):
            batch = np.random.choice(X.shape[0], spec.batch_size)
            loss, grads = net.loss(X[batch], y=y[batch], reg=spec.reg)
            for name, grad in grads.items():
                net.params[name] -= state["learning_rate"] * grad

    def decay(factor: float) -> None:
        state["learning_rate"] *= factor

    steps.model, steps.decay = net, decay
    return steps


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_model(spec: NetSpec):
    """The same architecture as an nn.Sequential: {affine - [batchnorm] - relu - [dropout]} x L - affine."""
    from torch import nn

    layers = []
    for fan_in, fan_out in zip(spec.dims[:-2], spec.dims[1:-1]):
        layers.append(nn.Linear(fan_in, fan_out))
        if spec.normalization == "batchnorm":
            layers.append(nn.BatchNorm1d(fan_out, momentum=0.1))  # torch's 0.1 is cs231n's 0.9
        layers.append(nn.ReLU())
        if spec.dropout_keep_ratio != 1:
            layers.append(nn.Dropout(1 - spec.dropout_keep_ratio))
    layers.append(nn.Linear(spec.dims[-2], spec.dims[-1]))
    return nn.Sequential(*layers)


def torch_trainer(spec: NetSpec, X: np.ndarray, y: np.ndarray, threads: int, seed: int = 0,
                  penalty_in_loss: bool = False):
    """k steps of the same net in PyTorch on the CPU: same batch, optimizer and L2 penalty.

    By default the penalty is the optimizer's weight decay, PyTorch's fastest path: it adds the
    penalty's gradient but never computes the penalty itself.  ``penalty_in_loss``: the same
    work as the solution, whose loss must include the penalty (the notebooks check it): the
    penalty is added to the loss and autograd derives its gradient.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[X.dtype]
    inputs = torch.from_numpy(X.reshape(X.shape[0], -1))  # shares numpy's memory
    labels = torch.from_numpy(y)
    model = torch_model(spec).to(dtype).train()
    # TwoLayerNet's loss has reg * sum(W**2) (gradient 2 * reg * W); FullyConnectedNet's 0.5 * reg * sum(W**2)
    penalty = spec.reg if spec.update_rule == "sgd" else 0.5 * spec.reg
    decay = 0.0 if penalty_in_loss else 2 * penalty
    weights = [layer.weight for layer in model if isinstance(layer, nn.Linear)]
    if spec.update_rule == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=spec.learning_rate, weight_decay=decay)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=spec.learning_rate, weight_decay=decay)

    def steps(k: int) -> None:
        for _ in range(k):
            batch = torch.randint(inputs.shape[0], (spec.batch_size,))
            loss = F.cross_entropy(model(inputs[batch]), labels[batch])
            if penalty_in_loss and penalty:
                loss = loss + penalty * sum(torch.sum(w * w) for w in weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    steps.model = model
    return steps
