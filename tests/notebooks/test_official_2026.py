"""The official CS231n 2026 notebooks of assignment 1 run unchanged against the solutions track.

``two_layer_net.ipynb`` (the two-layer assignment's modular flow) and ``FullyConnectedNets.ipynb``
(the fc_net assignment) make the calls below and check the values below: the same imports
(``from cs231n.classifiers.fc_net import *`` and the rest), the same inputs (seed 231, the
linspace parameters), the same expected numbers (scores, losses 3.4702243556 and 26.5948426952,
the update rules' next values), the same tolerances, the Solver's roughly 36% on the
validation set, and ``best_model.save("best_two_layer_net.npy")``.  The cells are written here
as plain Python (no IPython magics), run cell by cell in a fresh interpreter whose working
folder is a copy of the track, as a student's kernel would; where the official notebook leaves
a TODO (the Solver, the overfitting rates) they hold a correct student's answer.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.tracks import build_tracks

ROOT = Path(__file__).resolve().parents[2]
RUN_SECONDS = 1800  # only stops a hang: the cells need about a minute on a quiet machine

SETUP = """
import time
import numpy as np
import matplotlib.pyplot as plt
from cs231n.classifiers.fc_net import *
from cs231n.data_utils import get_CIFAR10_data
from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from cs231n.solver import Solver


def rel_error(x, y):
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


data = get_CIFAR10_data()
assert [data[k].shape for k in ("X_train", "X_val", "X_test")] == [(49000, 3, 32, 32), (1000, 3, 32, 32),
                                                                  (1000, 3, 32, 32)]
"""

TWO_LAYER_NET = [
    ("setup", SETUP),
    ("affine_forward", """
num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
x = np.linspace(-0.1, 0.5, num=num_inputs * np.prod(input_shape)).reshape(num_inputs, *input_shape)
w = np.linspace(-0.2, 0.3, num=output_dim * np.prod(input_shape)).reshape(np.prod(input_shape), output_dim)
b = np.linspace(-0.3, 0.1, num=output_dim)
out, _ = affine_forward(x, w, b)
correct_out = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
assert rel_error(out, correct_out) < 1e-8
"""),
    ("affine_backward", """
np.random.seed(231)
x, w, b, dout = np.random.randn(10, 2, 3), np.random.randn(6, 5), np.random.randn(5), np.random.randn(10, 5)
dx_num = eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b, dout)
_, cache = affine_forward(x, w, b)
dx, dw, db = affine_backward(dout, cache)
assert max(rel_error(dx_num, dx), rel_error(dw_num, dw), rel_error(db_num, db)) < 1e-9
"""),
    ("relu_forward", """
out, _ = relu_forward(np.linspace(-0.5, 0.5, num=12).reshape(3, 4))
correct_out = np.array([[0., 0., 0., 0.], [0., 0., 0.04545455, 0.13636364],
                        [0.22727273, 0.31818182, 0.40909091, 0.5]])
assert rel_error(out, correct_out) < 1e-7
"""),
    ("relu_backward", """
np.random.seed(231)
x = np.random.randn(10, 10)
dout = np.random.randn(*x.shape)
dx_num = eval_numerical_gradient_array(lambda x: relu_forward(x)[0], x, dout)
_, cache = relu_forward(x)
assert rel_error(dx_num, relu_backward(dout, cache)) < 1e-11
"""),
    ("sandwich", """
from cs231n.layer_utils import affine_relu_forward, affine_relu_backward
np.random.seed(231)
x, w, b, dout = np.random.randn(2, 3, 4), np.random.randn(12, 10), np.random.randn(10), np.random.randn(2, 10)
out, cache = affine_relu_forward(x, w, b)
dx, dw, db = affine_relu_backward(dout, cache)
dx_num = eval_numerical_gradient_array(lambda x: affine_relu_forward(x, w, b)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda w: affine_relu_forward(x, w, b)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda b: affine_relu_forward(x, w, b)[0], b, dout)
assert max(rel_error(dx_num, dx), rel_error(dw_num, dw), rel_error(db_num, db)) < 1e-9
"""),
    ("softmax_loss", """
np.random.seed(231)
num_classes, num_inputs = 10, 50
x = 0.001 * np.random.randn(num_inputs, num_classes)
y = np.random.randint(num_classes, size=num_inputs)
dx_num = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
loss, dx = softmax_loss(x, y)
assert abs(loss - 2.3) < 0.01 and rel_error(dx_num, dx) < 1e-7
"""),
    ("TwoLayerNet", """
