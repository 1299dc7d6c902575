"""Gradescope entry point: grade /autograder/submission, write /autograder/results/results.json.

    python autograder/run_autograder.py ASSIGNMENT [SUBMISSION_DIR] [RESULTS_DIR]

COURSEKIT_FAST=1 in the environment skips the CIFAR-10 checks (as ``coursekit grade --fast``).
Gradescope runs ``run_autograder`` (the shell script next to this file), which calls this.
The upload may be laid out in any of the ways students upload (the assignment folder, its
contents, one extra folder level, the package alone, loose files): see
coursekit/classroom/upload.py.  Progress lines go to stdout, Gradescope's autograder log.
If the grader itself cannot run (no dataset, bad course.toml), results.json still gets
written, with a score of 0 and the error for the staff, and the exit code is non-zero.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from coursekit.classroom.gradescope import grade_upload
from coursekit.config import load_config
from coursekit.errors import CoursekitError

ROOT = Path(__file__).resolve().parents[1]


def log(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    assignment = argv[0]
    submission = Path(argv[1] if len(argv) > 1 else "/autograder/submission")
    results = Path(argv[2] if len(argv) > 2 else "/autograder/results")
    results.mkdir(parents=True, exist_ok=True)
    try:
        grade_upload(load_config(ROOT / "course.toml"), assignment, submission, results,
                     fast=os.environ.get("COURSEKIT_FAST") == "1", log=log)
    except CoursekitError as err:
        (results / "results.json").write_text(json.dumps({
            "score": 0, "execution_time": 0, "tests": [], "visibility": "hidden",
            "output": f"The autograder could not run: {err}"}, indent=2) + "\n")
        print(f"run_autograder: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
