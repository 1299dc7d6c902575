"""The child side of the grader: runs a student's functions on the grader's inputs.

This file is copied into the child's run folder and run as ``python -I harness.py SPEC_JSON``.
It imports nothing from the kit (the kit is hidden from the child): only the standard
library, numpy, and the submission's ``cs231n`` package.  It never judges anything; it
writes what the student's code returned as one ``.npz`` per task (plain arrays only) and
reports progress as JSON lines on a file descriptor the parent gave it:

    {"event": "start", "task": "affine_forward"}
    {"event": "done", "task": "affine_forward", "ok": true, "offset": 0, "length": 1234}
    {"event": "done", "task": "affine_forward", "ok": false, "error": "ValueError: ..."}
    {"event": "look", "task": "cifar_accuracy.train", "step": 120, "offset": 1234, "length": 5678}

A task's outputs are appended to the output file descriptor (one ``.npz`` per task, at
``offset``, ``length`` bytes).  A training task also hands back its net's weights every
``look_every`` steps ("look"), for the parent to score and, if they clear its bar, to end
the run there.  Before any student code is imported the harness applies
the resource limits of the spec and, in the degraded mode (no bubblewrap), switches to
the spare uid (and the grade's group) it was given.  The saved model is read by a driver of
its own (``load_model``): a pickled ``.npy`` is unpickled here, in the sandbox, never in the
parent.  Every task runs in its own try/except (``SystemExit`` included), so one failing task
does not stop the next.  A task that kills the process is found by the parent as the
one that started and never finished.
"""
import copy
import ctypes
import faulthandler
import importlib
import importlib.machinery
import importlib.util
import inspect
import io
import json
import os
import resource
import signal
import sys
import time
import traceback

import numpy as np

# Bound before any student code is imported, so a submission that patches numpy or json
# cannot change how results are written.
_savez = np.savez
_asarray = np.asarray
_dumps = json.dumps
_write = os.write
_read = os.read
_pwrite = os.pwrite
_frombuffer = np.frombuffer
_float32 = np.float32
_cpu = time.thread_time  # precise; the process clock can tick in whole scheduler ticks
_MAX_ERROR = 1500
MAX_ANSWER_BYTES = 4096  # one line of the parent's (a task id)
# An error the parent shows in full once and in one line everywhere else starts with
# ONCE_MARK, a key, a tab and that one line, then a newline and the full text.
ONCE_MARK = "[once:"
_import_failures = {}  # module name -> the error of its first failed import


class ExplainedOnce(Exception):
    """An error that is the same in every task (a failed import, an older API)."""

    def __init__(self, key, line, text):
        super().__init__(f"{ONCE_MARK}{key}]\t{line}\n{text}")
MB = 1024 * 1024
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
# Imported before the degraded mode's uid switch: a Python under a folder that the spare uid
# cannot read keeps working for what student code commonly imports.
PRELOAD = ("math", "random", "pickle", "copy", "itertools", "functools", "collections", "time", "zipfile",
           "struct", "numbers", "warnings", "builtins", "__future__", "typing", "dataclasses",
           "numpy.linalg", "numpy.random", "numpy.fft")


# --- building arguments ---------------------------------------------------------------

def import_student_module(name):
    """Import a module of the submission; a failure is remembered and raised as ExplainedOnce."""
    if name not in _import_failures:
        try:
            return importlib.import_module(name)
        except BaseException as err:  # noqa: BLE001 - an import may raise anything
            path = name.replace(".", "/") + ".py"
            text = describe(err)[-900:]
            cause = text.splitlines()[-2:]  # the innermost line of the submission and the error
            _import_failures[name] = ExplainedOnce(
                "import " + " / ".join(cause), f"{path} could not be imported ({cause[-1]}), so this was "
                "not run", f"{path} could not be imported:\n{text}\nThe grader runs your modules with "
                "numpy, the standard library and `future` (past.builtins) only. Remove or fix this import "
                "(an import of a package such as torch, or of a file you did not hand in).")
    raise _import_failures[name]


def resolve(target):
    """``"cs231n.layers:affine_forward"`` -> the function (or class) it names."""
    module_name, _, attr = target.partition(":")
    obj = import_student_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def build(item, arrays):
    """One argument: {"a": name} an array (a fresh copy), {"d": {...}} a dict, {"v": x} a value,
    {"t": "float64"} a numpy dtype."""
    if isinstance(item, dict) and "t" in item:
        return np.dtype(item["t"]).type
    if isinstance(item, dict) and "a" in item:
        return arrays[item["a"]].copy()
    if isinstance(item, dict) and "d" in item:
        return {key: build(value, arrays) for key, value in item["d"].items()}
    if isinstance(item, dict) and "v" in item:
        return copy.deepcopy(item["v"])
    return copy.deepcopy(item)


def build_call(spec, arrays):
    args = [build(item, arrays) for item in spec.get("args", [])]
    kwargs = {key: build(item, arrays) for key, item in spec.get("kwargs", {}).items()}
    return args, kwargs


