"""What every benchmark shares: the result row, the run mode, timing and the table."""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the course root: course.toml, source/, coursekit/
SOURCE = ROOT / "source"
EPOCH_IMAGES = 49_000  # one epoch of the course's training split
BATCH_SIZE = 200
DEFAULT_THREADS = 2  # the machine's cores: BLAS (numpy) and torch get the same number
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def threads_from_argv(argv: list[str]) -> int:
    """The value of --threads N (or --threads=N) in argv, else DEFAULT_THREADS."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith("--threads=") and arg.split("=", 1)[1].isdigit():
            return int(arg.split("=", 1)[1])
    return DEFAULT_THREADS


def blas_threads() -> int:
    """The thread count this process's BLAS was started with (see bench/__main__.py)."""
    value = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return int(value) if value.isdigit() else DEFAULT_THREADS


@dataclass
class Row:
    """One measured figure. ``value`` is None when the benchmark was skipped (``note`` says why)."""

    section: str
    name: str
    value: float | None
    unit: str
    detail: str = ""  # secondary figures, already formatted for the table
    target: str = ""  # e.g. "<= 1.2"; empty when the issue sets none
    note: str = ""
    data: dict = field(default_factory=dict)  # the secondary figures as numbers, for the JSON


def skipped(section: str, name: str, unit: str, why: str, target: str = "") -> Row:
    return Row(section, name, None, unit, target=target, note=f"skipped: {why}")


@dataclass(frozen=True)
class Mode:
    """How much work each benchmark does: full (the real figures), quick, or tiny (smoke test)."""

    name: str
    gemm_seconds: float  # timing budget of one GEMM shape
    epoch_fraction: float  # the share of an epoch's steps that is timed (1.0: a whole epoch)
    train_images: int  # rows of the synthetic training set
    rounds: int  # numpy and torch alternate this many times within the timed steps
    time_budget: float  # training seconds allowed to reach an accuracy threshold

    @property
    def tiny(self) -> bool:
        return self.name == "tiny"


MODES = {
    "full": Mode("full", gemm_seconds=2.0, epoch_fraction=1.0, train_images=EPOCH_IMAGES,
                 rounds=7, time_budget=60.0),
    "quick": Mode("quick", gemm_seconds=0.5, epoch_fraction=1 / 7, train_images=EPOCH_IMAGES,
                  rounds=5, time_budget=30.0),
    # One step per round, on a small batch (see training.TINY_BATCH): the rows, not the figures.
    "tiny": Mode("tiny", gemm_seconds=0.02, epoch_fraction=0.0, train_images=1_000,
                 rounds=2, time_budget=0.0),
}


def use_source() -> None:
    """Make ``import cs231n`` load the annotated solution in source/."""
    if str(SOURCE) not in sys.path:
        sys.path.insert(0, str(SOURCE))


def best_seconds(func, budget: float, min_repeats: int = 3) -> float:
    """The fastest of repeated calls of ``func`` within about ``budget`` seconds (after a warm-up).

    The minimum, not the mean: on a shared machine the other jobs only ever add time.
    """
    func()
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while len(times) < min_repeats or time.perf_counter() < deadline:
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved_seconds(funcs: dict, budget: float, min_repeats: int = 5) -> dict[str, float]:
    """Like best_seconds for several variants, called in turn so that they share the machine's load."""
    for func in funcs.values():
        func()
    times: dict[str, list[float]] = {name: [] for name in funcs}
    deadline = time.perf_counter() + budget
    while min(map(len, times.values())) < min_repeats or time.perf_counter() < deadline:
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def machine() -> dict:
    """Where the figures were measured: they mean little without it."""
    import numpy as np

    info = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "threads": blas_threads(), "processor": platform.processor() or platform.machine()}
    try:
        info["load_average_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    """The rows as a markdown table, one line per figure."""
    lines = ["| section | benchmark | value | unit | details | target | note |",
             "|---|---|---:|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.section} | {row.name} | {format_value(row.value)} | {row.unit} | "
                     f"{row.detail} | {row.target} | {row.note} |")
    return "\n".join(lines)


def as_json(rows: list[Row], mode: Mode, sections: list[str], seconds: float) -> dict:
    return {"mode": mode.name, "sections": sections, "wall_seconds": round(seconds, 1),
            "machine": machine(), "rows": [asdict(row) for row in rows]}
