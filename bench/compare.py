"""What each change bought: the old variant (bench/variants.py) against the solution code, side by side."""
from __future__ import annotations

import resource
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import alone, variants
from .common import ROOT, SOURCE, Mode, Row, interleaved_seconds, skipped, use_source
from .nets import NETS, numpy_trainer

SECTION = "compare"


def run(mode: Mode, baseline_package: tuple[str, str] | None = None) -> list[Row]:
    """``baseline_package``: (revision, import name) from bench/baseline.py, or None."""
    use_source()
    from cs231n import layers, optim

    budget = 0.05 if mode.tiny else 1.0 if mode.name == "quick" else 3.0
    shapes = _param_shapes(NETS["wide_dropout"], tiny=mode.tiny)
    rows = [_optimizer(f"optim.{name}: new arrays vs in place", old, getattr(optim, name), shapes, budget)
            for name, old in (("adam", variants.adam_allocating),
                              ("sgd_momentum", variants.sgd_momentum_allocating),
                              ("rmsprop", variants.rmsprop_allocating))]
    rows.append(_adam_in_training("optim.adam: zero m and v built at every step (setdefault) vs once",
                                  variants.adam_state_every_step, mode, budget))
    rows.append(_adam_in_training("optim.adam: mt, vt and sqrt(vt) + eps as three temporaries vs one",
                                  variants.adam_three_temporaries, mode, budget))
    alone = _optimizer("optim.adam as written vs in cache-sized blocks (not adopted)", optim.adam,
                       variants.adam_in_cache_blocks, shapes, budget)
    alone.note += "; not a change"
    rows.append(alone)
    blocks = _adam_in_training("optim.adam as written vs in cache-sized blocks (not adopted)",
                               None, mode, budget, new_rule=variants.adam_in_cache_blocks)
    blocks.note += "; not a change: the solution keeps the update rule as the notebook writes it"
    rows.append(blocks)
    x = np.random.default_rng(0).standard_normal((200, 64 if mode.tiny else 512), dtype=np.float32)
    rows.append(_dropout(layers, x, budget))
    rows.append(_layer(f"dropout_forward: float64 np.random.rand draws, cast vs float32 Generator draws {x.shape}",
                       lambda: variants.dropout_forward_rand_cast(x, {"mode": "train", "p": 0.75}),
                       lambda: layers.dropout_forward(x, {"mode": "train", "p": 0.75}), budget))
    rows.append(_layer("relu_backward: dout * (x > 0) vs copy + mask assignment",
                       lambda: variants.relu_backward_index(x, x), lambda: layers.relu_backward(x, x), budget))
    rows.append(_first_layer_dx(layers, mode, budget))
    W = np.random.default_rng(1).standard_normal((64, 64) if mode.tiny else (3072, 512), dtype=np.float32)
    rows.append(_layer(f"regularization loss: np.sum(W * W) vs np.vdot(W, W), W {W.shape}",
                       lambda: variants.reg_loss_sum_of_product(W), lambda: np.vdot(W, W), budget))
    rows.append(_relu_gate(mode, budget))
    rows += [_batchnorm_backward(layers, (8, d // 8) if mode.tiny else (200, d), budget) for d in (100, 512)]
    rows.append(_two_layer_upcast(mode, budget))
    rows.append(_data_loading(mode))
    rows.append(_alone(mode, baseline_package))
    return rows


def _param_shapes(spec, tiny: bool) -> list[tuple[int, ...]]:
    dims = [min(d, 64) for d in spec.dims] if tiny else spec.dims
    shapes = []
    for fan_in, fan_out in zip(dims, dims[1:]):
        shapes += [(fan_in, fan_out), (fan_out,)]
    return shapes


def _speedup_row(name: str, old: float, new: float, unit_scale=1e3, unit="ms", detail="") -> Row:
    return Row(SECTION, name, old / new, "x faster",
               detail=f"old {old * unit_scale:.2f} {unit}, new {new * unit_scale:.2f} {unit}" + detail,
               note="same run, interleaved, best of repeats", data={"old_seconds": old, "new_seconds": new})


def _optimizer(label: str, old, new, shapes, budget: float) -> Row:
    """One update of every parameter of the [512, 256] net, float32, by two versions of a rule;
    the detail also gives the minor page faults of a sweep (fresh memory for big temporaries)."""
    rng = np.random.default_rng(0)

    def state():
        params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
        grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
        return params, grads, [{"learning_rate": 1e-4} for _ in shapes]

    def sweep(rule, params, grads, configs):
        def run():
            for i, (w, dw) in enumerate(zip(params, grads)):
                params[i], configs[i] = rule(w, dw, configs[i])
        return run

    sweeps = {"old": sweep(old, *state()), "new": sweep(new, *state())}
    seconds = interleaved_seconds(sweeps, budget)
    faults = {name: _page_faults(run) for name, run in sweeps.items()}
    row = _speedup_row(f"{label} ([512, 256] net, float32)", seconds["old"], seconds["new"],
                       detail=f"; page faults per sweep {faults['old']:,.0f} vs {faults['new']:,.0f}")
    row.data.update(old_page_faults=faults["old"], new_page_faults=faults["new"])
    return row


def _adam_in_training(label: str, old_rule, mode: Mode, budget: float, new_rule=None) -> Row:
    """Solver steps of the wide net with an old adam against today's (or today's against
    ``new_rule``): a big temporary's cost (fresh pages from the allocator) depends on what the
    rest of the step allocates."""
    spec = NETS["wide_dropout"]
    n = 1000 if mode.tiny else 10_000
    X = np.random.default_rng(0).standard_normal((n, 3, 32, 32), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, size=n)
    if mode.tiny:
        spec = replace(spec, hidden_dims=(64, 32), batch_size=8)
    old, new = numpy_trainer(spec, X, y), numpy_trainer(spec, X, y)
    if old_rule is not None:
        old.solver.update_rule = old_rule
    if new_rule is not None:
        new.solver.update_rule = new_rule
    steps = {"old": lambda: old(2), "new": lambda: new(2)}
    seconds = interleaved_seconds(steps, budget, min_repeats=3)
    faults = {name: _page_faults(run) / 2 for name, run in steps.items()}
    row = _speedup_row(f"{label} (Solver step, {list(spec.hidden_dims)} net, float32)",
                       seconds["old"] / 2, seconds["new"] / 2,
                       detail=f" per step; page faults per step {faults['old']:,.0f} vs {faults['new']:,.0f}")
    row.data.update(old_page_faults=faults["old"], new_page_faults=faults["new"])
    return row


def _page_faults(run, repeats: int = 10) -> float:
    """Minor page faults per call of ``run``, averaged over ``repeats`` calls in a row."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        run()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats


def _layer(name: str, old, new, budget: float) -> Row:
    seconds = interleaved_seconds({"old": old, "new": new}, budget)
    return _speedup_row(name, seconds["old"], seconds["new"])


def _dropout(layers, x, budget: float) -> Row:
    param = {"mode": "train", "p": 0.75}
    old_dtype = variants.dropout_forward_float64_mask(x, param)[0].dtype
    new_dtype = layers.dropout_forward(x, param)[0].dtype
    seconds = interleaved_seconds({"old": lambda: variants.dropout_forward_float64_mask(x, param),
                                   "new": lambda: layers.dropout_forward(x, param)}, budget)
    return _speedup_row(f"dropout_forward: float64 mask vs mask in x's dtype {x.shape}",
                        seconds["old"], seconds["new"], detail=f"; output {old_dtype} vs {new_dtype}")


def _first_layer_dx(layers, mode: Mode, budget: float) -> Row:
    """The wide net's first affine_backward, with dx (what the net never uses) and without."""
    rng = np.random.default_rng(2)
    n, d, m = (8, 64, 32) if mode.tiny else (200, 3072, 512)
    x = rng.standard_normal((n, 3, d // 3) if d % 3 == 0 else (n, d), dtype=np.float32)
    w = rng.standard_normal((d, m), dtype=np.float32)
    cache, dout = (x, w, np.zeros(m, np.float32)), rng.standard_normal((n, m), dtype=np.float32)
    return _layer(f"affine_backward, first layer ({n}, {d}) x ({d}, {m}): dx computed vs need_dx=False",
                  lambda: layers.affine_backward(dout, cache), lambda: layers.affine_backward(dout, cache, need_dx=False),
                  budget)


def _relu_gate(mode: Mode, budget: float) -> Row:
    """TwoLayerNet's backward ReLU gate, both on a fresh copy of the upstream gradient."""
    rng = np.random.default_rng(3)
    shape = (8, 16) if mode.tiny else (200, 500)
    hidden = np.maximum(rng.standard_normal(shape, dtype=np.float32), 0)
    dhidden = rng.standard_normal(shape, dtype=np.float32)

    def gate_in_place():
        gated = dhidden.copy()
        gated *= hidden > 0
        return gated

    return _layer(f"TwoLayerNet's ReLU gate: dhidden[hidden <= 0] = 0 vs dhidden *= hidden > 0 {shape}",
                  lambda: variants.relu_gate_mask_assignment(dhidden, hidden), gate_in_place, budget)


def _batchnorm_backward(layers, shape, budget: float) -> Row:
    """batchnorm_backward (node by node, what the nets call) against batchnorm_backward_alt
    (the closed form): how much the compact form would buy the deep nets."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape, dtype=np.float32)
    gamma, beta = np.ones(shape[1], np.float32), np.zeros(shape[1], np.float32)
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dout = rng.standard_normal(shape, dtype=np.float32)
    row = _layer(f"batchnorm backward: node by node (the nets') vs closed form (_alt) {shape}",
                 lambda: layers.batchnorm_backward(dout, cache), lambda: layers.batchnorm_backward_alt(dout, cache),
                 budget)
    row.note += "; not a change: the nets keep the node-by-node pass"
    return row


def _alone(mode: Mode, baseline_package) -> Row:
    """The wide net trained alone in a fresh process, the baseline's code against today's, in
    turns: what a notebook pays, page faults included (see bench/alone.py)."""
    name = "wide net Solver step, each alone in a fresh process: baseline vs now"
    if baseline_package is None:
        return skipped(SECTION, name, "x faster", "needs --baseline REV")
    import sys

    revision, package = baseline_package
    dirs = {"old": Path(sys.modules[package].__path__[0]), "new": SOURCE / "cs231n"}
    steps, batch = (2, 8) if mode.tiny else (10, None) if mode.name == "quick" else (30, None)
    runs = {"old": [], "new": []}
    for _ in range(2 if mode.tiny else 3):
        for label, folder in dirs.items():
            runs[label].append(alone.measure(folder, "wide_dropout", steps, batch))
    seconds = {k: min(r["seconds_per_step"] for r in v) for k, v in runs.items()}
    faults = {k: sorted(r["page_faults_per_step"] for r in v)[len(v) // 2] for k, v in runs.items()}
    row = _speedup_row(f"{name} ({revision})", seconds["old"], seconds["new"],
                       detail=f" per step; page faults per step {faults['old']:,.0f} vs {faults['new']:,.0f}")
    row.note = f"{len(runs['old'])} processes each, in turns, best of them"
    row.data.update(old_page_faults=faults["old"], new_page_faults=faults["new"], revision=revision)
    return row


def _two_layer_upcast(mode: Mode, budget: float) -> Row:
    """TwoLayerNet's float64 weights on float32 data: every matmul silently runs in float64."""
    spec = NETS["two_layer"]
    n = 1000 if mode.tiny else 10_000
    X = np.random.default_rng(0).standard_normal((n, 3072), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, size=n)
    if mode.tiny:
        spec = replace(spec, batch_size=8)
    cast = numpy_trainer(spec, X, y)  # params cast to float32, as coursekit train does
    upcast = numpy_trainer(spec, X, y)
    upcast.model.params = {k: v.astype(np.float64) for k, v in upcast.model.params.items()}
    seconds = interleaved_seconds({"old": lambda: upcast(2), "new": lambda: cast(2)}, budget, min_repeats=3)
    return _speedup_row("TwoLayerNet step: float64 weights on float32 data vs weights cast to float32",
                        seconds["old"] / 2, seconds["new"] / 2, detail=" per step")


def _data_loading(mode: Mode) -> Row:
    name = "get_CIFAR10_data: starter loader (float64, copies) vs data_utils (float32)"
    if mode.tiny:
        return skipped(SECTION, name, "x faster", "tiny mode")
    from coursekit.config import load_config
    from coursekit.data.dataset import cifar10_problem

    folder = load_config(ROOT / "course.toml").data.cifar10_dir
    problem = cifar10_problem(folder)
    if problem:
        return skipped(SECTION, name, "x faster", problem)
    from cs231n.data_utils import get_CIFAR10_data

    loaders = {"old": lambda: variants.get_CIFAR10_data_starter(str(folder)),
               "new": lambda: get_CIFAR10_data(cifar10_dir=str(folder), dtype=np.float32)}
    seconds, peaks = {}, {}
    for label, load in loaders.items():  # one at a time: each needs up to a few GB
        start = time.perf_counter()
        data = load()
        seconds[label] = time.perf_counter() - start
        result_mb = sum(a.nbytes for a in data.values()) / 1e6
        del data
        tracemalloc.start()
        load()
        peaks[label] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    row = _speedup_row(name, seconds["old"], seconds["new"], unit_scale=1, unit="s",
                       detail=f"; peak memory {peaks['old']:,.0f} MB vs {peaks['new']:,.0f} MB "
                              f"(result {result_mb:,.0f} MB in float32)")
    row.note = "one load each (cold vs warm file cache is not controlled)"
    row.data.update(old_peak_mb=peaks["old"], new_peak_mb=peaks["new"])
    return row
