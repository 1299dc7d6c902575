"""Gradescope entry point: grade /autograder/submission, write /autograder/results/results.json.

    python -I autograder/run_autograder.py ASSIGNMENT [SUBMISSION_DIR] [RESULTS_DIR]

COURSEKIT_FAST=1 in the environment skips the CIFAR-10 checks (as ``coursekit grade --fast``).
COURSEKIT_INSECURE=1 allows the degraded isolation (``coursekit grade --insecure``): the
bundle's ``run_autograder`` sets it when bubblewrap cannot run in Gradescope's container.
Gradescope runs ``run_autograder`` (the shell script next to this file), which calls this.

``results.json`` is always written, whatever happens: if the grader itself cannot run (no
dataset, bad course.toml, no isolation) or fails in any way, with a score of 0 and a
message for the staff, and the exit code is non-zero.
The upload may be laid out in any of the ways students upload (the assignment folder, its
contents, one extra folder level, the package alone, loose files): see
coursekit/classroom/upload.py.  Progress lines go to stdout, Gradescope's autograder log.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTERNAL_ERROR_EXIT = 70


def write_failure(results: Path, message: str) -> None:
    """A valid results.json with score 0 and a message for the staff (never a traceback)."""
    results.mkdir(parents=True, exist_ok=True)
    tmp = results / ".results.json.tmp"
    tmp.write_text(json.dumps({
        "score": 0, "execution_time": 0, "tests": [], "visibility": "hidden",
        "output": f"The autograder could not run: {message} (this is a problem of the autograder, "
                  "not of the submission: the course staff has to fix it and regrade)."}, indent=2) + "\n")
    os.replace(tmp, results / "results.json")


def log(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    assignment = argv[0]
    submission = Path(argv[1] if len(argv) > 1 else "/autograder/submission")
    results = Path(argv[2] if len(argv) > 2 else "/autograder/results")
    try:
        from coursekit.classroom.gradescope import grade_upload
        from coursekit.config import load_config
        from coursekit.errors import CoursekitError
    except Exception as err:  # noqa: BLE001 - results.json must be written whatever fails
        write_failure(results, f"the kit could not be imported ({type(err).__name__}: {err})")
        return INTERNAL_ERROR_EXIT
    try:
        results.mkdir(parents=True, exist_ok=True)
        grade_upload(load_config(ROOT / "course.toml"), assignment, submission, results,
                     fast=os.environ.get("COURSEKIT_FAST") == "1",
                     insecure=os.environ.get("COURSEKIT_INSECURE") == "1", log=log)
    except CoursekitError as err:
        write_failure(results, str(err))
        print(f"run_autograder: error: {err}", file=sys.stderr)
        return err.exit_code
    except BaseException as err:  # noqa: BLE001 - MemoryError, KeyboardInterrupt, a bug of the kit
        write_failure(results, f"internal error of the grader ({type(err).__name__}: {str(err)[:300]})")
        print(f"run_autograder: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        return INTERNAL_ERROR_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
