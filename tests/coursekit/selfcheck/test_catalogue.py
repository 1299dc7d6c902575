"""The catalogue of student mistakes: it loads, covers every region, applies, and really bites.

Each mistake is applied to a fresh copy of ``source/cs231n`` (laid out as an assignment
folder), imported under a unique package name, and run through a small numeric probe next
to the unpatched copy: the probe's outputs must differ.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from coursekit.config import load_config
from coursekit.selfcheck.catalogue import (
    Mistake,
    MistakeError,
    apply_mistake,
    check_catalogue,
    coverage,
    load_catalogue,
    mistake_course,
    regions_without_mistakes,
    source_regions,
)

ROOT = Path(__file__).resolve().parents[3]
SOURCE_PACKAGE = ROOT / "source" / "cs231n"
CATALOGUE = ROOT / "autograder" / "mistakes.toml"
CATALOGUE_IDS = [m.id for m in load_catalogue(CATALOGUE)]

MIN_MISTAKES = 25
PROBE_RTOL = 1e-7  # outputs closer than this count as "the same" (the mistakes differ far more)
PROBE_ATOL = 1e-12
IMPORT_SECONDS = 60

# The real cases the issue asks for, by id.
REQUIRED_IDS = {
    "tln-reg-extra-half", "fc-reg-missing-half", "fc-reg-consistent-no-half",
    "tln-softmax-no-max-shift", "softmax-no-max-shift", "adam-t-incremented-late",
    "dropout-not-inverted", "dropout-at-test-time", "batchnorm-test-uses-batch-stats",
    "batchnorm-no-running-update", "layernorm-wrong-axis", "relu-backward-masks-dout",
    "affine-backward-db-mean", "momentum-sign-reversed", "rmsprop-eps-inside-sqrt",
    "tln-train-first-batch-only", "tln-train-lr-decay-every-iteration", "fc-relu-on-last-layer",
}


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Mistake]:
    return {m.id: m for m in load_catalogue(CATALOGUE)}


def fresh_copy(folder: Path) -> Path:
    """An assignment-like folder: ``folder/cs231n`` copied from the annotated source."""
    shutil.copytree(SOURCE_PACKAGE, folder / "cs231n", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(scope="module")
def patched(tmp_path_factory, catalogue) -> dict[str, Path]:
    """One fresh copy per mistake, with the mistake applied, plus the unpatched "reference"."""
    base = tmp_path_factory.mktemp("mistakes")
    folders = {"reference": fresh_copy(base / "reference")}
    for mistake in catalogue.values():
        folders[mistake.id] = fresh_copy(base / mistake.id)
        apply_mistake(mistake, folders[mistake.id])
    return folders


def import_copy(folder: Path, name: str) -> SimpleNamespace:
    """The package ``folder/cs231n`` imported as ``name`` (so copies never collide)."""
    package_dir = folder / "cs231n"
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    sub = {short: importlib.import_module(f"{name}.{dotted}") for short, dotted in (
        ("layers", "layers"), ("optim", "optim"), ("fc_net", "classifiers.fc_net"),
        ("neural_net", "classifiers.neural_net"))}
    return SimpleNamespace(**sub)


def module_name(mistake_id: str) -> str:
    return "cs231n_mistake_" + mistake_id.replace("-", "_")


# --- probes: small seeded calls whose outputs a mistake must change ----------------------

def rng():
    return np.random.default_rng(231)


def probe_affine(pkg):
    r = rng()
    x, w, b, dout = r.standard_normal((3, 2, 4)), r.standard_normal((8, 5)), r.standard_normal(5), \
        r.standard_normal((3, 5))
    out, cache = pkg.layers.affine_forward(x, w, b)
    dx, dw, db = pkg.layers.affine_backward(dout, cache)
    return {"out": out, "dx": dx, "dw": dw, "db": db}


def probe_affine_backward(pkg):
    r = rng()
    x, w, b, dout = r.standard_normal((3, 2, 4)), r.standard_normal((8, 5)), r.standard_normal(5), \
        r.standard_normal((3, 5))
    dx, dw, db = pkg.layers.affine_backward(dout, (x, w, b))
    return {"dx": dx, "dw": dw, "db": db}


def probe_relu(pkg):
    r = rng()
    x, dout = r.standard_normal((4, 6)), r.standard_normal((4, 6))
    out, cache = pkg.layers.relu_forward(x)
    return {"out": out, "dx": pkg.layers.relu_backward(dout, cache)}


def probe_softmax(pkg):
    r = rng()
    x, y = 2 * r.standard_normal((7, 5)), r.integers(0, 5, 7)
    small_loss, small_dx = pkg.layers.softmax_loss(x, y)
    big_loss, big_dx = pkg.layers.softmax_loss(x + 1000.0, y)  # an unshifted softmax overflows
    return {"loss": small_loss, "dx": small_dx, "big_loss": big_loss, "big_dx": big_dx}


def probe_batchnorm_forward(pkg):
    r = rng()
    N, D = 8, 4
    gamma, beta = r.standard_normal(D) + 1, r.standard_normal(D)
    bn_param = {"mode": "train"}
    outs = {}
    for step in range(2):
        x = 0.01 * r.standard_normal((N, D)) + 5  # small variance: eps matters
        outs[f"out{step}"], _ = pkg.layers.batchnorm_forward(x, gamma, beta, bn_param)
    outs["running_mean"], outs["running_var"] = bn_param["running_mean"], bn_param["running_var"]
    test_param = {"mode": "test", "running_mean": r.standard_normal(D), "running_var": r.random(D) + 0.5}
    outs["test_out"], _ = pkg.layers.batchnorm_forward(3 * r.standard_normal((N, D)), gamma, beta,
                                                       test_param)
    return outs


def probe_batchnorm_backward(name):
    def probe(pkg):
        r = rng()
        x = 3 * r.standard_normal((8, 4)) + 5
        gamma, beta, dout = r.standard_normal(4) + 1, r.standard_normal(4), r.standard_normal((8, 4))
        _, cache = pkg.layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
        dx, dgamma, dbeta = getattr(pkg.layers, name)(dout, cache)
        return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    return probe


def probe_layernorm(pkg):
    r = rng()
    x = 2 * r.standard_normal((5, 6)) - 1
    gamma, beta, dout = r.standard_normal(6) + 1, r.standard_normal(6), r.standard_normal((5, 6))
    out, cache = pkg.layers.layernorm_forward(x, gamma, beta, {"eps": 1e-5})
    dx, dgamma, dbeta = pkg.layers.layernorm_backward(dout, cache)
    return {"out": out, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def probe_dropout(pkg):
    r = rng()
    x, dout = r.standard_normal((40, 50)) + 10, r.standard_normal((40, 50))
    train_out, cache = pkg.layers.dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 7})
    test_out, _ = pkg.layers.dropout_forward(x, {"mode": "test", "p": 0.3, "seed": 7})
    return {"train_out": train_out, "test_out": test_out,
            "dx": pkg.layers.dropout_backward(dout, cache)}


def probe_optimizer(name, steps=3):
    def probe(pkg):
        r = rng()
        outs = {}
        for scale in (1.0, 1e-4):  # tiny gradients show where epsilon goes
            w, config = r.standard_normal((3, 4)), {"learning_rate": 1e-2}
            for step in range(steps):
                w, config = getattr(pkg.optim, name)(w, scale * r.standard_normal((3, 4)), config)
                outs[f"w{step}@{scale}"] = w.copy()  # update rules may work in place
            outs.update({f"{key}@{scale}": np.array(value) for key, value in config.items()})
        return outs
    return probe


def two_layer_net(pkg):
    np.random.seed(0)
    return pkg.neural_net.TwoLayerNet(4, 10, 3, std=0.5)


def probe_two_layer_loss(pkg):
    r = rng()
    X, y = r.standard_normal((5, 4)), r.integers(0, 3, 5)
    net = two_layer_net(pkg)
    outs = {"scores": net.loss(X)}
    outs["loss"], grads = net.loss(X, y, reg=0.1)
    outs.update({f"d{key}": value for key, value in grads.items()})
    net.params["b2"] = net.params["b2"] + 1000.0  # scores around 1000: numeric stability
    outs["big_loss"], big_grads = net.loss(X, y, reg=0.1)
    outs.update({f"big_d{key}": value for key, value in big_grads.items()})
    return outs


def probe_two_layer_train(pkg):
    r = rng()
    X, y = r.standard_normal((50, 4)), r.integers(0, 3, 50)
    net = two_layer_net(pkg)
    np.random.seed(1)
    stats = net.train(X, y, X[:10], y[:10], learning_rate=0.1, learning_rate_decay=0.9,
                      reg=1e-3, num_iters=20, batch_size=10)
    return {"loss_history": np.array(stats["loss_history"]), **net.params}


def probe_two_layer_predict(pkg):
    X = rng().standard_normal((6, 4))
    return {"y_pred": two_layer_net(pkg).predict(X)}


def probe_modular_two_layer(pkg):
    """The 2021+ TwoLayerNet (fc_net.py): its seeded initial weights, then scores, loss and
    gradients with and without regularization on image-shaped inputs."""
    np.random.seed(0)
    net = pkg.fc_net.TwoLayerNet(input_dim=12, hidden_dim=7, num_classes=3, weight_scale=0.5)
    outs = {f"init_{key}": value.copy() for key, value in net.params.items()}
    r = rng()
    X, y = r.standard_normal((5, 3, 2, 2)), r.integers(0, 3, 5)
    net.params["b1"] = 0.3 * r.standard_normal(7)  # live and dead hidden units
    outs["scores"] = net.loss(X)
    for reg in (0.0, 0.7):
        net.reg = reg
        outs[f"loss{reg}"], grads = net.loss(X, y)
        outs.update({f"d{key}{reg}": value for key, value in grads.items()})
    return outs


def probe_fc_init(pkg):
    np.random.seed(0)
    net = pkg.fc_net.FullyConnectedNet([6, 5], input_dim=4, num_classes=3,
                                       normalization="batchnorm", weight_scale=0.05,
                                       dtype=np.float64)
    return dict(net.params)


def probe_fc_loss(pkg):
    """Train-mode loss and gradients, then test-mode scores, for three set-ups of the net."""
    r = rng()
    X, y = r.standard_normal((6, 4)), r.integers(0, 3, 6)
    outs = {}
    for setup, kwargs in {
        "plain": dict(normalization=None, dropout_keep_ratio=1, reg=0.1),
        "batchnorm": dict(normalization="batchnorm", dropout_keep_ratio=1, reg=0.1),
        "dropout": dict(normalization="layernorm", dropout_keep_ratio=0.7, reg=0.0, seed=3),
    }.items():
        net = pkg.fc_net.FullyConnectedNet([5, 5], input_dim=4, num_classes=3, dtype=np.float64,
                                           **kwargs)
        for key, value in net.params.items():  # nonzero biases and betas, gammas near 1
            net.params[key] = (key.startswith("gamma") + 0.3 * r.standard_normal(value.shape))
        for step in range(2):
            outs[f"{setup}.loss{step}"], grads = net.loss(X, y)
            outs.update({f"{setup}.d{key}{step}": value for key, value in grads.items()})
        outs[f"{setup}.test_scores"] = net.loss(X)
    return outs


class NumpyCalls:
    """A stand-in for a module's ``np`` that counts the calls of numpy functions made through it."""

    def __init__(self):
        self.calls = 0

    def __getattr__(self, name):
        value = getattr(np, name)
        if not callable(value) or isinstance(value, type):
            return value

        def counted(*args, **kwargs):
            self.calls += 1
            return value(*args, **kwargs)

        return counted


