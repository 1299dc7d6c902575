"""Threshold margins: how far correct submissions stay above each CIFAR-10 bar, under the stop rule.

    CIFAR10_DIR=... python autograder/margin.py [--assignments fc_net two_layer_net/modular ...] [--variants reference,keepdims]
        [--seeds 10] [--first-seed 0] [--set fc_net.num_epochs=8 ...] [--json autograder/margin.json] [--tiny]

Every correct variant of ``autograder/margin_variants.toml`` (the solution with small text
patches, other dtypes, or other ``grade_train`` values that make it learn more slowly) is
written to a temp folder as its own ``cs231n`` package and trained in a child process (one
BLAS thread, one variant after another) once per seed, with the grader's protocol
(``coursekit/grade/checks/accuracy.py`` and ``training_rule.py``):

- the net gets the training task's own inputs (the grader's ``DataSlice`` s: for fc_net the
  training split minus its last 1,000 images, which are the Solver's validation data);
- every ``look_every`` steps its weights are taken by the harness's own wrapper of
  ``model.loss`` and scored with the kit's forward pass on the grader's 5,000 held-out test
  images (a batchnorm net's statistics recomputed from 2,000 training images), and on the
  other 4,000 held-out images, which the rule never sees (an independent estimate);
- the run goes on to the end of the schedule whatever the looks say, so one training gives the
  judgment (the first look at or above the bar + 0.03, else the final weights), the CPU seconds
  to it, and the margin at the end of the budget, all three.

It prints, per assignment and per variant, the judged accuracy and its margin over the bar, the
independent estimate at the judged point, the margin at the end of the budget, and the CPU
seconds to the judgment and to the end; it writes every run (its looks included) to the JSON file.
An assignment may be named with a flow, ``two_layer_net/modular``: it is then measured in that
flow of course.toml (its modules, its grade_train), whatever flow the course is on.
``--tiny`` trains on synthetic data for a few steps: it only proves that the script works.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS_FILE = Path(__file__).with_name("margin_variants.toml")
# What is measured: an assignment, or "<assignment>/<flow>" for another flow of it than course.toml's.
SCORED = {"two_layer_net": "test_accuracy", "two_layer_net/modular": "test_accuracy", "fc_net": "val_accuracy"}
MARGIN = 0.03  # the worst correct run must clear the bar by this much
ONE_THREAD = {key: "1" for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
CHILD_TIMEOUT = 3 * 3600  # seconds: only stops a hung child
TRAIN_IMAGES = 49_000  # of the course's split (coursekit/data/split.py)
INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10
TINY_SIZES = {"train": 400, "val": 100, "test": 100, "heldout": 200}  # synthetic images per split (--tiny)
TINY_GRADE_TRAIN = {
    "two_layer_net": {"hidden_size": 10, "num_iters": 20, "batch_size": 50, "look_every": 5},
    "two_layer_net/modular": {"hidden_dim": 10, "num_epochs": 1, "batch_size": 50, "look_every": 2},
    "fc_net": {"hidden_dims": [10, 10], "num_epochs": 1, "batch_size": 50, "look_every": 2},
}


class MarginError(Exception):
    """A variant that cannot be built or run; the message names the file and says what to do."""


# ---------------------------------------------------------------- variants (parent side)

def load_variants(path: Path = VARIANTS_FILE) -> list[dict]:
    """The [[variant]] tables of margin_variants.toml, with their defaults filled in."""
    try:
        table = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise MarginError(f"{path}: {err}. Fix the TOML syntax.") from None
    variants = []
    for i, raw in enumerate(table.get("variant", []), start=1):
        missing = {"id", "assignment", "summary"} - set(raw)
        if missing:
            raise MarginError(f"{path}: variant {i} lacks {', '.join(sorted(missing))}.")
        if raw["assignment"] not in SCORED:
            raise MarginError(f"{path}: variant {raw['id']!r} has unknown assignment {raw['assignment']!r}; "
                              f"use one of {', '.join(SCORED)}.")
        variant = {"data_dtype": "float32", "param_dtype": None, "patch": [], "hyper": {}, **raw}
        unknown = sorted(set(variant["hyper"]) - set(grade_train_keys(raw["assignment"])))
        if unknown:
            raise MarginError(f"{path}: variant {raw['id']!r} sets {', '.join(unknown)} in hyper, which the grader's "
                              f"run of {raw['assignment']} does not use; use keys of its grade_train.")
        variants.append(variant)
    return variants


def grade_train_keys(assignment: str) -> tuple[str, ...]:
    """The grade_train keys the grader's run of ``assignment`` (or "<assignment>/<flow>") uses."""
    from coursekit.grade.checks.accuracy import GRADE_TRAIN_KEYS

    assignment_id, _, flow = assignment.partition("/")
    return GRADE_TRAIN_KEYS[assignment_id, flow or ("neural_net" if assignment_id == "two_layer_net" else "")]


