"""Threshold margins: how far the worst correct submission stays above each CIFAR-10 threshold.

    CIFAR10_DIR=... python autograder/margin.py [--assignments fc_net two_layer_net/modular ...] [--variants reference,keepdims]
        [--seeds 10] [--first-seed 0] [--set fc_net.num_epochs=8 ...] [--json autograder/margin.json] [--tiny]

Every correct variant of ``autograder/margin_variants.toml`` (the solution with small text
patches, and/or other dtypes) is written to a temp folder as its own ``cs231n`` package and
trained in a child process (one BLAS thread, one variant after another) with the assignment's
``grade_train``, once per seed, with the grader's protocol:

- the net trains on the training split minus its last ``CARVED_VAL`` images, which are the
  Solver's (or ``TwoLayerNet.train``'s) validation data;
- its parameters are scored with the kit's own forward pass (``coursekit.grade.models``) on
  the split the grader scores: validation for fc_net, test for two_layer_net; a batchnorm
  net's normalization statistics are recomputed from ``STATS_IMAGES`` training images first.
  Singleton axes (``keepdims``) are squeezed, as the grader accepts squeezable shapes.

It prints worst / median / best accuracy per assignment and per variant, and writes every
run (variant, seed, accuracy, training seconds, load average) to the JSON file.
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
CARVED_VAL = 1000  # last training images: the validation data of the Solver / TwoLayerNet.train
STATS_IMAGES = 10_000  # training images whose statistics replace batchnorm's running averages
# What is measured: an assignment, or "<assignment>/<flow>" for another flow of it than course.toml's.
SCORED = {"two_layer_net": ("test", "test_accuracy"), "two_layer_net/modular": ("test", "test_accuracy"),
          "fc_net": ("val", "val_accuracy")}
MARGIN = 0.03  # the worst correct run must clear the threshold by this much
ONE_THREAD = {key: "1" for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
CHILD_TIMEOUT = 3 * 3600  # seconds: only stops a hung child
INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10
TINY_SIZES = {"train": 400, "val": 100, "test": 100}  # synthetic images per split in --tiny mode
TINY_GRADE_TRAIN = {
    "two_layer_net": {"hidden_size": 10, "num_iters": 20, "batch_size": 50},
    "two_layer_net/modular": {"hidden_dim": 10, "num_epochs": 1, "batch_size": 50},
    "fc_net": {"hidden_dims": [10, 10], "num_epochs": 1, "batch_size": 50},
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
        variants.append({"data_dtype": "float32", "param_dtype": None, "patch": [], **raw})
    return variants


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
    """CIFAR-10 (49,000 / 1,000 / 1,000, mean subtracted) or synthetic data of its shape."""
    dtype = np.dtype(spec["data_dtype"])
    if spec["tiny"]:
        rng = np.random.default_rng(0)
        data = {}
        for split, n in TINY_SIZES.items():
            data[f"X_{split}"] = rng.standard_normal((n, 3, 32, 32)).astype(dtype)
            data[f"y_{split}"] = rng.integers(0, NUM_CLASSES, size=n)
        return data
    from cs231n.data_utils import get_CIFAR10_data

    return get_CIFAR10_data(cifar10_dir=spec["cifar10_dir"], dtype=dtype)


def train_two_layer(hyper: dict, train: dict, seed: int, param_dtype) -> dict:
    """TwoLayerNet.train as the grader calls it; the trained parameters."""
    from cs231n.classifiers.neural_net import TwoLayerNet

    np.random.seed(seed)
    net = TwoLayerNet(INPUT_DIM, hyper["hidden_size"], NUM_CLASSES, std=hyper["std"])
    if param_dtype:
        net.params = {k: v.astype(param_dtype) for k, v in net.params.items()}
    flat = {k: v.reshape(v.shape[0], -1) for k, v in train.items() if k.startswith("X_")}
    keys = ("learning_rate", "learning_rate_decay", "reg", "num_iters", "batch_size")
    net.train(flat["X_train"], train["y_train"], flat["X_val"], train["y_val"],
              **{k: hyper[k] for k in keys if k in hyper}, verbose=False)
    return dict(net.params)


def train_modular_two_layer(hyper: dict, train: dict, seed: int, param_dtype) -> dict:
    """The 2021+ TwoLayerNet (fc_net.py) trained by the variant's Solver, as the grader does."""
    from cs231n.classifiers.fc_net import TwoLayerNet
    from cs231n.solver import Solver

    np.random.seed(seed)
    model = TwoLayerNet(input_dim=INPUT_DIM, num_classes=NUM_CLASSES,
                        **{k: hyper[k] for k in ("hidden_dim", "weight_scale", "reg") if k in hyper})
    if param_dtype:
        model.params = {k: v.astype(param_dtype) for k, v in model.params.items()}
    solver = Solver(model, train, update_rule=hyper.get("update_rule", "sgd"), verbose=False,
                    optim_config={"learning_rate": hyper.get("learning_rate", 1e-3)},
                    **{k: hyper[k] for k in ("lr_decay", "batch_size", "num_epochs") if k in hyper})
    solver.train()
    return dict(model.params)


