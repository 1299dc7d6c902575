"""What each change bought: the old variant (bench/variants.py) against the solution code, side by side."""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import replace

import numpy as np

from . import variants
from .common import ROOT, Mode, Row, interleaved_seconds, skipped, use_source
from .nets import NETS, numpy_trainer

SECTION = "compare"


def run(mode: Mode) -> list[Row]:
    use_source()
    from cs231n import layers, optim

    budget = 0.05 if mode.tiny else 1.0 if mode.name == "quick" else 3.0
    shapes = _param_shapes(NETS["wide_dropout"], tiny=mode.tiny)
    rows = [_optimizer(name, old, getattr(optim, name), shapes, budget)
            for name, old in (("adam", variants.adam_allocating),
                              ("sgd_momentum", variants.sgd_momentum_allocating),
                              ("rmsprop", variants.rmsprop_allocating))]
    x = np.random.default_rng(0).standard_normal((200, 64 if mode.tiny else 512), dtype=np.float32)
    rows.append(_dropout(layers, x, budget))
    rows.append(_layer("relu_backward: dout * (x > 0) vs copy + mask assignment",
                       lambda: variants.relu_backward_index(x, x), lambda: layers.relu_backward(x, x), budget))
    rows.append(_two_layer_upcast(mode, budget))
    rows.append(_data_loading(mode))
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


def _optimizer(name: str, old, new, shapes, budget: float) -> Row:
    """One update of every parameter of the [512, 256] net, float32: allocating vs in place."""
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

    seconds = interleaved_seconds({"old": sweep(old, *state()), "new": sweep(new, *state())}, budget)
    return _speedup_row(f"optim.{name}: new arrays vs in place ([512, 256] net, float32)",
                        seconds["old"], seconds["new"])


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