def make_object(spec, arrays):
    """Construct ``spec["init"]`` and overwrite its params with the grader's arrays."""
    init = spec["init"]
    args, kwargs = build_call(init, arrays)
    cls = resolve(init["cls"])
    try:
        obj = cls(*args, **kwargs)
    except TypeError:
        older = older_api(cls, kwargs)
        if older:
            raise older from None
        raise
    for name in init.get("set_params", []):
        obj.params[name] = arrays["param_" + name].copy()
    for i, bn_param in enumerate(getattr(obj, "bn_params", None) or [], start=1):
        for key in ("running_mean", "running_var"):  # statistics the grader gives (test mode)
            if f"{key}{i}" in arrays and isinstance(bn_param, dict):
                bn_param[key] = arrays[f"{key}{i}"].copy()
    return obj


def older_api(cls, kwargs):
    """ExplainedOnce when ``cls`` has the pre-2021 CS231n constructor (dropout=, use_batchnorm=)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    old = [name for name in ("dropout", "use_batchnorm") if name in params]
    new = [name for name in ("dropout_keep_ratio", "normalization") if name in kwargs and name not in params]
    if not old or not new:
        return None
    return ExplainedOnce(
        "older api", f"{cls.__name__} has the CS231n constructor of before 2021, so this was not run",
        f"Your {cls.__name__}.__init__ takes {' and '.join(o + '=' for o in old)} (the CS231n API of "
        f"2017-2020); this course's constructor takes dropout_keep_ratio= (the probability of keeping "
        f"a unit, 1 = no dropout) and normalization= (None, 'batchnorm' or 'layernorm'): rename the "
        f"arguments as in the given code of fc_net.py.")


# --- collecting results ---------------------------------------------------------------

def as_array(value, where):
    """A numeric numpy array, or a TypeError that says what came back instead."""
    if value is None:
        raise TypeError(f"{where} is None (did the function return its result?)")
    arr = _asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where} is a {type(value).__name__} of dtype {arr.dtype}, not numbers")
    return arr


def collect(result, returns, out, where="the return value"):
    """Store the parts of ``result`` named by ``returns`` into ``out``."""
    if isinstance(returns, str):
        out[returns] = as_array(result, where)
    elif isinstance(returns, list):
        if not isinstance(result, (tuple, list)) or len(result) != len(returns):
            kind = type(result).__name__
            raise TypeError(f"{where} should be a tuple of {len(returns)} items, got {kind}"
                            + (f" of {len(result)}" if isinstance(result, (tuple, list)) else ""))
        for index, (part, name) in enumerate(zip(result, returns)):
            if name is not None:
                collect(part, name, out, f"item {index} of {where}")
    elif isinstance(returns, dict):  # {"prefix": "grad_", "keys": [...]}
        if not isinstance(result, dict):
            raise TypeError(f"{where} should be a dict, got {type(result).__name__}")
        keys = returns.get("keys") or sorted(k for k in result if isinstance(k, str))
        for key in keys:
            if key not in result:
                raise KeyError(f"{where} has no key {key!r} (it has {sorted(map(str, result))})")
            out[returns["prefix"] + key] = as_array(result[key], f"{where}[{key!r}]")


def call_target(spec, arrays, obj=None):
    args, kwargs = build_call(spec, arrays)
    func = getattr(obj, spec["method"]) if obj is not None else resolve(spec["target"])
    return func(*args, **kwargs), args


# --- drivers: one per kind of task ----------------------------------------------------

def run_call(spec, arrays):
    """Call a function (or a method of a fresh object) once and keep what it returns."""
    obj = make_object(spec, arrays) if "init" in spec else None
    out = {}
    for step in range(spec.get("warmup", 0)):  # training passes first (batchnorm statistics)
        obj.loss(arrays[f"warm_X{step}"].copy(), arrays[f"warm_y{step}"].copy())
    if spec.get("keep_bn"):
        out.update(bn_statistics(obj))
    if "returns" in spec:  # without it, only the object is made (and its params kept)
        result, args = call_target(spec, arrays, obj)
        collect(result, spec["returns"], out)
    for name, (index, key) in spec.get("after_args", {}).items():  # e.g. updated bn_param
        out[name] = as_array(args[index].get(key), f"argument {index}[{key!r}] after the call")
    if "backward" in spec:  # feed the cache to the backward function
        back = spec["backward"]
        cache = result[back.get("cache_index", 1)]
        dout = arrays[back["dout"]].copy()
        collect(resolve(back["target"])(dout, cache), back["returns"], out, "the backward result")
    if obj is not None and spec.get("keep_params"):
        collect(obj.params, {"prefix": "param_", "keys": None}, out, "self.params")
    return out


def run_grid(spec, arrays):
    """Evaluate the forward pass at x + h*e_i and x - h*e_i for every element of ``wrt``."""
    h = float(spec["h"])
    out = {}
    for name in spec["wrt"]:
        base = arrays[name]
        values = []
        for i in range(base.size):
            pair = []
            for sign in (1.0, -1.0):
                moved = dict(arrays)
                bumped = base.copy()
                bumped.flat[i] += sign * h
                moved[name] = bumped
                obj = make_object(spec, moved) if "init" in spec else None
                result, _ = call_target(spec, moved, obj)
                if spec.get("pick") is not None:
                    result = result[spec["pick"]]
                pair.append(as_array(result, "the forward output").astype(np.float64))
            values.append(pair)
        out["grid_" + name] = _asarray(values)
    return out


def run_optim(spec, arrays):
    """Apply an update rule for several steps, feeding its config back in."""
    func = resolve(spec["target"])
    w = arrays["w"].copy()
    config = build(spec["config"], arrays)
    out = {"w": [], **{key: [] for key in spec["state"]}}
    for step in range(arrays["dw"].shape[0]):
        result = func(w, arrays["dw"][step].copy(), config)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"the update rule should return (next_w, config), got {type(result).__name__}")
        w, config = result
        out["w"].append(as_array(w, "next_w").copy())
        for key in spec["state"]:
            out[key].append(_asarray(as_array(config.get(key), f"config[{key!r}]"), np.float64).copy())
    return {key: _asarray(value) for key, value in out.items()}


def run_train_two_layer(spec, arrays):
    """TwoLayerNet(...).train(...) with the grader's data and hyperparameters."""
    np.random.seed(spec["seed"])
    net = make_object(spec, arrays)
    batches = []  # (sum, size) of each training minibatch, when the grader asks
    if spec.get("record_batches"):
        loss = net.loss

        def recording_loss(X, y=None, **kwargs):
            if y is not None:
                batches.append((float(_asarray(X, np.float64).sum()), len(X)))
            return loss(X, y, **kwargs)

        net.loss = recording_loss
    hand_back_looks(spec, net, lambda: trained_net(net, ["W1", "b1", "W2", "b2"]))
    history = net.train(arrays["X"], arrays["y"], arrays["X_val"], arrays["y_val"], **spec["hyper"])
    out = {"batches": _asarray(batches, np.float64).reshape(-1, 2)} if spec.get("record_batches") else {}
    out.update(trained_net(net, ["W1", "b1", "W2", "b2"]))
    if isinstance(history, dict) and history.get("loss_history") is not None:
        out["loss_history"] = as_array(history["loss_history"], "loss_history")
    return out