def train_fc(hyper: dict, train: dict, seed: int, param_dtype) -> dict:
    """FullyConnectedNet + the variant's Solver and update rule; parameters and running averages."""
    from cs231n.classifiers.fc_net import FullyConnectedNet
    from cs231n.solver import Solver

    np.random.seed(seed)
    normalization = hyper.get("normalization", "none")
    model = FullyConnectedNet(list(hyper["hidden_dims"]), input_dim=INPUT_DIM, num_classes=NUM_CLASSES,
                              normalization=None if normalization == "none" else normalization,
                              dtype=np.dtype(param_dtype or "float32").type,
                              **{k: hyper[k] for k in ("dropout_keep_ratio", "weight_scale", "reg") if k in hyper})
    solver = Solver(model, train, update_rule=hyper.get("update_rule", "adam"), verbose=False,
                    optim_config={"learning_rate": hyper.get("learning_rate", 1e-3)},
                    **{k: hyper[k] for k in ("lr_decay", "batch_size", "num_epochs") if k in hyper})
    solver.train()
    arrays = dict(model.params)
    for i, bn_param in enumerate(getattr(model, "bn_params", None) or [], start=1):
        for key in ("running_mean", "running_var"):
            if bn_param.get(key) is not None:
                arrays[f"{key}{i}"] = bn_param[key]
    return arrays


TRAINERS = {"two_layer_net": train_two_layer, "two_layer_net/modular": train_modular_two_layer, "fc_net": train_fc}


def score(assignment: str, hyper: dict, arrays: dict, data: dict) -> dict[str, float]:
    """Accuracy on the scored split with the kit's own forward pass (and, for batchnorm, own stats)."""
    from coursekit.grade import models

    p = {k: np.asarray(v, np.float64) if k.startswith("W") else np.asarray(v, np.float64).reshape(-1)
         for k, v in arrays.items()}  # keepdims shapes squeezed: (1, D) -> (D,)
    split = SCORED[assignment][0]
    X = data[f"X_{split}"].reshape(len(data[f"X_{split}"]), -1).astype(np.float64)
    y = data[f"y_{split}"]
    if assignment.startswith("two_layer_net"):
        return {"accuracy": models.accuracy(models.two_layer_scores(p, X), y)}
    layers, norm = len(hyper["hidden_dims"]) + 1, hyper.get("normalization", "none")
    if norm != "batchnorm":
        return {"accuracy": models.accuracy(models.fc_scores(p, X, layers, norm), y)}
    X_stats = data["X_train"][:STATS_IMAGES].reshape(-1, INPUT_DIM).astype(np.float64)
    calibrated = models.recalibrate_batchnorm(p, X_stats, layers)
    return {"accuracy": models.accuracy(models.fc_scores(calibrated, X, layers, norm), y),
            "accuracy_own_stats": models.accuracy(models.fc_scores(p, X, layers, norm), y)}