def probe_work(module, probe):
    """``probe``'s outputs and the number of numpy calls ``pkg.<module>`` made for them: a
    numeric gradient makes some for every entry, a derived one a fixed few."""

    def run(pkg):
        counter, target = NumpyCalls(), getattr(pkg, module)
        saved, target.np = target.np, counter
        try:
            return {**probe(pkg), "numpy calls": counter.calls}
        finally:
            target.np = saved

    return run


PROBES = {
    # TwoLayerNet
    "tln-forward-no-relu": probe_two_layer_loss,
    "tln-relu-on-scores": probe_two_layer_loss,
    "tln-reg-extra-half": probe_two_layer_loss,
    "tln-softmax-no-max-shift": probe_two_layer_loss,
    "tln-data-loss-summed": probe_two_layer_loss,
    "tln-reg-grad-missing-factor-2": probe_two_layer_loss,
    "tln-backward-no-relu-gate": probe_two_layer_loss,
    "tln-numeric-gradients": probe_work("neural_net", probe_two_layer_loss),
    "tln-train-first-batch-only": probe_two_layer_train,
    "tln-train-fixed-seed-batch": probe_two_layer_train,
    "tln-train-labels-resampled": probe_two_layer_train,
    "tln-train-lr-decay-every-iteration": probe_two_layer_train,
    "tln-train-gradient-ascent": probe_two_layer_train,
    "tln-predict-max-not-argmax": probe_two_layer_predict,
    "tln-predict-argmax-wrong-axis": probe_two_layer_predict,
    # TwoLayerNet of the modular flow (fc_net.py)
    "tln-modular-init-uniform": probe_modular_two_layer,
    "tln-modular-init-transposed": probe_modular_two_layer,
    "tln-modular-forward-no-relu": probe_modular_two_layer,
    "tln-modular-reg-no-half": probe_modular_two_layer,
    "tln-modular-backward-no-relu-gate": probe_modular_two_layer,
    "tln-modular-reg-grad-missing": probe_modular_two_layer,
    # layers
    "affine-forward-no-reshape": probe_affine,
    "affine-forward-caches-reshaped-x": probe_affine,
    "affine-backward-dx-not-reshaped": probe_affine_backward,
    "affine-backward-dw-unreshaped-x": probe_affine_backward,
    "affine-backward-db-mean": probe_affine_backward,
    "affine-backward-numeric": probe_work("layers", probe_affine_backward),
    "relu-forward-np-max": probe_relu,
    "relu-backward-masks-dout": probe_relu,
    "relu-backward-gradient-check": probe_work("layers", probe_relu),
    "softmax-no-max-shift": probe_softmax,
    "softmax-loss-summed": probe_softmax,
    "softmax-grad-not-averaged": probe_softmax,
    "softmax-loss-hand-loop": probe_work("layers", probe_softmax),
    "batchnorm-no-running-update": probe_batchnorm_forward,
    "batchnorm-running-momentum-swapped": probe_batchnorm_forward,
    "batchnorm-eps-outside-sqrt": probe_batchnorm_forward,
    "batchnorm-test-uses-batch-stats": probe_batchnorm_forward,
    "batchnorm-backward-no-mean-terms": probe_batchnorm_backward("batchnorm_backward"),
    "batchnorm-backward-no-variance-path": probe_batchnorm_backward("batchnorm_backward"),
    "batchnorm-alt-missing-xhat-term": probe_batchnorm_backward("batchnorm_backward_alt"),
    "batchnorm-alt-forgets-gamma": probe_batchnorm_backward("batchnorm_backward_alt"),
    "layernorm-wrong-axis": probe_layernorm,
    "layernorm-backward-batchnorm-axis": probe_layernorm,
    "layernorm-backward-dgamma-per-example": probe_layernorm,
    "dropout-not-inverted": probe_dropout,
    "dropout-mask-drop-probability": probe_dropout,
    "dropout-drop-probability-2017": probe_dropout,
    "dropout-mask-shared-across-batch": probe_dropout,
    "dropout-at-test-time": probe_dropout,
    "dropout-test-scaled-by-p": probe_dropout,
    "dropout-backward-unscaled-mask": probe_dropout,
    # optim
    "momentum-sign-reversed": probe_optimizer("sgd_momentum"),
    "momentum-velocity-not-stored": probe_optimizer("sgd_momentum"),
    "rmsprop-eps-inside-sqrt": probe_optimizer("rmsprop"),
    "rmsprop-decay-swapped": probe_optimizer("rmsprop"),
    "adam-t-incremented-late": probe_optimizer("adam"),
    "adam-no-bias-correction": probe_optimizer("adam"),
    # FullyConnectedNet
    "fc-init-weights-not-scaled": probe_fc_init,
    "fc-init-random-biases": probe_fc_init,
    "fc-init-norm-on-last-layer": probe_fc_init,
    "fc-relu-on-last-layer": probe_fc_loss,
    "fc-shared-bn-param": probe_fc_loss,
    "fc-reg-missing-half": probe_fc_loss,
    "fc-reg-consistent-no-half": probe_fc_loss,
    "fc-reg-grad-missing": probe_fc_loss,
    "fc-reg-biases-too": probe_fc_loss,
    "fc-dropout-backward-skipped": probe_fc_loss,
    # layer_utils.py's module-level region: a helper there that shadows a layer
    "fc-utils-helper-shadows-relu-backward": probe_fc_loss,
}