def run_solver(spec, arrays):
    """FullyConnectedNet + Solver.train() with the grader's data and hyperparameters."""
    np.random.seed(spec["seed"])
    model = make_object(spec, arrays)
    data = {key: arrays[key] for key in ("X_train", "y_train", "X_val", "y_val")}
    solver = resolve(spec["solver"])(model, data, **build(spec["solver_kwargs"], arrays))
    hand_back_looks(spec, model, lambda: trained_net(model))
    solver.train()
    return trained_net(model)


def trained_net(model, keys=None):
    """A net's weights (``param_<name>``) and batchnorm statistics, as arrays."""
    out = {}
    collect(model.params, {"prefix": "param_", "keys": keys}, out, "the net's params")
    out.update(bn_statistics(model))
    return out


def hand_back_looks(spec, model, snapshot):
    """Hand the net's weights to the parent every ``spec["look_every"]`` training steps (a training
    step is a call of ``model.loss`` with labels, whoever makes it: the student's Solver or ``train``
    method, which the grader does not change).  Before the step after each ``every``-th, the weights
    are those of ``every`` updates; the parent scores them and may stop the run
    (checks/training_rule.py).  A look whose weights cannot be taken is skipped: the end judges them."""
    every, hand_back = spec.get("look_every"), spec.get("hand_back")
    if not every or hand_back is None:
        return
    loss, steps = model.loss, [0]

    def looked_at_loss(X, y=None, *args, **kwargs):
        if y is not None:
            if steps[0] and steps[0] % every == 0:
                try:
                    arrays = snapshot()
                except Exception:  # noqa: BLE001 - unusable weights: the final collect says why
                    arrays = None
                if arrays is not None:
                    hand_back(arrays, steps[0])
            steps[0] += 1
        return loss(X, y, *args, **kwargs)

    model.loss = looked_at_loss


def bn_statistics(model):
    """running_mean{i} and running_var{i} of each of the model's bn_params that has them."""
    out = {}
    for i, bn_param in enumerate(getattr(model, "bn_params", None) or [], start=1):
        for key in ("running_mean", "running_var"):
            if isinstance(bn_param, dict) and bn_param.get(key) is not None:
                out[f"{key}{i}"] = as_array(bn_param[key], f"bn_params[{i - 1}][{key!r}]")
    return out


# --- the analytic driver: is a gradient derived, or computed numerically? --------------

