"""Measure one complete grade (CIFAR-10 checks included) of a solution-like submission.

    /work/venv/bin/python autograder/bench_grade.py [two_layer_net|fc_net ...] [--keep DIR]

For each assignment it assembles a submission from source/ (the modules course.toml lists),
trains the reference with the course's grade_train hyperparameters to save the model the
tuning task asks for (best_two_layer_net.npz / best_fc_net.npz, the kit's format: coursekit.train),
grades it with ``grade_submission`` and prints the wall time of the grade, the peak memory
of the grader (parent) and of its largest child, the score, and the accuracies.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from coursekit.config import load_config
from coursekit.grade import grade_submission
from coursekit.grade.checks.accuracy import load_cifar10
from coursekit.solution import solution_module
from coursekit.train import KIT_MODEL_FILES, train_reference, write_kit_model

ROOT = Path(__file__).resolve().parents[1]


def save_reference_model(course, assignment_id: str, folder: Path, data) -> float:
    """Train the solution with grade_train and save it as the tuning task would; seconds taken."""
    start = time.monotonic()
    hyper = dict(course.assignment(assignment_id).grade_train)
    np.random.seed(1)
    if assignment_id == "two_layer_net":  # either flow: the reference trainer of course.toml's flow
        net = train_reference(course, assignment_id, progress=False, seed=1, data=data, overrides=hyper).model
        write_kit_model(folder / KIT_MODEL_FILES[assignment_id], net)
    else:
        fc_net, solver = solution_module(course, "classifiers.fc_net"), solution_module(course, "solver")
        model = fc_net.FullyConnectedNet(hyper["hidden_dims"], normalization=hyper["normalization"],
                                         weight_scale=hyper["weight_scale"], reg=hyper["reg"],
                                         dropout_keep_ratio=hyper["dropout_keep_ratio"])
        run = solver.Solver(model, {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")},
                            update_rule=hyper["update_rule"], lr_decay=hyper["lr_decay"],
                            optim_config={"learning_rate": hyper["learning_rate"]},
                            batch_size=hyper["batch_size"], num_epochs=hyper["num_epochs"], verbose=False)
        run.train()
        # The Solver kept its best epoch's weights but its last step's running averages:
        # refresh the averages for those weights, as a careful student would before saving.
        for bn_param in model.bn_params:
            bn_param["momentum"] = 0.0
        model.loss(data["X_train"][:10_000], data["y_train"][:10_000])
        write_kit_model(folder / KIT_MODEL_FILES[assignment_id], model)
    return time.monotonic() - start


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (load-independent)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=["two_layer_net", "fc_net"])
    parser.add_argument("--keep", help="keep the submissions and reports in this folder")
    args = parser.parse_args(argv)
    course = load_config(ROOT / "course.toml")
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-grade-"))
    data = load_cifar10(course)
    for assignment_id in args.assignments:
        submission = out / assignment_id
        for rel in course.assignment(assignment_id).modules:
            (submission / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(course.source_dir / rel, submission / rel)
        seconds = save_reference_model(course, assignment_id, submission, data)
        print(f"{assignment_id}: reference model trained and saved in {seconds:.1f} s")
        start, cpu = time.monotonic(), _cpu_seconds()
        report = grade_submission(course, assignment_id, submission, results_path=out / f"{assignment_id}.json",
                                  feedback_path=out / f"{assignment_id}.md")
        wall = time.monotonic() - start
        print(report.table())
        for test in report.tests:
            if test.key in ("cifar_accuracy", "saved_model"):
                print(f"  {test.key}: " + "; ".join(c.detail for c in test.cases if c.detail))
        print(f"{assignment_id}: full grade in {wall:.1f} s wall, {_cpu_seconds() - cpu:.1f} s CPU "
              f"(parent and children; wall time in the children: {report.seconds})")
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: grader process {parent:.0f} MB, largest child {child:.0f} MB")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