def run_probe(probe, pkg) -> dict:
    """The probe's outputs, or {"raised": <exception name>} if the code under test raised."""
    try:
        with np.errstate(all="ignore"):
            return {key: np.asarray(value) for key, value in probe(pkg).items()}
    except Exception as err:  # a mistake may crash: that is a difference too
        return {"raised": np.asarray(type(err).__name__)}


def differences(expected: dict, actual: dict) -> list[str]:
    """Names of the outputs that differ (missing, extra, other shape, or not close)."""
    diff = sorted(set(expected) ^ set(actual))
    for key in sorted(set(expected) & set(actual)):
        a, b = expected[key], actual[key]
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            diff.append(key)
        elif a.dtype.kind in "fc" and not np.allclose(a, b, rtol=PROBE_RTOL, atol=PROBE_ATOL):
            diff.append(key)
        elif a.dtype.kind not in "fc" and not np.array_equal(a, b):
            diff.append(key)
    return diff


# --- the real catalogue ----------------------------------------------------------------------

def test_real_catalogue_loads(catalogue, course):
    """Does autograder/mistakes.toml load, with at least MIN_MISTAKES mistakes on known assignments
    (each in a module of its assignment, in the mistake's flow)?"""
    assert len(catalogue) >= MIN_MISTAKES
    for mistake in catalogue.values():
        assert mistake.assignment in course.assignments, mistake.id
        assert mistake.module in mistake_course(course, mistake).assignment(mistake.assignment).modules, mistake.id
    assert {m.flow for m in catalogue.values()} == {"", "modular"}  # both two-layer flows are covered