STOPPED_CALLS, STOPPED_TIME, STOPPED_GRADIENT_CHECK = 1, 2, 3  # why a gradient call was stopped
BASE_RUNS = 3  # the forward pass is timed this many times; the fastest run counts
TIMER_REPEAT = 0.01  # CPU seconds between further stops, should student code catch the first


class NumericGradient(BaseException):
    """Raised into student code to stop a gradient that is being computed numerically."""


class NotRun(Exception):
    """A task of a check whose gradient this child found numeric."""


_numeric_checks = set()  # checks whose gradient run_analytic found numeric in this child


def skip_numeric_check(task_id):
    """Skip the other tasks of a check found numeric: the grader's own numeric gradient of a net
    whose loss is numeric takes the square of the time, and the check scores 0 anyway."""
    if task_id.split(".")[0] in _numeric_checks:
        raise NotRun("this check's gradient is computed numerically (its large-input case says how), "
                     "so this was not run")


class Watch:
    """Counts the calls of the watched functions while installed (in every ``cs231n`` module
    that holds them, and on the class for a method), and stops the run past a limit.

    ``targets``: the forward passes, counted; ``numeric``: numeric-gradient helpers
    (``cs231n.gradient_check``), whose first call while armed stops the run.
    """

    def __init__(self, targets, numeric):
        self.targets, self.numeric = list(targets), list(numeric)
        self.calls = self.numeric_calls = self.stopped = 0
        self.limit, self.armed, self.patches = None, False, []

    def stop(self, why):
        self.stopped = self.stopped or why
        raise NumericGradient(why)

    def seen(self, numeric):
        if numeric:
            self.numeric_calls += 1
            if self.armed:
                self.stop(STOPPED_GRADIENT_CHECK)
            return
        self.calls += 1
        if self.armed and self.limit is not None and self.calls > self.limit:
            self.stop(STOPPED_CALLS)

    def install(self):
        for target in self.targets:
            self.patch(target, False)
        for target in self.numeric:
            try:
                self.patch(target, True)
            except BaseException:  # noqa: BLE001 - a helper that cannot be imported cannot be called
                pass

    def patch(self, target, numeric):
        module_name, _, attr = target.partition(":")
        owner = import_student_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            self.seen(numeric)
            return original(*args, **kwargs)

        counted.__name__, counted.__doc__, counted.__wrapped__ = name, original.__doc__, original
        if path:  # a method: on its class, where instances look it up
            self.patches.append((owner, name, vars(owner).get(name, _INHERITED)))
            setattr(owner, name, counted)
            return
        for module in list(sys.modules.values()):  # every module that imported it by name
            module_name = getattr(module, "__name__", None) or ""
            if module_name == "cs231n" or module_name.startswith("cs231n."):
                for key, value in list(vars(module).items()):
                    if value is original:
                        self.patches.append((module, key, value))
                        setattr(module, key, counted)

    def remove(self):
        for owner, name, value in reversed(self.patches):
            if value is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        self.patches = []


_INHERITED = object()  # a method its class did not define itself