def apply_patches(files: dict[str, str], variant: dict, where: str) -> dict[str, str]:
    """``files`` (module path -> text) with every patch of ``variant`` applied."""
    files = dict(files)
    for patch in variant["patch"]:
        module, find = patch["module"], patch["find"]
        if module not in files:
            raise MarginError(f"{where}: variant {variant['id']!r} patches {module}, which the assignment "
                              "does not ship (see course.toml modules).")
        if find not in files[module]:
            raise MarginError(f"{where}: variant {variant['id']!r}: the text to find is not in {module} "
                              f"any more:\n    {find.splitlines()[0]}\nUpdate the patch to the current solution.")
        files[module] = files[module].replace(find, patch["replace"])
    return files


def target_course(course, target: str):
    """(assignment id, the course with that assignment in the target's flow)."""
    assignment, _, flow = target.partition("/")
    return assignment, course.with_flow(assignment, flow) if flow else course


def write_package(course, variant: dict, folder: Path) -> Path:
    """The solution's modules of the variant's assignment (in its flow), patched, written under ``folder``."""
    assignment, course = target_course(course, variant["assignment"])
    modules = course.assignment(assignment).modules
    files = {rel: (course.source_dir / rel).read_text() for rel in modules}
    for rel, text in apply_patches(files, variant, str(VARIANTS_FILE)).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


# ---------------------------------------------------------------- training (child side)

def load_data(spec: dict) -> dict[str, np.ndarray]:
    """CIFAR-10 as the grader loads it (49,000 / 1,000 / 1,000 and the 9,000 held-out test images,
    mean subtracted), or synthetic data of its shape."""
    dtype = np.dtype(spec["data_dtype"])
    if spec["tiny"]:
        rng = np.random.default_rng(0)
        data = {}
        for split, n in TINY_SIZES.items():
            data[f"X_{split}"] = rng.standard_normal((n, 3, 32, 32)).astype(dtype)
            data[f"y_{split}"] = rng.integers(0, NUM_CLASSES, size=n)
        return data
    from coursekit.data.split import load_split

    return load_split(Path(spec["cifar10_dir"]), dtype=dtype, heldout=True)


def train_two_layer(hyper: dict, arrays: dict, seed: int, param_dtype, install) -> object:
    """TwoLayerNet.train as the grader calls it (the harness's train_two_layer driver)."""
    from cs231n.classifiers.neural_net import TwoLayerNet

    np.random.seed(seed)
    net = TwoLayerNet(INPUT_DIM, hyper["hidden_size"], NUM_CLASSES, std=hyper["std"])
    if param_dtype:
        net.params = {k: v.astype(param_dtype) for k, v in net.params.items()}
    install(net)
    keys = ("learning_rate", "learning_rate_decay", "reg", "num_iters", "batch_size")
    net.train(arrays["X"], arrays["y"], arrays["X_val"], arrays["y_val"],
              **{k: hyper[k] for k in keys if k in hyper}, verbose=False)
    return net


