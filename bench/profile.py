"""Where a grade's time goes: ``coursekit grade`` of the solutions track, timed as a user runs it.

Fast mode (``--fast``) is timed from outside (the command's wall time) in alternating rounds,
side by side with a baseline tree when one is given (``--profile-baseline DIR``: another checkout of
the course, such as the main branch; its own ``coursekit`` and ``solutions/`` run, with this
Python), and by stage from the grade's own ``results.json`` (``extra_data.seconds``: building
the checks, staging, the sandbox, the child's start and tasks, judging, reports).  What the
grade does not time itself (the interpreter's start, the imports, reading course.toml,
printing, the exit) is the command's wall time minus its ``execution_time``.  A full grade
is timed the same way on a copy of the solutions track that holds a saved model (the course's
reference architecture, untrained: scoring costs the same whatever its accuracy).  The floor:
the sandbox around a program that does nothing, and around ``python -c 'import numpy'``.

Both trees write their bytecode to one private folder (``PYTHONPYCACHEPREFIX``), so neither
compiles at every run and nothing is written into either checkout.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import ROOT, Mode, Row, skipped

SECTION = "profile"
FAST_TARGET = "<= 1.0 s"
FULL_TARGETS = {"fc_net": "<= 8 s", "two_layer_net": "<= 4 s"}
ASSIGNMENTS = ("fc_net", "two_layer_net")
ROUNDS = {"full": 7, "quick": 5, "tiny": 1}  # fast grades per tree and assignment (after one warm-up)
FULL_ROUNDS = {"full": 3, "quick": 1, "tiny": 0}
FLOOR_RUNS = {"full": 11, "quick": 11, "tiny": 2}  # the first warms the caches and is not counted
COMMAND_TIMEOUT = 600


def run(mode: Mode, baseline: Path | None = None) -> list[Row]:
    """Tiny mode: one fast grade of two_layer_net and a short floor (the rows, not the figures)."""
    from coursekit.config import load_config
    from coursekit.data.dataset import cifar10_problem

    trees = {"this tree": ROOT, **({"baseline": Path(baseline).resolve()} if baseline else {})}
    course = load_config(ROOT / "course.toml")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"),
               "CIFAR10_DIR": str(course.data.cifar10_dir)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        rows = []
        for assignment in ASSIGNMENTS[-1:] if mode.tiny else ASSIGNMENTS:
            rows += _fast_rows(assignment, trees, ROUNDS[mode.name], Path(tmp), env)
        rows += _floor_rows(FLOOR_RUNS[mode.name])
        problem = "tiny mode" if mode.tiny else cifar10_problem(course.data.cifar10_dir)
        for assignment in ASSIGNMENTS:
            if problem:
                rows.append(skipped(SECTION, f"coursekit grade {assignment} (full)", "s", problem,
                                    FULL_TARGETS[assignment]))
            else:
                rows += _full_rows(assignment, trees, FULL_ROUNDS[mode.name], Path(tmp), env)
    return rows


def grade_command(root: Path, assignment: str, folder: Path, results: Path, fast: bool) -> list[str]:
    return [sys.executable, "-m", "coursekit", "--config", str(root / "course.toml"), "grade", assignment,
            str(folder), "--results", str(results), *(["--fast"] if fast else [])]


def timed_grade(root: Path, assignment: str, folder: Path, results: Path, fast: bool, env: dict) -> dict:
    """One grade as a user runs it: {"wall", "score", "max", "seconds" (by stage), "execution"}."""
    start = time.perf_counter()
    proc = subprocess.run(grade_command(root, assignment, folder, results, fast), cwd=root,
                          env={**env, "PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(proc.args)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    found = json.loads(results.read_text())
    extra = found.get("extra_data", {})
    return {"wall": wall, "score": found["score"], "max": extra.get("max_score"),
            "execution": found.get("execution_time", 0.0), "seconds": extra.get("seconds", {})}


def _alternate(runs: dict, rounds: int) -> dict[str, list[dict]]:
    """Each named run once untimed (bytecode, caches), then ``rounds`` times in turn: A B A B ..."""
    for run in runs.values():
        run()
    timings: dict[str, list[dict]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            timings[name].append(run())
    return timings


def _fast_rows(assignment: str, trees: dict, rounds: int, tmp: Path, env: dict) -> list[Row]:
    runs = {name: (lambda root=root, name=name: timed_grade(
        root, assignment, root / "solutions" / assignment, tmp / f"{name}-{assignment}.json", True, env))
        for name, root in trees.items()}
    load = os.getloadavg()[0]
    timings = _alternate(runs, rounds)
    return _rows(f"coursekit grade {assignment} --fast", timings, FAST_TARGET, load)


def _full_rows(assignment: str, trees: dict, rounds: int, tmp: Path, env: dict) -> list[Row]:
    folders = {name: with_saved_model(root, assignment, tmp / f"full-{name}-{assignment}")
               for name, root in trees.items()}
    runs = {name: (lambda root=root, name=name: timed_grade(
        root, assignment, folders[name], tmp / f"full-{name}-{assignment}.json", False, env))
        for name, root in trees.items()}
    load = os.getloadavg()[0]
    timings = _alternate(runs, rounds)
    return _rows(f"coursekit grade {assignment} (full, with a saved model)", timings,
                 FULL_TARGETS[assignment], load)


def _rows(name: str, timings: dict[str, list[dict]], target: str, load: float) -> list[Row]:
    """The median wall time (and the ratio to the baseline, pair by pair), then one row per stage."""
    mine = timings["this tree"]
    walls = [t["wall"] for t in mine]
    detail = (f"min {min(walls):.2f}, max {max(walls):.2f}, {len(walls)} runs; "
              f"score {mine[0]['score']}/{mine[0]['max']}")
    data = {"walls": walls, "load_average_1min_before": load, "load_average_1min_after": os.getloadavg()[0]}
    if "baseline" in timings:
        base = [t["wall"] for t in timings["baseline"]]
        ratio = statistics.median(a / b for a, b in zip(walls, base))
        detail += f"; baseline median {statistics.median(base):.2f} s, ratio {ratio:.2f}"
        data.update(baseline_walls=base, ratio=ratio)
    note = f"wall time, CLI, alternating rounds, load {load:.1f} -> {os.getloadavg()[0]:.1f}"
    rows = [Row(SECTION, name, statistics.median(walls), "s", detail=detail, target=target, note=note, data=data)]
    stages: dict[str, list[float]] = {}
    for t in mine:
        for stage, value in t["seconds"].items():
            if isinstance(value, (int, float)) and stage not in ("checks", "children", "training children"):
                stages.setdefault(stage, []).append(float(value))
        stages.setdefault("outside the grade (interpreter, imports, course.toml, printing, exit)", []).append(
            t["wall"] - t["execution"])
    for stage, values in stages.items():
        rows.append(Row(SECTION, f"  {name}: {stage}", statistics.median(values), "s",
                        detail=f"median of {len(values)}", data={"values": values}))
    return rows


def with_saved_model(root: Path, assignment: str, dest: Path) -> Path:
    """A copy of ``root``'s solutions track of ``assignment`` that holds a saved model in the official
    format (``np.save`` of the params dict): the course's reference architecture, untrained."""
    shutil.copytree(root / "solutions" / assignment, dest, ignore=shutil.ignore_patterns("*.ipynb"))
    from coursekit.config import load_config
    from coursekit.solution import solution_module

    course = load_config(ROOT / "course.toml")
    train = dict(course.assignment(assignment).train)
    rng = np.random.default_rng(0)
    if assignment == "two_layer_net":
        net = solution_module(course, "classifiers.neural_net").TwoLayerNet(3072, train["hidden_size"], 10)
        name = "best_two_layer_net.npy"
    else:
        net = solution_module(course, "classifiers.fc_net").FullyConnectedNet(
            train["hidden_dims"], input_dim=3072, num_classes=10, normalization=train["normalization"],
            dropout_keep_ratio=train["dropout_keep_ratio"], dtype=np.float32)
        name = "best_fc_net.npy"
    params = {key: value.astype(np.float32) + 0.01 * rng.standard_normal(value.shape, dtype=np.float32)
              for key, value in net.params.items()}
    (dest / "cs231n" / "saved").mkdir(parents=True, exist_ok=True)
    np.save(dest / "cs231n" / "saved" / name, params)
    return dest