def calibrate(x):
    """The harness's own softmax of ``x``: the base time of a function that is its own forward pass."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return np.log(np.exp(shifted).sum(axis=-1)).sum()


class Alarm:
    """A CPU-time limit on one call: NumericGradient is raised into it once the process has used
    ``seconds`` of CPU time (again every TIMER_REPEAT, should student code catch it)."""

    def __init__(self):
        self.armed = self.fired = False

    def run(self, seconds, func, *args):
        def on_timer(signum, frame):
            if self.armed:
                self.fired = True
                raise NumericGradient(STOPPED_TIME)

        previous = signal.signal(signal.SIGPROF, on_timer)
        try:
            self.armed = True
            signal.setitimer(signal.ITIMER_PROF, seconds, TIMER_REPEAT)
            return func(*args)
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, previous)


def time_base(spec, arrays, watch):
    """(CPU seconds, watched calls) of one forward pass: the fastest of BASE_RUNS."""
    best = float("inf")
    for _ in range(BASE_RUNS):
        watch.calls = 0
        start = _cpu()
        if "base" in spec:
            run_call(spec["base"], arrays)
        else:
            calibrate(arrays[spec["calibrate"]])
        best = min(best, _cpu() - start)
    return best, watch.calls


def finishes_small(spec, arrays):
    """1 when the gradient call ``spec["small"]`` ends within ``small_seconds`` of CPU time on the
    small inputs (``small_*``): a gradient too slow on the large input only is numeric; one that
    never ends on a small one either hangs."""
    small = {key[len(SMALL):]: value for key, value in arrays.items() if key.startswith(SMALL)}
    alarm = Alarm()
    try:
        alarm.run(float(spec["small_seconds"]), run_call, spec["small"], small)
    except BaseException:  # noqa: BLE001 - an error is an end too
        return 0 if alarm.fired else 1
    return 1


SMALL = "small_"  # prefix of the small inputs of an analytic task


def run_analytic(spec, arrays):
    """The gradient call ``spec["grad"]`` (a ``call`` spec) on a large input, watched.

    First the forward pass ``spec["base"]`` (or, for a function that is its own forward
    pass, the harness's ``calibrate`` on ``spec["calibrate"]``) is timed in CPU seconds and
    its calls of the watched functions counted.  The gradient call then runs with at most
    ``ratio`` times that CPU time (at least ``floor`` seconds) and ``1 + recomputes`` times
    those calls (at least ``min_calls``); a call of a ``cs231n.gradient_check`` helper, or either
    limit, stops it.
    Stopped for time, it is run once more on the small inputs (``spec["small"]``), to tell a
    numeric gradient from one that never ends.  Returns its outputs (none when stopped) and
    what was measured; the parent judges.
    """
    watch, alarm = Watch(spec["watch"], spec.get("numeric", ())), Alarm()
    try:
        watch.install()
        base_cpu, base_calls = time_base(spec, arrays, watch)
        limit = max(float(spec["ratio"]) * base_cpu, float(spec["floor"]))
        watch.calls = watch.numeric_calls = 0
        watch.limit = max((1 + int(spec["recomputes"])) * max(base_calls, 1), int(spec["min_calls"]))
        start = _cpu()
        try:
            watch.armed = True
            out = alarm.run(limit, run_call, spec["grad"], arrays)
        except BaseException:  # noqa: BLE001 - stopped, or the student's own error
            if not (watch.stopped or alarm.fired):
                raise
            out = {}
        finally:
            watch.armed = False
        cpu = _cpu() - start
    finally:
        watch.remove()
    stopped = watch.stopped or (STOPPED_TIME if alarm.fired else 0)
    small = finishes_small(spec, arrays) if stopped == STOPPED_TIME and "small" in spec else 1
    if stopped or watch.numeric_calls or watch.calls > watch.limit or (cpu > limit and small):
        if small:  # numeric, as the parent judges it (checks/analytic.py)
            _numeric_checks.add(str(spec.get("id", "")).split(".")[0])
        out = {} if stopped else out
    out.update(stopped=stopped, calls=watch.calls, base_calls=base_calls, numeric_calls=watch.numeric_calls,
               cpu=cpu, base_cpu=base_cpu, small_finished=small)
    return {key: _asarray(value) for key, value in out.items()}


# --- import fallback: the course's copy of a module whose own copy fails to import ---------

FALLBACK_DIR = "_coursekit_fallback"  # beside the staged cs231n/ (coursekit/grade/submission.py)
REPLACED_KEY = "_coursekit_replaced"  # in a task's outputs: the replacements so far, as JSON bytes
_replaced = {}  # module name -> why the course's copy was used


class _FallbackLoader:
    """Runs the submission's module; if that raises, runs the course's copy in the same module."""

    def __init__(self, own, kit_path, name):
        self.own, self.kit_path, self.name = own, kit_path, name

    def __getattr__(self, name):  # get_source, is_package, ...: the submission's loader answers
        return getattr(self.own, name)

    def create_module(self, spec):
        return self.own.create_module(spec)

    def exec_module(self, module):
        try:
            self.own.exec_module(module)
        except BaseException as err:  # noqa: BLE001 - any failure of the student's copy
            _run_course_copy(module, self.kit_path, err)
            _replaced[self.name] = _why_replaced(err)


class _FallbackFinder:
    """Finds each module that has a course copy: the submission's own first, the copy if it is missing."""

    def __init__(self, kit_paths):
        self.kit_paths = kit_paths  # module name -> path of the course's copy

    def find_spec(self, name, path=None, target=None):
        if name not in self.kit_paths:
            return None
        own = importlib.machinery.PathFinder.find_spec(name, path)
        if own is None or own.origin is None or not own.has_location:
            _replaced[name] = "it is not in your submission"
            return importlib.util.spec_from_file_location(name, self.kit_paths[name])
        own.loader = _FallbackLoader(own.loader, self.kit_paths[name], name)
        return own


def _run_course_copy(module, kit_path, err):
    """Empty ``module`` and run the course's copy in it; if that fails too, the student's error stands."""
    keep = {k: v for k, v in vars(module).items()
            if k in ("__name__", "__spec__", "__loader__", "__package__", "__path__", "__builtins__")}
    vars(module).clear()
    vars(module).update(keep, __file__=kit_path)
    try:
        with open(kit_path, "rb") as f:
            exec(compile(f.read(), kit_path, "exec"), vars(module))
    except BaseException:  # noqa: BLE001
        raise err from None


def _why_replaced(err):
    """Why the submission's copy was not used, in a few words."""
    if isinstance(err, ModuleNotFoundError) and err.name:
        if err.name.split(".")[0] == "cs231n":
            return f"your copy imports {err.name}, which is not in your submission"
        return f"your copy imports {err.name}, which the grader does not have"
    if isinstance(err, SystemExit):
        return "your copy calls exit() when it is imported"
    line = "".join(traceback.format_exception_only(type(err), err)).strip().splitlines()[-1:] or ["an error"]
    return f"your copy fails to import ({line[0][:200]})"


def install_fallbacks(code_dir):
    """Import the course's copy of a module of ``FALLBACK_DIR`` whenever the submission's fails."""
    root = os.path.join(code_dir, FALLBACK_DIR)
    kit_paths = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                parts = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
                kit_paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(folder, name)
    if kit_paths:
        sys.meta_path.insert(0, _FallbackFinder(kit_paths))


def with_replacements(out):
    """A task's outputs, with the replacements made so far (the parent names them in the feedback)."""
    if _replaced:
        out[REPLACED_KEY] = _frombuffer(_dumps(_replaced).encode(), dtype=np.uint8)
    return out

# --- the saved model, read inside the sandbox -----------------------------------------

MODEL_STRINGS = ("arch", "normalization")  # the kit's .npz: 0-d string arrays
MODEL_FLOATS = ("float32", "float64")
MODEL_KEY_CHARS = 64


def run_load_model(spec, arrays):
    """Load the saved model (the first of ``spec["files"]`` present) and return plain arrays.

    The kit's ``.npz`` is read with ``allow_pickle=False``, its headers checked (dtype, total
    bytes) before any array is built.  The official format, ``np.save`` of the params dict (a
    pickled 0-d object array), is unpickled here only, inside the sandbox.  Out come
    ``param_<key>`` (float32 or float64 only), ``hidden_dims``, ``str_<key>`` (UTF-8 bytes of a
    string field) and ``which_file`` (which of the files was read).
    """
    cap = int(spec["max_bytes"])
    for index, relpath in enumerate(spec["files"]):
        path = os.path.join(spec["root"], relpath)
        if os.path.isfile(path) and not os.path.islink(path):
            break
    else:
        raise FileNotFoundError("no saved model in the submission (looked for " + " and ".join(spec["files"]) + ")")
    params = _load_npz_checked(path, cap) if path.endswith(".npz") else _load_pickled_params(path)
    out, total = {"which_file": _asarray(index)}, 0
    for key, value in params.items():
        if not isinstance(key, str) or not key.isidentifier() or len(key) > MODEL_KEY_CHARS:
            raise ValueError(f"the saved model has a key {str(key)[:80]!r}: keys are names such as 'W1'")
        value = _asarray(value)
        if key in MODEL_STRINGS and value.dtype.kind == "U" and value.size == 1:
            out["str_" + key] = np.frombuffer(str(value.reshape(())).encode()[:4 * MODEL_KEY_CHARS], np.uint8)
        elif key == "hidden_dims" and value.dtype.kind in "iu" and value.ndim == 1 and value.size <= 1000:
            out[key] = value.astype(np.int64)
        elif value.dtype.name in MODEL_FLOATS:
            total += value.nbytes
            if total > cap:
                raise ValueError(f"the saved model's arrays hold more than {cap / 1e6:.0f} MB")
            out["param_" + key] = np.ascontiguousarray(value)
        else:
            raise TypeError(f"'{key}' of the saved model has dtype {value.dtype}: save float32 or float64 arrays")
    return out


def _load_npz_checked(path, cap):
    """The arrays of an .npz, every header read (dtype, shape) before any array is built."""
    import zipfile
    from numpy.lib import format as npy_format

    if not zipfile.is_zipfile(path):
        raise ValueError(f"{os.path.basename(path)} is not a valid .npz file (np.savez writes one)")
    with np.load(path, allow_pickle=False) as archive:
        total = 0
        for name in archive.files:
            with archive.zip.open(name + ".npy") as member:
                version = npy_format.read_magic(member)
                read_header = {(1, 0): npy_format.read_array_header_1_0,
                               (2, 0): npy_format.read_array_header_2_0}.get(version)
                if read_header is None:
                    raise ValueError(f"{os.path.basename(path)}: array {name!r} has .npy version {version}")
                shape, _, dtype = read_header(member)
            total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
            if dtype.hasobject or total > cap:
                raise ValueError(f"{os.path.basename(path)}: array {name!r} has dtype {dtype} and shape {shape} "
                                 f"(plain numbers, at most {cap / 1e6:.0f} MB in all)")
        return {name: archive[name] for name in archive.files}


def _load_pickled_params(path):
    """The params dict of the official format (np.save(path, model.params)); unpickled in the sandbox only."""
    loaded = np.load(path, allow_pickle=True)
    if isinstance(loaded, np.ndarray) and loaded.dtype.hasobject and loaded.shape == ():
        loaded = loaded.item()
    if not isinstance(loaded, dict):
        raise TypeError(f"{os.path.basename(path)} holds a {type(loaded).__name__}, not the params dict "
                        "(save the model with model.save, which does np.save(path, self.params))")
    return loaded


DRIVERS = {"call": run_call, "grid": run_grid, "optim": run_optim, "load_model": run_load_model,
           "train_two_layer": run_train_two_layer, "solver": run_solver, "analytic": run_analytic}


# --- main -----------------------------------------------------------------------------

def describe(err, root=None):
    """The error and the student's own lines that led to it, paths relative to the submission."""
    if isinstance(err, ExplainedOnce):
        return str(err)
    if isinstance(err, SystemExit):
        return f"the code called sys.exit({err.code!r})"
    if isinstance(err, MemoryError):
        return "MemoryError: the code ran out of memory (it allocates too much)"
    root = root or os.getcwd()
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if f.filename.startswith(root) and not f.filename.endswith("harness.py")]
    lines = [f"{os.path.relpath(f.filename, root)}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}"
             for f in frames[-3:]]
    message = "".join(traceback.format_exception_only(type(err), err)).strip()
    lines.append(message.replace(root.rstrip(os.sep) + os.sep, ""))  # e.g. a SyntaxError's "File ..." line
    return "\n".join(lines)[-_MAX_ERROR:]


