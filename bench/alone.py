"""One net trained alone in a fresh process: seconds and minor page faults per step.

Two versions of the solution trained in one process share its memory allocator, and what one
frees the other reuses: that hides the cost of big temporary arrays (fresh pages from the
kernel, a page fault each), which a student's notebook pays in full.  Here each version gets
a process of its own, the way ``coursekit train`` or a notebook runs it:

    python -m bench.alone --package-dir source/cs231n --net wide_dropout --steps 20

prints one JSON object: {"seconds_per_step", "page_faults_per_step", "steps"}.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from .common import ROOT, SOURCE

WARMUP_STEPS = 3
IMAGES = 10_000  # synthetic images: enough for random minibatches, little memory
CHILD_TIMEOUT = 1800  # seconds


def measure(package_dir: Path, net: str, steps: int, batch_size: int | None = None) -> dict:
    """Run this module in a child process on ``package_dir`` (a cs231n package) and parse its JSON."""
    args = [sys.executable, "-m", "bench.alone", "--package-dir", str(package_dir), "--net", net,
            "--steps", str(steps)]
    if batch_size:
        args += ["--batch-size", str(batch_size)]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"bench.alone failed on {package_dir}: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _package(package_dir: Path) -> str:
    """The import name of ``package_dir``: cs231n for source/, the baseline's name otherwise."""
    if package_dir.resolve() == (SOURCE / "cs231n").resolve():
        return "cs231n"
    from .baseline import load

    return load(str(package_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alone", description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", type=Path, required=True, help="a cs231n package folder")
    parser.add_argument("--net", required=True, help="a name of bench/nets.py's NETS")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args(argv)

    from dataclasses import replace

    from .nets import NETS, numpy_trainer
    from .training import synthetic_data

    spec = NETS[args.net] if args.batch_size is None else replace(NETS[args.net], batch_size=args.batch_size)
    X, y = synthetic_data(IMAGES)
    steps = numpy_trainer(spec, X, y, package=_package(args.package_dir))
    steps(WARMUP_STEPS)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    steps(args.steps)
    seconds = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps({"seconds_per_step": seconds / args.steps, "page_faults_per_step": faults / args.steps,
                      "steps": args.steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