def train_modular_two_layer(hyper: dict, arrays: dict, seed: int, param_dtype, install) -> object:
    """The 2021+ TwoLayerNet (fc_net.py) trained by the variant's Solver, as the grader does."""
    from cs231n.classifiers.fc_net import TwoLayerNet
    from cs231n.solver import Solver

    np.random.seed(seed)
    model = TwoLayerNet(input_dim=INPUT_DIM, num_classes=NUM_CLASSES,
                        **{k: hyper[k] for k in ("hidden_dim", "weight_scale", "reg") if k in hyper})
    if param_dtype:
        model.params = {k: v.astype(param_dtype) for k, v in model.params.items()}
    solver = Solver(model, arrays, update_rule=hyper.get("update_rule", "sgd"), verbose=False,
                    optim_config={"learning_rate": hyper.get("learning_rate", 1e-3)},
                    **{k: hyper[k] for k in ("lr_decay", "batch_size", "num_epochs") if k in hyper})
    install(model)
    solver.train()
    return model


def train_fc(hyper: dict, arrays: dict, seed: int, param_dtype, install) -> object:
    """FullyConnectedNet + the variant's Solver and update rule, as the grader does."""
    from cs231n.classifiers.fc_net import FullyConnectedNet
    from cs231n.solver import Solver

    np.random.seed(seed)
    normalization = hyper.get("normalization", "none")
    model = FullyConnectedNet(list(hyper["hidden_dims"]), input_dim=INPUT_DIM, num_classes=NUM_CLASSES,
                              normalization=None if normalization == "none" else normalization,
                              dtype=np.dtype(param_dtype or "float32").type,
                              **{k: hyper[k] for k in ("dropout_keep_ratio", "weight_scale", "reg") if k in hyper})
    solver = Solver(model, arrays, update_rule=hyper.get("update_rule", "adam"), verbose=False,
                    optim_config={"learning_rate": hyper.get("learning_rate", 1e-3)},
                    **{k: hyper[k] for k in ("lr_decay", "batch_size", "num_epochs") if k in hyper})
    install(model)
    solver.train()
    return model


TRAINERS = {"two_layer_net": train_two_layer, "two_layer_net/modular": train_modular_two_layer, "fc_net": train_fc}