def _leave_if_forked(main_pid):
    """A copy of this process made by os.fork() in student code must not report anything."""
    if os.getpid() != main_pid:
        os._exit(0)


def poison(hung, root):
    """A trace function that stops any call of a function that hung (or went past a limit) in an
    earlier child: ``hung`` lists [path, function] or [path, function, what it did]."""
    codes = {(os.path.join(root, entry[0]), entry[1]): (entry[0], entry[2] if len(entry) > 2 else
                                                         "did not finish in an earlier check (an endless loop?)")
             for entry in hung}

    def tracer(frame, event, arg):
        key = (frame.f_code.co_filename, frame.f_code.co_name)
        if event == "call" and key in codes:
            path, what = codes[key]
            raise TimeoutError(f"{key[1]} ({path}) {what}, so it was not run again")

    return tracer


def report(fd, event):
    _write(fd, (_dumps(event) + "\n").encode())


def set_limits(limits):
    """Per-process limits (the parent's cgroup and watch bound the whole tree).

    RLIMIT_NPROC counts the processes of the real uid: it bounds a fork bomb where the child
    runs under a spare uid of its own (degraded mode), not where it maps to root (bwrap as root).
    """
    table = [(resource.RLIMIT_CPU, limits["cpu_seconds"]), (resource.RLIMIT_AS, limits["memory_mb"] * MB),
             (resource.RLIMIT_FSIZE, file_size_bytes(limits)), (resource.RLIMIT_CORE, 0)]
    if "max_processes" in limits:
        table.append((resource.RLIMIT_NPROC, limits["max_processes"]))
    for kind, value in table:
        resource.setrlimit(kind, (value, value))


