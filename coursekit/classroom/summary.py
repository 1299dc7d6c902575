"""The class-wide files of a class grade: ``grades.csv``, a pass-rate chart and a score histogram."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..config import Course
from .results import iter_results

GRADES_CSV = "grades.csv"
PASS_RATE_PNG = "pass_rate.png"
HISTOGRAM_PNG = "scores.png"
FIXED_COLUMNS = ("student_id", "assignment", "score", "max_score")


@dataclass(frozen=True)
class Summary:
    """What the class-wide files say: their paths, the mean and maximum score, the error rows."""

    files: list[Path]
    mean_score: float
    max_score: float
    errors: list[tuple[str, str]]


def write_summaries(course: Course, assignment_id: str, out_dir: Path) -> Summary:
    """grades.csv and the two charts, streamed from the results files."""
    keys: dict[str, float] = {}  # check key -> its max score, in order of first appearance
    max_score = None
    for row in iter_results(out_dir, assignment_id):  # first pass: the columns
        for key, (_, top) in row["checks"].items():
            keys.setdefault(key, top)
        max_score = max_score if max_score is not None else row["max_score"]
    if max_score is None:
        max_score = course.assignment(assignment_id).max_score
    passes = dict.fromkeys(keys, 0)
    errors: list[tuple[str, str]] = []
    scores: list[float] = []
    csv_path = Path(out_dir) / GRADES_CSV
    with open(csv_path, "w", newline="") as f:  # second pass: the rows
        writer = csv.writer(f)
        writer.writerow([*FIXED_COLUMNS, *keys, "error"])
        for row in iter_results(out_dir, assignment_id):
            checks = row["checks"]
            writer.writerow([row["student_id"], assignment_id, row["score"], max_score,
                             *(checks[k][0] if k in checks else "" for k in keys), row["error"]])
            scores.append(row["score"])
            for key, (score, top) in checks.items():
                passes[key] += score >= top
            if row["error"]:
                errors.append((row["student_id"], row["error"]))
    mean_score = sum(scores) / len(scores) if scores else 0.0
    rates = {key: passes[key] / len(scores) for key in keys} if scores else {}
    charts = [Path(out_dir) / PASS_RATE_PNG, Path(out_dir) / HISTOGRAM_PNG]
    draw_pass_rates(rates, assignment_id, charts[0])
    draw_histogram(scores, max_score, assignment_id, charts[1])
    return Summary([csv_path, *charts], mean_score, max_score, errors)


def draw_pass_rates(rates: dict[str, float], assignment_id: str, path: Path) -> None:
    """A horizontal bar per check: the fraction of students with full marks on it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.3 * len(rates) + 1.5))
    ax = fig.add_subplot()
    ax.barh(list(rates), [100 * rate for rate in rates.values()], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("students with full marks (%)")
    ax.set_title(f"{assignment_id}: pass rate per check")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def draw_histogram(scores: list[float], max_score: float, assignment_id: str, path: Path) -> None:
    """The distribution of total scores over the class."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.hist(scores, bins=20, range=(0, max(max_score, 1)), color="tab:green", edgecolor="black")
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment_id}: {len(scores)} students")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