def child(spec: dict) -> None:
    """Train one variant over its seeds; print one JSON row per run."""
    sys.path.insert(0, spec["package"])
    import cs231n

    if not Path(cs231n.__file__).resolve().is_relative_to(Path(spec["package"]).resolve()):
        raise MarginError(f"imported cs231n from {cs231n.__file__}, not from the variant's {spec['package']}")
    data = load_data(spec)
    carved = min(CARVED_VAL, len(data["X_train"]) // 4)
    train = {"X_train": data["X_train"][:-carved], "y_train": data["y_train"][:-carved],
             "X_val": data["X_train"][-carved:], "y_val": data["y_train"][-carved:]}
    n = spec["hyper"].get("num_training")
    if n:
        train["X_train"], train["y_train"] = train["X_train"][:n], train["y_train"][:n]
    trainer = TRAINERS[spec["assignment"]]
    for seed in spec["seeds"]:
        load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
        arrays = trainer(spec["hyper"], train, seed, spec["param_dtype"])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        row = {"assignment": spec["assignment"], "variant": spec["variant"], "seed": seed,
               **score(spec["assignment"], spec["hyper"], arrays, data),
               "train_seconds": round(wall, 2), "train_cpu_seconds": round(cpu, 2), "load_average": load}
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
    accs = [row["accuracy"] for row in rows]
    seconds = [row["train_seconds"] for row in rows]
    return {"runs": len(accs), "worst": min(accs), "median": statistics.median(accs), "best": max(accs),
            "median_train_seconds": statistics.median(seconds),
            "median_train_cpu_seconds": statistics.median(row["train_cpu_seconds"] for row in rows),
            "median_load_average": round(statistics.median(row["load_average"] for row in rows), 2)}


def table(report: dict) -> str:
    """Markdown table: one row per assignment (all variants), then one per variant."""
    lines = [f"| assignment | variant | runs | worst | median | best | threshold | worst - threshold (>= {MARGIN}?) "
             "| train s (median) | CPU s (median) | load |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for assignment, entry in report["assignments"].items():
        threshold = entry["threshold"]
        groups = [("**all**", entry["summary"])] + list(entry["per_variant"].items())
        for name, s in groups:
            lines.append(f"| {assignment} | {name} | {s['runs']} | {s['worst']:.3f} | {s['median']:.3f} "
                         f"| {s['best']:.3f} | {threshold} | {s['worst'] - threshold:+.3f} "
                         f"{'✔' if s['worst'] - threshold >= MARGIN else '✘'} "
                         f"| {s['median_train_seconds']:.1f} | {s['median_train_cpu_seconds']:.1f} | {s['median_load_average']} |")
    return "\n".join(lines)


def entry(hyper: dict, split: str, threshold: float, rows: list[dict]) -> dict:
    """One assignment's part of the report: its settings, summaries and every run."""
    by_variant = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    return {"grade_train": hyper, "scored_split": split, "threshold": threshold, "summary": summarise(rows),
            "per_variant": {k: summarise(v) for k, v in by_variant.items()}, "runs": rows}


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
        merged["assignments"][assignment] = entry(part["grade_train"], part["scored_split"], part["threshold"],
                                                  runs[assignment])
    return merged


def measure(course, args, save=lambda report: None) -> dict:
    wanted = set(args.variants.split(",")) if args.variants else None
    variants = [v for v in load_variants() if v["assignment"] in args.assignments
                and (wanted is None or v["id"] in wanted)]
    report = {"commands": ["python autograder/margin.py " + " ".join(args.argv)], "tiny": args.tiny,
              "carved_val": CARVED_VAL, "stats_images": STATS_IMAGES, "assignments": {}}
    with tempfile.TemporaryDirectory(prefix="margin-") as tmp:
        for assignment in args.assignments:
            hyper = grade_train(course, assignment, args.set, args.tiny)
            split, key = SCORED[assignment]
            rows = []
            for variant in (v for v in variants if v["assignment"] == assignment):
                package = write_package(course, variant, Path(tmp) / assignment / variant["id"])
                spec = {"assignment": assignment, "variant": variant["id"], "package": str(package),
                        "hyper": hyper, "seeds": list(range(args.first_seed, args.first_seed + args.seeds)), "tiny": args.tiny,
                        "data_dtype": variant["data_dtype"], "param_dtype": variant["param_dtype"],
                        "cifar10_dir": str(course.data.cifar10_dir)}
                rows += run_variant(spec, lambda row: print(
                    f"{assignment} {row['variant']} seed {row['seed']}: {split} {row['accuracy']:.3f} "
                    f"in {row['train_seconds']:.1f} s (load {row['load_average']:.1f})", flush=True))
                assignment_id, flow_course = target_course(course, assignment)
                report["assignments"][assignment] = entry(
                    hyper, split, flow_course.assignment(assignment_id).thresholds[key], rows)
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