def file_size_bytes(limits):
    return limits["file_size_bytes"] if "file_size_bytes" in limits else limits["file_size_mb"] * MB


def drop_privileges(uid, gid, parent_pid):
    """Degraded mode only: become the spare uid (group: the grade's) for good, with no way back,
    and die with the process that started the harness (the grader, or the namespace's init)."""
    for name in PRELOAD:
        importlib.import_module(name)
    libc = ctypes.CDLL(None, use_errno=True)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        os._exit(97)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    if os.getppid() != parent_pid:
        os._exit(98)  # the process that started the harness is already gone


def write_outputs(fd, out):
    """Append one task's arrays to the output file; (offset, length) for the parent."""
    buffer = io.BytesIO()
    _savez(buffer, **out)
    data = buffer.getvalue()
    offset = os.lseek(fd, 0, os.SEEK_END)
    written = 0
    while written < len(data):
        written += _pwrite(fd, data[written:], offset + written)
    return offset, len(data)


def load_inputs(spec):
    """Each task's input arrays (task id -> name -> array): from the parent's raw file and its index
    in the spec (``inputs_index``: task id -> name -> [dtype, shape, offset]), or from an ``.npz``
    whose names are ``task id/name`` (the self-check's)."""
    index = spec.get("inputs_index")
    if index is None:
        with np.load(spec["inputs"], allow_pickle=False) as data:
            flat = {key: data[key] for key in data.files}
        ids = [task["id"] for task in [*spec["tasks"], *spec.get("asked", [])]]
        return {name: {key[len(name) + 1:]: value for key, value in flat.items() if key.startswith(name + "/")}
                for name in ids}
    with open(spec["inputs"], "rb") as f:
        blob = bytearray(os.fstat(f.fileno()).st_size)  # writable: the arrays are views of it
        f.readinto(blob)
    store = {}
    for name, arrays in index.items():
        store[name] = {}
        for key, (dtype, shape, offset) in arrays.items():
            count = 1
            for size in shape:
                count *= size
            store[name][key] = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape)
    return store


def read_answer(fd):
    """One line the parent wrote on ``fd`` (the id of the next asked task), without its newline."""
    line = b""
    while not line.endswith(b"\n") and len(line) < MAX_ANSWER_BYTES:
        chunk = _read(fd, 1)
        if not chunk:
            break
        line += chunk
    return line.decode(errors="replace").strip()


