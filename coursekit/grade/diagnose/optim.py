"""Predicates for the update rules: the student's steps against a known wrong update, replayed here."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .evidence import Evidence, instead


def momentum(w, dw, c, s, sign=-1.0):
    v = c["momentum"] * s["velocity"] + sign * c["learning_rate"] * dw
    return w + v, {"velocity": v}


def rmsprop(w, dw, c, s, eps_inside=False, swapped=False):
    d = 1 - c["decay_rate"] if swapped else c["decay_rate"]
    cache = d * s["cache"] + (1 - d) * dw * dw
    denom = np.sqrt(cache + c["epsilon"]) if eps_inside else np.sqrt(cache) + c["epsilon"]
    return w - c["learning_rate"] * dw / denom, {"cache": cache}


def adam(w, dw, c, s, late_t=False, corrected=True):
    t = s["t"] + 1
    m = c["beta1"] * s["m"] + (1 - c["beta1"]) * dw
    v = c["beta2"] * s["v"] + (1 - c["beta2"]) * dw * dw
    used = t - 1 if late_t else t
    mt, vt = (m / (1 - c["beta1"] ** used), v / (1 - c["beta2"] ** used)) if corrected else (m, v)
    return w - c["learning_rate"] * mt / (np.sqrt(vt) + c["epsilon"]), {"m": m, "v": v, "t": t}


UPDATES = {"sgd_momentum": momentum, "rmsprop": rmsprop, "adam": adam}


def replay(ev: Evidence, **variant) -> np.ndarray:
    """next_w after every step of the check's update rule, with a variant's wrong formula."""
    inputs, config = ev.inputs("steps"), ev.spec("steps")["config"]["d"]
    state = {k: inputs[v["a"]] for k, v in config.items() if isinstance(v, dict)}
    state.setdefault("t", config.get("t", 0))
    w, steps = inputs["w"], []
    for dw in inputs["dw"]:
        w, new = UPDATES[ev.check](w, dw, config, state, **variant)
        state.update(new)
        steps.append(w)
    return np.array(steps)


def update_is(**variant) -> Callable[[Evidence], bool]:
    """The first step (before any stored state matters) is the variant's, not the reference's."""

    def test(ev: Evidence) -> bool:
        got = ev.out("steps", "w")
        return got is not None and instead(got[0], replay(ev, **variant)[0], ev.ref("steps", "w")[0])

    return test


def state_not_stored(ev: Evidence) -> bool:
    config = ev.spec("steps")["config"]["d"]
    for key, value in config.items():
        got = ev.out("steps", key)
        if isinstance(value, dict) and got is not None and got.shape[1:] == ev.inputs("steps")[value["a"]].shape:
            if all(np.array_equal(step, ev.inputs("steps")[value["a"]]) for step in got):
                return True
    return False
