"""Measure the slowest cell of each solution notebook, as nbgrader runs it (the base of its timeout).

    python autograder/bench_notebook_cells.py [ASSIGNMENT ...] [--fast] [--top N]

Each assignment's solutions track (solutions/<id>/) is copied to a temporary folder and every
notebook of course.toml runs there with nbclient, one cell at a time, timed.  The kit's own
notebook (coursekit_modules.ipynb) is included: its first graded cell runs a whole grade.
Prints the N slowest cells; ``[grading] notebook_cell_seconds`` in course.toml should be the
slowest, measured on the course machine, with a margin (autograder/README.md).
Needs CIFAR-10 (CIFAR10_DIR) unless --fast.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from coursekit.config import load_config
from coursekit.tracks.kitnotebook import KIT_NOTEBOOK

ROOT = Path(__file__).resolve().parents[1]
NO_LIMIT = 3600  # seconds: measure, never cut


def time_cells(notebook: Path, env: dict) -> list[tuple[float, int, str]]:
    """(seconds, index, first line) of every code cell of ``notebook``, run in its folder."""
    nb = nbformat.read(notebook, as_version=4)
    starts: dict[int, float] = {}
    times: list[tuple[float, int, str]] = []

    def on_start(cell, cell_index):
        starts[cell_index] = time.monotonic()

    def on_complete(cell, cell_index):
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        times.append((time.monotonic() - starts[cell_index], cell_index, first[:60]))

    client = NotebookClient(nb, timeout=NO_LIMIT, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}},
                            on_cell_start=on_start, on_cell_complete=on_complete)
    client.execute(env=env)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--fast", action="store_true", help="COURSEKIT_FAST=1 (small data, no CIFAR checks)")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    course = load_config(ROOT / "course.toml")
    env = {**os.environ, "COURSEKIT_FAST": "1" if args.fast else "0", "COURSEKIT_ROOT": str(ROOT)}
    rows = []
    for assignment in args.assignments or list(course.assignments):
        with tempfile.TemporaryDirectory(prefix="coursekit-bench-cells-") as tmp:  # COURSEKIT_ROOT finds the course
            folder = Path(tmp) / assignment
            shutil.copytree(ROOT / "solutions" / assignment, folder)
            for name in [*course.assignment(assignment).notebooks, KIT_NOTEBOOK]:
                started = time.monotonic()
                cells = time_cells(folder / name, env)
                print(f"{assignment}/{name}: {time.monotonic() - started:.1f} s in all", flush=True)
                rows += [(s, f"{assignment}/{name} cell {i}: {line}") for s, i, line in cells]
    print(f"\nslowest cells ({'fast' if args.fast else 'full'} mode, load {os.getloadavg()[0]:.1f}):")
    for seconds, where in sorted(rows, reverse=True)[:args.top]:
        print(f"{seconds:8.1f} s  {where}")


if __name__ == "__main__":
    main()