def test_catalogue_has_the_issue_cases(catalogue):
    """Does the catalogue hold every real case the issue lists (0.5 factors, max shift, adam t, ...)?"""
    assert REQUIRED_IDS <= set(catalogue), sorted(REQUIRED_IDS - set(catalogue))


def test_every_region_has_a_mistake(course):
    """Is every student region of the source targeted by at least one mistake?"""
    assert regions_without_mistakes(course) == []
    table = coverage(course, load_catalogue(CATALOGUE))
    assert len(table) == len(source_regions(course)) > 0
    assert all(table.values())


def test_check_catalogue_is_clean(course):
    """Does check_catalogue find no problem in the real catalogue against the current source?"""
    assert check_catalogue(course) == []


@pytest.mark.parametrize("mistake_id", CATALOGUE_IDS)
def test_mistake_applies_and_compiles(mistake_id, catalogue, patched):
    """Does the mistake patch a fresh copy of its module, leaving valid Python that differs?"""
    mistake = catalogue[mistake_id]
    original = (SOURCE_PACKAGE.parent / mistake.module).read_text(encoding="utf-8")
    text = (patched[mistake_id] / mistake.module).read_text(encoding="utf-8")
    assert text != original
    assert mistake.replace in text
    ast.parse(text, filename=mistake.module)