class Run:
    """One training under the grader's looks: each look scored on the rule's images and on the
    independent ones, CPU seconds counted without the scoring."""

    def __init__(self, rule, data: dict):
        from coursekit.grade.checks import training_rule

        self.rule, self.tr = rule, training_rule
        held, y = data["X_heldout"], data["y_heldout"]
        n = min(training_rule.RULE_IMAGES, len(held) // 2)  # the grader's images, then the independent ones
        rows = lambda X: np.asarray(X, np.float32).reshape(len(X), -1)  # noqa: E731
        stats = rows(data["X_train"][:training_rule.STATS_IMAGES])
        self.splits = {"rule": (rows(held[:n]), y[:n], stats), "independent": (rows(held[n:]), y[n:], stats)}
        self.looks: list[list] = []
        self.scoring = 0.0
        self.cpu0 = time.process_time()

    def cpu(self) -> float:
        """CPU seconds of training so far, the scoring of looks left out."""
        return time.process_time() - self.cpu0 - self.scoring

    def scores(self, arrays: dict) -> tuple[float | None, float | None]:
        start = time.process_time()
        found = []
        for X, y, stats in self.splits.values():
            try:
                found.append(round(self.tr.score_weights(self.rule, arrays, X, y, stats), 4))
            except Exception:  # noqa: BLE001 - unusable weights (NaN): no score, as in the grader
                found.append(None)
        self.scoring += time.process_time() - start
        return tuple(found)

    def look(self, arrays: dict, step: int) -> None:
        cpu = self.cpu()
        self.looks.append([step, round(cpu, 3), *self.scores(arrays)])


def child(spec: dict) -> None:
    """Train one variant over its seeds; print one JSON row per run."""
    sys.path.insert(0, spec["package"])
    import cs231n

    if not Path(cs231n.__file__).resolve().is_relative_to(Path(spec["package"]).resolve()):
        raise MarginError(f"imported cs231n from {cs231n.__file__}, not from the variant's {spec['package']}")
    from coursekit.grade.checks.accuracy import DataSlice
    from coursekit.grade.checks.training_rule import TrainingRule
    from coursekit.grade.sandbox import harness

    data = load_data(spec)
    arrays = {key: DataSlice(*where).take(data) for key, where in spec["inputs"].items()}
    rule = TrainingRule(**{**spec["rule"], "hidden_dims": tuple(spec["rule"]["hidden_dims"])})
    trainer = TRAINERS[spec["assignment"]]
    for seed in spec["seeds"]:
        load, wall = os.getloadavg()[0], time.perf_counter()
        run = Run(rule, data)

        def install(model):  # the grader's own wrapper of model.loss (the harness's)
            harness.hand_back_looks({"look_every": rule.look_every, "hand_back": run.look}, model,
                                    lambda: harness.trained_net(model))

        model = trainer(spec["hyper"], arrays, seed, spec["param_dtype"], install)
        cpu, wall = run.cpu(), time.perf_counter() - wall
        final, final_independent = run.scores(harness.trained_net(model))
        stop = next((look for look in run.looks if look[2] is not None and look[2] >= rule.stop_at), None)
        judged = stop if stop else [rule.steps, cpu, final, final_independent]
        row = {"assignment": spec["assignment"], "variant": spec["variant"], "seed": seed,
               "accuracy": judged[2], "independent": judged[3], "stopped_at": stop[0] if stop else None,
               "judged_cpu_seconds": round(judged[1], 2), "final": final, "final_independent": final_independent,
               "looks": run.looks, "train_seconds": round(wall, 2), "train_cpu_seconds": round(cpu, 2),
               "load_average": load}
        print("ROW " + json.dumps(row), flush=True)


# ---------------------------------------------------------------- orchestration (parent side)

def grade_train(course, assignment: str, overrides: list[str], tiny: bool) -> dict:
    """The course's grade_train with ``--set assignment.key=value`` overrides (values in JSON)."""
    assignment_id, flow_course = target_course(course, assignment)
    hyper = dict(flow_course.assignment(assignment_id).grade_train)
    if tiny:
        hyper.update(TINY_GRADE_TRAIN[assignment])
    for item in overrides:
        key, _, value = item.partition("=")
        target, _, name = key.partition(".")
        if not name or not value:
            raise MarginError(f"--set {item!r}: write it as assignment.key=value, e.g. fc_net.num_epochs=8")
        if target == assignment:
            hyper[name] = json.loads(value)
    return hyper


def run_variant(spec: dict, report_row) -> list[dict]:
    """One child process for one variant; its rows, each passed to ``report_row`` as it arrives."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
    rows = []
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE,
                                stderr=errors, text=True, env=env, cwd=spec["package"])
        try:
            for line in proc.stdout:
                if line.startswith("ROW "):
                    rows.append(json.loads(line[4:]))
                    report_row(rows[-1])
            proc.wait(timeout=CHILD_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode != 0:
            errors.seek(0)
            tail = "\n".join(errors.read().strip().splitlines()[-5:])
            raise MarginError(f"variant {spec['assignment']}/{spec['variant']} failed after {len(rows)} runs:\n{tail}")
    return rows


def summarise(rows: list[dict]) -> dict[str, float]:
    """Worst / median / best of the judged accuracy, and of the rest, over ``rows``."""
    judged = [row["accuracy"] or 0.0 for row in rows]  # None: unusable weights, scored 0 by the grader
    final = [row["final"] or 0.0 for row in rows]
    independent = [row["independent"] for row in rows if row["independent"] is not None]
    return {"runs": len(rows), "stopped": sum(row["stopped_at"] is not None for row in rows),
            "worst": min(judged), "median": statistics.median(judged), "best": max(judged),
            "worst_independent": min(independent) if independent else None,
            "final_worst": min(final), "final_median": statistics.median(final),
            "median_judged_cpu_seconds": statistics.median(row["judged_cpu_seconds"] for row in rows),
            "median_train_seconds": statistics.median(row["train_seconds"] for row in rows),
            "median_train_cpu_seconds": statistics.median(row["train_cpu_seconds"] for row in rows),
            "median_load_average": round(statistics.median(row["load_average"] for row in rows), 2)}


TABLE_HEAD = (f"| assignment | variant | runs | stopped early | judged: worst / median | judged - bar (>= {MARGIN}?) "
              "| independent at the judgment - bar | end of budget: worst / median | end - bar "
              f"(>= {MARGIN}?) | CPU s to the judgment (median) | CPU s, whole schedule (median) | load |")


def table(report: dict) -> str:
    """Markdown table: one row per assignment (all variants), then one per variant."""
    lines = [TABLE_HEAD, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    mark = lambda margin: f"{margin:+.3f} {'✔' if margin >= MARGIN else '✘'}"  # noqa: E731
    for assignment, entry in report["assignments"].items():
        bar = entry["threshold"]
        groups = [("**all**", entry["summary"])] + list(entry["per_variant"].items())
        for name, s in groups:
            independent = "" if s["worst_independent"] is None else f"{s['worst_independent'] - bar:+.3f}"
            lines.append(f"| {assignment} | {name} | {s['runs']} | {s['stopped']} | {s['worst']:.3f} / "
                         f"{s['median']:.3f} | {mark(s['worst'] - bar)} | {independent} | {s['final_worst']:.3f} / "
                         f"{s['final_median']:.3f} | {mark(s['final_worst'] - bar)} | "
                         f"{s['median_judged_cpu_seconds']:.1f} | {s['median_train_cpu_seconds']:.1f} | "
                         f"{s['median_load_average']} |")
    return "\n".join(lines)


def entry(hyper: dict, rule: dict, rows: list[dict]) -> dict:
    """One assignment's part of the report: its settings, summaries and every run."""
    by_variant = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    from coursekit.grade.checks.training_rule import STOP_MARGIN

    return {"grade_train": hyper, "scored_split": "held-out", "threshold": rule["bar"],
            "stop_at": round(rule["bar"] + STOP_MARGIN, 3), "look_every": rule["look_every"],
            "summary": summarise(rows), "per_variant": {k: summarise(v) for k, v in by_variant.items()},
            "runs": rows}


def merge(reports: list[dict], where: list[str]) -> dict:
    """Reports of separate runs as one; runs of one assignment must share its grade_train."""
    merged = {**reports[0], "commands": [], "assignments": {}}
    runs = {}
    for report, name in zip(reports, where):
        merged["commands"] += report["commands"]
        for assignment, part in report["assignments"].items():
            first = merged["assignments"].setdefault(assignment, part)
            if first["grade_train"] != part["grade_train"]:
                raise MarginError(f"{name}: {assignment} was trained with another grade_train than in {where[0]}; "
                                  "merge only runs of the same configuration.")
            seen = {(r["variant"], r["seed"]) for r in runs.get(assignment, [])}
            runs.setdefault(assignment, []).extend(r for r in part["runs"] if (r["variant"], r["seed"]) not in seen)
    for assignment, part in merged["assignments"].items():
        merged["assignments"][assignment] = entry(part["grade_train"], {"bar": part["threshold"],
                                                  "look_every": part["look_every"]}, runs[assignment])
    return merged


def protocol(course, assignment: str, hyper: dict, tiny: bool) -> tuple[dict, dict]:
    """The grader's training task for ``hyper``: its inputs (DataSlice fields, by argument) and its rule."""
    from coursekit.grade.checks import accuracy
    from coursekit.grade.pipeline import grader_flow

    assignment_id, flow_course = target_course(course, assignment)
    flow = grader_flow(flow_course, assignment_id)
    images = _Images(TINY_SIZES["train"] if tiny else TRAIN_IMAGES)
    thresholds = flow_course.assignment(assignment_id).thresholds
    task = accuracy.training_check(assignment_id, hyper, thresholds, images, 1.0, flow=flow).tasks[0]
    rule = accuracy.training_rule(assignment_id, hyper, thresholds, accuracy.grade_train_images(hyper, images), flow)
    inputs = {key: [v.key, v.start, v.stop, v.flat] for key, v in task.inputs.items()}
    return inputs, {**rule.__dict__, "hidden_dims": list(rule.hidden_dims)}


class _Images(dict):
    """Stands for the split where only its number of training images is read."""

    def __init__(self, train_images: int):
        super().__init__()
        self.train_images = train_images


def measure(course, args, save=lambda report: None) -> dict:
    from coursekit.grade.checks.training_rule import RULE_IMAGES, STOP_MARGIN

    wanted = set(args.variants.split(",")) if args.variants else None
    variants = [v for v in load_variants() if v["assignment"] in args.assignments
                and (wanted is None or v["id"] in wanted)]
    report = {"commands": ["python autograder/margin.py " + " ".join(args.argv)], "tiny": args.tiny,
              "rule_images": RULE_IMAGES, "stop_margin": STOP_MARGIN, "assignments": {}}
    with tempfile.TemporaryDirectory(prefix="margin-") as tmp:
        for assignment in args.assignments:
            hyper = grade_train(course, assignment, args.set, args.tiny)
            rows = []
            for variant in (v for v in variants if v["assignment"] == assignment):
                package = write_package(course, variant, Path(tmp) / assignment / variant["id"])
                trained = {**hyper, **variant["hyper"]}
                inputs, rule = protocol(course, assignment, trained, args.tiny)
                spec = {"assignment": assignment, "variant": variant["id"], "package": str(package),
                        "hyper": trained, "inputs": inputs, "rule": rule, "tiny": args.tiny,
                        "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
                        "data_dtype": variant["data_dtype"], "param_dtype": variant["param_dtype"],
                        "cifar10_dir": str(course.data.cifar10_dir)}
                rows += run_variant(spec, lambda row: print(
                    f"{assignment} {row['variant']} seed {row['seed']}: held-out {row['accuracy']} "
                    + (f"at step {row['stopped_at']}" if row["stopped_at"] else "at the end")
                    + f" ({row['judged_cpu_seconds']:.1f} CPU s; end {row['final']}, {row['train_cpu_seconds']:.1f} "
                    f"CPU s, load {row['load_average']:.1f})", flush=True))
                report["assignments"][assignment] = entry(hyper, protocol(course, assignment, hyper, args.tiny)[1],
                                                          rows)
                save(report)  # after every variant: a long run stopped half-way keeps what it measured
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="+", default=list(SCORED), choices=list(SCORED))
    parser.add_argument("--variants", help="comma-separated variant ids (default: all)")
    parser.add_argument("--seeds", type=int, default=10, help="how many seeds for each variant")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds FIRST .. FIRST + N - 1 (default 0)")
    parser.add_argument("--set", action="append", default=[], metavar="ASSIGNMENT.KEY=JSON",
                        help="override a grade_train value, e.g. fc_net.hidden_dims=[200,200]")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--tiny", action="store_true", help="synthetic data, a few steps: a smoke test")
    parser.add_argument("--merge", nargs="+", metavar="REPORT", help="combine these JSON reports instead of training")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.merge:
        try:
            report = merge([json.loads(Path(name).read_text()) for name in args.merge], args.merge)
        except MarginError as err:
            print(f"margin: {err}", file=sys.stderr)
            return 1
        write_json(report, args.json)
        print(table(report))
        return 0
    args.argv = list(sys.argv[1:] if argv is None else argv)
    from coursekit.config import load_config

    try:
        report = measure(load_config(ROOT / "course.toml"), args, save=lambda report: write_json(report, args.json))
    except MarginError as err:
        print(f"margin: {err}", file=sys.stderr)
        return 1
    print(table(report))
    return 0


def write_json(report: dict, path: str | None) -> None:
    if path:
        Path(path).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