def run_task(task, arrays, fd, out_fd, root, tracer, main_pid, file_size, report=report):
    """Run one task on its input ``arrays`` and report it: its outputs on ``out_fd``, its start and end on ``fd``
    (and a training task's looks, as it goes: :class:`LookWriter`).  ``report`` is bound here, before any
    student code runs: a submission that replaces the module's ``report`` does not silence the protocol."""
    name = task["id"]
    report(fd, {"event": "start", "task": name})
    looks = LookWriter(fd, out_fd, name, file_size)
    try:
        skip_numeric_check(name)
        sys.settrace(tracer)
        out = with_replacements(DRIVERS[task["driver"]]({**task, "root": root, "hand_back": looks.hand_back}, arrays))
        sys.settrace(None)
        _leave_if_forked(main_pid)
        offset, length = write_outputs(out_fd, out)
        report(fd, {"event": "done", "task": name, "ok": True, "offset": offset, "length": length})
    except BaseException as err:  # noqa: BLE001 - student code may raise anything
        sys.settrace(None)
        _leave_if_forked(main_pid)
        report(fd, {"event": "done", "task": name, "ok": False, "error": describe(err, root)})


class LookWriter:
    """Hands a training task's looks to the parent: float32 arrays in the output file, a "look" line.

    A look is written only while the output file keeps room for three more of its size (the final
    outputs must fit under the file size limit); a write that fails ends the looks, not the task.
    """

    def __init__(self, fd, out_fd, name, file_size):
        self.fd, self.out_fd, self.name, self.file_size, self.on = fd, out_fd, name, file_size, True

    def hand_back(self, out, step, report=report):
        if not self.on:
            return
        out = {k: v.astype(_float32) if v.dtype.kind == "f" else v for k, v in out.items()}
        size = sum(v.nbytes for v in out.values())
        if os.lseek(self.out_fd, 0, os.SEEK_END) + 4 * size > self.file_size:
            self.on = False
            return
        try:
            offset, length = write_outputs(self.out_fd, out)
        except OSError:
            self.on = False
            return
        report(self.fd, {"event": "look", "task": self.name, "step": step, "offset": offset, "length": length})


def map_sealed(fd, layout):
    """The large inputs the parent sealed in memory (sandbox/sealed.py), mapped copy-on-write: no
    read up front, and writes (a Solver that shuffles its data in place) stay this process's."""
    import mmap

    size = os.fstat(fd).st_size
    memory = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    arrays = {}
    for key, (offset, shape, dtype) in layout.items():
        count = int(np.prod(shape, dtype=np.int64))
        arrays[key] = _frombuffer(memory, dtype=np.dtype(dtype), count=count, offset=offset).reshape(shape)
    return arrays


def main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    fd, out_fd = spec["status_fd"], spec["output_fd"]
    send, run, ask = report, run_task, read_answer  # bound before student code can replace them
    store = load_inputs(spec)
    if spec.get("sealed"):
        for key, value in map_sealed(spec["sealed_fd"], spec["sealed"]).items():
            name, _, array = key.rpartition("/")
            store.setdefault(name, {})[array] = value
    if spec.get("drop_uid") is not None:
        drop_privileges(spec["drop_uid"], spec.get("drop_gid", spec["drop_uid"]), spec["parent_pid"])
    set_limits(spec["limits"])
    send(fd, {"event": "ready"})  # Python, numpy and the inputs are loaded: the parent times the start
    sys.path.insert(0, spec["submission"])
    install_fallbacks(spec["submission"])
    main_pid = os.getpid()
    faulthandler.register(signal.SIGUSR1)  # the parent asks where a hung task is stuck
    tracer = poison(spec.get("poisoned", []), spec["submission"]) if spec.get("poisoned") else None
    file_size = file_size_bytes(spec["limits"])
    for task in spec["tasks"]:
        run(task, store.get(task["id"], {}), fd, out_fd, spec["submission"], tracer, main_pid, file_size)
    # Asked tasks (the numeric gradients) run in the order the parent names, as long as it names
    # one: the parent leaves out those that no judgement needs (see coursekit/grade/checks/needed.py).
    asked = {task["id"]: task for task in spec.get("asked", [])}
    while asked:
        send(fd, {"event": "next"})
        task = asked.pop(ask(spec["ask_fd"]), None)
        if task is None:
            break
        run(task, store.get(task["id"], {}), fd, out_fd, spec["submission"], tracer, main_pid, file_size)
    send(fd, {"event": "end"})


if __name__ == "__main__":
    if len(sys.argv) > 2:  # started ahead: Python and numpy are loaded; the spec is written when the tasks are
        read_answer(int(sys.argv[2]))
    main(sys.argv[1])
    os._exit(0)  # everything went out on file descriptors: no interpreter teardown (milliseconds) to wait for