def test_patched_packages_import(patched):
    """Does every patched copy import (in a fresh interpreter), each under its own name?"""
    script = textwrap.dedent("""
        import importlib, importlib.util, sys
        args = sys.argv[1:]
        failures = []
        for name, folder in zip(args[::2], args[1::2]):
            try:
                spec = importlib.util.spec_from_file_location(
                    name, folder + "/cs231n/__init__.py", submodule_search_locations=[folder + "/cs231n"])
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                for sub in ("layers", "optim", "layer_utils", "solver", "classifiers.fc_net",
                            "classifiers.neural_net"):
                    importlib.import_module(name + "." + sub)
            except Exception as err:
                failures.append(f"{name}: {type(err).__name__}: {err}")
        print("\\n".join(failures))
        sys.exit(1 if failures else 0)
    """)
    args = [item for key, folder in patched.items() for item in (module_name(key), str(folder))]
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                            timeout=IMPORT_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_mistake_has_a_probe():
    """Is there a behaviour probe for every mistake of the catalogue, and none for unknown ids?"""
    assert set(PROBES) == set(CATALOGUE_IDS)


@pytest.fixture(scope="module")
def reference_package(patched):
    return import_copy(patched["reference"], "cs231n_mistake_reference")


def test_probes_are_deterministic(tmp_path, reference_package):
    """Does each probe give the same outputs on a second unpatched copy (so a difference is the mistake's)?"""
    second = import_copy(fresh_copy(tmp_path), "cs231n_mistake_reference_again")
    for probe in {id(probe): probe for probe in PROBES.values()}.values():
        assert differences(run_probe(probe, reference_package), run_probe(probe, second)) == []


