"""The README's instructor recipe, run as written on a fresh `git clone` of the repository.

The commands are read from the README's block marked ``instructor-recipe`` (so the README and
this test cannot drift) and run one by one in the clone, in fast mode (``COURSEKIT_FAST=1``:
no CIFAR-10 training in the kit's checks; the notebooks load a little of CIFAR-10).  The
students' folders are put in ``submitted/`` where the README's comment says, before
``nbgrader autograde``, made from the release that ``generate_assignment`` wrote: one with every
module written (its notebooks left as released, so that no training runs) and one with only
``affine_forward`` written.  Lines marked ``(interactive)``
(``nbgrader formgrader``, a web app) are not run.
"""
from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.tracks.kitnotebook import KIT_NOTEBOOK_ID

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parents[3]
MARK = "<!-- instructor-recipe"
ASSIGNMENT = "fc_net"
FAST_FULL = 36.0  # fc_net's points without the two CIFAR-10 checks
COMMAND_SECONDS = 900  # per command: a hang guard only
AFFINE_FORWARD = """\
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, M)
    cache = (x, w, b)
"""


def recipe(readme: Path) -> list[str]:
    """The command lines of the README's instructor-recipe block, comments stripped, in order."""
    text = readme.read_text()
    assert text.count(MARK) == 1, f"README.md must mark the instructor recipe once with {MARK}"
    block = re.search(r"```bash\n(.*?)```", text[text.index(MARK):], re.S)
    assert block, "the instructor-recipe mark must precede a ```bash block"
    lines = []
    for line in block.group(1).splitlines():
        command, _, comment = line.partition("#")
        if command.strip() and "(interactive)" not in comment:
            lines.append(command.strip())
    return lines


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True, check=True).stdout


def write_affine_forward_only(folder: Path) -> None:
    """The release's layers.py with affine_forward's region written (a student at the first step)."""
    path = folder / "cs231n" / "layers.py"
    text = path.read_text()
    stub = re.search(r"\n( *)raise NotImplementedError\(\"affine_forward in cs231n/layers.py[^\n]*\n", text)
    assert stub, "the release's affine_forward stub"
    path.write_text(text[:stub.start()] + "\n" + AFFINE_FORWARD + text[stub.end():])


def run(command: str, clone: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(shlex.split(command), cwd=clone, capture_output=True, text=True, env=env,
                          timeout=COMMAND_SECONDS)
    assert done.returncode == 0, f"`{command}` failed in a fresh clone:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.dataset
def test_the_instructor_recipe_works_as_written_on_a_fresh_clone(cifar10_dir, tmp_path):
    """On a `git clone` of HEAD, do the README's nbgrader steps run as written: generate (regenerating the
    committed release with its selfcheck/, identically), autograde, the class grade into the gradebook,
    export and feedback; with the scores expected, and nothing they write left for git to commit?"""
    clone = tmp_path / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=COMMAND_SECONDS)
    assert git(clone, "ls-files", "-ci", "--exclude-standard") == ""  # .gitignore hides nothing tracked
    commands = recipe(clone / "README.md")
    assert [c.split()[:2] for c in commands][:2] == [["nbgrader", "generate_assignment"], ["nbgrader", "autograde"]]
    bin_dir = str(Path(sys.executable).parent)  # nbgrader, coursekit and alembic of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "COURSEKIT_FAST": "1",
           "CIFAR10_DIR": str(cifar10_dir)}
    outputs = {}
    for command in commands:
        if command.startswith("nbgrader autograde"):  # where the README says the students' folders go
            release = clone / "release" / ASSIGNMENT
            assert (release / "selfcheck" / "public_cases.json").is_file()
            assert git(clone, "status", "--porcelain") == "", "generate_assignment changed the committed release"
            for student in ("s1", "s2"):
                shutil.copytree(release, clone / "submitted" / student / ASSIGNMENT)
            complete = clone / "submitted" / "s1" / ASSIGNMENT / "cs231n"  # every module written; the
            shutil.rmtree(complete)  # notebooks' own cells left undone (no training to wait for)
            shutil.copytree(clone / "solutions" / ASSIGNMENT / "cs231n", complete)
            write_affine_forward_only(clone / "submitted" / "s2" / ASSIGNMENT)
        outputs[command] = run(command, clone, env)

    with open(clone / "grades.csv") as f:  # nbgrader export
        totals = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)
                  if row["assignment"] == ASSIGNMENT}
    assert totals["s1"] == pytest.approx(FAST_FULL)  # every kit check; the questions await a human
    assert 1.0 <= totals["s2"] < 5.0  # affine_forward's point, and little else
    with open(clone / "graded" / ASSIGNMENT / "grades.csv") as f:  # the kit's class grade: the same totals
        kit = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    assert kit == pytest.approx(totals)
    page = (clone / "feedback" / "s2" / ASSIGNMENT / f"{KIT_NOTEBOOK_ID}.html").read_text()
    assert "cases passed" in page and "not graded in fast mode" in page
    assert (clone / "feedback" / "s1" / ASSIGNMENT / "fc_net.html").is_file()

    run(f"nbgrader generate_assignment {ASSIGNMENT} --force", clone, env)  # after grades exist
    assert (clone / "release" / ASSIGNMENT / "selfcheck" / "__init__.py").is_file()
    assert git(clone, "status", "--porcelain", "--untracked-files=all") == "", (
        "the recipe changed a tracked file, or wrote one that .gitignore does not cover")