np.random.seed(231)
N, D, H, C = 3, 5, 50, 7
X = np.random.randn(N, D)
y = np.random.randint(C, size=N)
std = 1e-3
model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std)
assert abs(model.params['W1'].std() - std) < std / 10 and np.all(model.params['b1'] == 0)
assert abs(model.params['W2'].std() - std) < std / 10 and np.all(model.params['b2'] == 0)
model.params['W1'] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
model.params['b1'] = np.linspace(-0.1, 0.9, num=H)
model.params['W2'] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
model.params['b2'] = np.linspace(-0.9, 0.1, num=C)
X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
correct_scores = np.asarray(
    [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
     [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
     [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319]])
assert np.abs(model.loss(X) - correct_scores).sum() < 1e-6
y = np.asarray([0, 5, 1])
loss, grads = model.loss(X, y)
assert abs(loss - 3.4702243556) < 1e-10
model.reg = 1.0
loss, grads = model.loss(X, y)
assert abs(loss - 26.5948426952) < 1e-10
for reg in [0.0, 0.7]:
    model.reg = reg
    loss, grads = model.loss(X, y)
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False)
        assert rel_error(grad_num, grads[name]) < 1e-6, (reg, name)
"""),
    ("Solver", """
input_size, hidden_size, num_classes = 32 * 32 * 3, 50, 10
model = TwoLayerNet(input_size, hidden_size, num_classes)
solver = Solver(model, data, update_rule='sgd', optim_config={'learning_rate': 1e-3}, lr_decay=0.95,
                num_epochs=2, batch_size=200, verbose=False)
solver.train()
print('validation accuracy', solver.best_val_acc)
assert solver.best_val_acc >= 0.36
"""),
    ("plots and weights", """
from cs231n.vis_utils import visualize_grid
plt.subplot(2, 1, 1)
plt.plot(solver.loss_history, 'o')
plt.subplot(2, 1, 2)
plt.plot(solver.train_acc_history, '-o', label='train')
plt.plot(solver.val_acc_history, '-o', label='val')
plt.close('all')
W1 = model.params['W1'].reshape(3, 32, 32, -1).transpose(3, 1, 2, 0)
assert visualize_grid(W1, padding=3).astype('uint8').ndim == 3
"""),
    ("test the model and save it", """
best_model = model
y_val_pred = np.argmax(best_model.loss(data['X_val']), axis=1)
y_test_pred = np.argmax(best_model.loss(data['X_test']), axis=1)
print('validation', (y_val_pred == data['y_val']).mean(), 'test', (y_test_pred == data['y_test']).mean())
best_model.save("best_two_layer_net.npy")
import os
assert os.path.isfile("cs231n/saved/best_two_layer_net.npy")
again = TwoLayerNet(input_size, hidden_size, num_classes)
assert again.load("best_two_layer_net.npy") is True
assert all(np.array_equal(again.params[k], best_model.params[k]) for k in best_model.params)
assert TwoLayerNet().load("missing.npy") is False
"""),
]

OPTIM_EXPECTED = """
N, D = 4, 5
w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
"""

FULLY_CONNECTED_NETS = [
    ("setup", SETUP),
    ("initial loss and gradient check", """
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))
errors = {}
for reg in [0, 3.14]:
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                              dtype=np.float64)
    loss, grads = model.loss(X, y)
    assert 2.0 < loss < 2.6 if reg == 0 else loss > 2.6
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
        errors[(reg, name)] = rel_error(grad_num, grads[name])