@pytest.mark.parametrize("mistake_id", CATALOGUE_IDS)
def test_mistake_changes_behaviour(mistake_id, patched, reference_package):
    """Does the patched code give different outputs from the solution on the mistake's probe?"""
    probe = PROBES[mistake_id]
    expected = run_probe(probe, reference_package)
    assert "raised" not in expected, f"the probe fails on the solution: {expected}"
    actual = run_probe(probe, import_copy(patched[mistake_id], module_name(mistake_id)))
    assert differences(expected, actual), f"{mistake_id}: no output of the probe changed"


# --- bad catalogues ----------------------------------------------------------------------
# A toy module of our own, so that these tests do not move when the solution does.

START = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
END = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
TOY_MODULE = f'''\
def given(w):
    scale = 3  # given code, outside every region
    return w * scale


def step(w):
    {START}
    w = w + 1
    shared = 2
    {END}
    return w * shared


def other(w):
    {START}
    shared = 2
    w = w * 5
    {END}
    return w + shared
'''

ENTRY = r'''
[[mistake]]
id = "{id}"
assignment = "fc_net"
module = "cs231n/toy.py"
function = "{function}"
find = {find}
replace = "w = w - 1\n"
summary = "s"
hint = "h"
signature = "g"
'''
GOOD_FIND = "w = w + 1\n"


def write_catalogue(tmp_path, *entries):
    path = tmp_path / "mistakes.toml"
    path.write_text("".join(entries), encoding="utf-8")
    return path


def entry(id="bad-one", function="step", find=GOOD_FIND):
    return ENTRY.format(id=id, function=function, find=json.dumps(find))


def test_bad_catalogue_duplicate_id(tmp_path):
    """Is a repeated id rejected, naming the id?"""
    path = write_catalogue(tmp_path, entry("twice"), entry("twice"))
    with pytest.raises(MistakeError, match="mistake 'twice'.*repeats the id"):
        load_catalogue(path)


def test_bad_catalogue_unknown_key(tmp_path):
    """Is an unknown key rejected, naming the mistake id and the key?"""
    path = write_catalogue(tmp_path, entry("typo-key") + 'sumary = "x"\n')
    with pytest.raises(MistakeError, match="mistake 'typo-key' has an unknown key 'sumary'"):
        load_catalogue(path)


def test_bad_catalogue_missing_key_and_wrong_type(tmp_path):
    """Are a missing key and a non-string value rejected, naming the id and the key?"""
    missing = entry("no-hint").replace('hint = "h"\n', "")
    with pytest.raises(MistakeError, match="mistake 'no-hint' is missing the key 'hint'"):
        load_catalogue(write_catalogue(tmp_path, missing))
    wrong = entry("number-hint").replace('hint = "h"', "hint = 3")
    with pytest.raises(MistakeError, match="mistake 'number-hint', key 'hint' must be a string"):
        load_catalogue(write_catalogue(tmp_path, wrong))


