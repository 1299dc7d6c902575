"""Does a grade depend on luck?  Every catalogued mistake graded with several hidden seeds.

    python autograder/seed_sweep.py [--seeds 1-6] [--only ID ...] [--full] [--json sweep.json]

Each mistake of ``autograder/mistakes.toml`` is applied to the solutions track and graded once
per seed (``coursekit grade --seed``; fast mode unless ``--full``).  A submission's score should
not depend on the hidden seed: a mistake whose score varies had a hidden case whose fresh inputs
could not always reveal it (two were found and fixed this way: fc_loss's dead ReLUs and
predict's scores of one sign, see ``coursekit/grade/checks/``).  Prints one line per mistake and,
for one that varies, the checks it lost with each seed; exits 1 if any varies.  Six seeds of
the 69 mistakes take about 7 minutes; too slow for the test suite, which tests the input
properties themselves (``tests/coursekit/grade/checks/``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MISTAKES = ROOT / "autograder" / "mistakes.toml"


def seeds_of(text: str) -> list[int]:
    """``1-6`` or ``1,5,9``."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def mutated(mistake: dict, folder: Path) -> Path | None:
    """The solutions track of the mistake's assignment with its patch, or None if it does not apply there."""
    submission = folder / mistake["id"]
    shutil.copytree(ROOT / "solutions" / mistake["assignment"] / "cs231n", submission / "cs231n")
    module = submission / mistake["module"]
    if not module.exists() or mistake["find"] not in module.read_text():
        return None  # e.g. a modular-flow mistake: its module is not in the default flow's track
    module.write_text(module.read_text().replace(mistake["find"], mistake["replace"], 1))
    return submission


def grade(assignment: str, submission: Path, seed: int, full: bool, results: Path) -> dict:
    command = [sys.executable, "-m", "coursekit", "--config", str(ROOT / "course.toml"), "grade", assignment,
               str(submission), "--seed", str(seed), "--results", str(results), *([] if full else ["--fast"])]
    results.unlink(missing_ok=True)  # never the previous grade's
    proc = subprocess.run(command, capture_output=True, text=True, cwd=submission.parent, check=False)
    if not results.exists():
        raise SystemExit(f"seed_sweep: grading {submission.name} with seed {seed} wrote no results "
                         f"(exit code {proc.returncode}): {proc.stderr.strip()[-500:]}")
    report = json.loads(results.read_text())
    lost = {test["name"].split(":")[0]: test["score"] for test in report["tests"]
            if test.get("score") != test.get("max_score")}
    return {"score": report["score"], "lost": lost}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1-6", help="hidden seeds: 1-6 or 1,5,9 (default 1-6)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="these mistakes only")
    parser.add_argument("--full", action="store_true", help="full grades (CIFAR-10 checks too; minutes each)")
    parser.add_argument("--json", type=Path, help="write every grade here")
    args = parser.parse_args(argv)
    mistakes = tomllib.loads(MISTAKES.read_text())["mistake"]
    if args.only:
        mistakes = [m for m in mistakes if m["id"] in set(args.only)]
    seeds, rows, varying = seeds_of(args.seeds), [], 0
    with tempfile.TemporaryDirectory(prefix="coursekit-sweep-") as tmp:
        for mistake in mistakes:
            submission = mutated(mistake, Path(tmp))
            if submission is None:
                print(f"{mistake['assignment']} {mistake['id']}: skipped (its patch does not apply to the "
                      "solutions track)", flush=True)
                continue
            grades = {seed: grade(mistake["assignment"], submission, seed, args.full, Path(tmp, "results.json"))
                      for seed in seeds}
            scores = sorted({g["score"] for g in grades.values()})
            varies = len(scores) > 1
            varying += varies
            print(f"{mistake['assignment']} {mistake['id']}: {'VARIES ' if varies else ''}"
                  f"{', '.join(f'{s:g}' for s in scores)}", flush=True)
            if varies:
                for seed, g in grades.items():
                    print(f"    seed {seed}: {g['score']:g}, lost in {g['lost']}", flush=True)
            rows.append({"id": mistake["id"], "assignment": mistake["assignment"], "grades": grades})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"{varying} of {len(rows)} mistakes scored differently across seeds {args.seeds}")
    return 1 if varying else 0


if __name__ == "__main__":
    sys.exit(main())