def _floor_rows(runs: int) -> list[Row]:
    """The sandbox around nothing, and around Python importing numpy: what no grade can beat."""
    from coursekit.grade.sandbox import isolation

    bwrap = isolation.find_bwrap()
    if bwrap is None or isolation._probe(str(bwrap)):
        return [skipped(SECTION, "floor: bubblewrap around nothing / around import numpy", "s",
                        "bubblewrap cannot run here")]
    python = [sys.executable, "-I", "-B"]
    commands = {"floor: python -I -c pass": [*python, "-c", "pass"],
                "floor: python -I -c 'import numpy'": [*python, "-c", "import numpy"],
                "floor: bubblewrap around /usr/bin/true": _sandboxed(bwrap, [isolation.PROBE_COMMAND]),
                "floor: bubblewrap around python -I -c 'import numpy'": _sandboxed(
                    bwrap, [*python, "-c", "import numpy"])}
    rows = []
    for name, argv in commands.items():
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
            walls.append(time.perf_counter() - start)
        walls = walls[1:]  # the first warms the caches
        rows.append(Row(SECTION, name, statistics.median(walls), "s",
                        detail=f"min {min(walls):.3f}, max {max(walls):.3f}, {len(walls)} runs",
                        data={"walls": walls}))
    return rows


def _sandboxed(bwrap: Path, argv: list[str]) -> list[str]:
    """``argv`` in a grade's sandbox (bubblewrap's command line, without the cgroup; its info goes to fd 2)."""
    from coursekit.grade.sandbox import isolation

    return isolation.bwrap_command(bwrap, Path(sys.prefix), Path(sys.prefix), 65534, 2**20, 2, argv)