def test_bad_catalogue_id_not_kebab_case(tmp_path):
    """Is an id that is not kebab-case rejected, naming it?"""
    with pytest.raises(MistakeError, match="mistake 'Bad_Id', key 'id' must be kebab-case"):
        load_catalogue(write_catalogue(tmp_path, entry("Bad_Id")))


def test_catalogue_entries_are_frozen(tmp_path):
    """Can a loaded mistake not be changed mid-run?"""
    (mistake,) = load_catalogue(write_catalogue(tmp_path, entry("frozen")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        mistake.find = "x"


def apply_to_toy(tmp_path, text) -> Path:
    (mistake,) = load_catalogue(write_catalogue(tmp_path, text))
    module = tmp_path / "track" / "cs231n" / "toy.py"
    module.parent.mkdir(parents=True)
    module.write_text(TOY_MODULE, encoding="utf-8")
    apply_mistake(mistake, tmp_path / "track")
    return module


def test_good_entry_applies(tmp_path):
    """Does a well-formed entry patch its region, and only there?"""
    module = apply_to_toy(tmp_path, entry("fine"))
    assert module.read_text() == TOY_MODULE.replace("w = w + 1\n", "w = w - 1\n")


def test_snippet_not_found(tmp_path):
    """Is a snippet that is not in the module an error naming the mistake?"""
    with pytest.raises(MistakeError, match="mistake 'gone'.*not in the module"):
        apply_to_toy(tmp_path, entry("gone", find="w = w + 2\n"))


def test_snippet_found_twice(tmp_path):
    """Is a snippet that occurs more than once an error naming the mistake?"""
    with pytest.raises(MistakeError, match="mistake 'twice-found'.*occurs 2 times"):
        apply_to_toy(tmp_path, entry("twice-found", find="shared = 2\n"))


def test_snippet_outside_the_region(tmp_path):
    """Is a snippet of given code (outside every region) an error naming the mistake?"""
    with pytest.raises(MistakeError, match="mistake 'given-code'.*outside every START/END region"):
        apply_to_toy(tmp_path, entry("given-code", function="given", find="scale = 3"))


def test_snippet_straddling_a_marker(tmp_path):
    """Is a snippet that runs past the END marker an error naming the mistake?"""
    with pytest.raises(MistakeError, match="mistake 'straddle'.*outside every START/END region"):
        apply_to_toy(tmp_path, entry("straddle", find=f"shared = 2\n    {END}\n    return w * shared"))


def test_snippet_in_another_functions_region(tmp_path):
    """Is a snippet in a region of another function an error naming the mistake and the function?"""
    with pytest.raises(MistakeError, match="mistake 'wrong-function'.*region of step, not of other"):
        apply_to_toy(tmp_path, entry("wrong-function", function="other"))


def test_missing_module_names_the_mistake(tmp_path):
    """Is a folder without the mistake's module an error naming the mistake?"""
    (mistake,) = load_catalogue(write_catalogue(tmp_path, entry("no-module")))
    with pytest.raises(MistakeError, match="mistake 'no-module'.*does not exist"):
        apply_mistake(mistake, tmp_path / "empty")


def test_check_catalogue_fails_loudly(course, tmp_path):
    """When the solution changes, does check_catalogue name the stale mistake and the uncovered regions?"""
    (stale,) = load_catalogue(write_catalogue(tmp_path, entry("stale")))
    stale = dataclasses.replace(stale, module="cs231n/optim.py", function="adam",
                                find="this line is in no solution\n")
    problems = check_catalogue(course, [stale])
    assert any("mistake 'stale'" in problem and "not in the module" in problem for problem in problems)
    uncovered = regions_without_mistakes(course, [stale])
    assert len(uncovered) == len(source_regions(course))
    assert any("optim.py, adam" in region for region in uncovered)
    assert all(region in " ".join(problems) for region in uncovered)


# --- the signatures of the issue's key cases ---------------------------------------------

GRAD_RTOL = 1e-6  # analytic vs centred-difference gradient, as the grader's checks use
NUMERIC_STEP = 1e-5
NORM_FLOOR = 1e-12
LOSS_SHIFT_RTOL = 1e-9  # loss - reference against the regularisation term
REG = 0.1


def rel_error(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), NORM_FLOOR))


