"""Command-line conventions: --version, -q / -v, documented exit codes, a progress bar only on a terminal."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from coursekit import errors
from coursekit.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
RUN_SECONDS = 120  # only stops a hang
TERMINAL_SIZE = (24, 100)  # rows, columns of the pseudo-terminal


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """The fc_net solution with the skeleton's optim.py: some checks fail."""
    folder = tmp_path_factory.mktemp("cli") / "fc_net"
    shutil.copytree(ROOT / "solutions" / "fc_net" / "cs231n", folder / "cs231n")
    shutil.copyfile(ROOT / "release" / "fc_net" / "cs231n" / "optim.py", folder / "cs231n" / "optim.py")
    return folder


def run_in_terminal(argv: list[str]) -> tuple[int, str]:
    """Run a command with stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=ROOT)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=RUN_SECONDS), b"".join(chunks).decode(errors="replace")


def test_version(capsys):
    """Does `coursekit --version` print the installed version and exit 0?"""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("coursekit ") and out.split()[1][0].isdigit()


def test_help_documents_every_exit_code():
    """Does --help list every exit code the kit uses, with what it means?"""
    text = build_parser().format_help()
    for code, meaning in errors.EXIT_CODES:
        assert f"  {code:<4} {meaning}" in text
    used = {cls.exit_code for cls in vars(errors).values()
            if isinstance(cls, type) and issubclass(cls, errors.CoursekitError)}
    assert used <= {code for code, _ in errors.EXIT_CODES}


@pytest.fixture
def canned_grade(monkeypatch):
    """`coursekit grade` answered by a fixed report (adam fails), so the CLI is tested without grading."""
    import coursekit.grade as grade
    from coursekit.grade.checks.base import CaseResult
    from coursekit.grade.report import GradeReport, TestResult as Result

    def fake(course, assignment, folder, progress=None, **kwargs):
        if progress:
            progress("running your functions")
        tests = [Result("adam", "Update rule: adam", "adam", "cs231n/optim.py", "hint", 2.0,
                        [CaseResult("next_w", False, "NotImplementedError: adam")]),
                 Result("softmax_loss", "Softmax loss", "softmax_loss", "cs231n/layers.py", "hint", 2.0,
                        [CaseResult("loss", True)])]
        return GradeReport(assignment, tests)

    monkeypatch.setattr(grade, "grade_submission", fake)


def test_quiet_grade_prints_the_score_line_only(canned_grade, partial, capsys):
    """Does `coursekit -q grade` print one line, and `-v` every failed case (and only those)?"""
    assert main(["-q", "grade", "fc_net", str(partial), "--fast"]) == errors.EXIT_OK
    quiet = capsys.readouterr().out.strip().splitlines()
    assert quiet == ["fc_net: 2 / 4 points in 0.0 s."]
    assert main(["grade", "fc_net", str(partial), "--fast", "-v"]) == errors.EXIT_OK
    verbose = capsys.readouterr().out
    assert "== adam:" in verbose and "NotImplementedError: adam" in verbose
    assert "== softmax_loss:" not in verbose


def test_no_progress_bar_when_not_a_terminal(canned_grade, partial, capsys):
    """Piped or captured (not a terminal), does a grade print the table and no progress bar?"""
    assert main(["grade", "fc_net", str(partial), "--fast"]) == errors.EXIT_OK
    out, err = capsys.readouterr()
    assert "adam" in out and "grading:" not in out + err and "\r" not in err


def test_unknown_feedback_extension_exits_2_before_grading(partial, tmp_path, capsys):
    """Does --feedback x.pdf exit 2 with a message naming --feedback, writing nothing?"""
    code = main(["grade", "fc_net", str(partial), "--fast", "--feedback", str(tmp_path / "x.pdf"),
                 "--results", str(tmp_path / "results.json")])
    err = capsys.readouterr().err
    assert code == errors.EXIT_USAGE and "--feedback x.pdf" in err and ".html" in err
    assert not list(tmp_path.iterdir())


def test_progress_bar_on_a_terminal_only(partial):
    """Is there a progress bar on a terminal, and none when the output is not a terminal?"""
    argv = [sys.executable, "-m", "coursekit", "grade", "fc_net", str(partial), "--fast"]
    code, shown = run_in_terminal(argv)
    assert code == 0 and "grading: running your functions" in shown and "adam" in shown


def test_errors_name_command_line_flags_not_python_arguments(tmp_path, monkeypatch, capsys):
    """Without CIFAR-10, does `coursekit grade` name --fast rather than fast=True as the way out?"""
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "nowhere"))
    code = main(["grade", "fc_net", str(ROOT / "solutions" / "fc_net")])
    err = capsys.readouterr().err
    assert code == errors.EXIT_DATASET and "--fast" in err
    assert "fast=True" not in err.replace("(fast=True in Python)", "")