# "most errors should be on the order of e-7 or smaller; W2 at reg = 0 may be about e-5"
assert max(errors.values()) < 1e-4, errors
assert sorted(errors.values())[len(errors) // 2] < 1e-6, errors
"""),
    ("overfit 50 images: three layers", """
num_train = 50
small_data = {'X_train': data['X_train'][:num_train], 'y_train': data['y_train'][:num_train],
              'X_val': data['X_val'], 'y_val': data['y_val']}
weight_scale, learning_rate = 1e-2, 1e-2
model = FullyConnectedNet([100, 100], weight_scale=weight_scale, dtype=np.float64)
solver = Solver(model, small_data, print_every=10, num_epochs=20, batch_size=25, update_rule='sgd',
                optim_config={'learning_rate': learning_rate}, verbose=False)
solver.train()
assert solver.train_acc_history[-1] == 1.0
"""),
    ("overfit 50 images: five layers", """
learning_rate, weight_scale = 1e-3, 1e-1
model = FullyConnectedNet([100, 100, 100, 100], weight_scale=weight_scale, dtype=np.float64)
solver = Solver(model, small_data, print_every=10, num_epochs=20, batch_size=25, update_rule='sgd',
                optim_config={'learning_rate': learning_rate}, verbose=False)
solver.train()
assert solver.train_acc_history[-1] == 1.0
"""),
    ("sgd_momentum", OPTIM_EXPECTED + """
from cs231n.optim import sgd_momentum
v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
config = {'learning_rate': 1e-3, 'velocity': v}
next_w, _ = sgd_momentum(w, dw, config=config)
expected_next_w = np.asarray([
    [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
    [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
    [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
    [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
expected_velocity = np.asarray([
    [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
    [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
    [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
    [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
assert rel_error(next_w, expected_next_w) < 1e-8 and rel_error(expected_velocity, config['velocity']) < 1e-8
"""),
    ("sgd against sgd_momentum", """
num_train = 4000
small_data = {'X_train': data['X_train'][:num_train], 'y_train': data['y_train'][:num_train],
              'X_val': data['X_val'], 'y_val': data['y_val']}
solvers = {}
for update_rule in ['sgd', 'sgd_momentum']:
    model = FullyConnectedNet([100, 100, 100, 100, 100], weight_scale=5e-2)
    solver = Solver(model, small_data, num_epochs=5, batch_size=100, update_rule=update_rule,
                    optim_config={'learning_rate': 5e-3}, verbose=False)
    solvers[update_rule] = solver
    solver.train()
for solver in solvers.values():
    assert len(solver.loss_history) == 200 and len(solver.val_acc_history) == 6
"""),
    ("rmsprop", OPTIM_EXPECTED + """
from cs231n.optim import rmsprop
cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
config = {'learning_rate': 1e-2, 'cache': cache}
next_w, _ = rmsprop(w, dw, config=config)
expected_next_w = np.asarray([
    [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
    [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
    [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
    [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
expected_cache = np.asarray([
    [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
    [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
    [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
    [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
assert rel_error(expected_next_w, next_w) < 1e-6 and rel_error(expected_cache, config['cache']) < 1e-6
"""),
    ("adam", OPTIM_EXPECTED + """
from cs231n.optim import adam
m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
config = {'learning_rate': 1e-2, 'm': m, 'v': v, 't': 5}
next_w, _ = adam(w, dw, config=config)
expected_next_w = np.asarray([
    [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
    [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
    [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
    [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
expected_v = np.asarray([
    [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
    [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
    [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
    [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
expected_m = np.asarray([
    [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
    [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
    [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
    [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
# "relative errors around e-7 or less": the expected values are rounded to 8 decimals
assert rel_error(expected_next_w, next_w) < 1e-6
assert rel_error(expected_v, config['v']) < 1e-6 and rel_error(expected_m, config['m']) < 1e-6
"""),
    ("rmsprop and adam training", """
learning_rates = {'rmsprop': 1e-4, 'adam': 1e-3}
for update_rule in ['adam', 'rmsprop']:
    model = FullyConnectedNet([100, 100, 100, 100, 100], weight_scale=5e-2)
    solver = Solver(model, small_data, num_epochs=5, batch_size=100, update_rule=update_rule,
                    optim_config={'learning_rate': learning_rates[update_rule]}, verbose=False)
    solvers[update_rule] = solver
    solver.train()
assert solvers['adam'].best_val_acc > solvers['sgd'].best_val_acc
"""),
    ("test the model", """
best_model = solvers['adam'].model
y_test_pred = np.argmax(best_model.loss(data['X_test']), axis=1)
y_val_pred = np.argmax(best_model.loss(data['X_val']), axis=1)
print('validation', (y_val_pred == data['y_val']).mean(), 'test', (y_test_pred == data['y_test']).mean())
assert y_test_pred.shape == (1000,) and y_val_pred.shape == (1000,)
"""),
]

# Runs the cells in one namespace and reports, as JSON, the first cell that raised.
DRIVER = """
import json, sys, traceback
cells = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for name, source in cells:
    try:
        exec(compile(source, f"<cell {name}>", "exec"), namespace)
    except BaseException:
        print("CELL-FAILED " + json.dumps({"cell": name, "error": traceback.format_exc()[-3000:]}))
        sys.exit(1)
print("CELLS-OK")
"""


def run_cells(folder: Path, cells, cifar10_dir: Path) -> str:
    """Run ``cells`` in a fresh interpreter whose working folder (and first import path) is ``folder``."""
    env = {**os.environ, "CIFAR10_DIR": str(cifar10_dir), "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(
        [(name, textwrap.dedent(source)) for name, source in cells]), cwd=folder, env=env,
        capture_output=True, text=True, timeout=RUN_SECONDS)
    assert "CELLS-OK" in proc.stdout and proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.dataset
def test_official_2026_two_layer_net_runs_against_the_modular_solutions(cifar10_dir, tmp_path):
    """Do the official 2026 two_layer_net.ipynb's calls and checked values all pass against the
    solutions track of the modular flow, down to best_model.save("best_two_layer_net.npy")?"""
    course = load_config(ROOT / "course.toml").with_flow("two_layer_net", "modular")
    build_tracks(course, ["two_layer_net"], out_root=tmp_path / "tracks")
    folder = tmp_path / "assignment1"
    shutil.copytree(tmp_path / "tracks" / "solutions" / "two_layer_net", folder)
    print(run_cells(folder, TWO_LAYER_NET, cifar10_dir))
    assert (folder / "cs231n" / "saved" / "best_two_layer_net.npy").is_file()


@pytest.mark.dataset
def test_official_2026_fully_connected_nets_runs_against_the_solutions(course_root, cifar10_dir, tmp_path):
    """Do the official 2026 FullyConnectedNets.ipynb's calls and checked values all pass against the
    committed fc_net solutions track?"""
    folder = tmp_path / "assignment1"
    shutil.copytree(course_root / "solutions" / "fc_net", folder, ignore=shutil.ignore_patterns("*.ipynb"))
    print(run_cells(folder, FULLY_CONNECTED_NETS, cifar10_dir))