def numeric_gradient(f, w):
    """Centred differences of the scalar f() with respect to every entry of w (in place)."""
    grad = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        old = w[index]
        w[index] = old + NUMERIC_STEP
        plus = f()
        w[index] = old - NUMERIC_STEP
        minus = f()
        w[index] = old
        grad[index] = (plus - minus) / (2 * NUMERIC_STEP)
    return grad


def reg_setup(pkg, kind):
    """(loss of the net, its analytic dW1, W1, the regularisation term reg/2 * sum(W**2) summed)."""
    r = rng()
    X, y = r.standard_normal((6, 4)), r.integers(0, 3, 6)
    if kind == "two_layer":
        net = two_layer_net(pkg)
        loss_of = lambda: net.loss(X, y, reg=REG)  # noqa: E731
    else:
        net = pkg.fc_net.FullyConnectedNet([5], input_dim=4, num_classes=3, reg=REG, dtype=np.float64)
        for key, value in net.params.items():
            net.params[key] = 0.3 * r.standard_normal(value.shape)
        loss_of = lambda: net.loss(X, y)  # noqa: E731
    loss, grads = loss_of()
    half_term = 0.5 * REG * sum(np.sum(w * w) for k, w in net.params.items() if k.startswith("W"))
    dW1_numeric = numeric_gradient(lambda: loss_of()[0], net.params["W1"])
    return loss, grads["W1"], dW1_numeric, half_term


@pytest.mark.parametrize("mistake_id, kind, loss_shift, grads_consistent", [
    ("tln-reg-extra-half", "two_layer", -1.0, False),  # loss short by reg/2 * sum(W**2)
    ("tln-reg-grad-missing-factor-2", "two_layer", 0.0, False),
    ("fc-reg-missing-half", "fc", +1.0, False),  # loss over by reg/2 * sum(W**2)
    ("fc-reg-consistent-no-half", "fc", +1.0, True),  # only the reference comparison catches it
    ("fc-reg-grad-missing", "fc", 0.0, False),
])
def test_regularisation_mistakes_have_their_signature(mistake_id, kind, loss_shift, grads_consistent,
                                                      patched, reference_package):
    """Is loss - reference exactly the expected multiple of reg/2 * sum(W**2), and does the
    gradient check fail (or, for the consistent variant, pass) as the catalogue says?"""
    ref_loss, ref_dW1, ref_numeric, half_term = reg_setup(reference_package, kind)
    assert rel_error(ref_dW1, ref_numeric) < GRAD_RTOL
    loss, dW1, numeric, _ = reg_setup(import_copy(patched[mistake_id], module_name(mistake_id)), kind)
    assert loss - ref_loss == pytest.approx(loss_shift * half_term, rel=LOSS_SHIFT_RTOL, abs=PROBE_ATOL)
    assert (rel_error(dW1, numeric) < GRAD_RTOL) == grads_consistent
    if grads_consistent:
        assert rel_error(dW1, ref_dW1) > GRAD_RTOL  # but it differs from the reference gradient


@pytest.mark.parametrize("mistake_id", ["tln-softmax-no-max-shift", "softmax-no-max-shift"])
def test_unshifted_softmax_only_fails_on_large_scores(mistake_id, patched, reference_package):
    """Is the unshifted softmax exact on small scores and non-finite on scores around 1000?"""
    probe = PROBES[mistake_id]
    expected = run_probe(probe, reference_package)
    actual = run_probe(probe, import_copy(patched[mistake_id], module_name(mistake_id)))
    changed = differences(expected, actual)
    assert changed and all(key.startswith("big_") for key in changed)
    assert not np.isfinite(actual["big_loss"])
